"""Reading YAML/JSON configuration files with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from genja_prefect.errors import ConfigError

# CSafeLoader is not a SafeLoader subclass (it shares the constructor and resolver, not the
# parser), so the variable holds either class.
_Loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader]
try:  # the C loader is ~10x faster on large inventories
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader


def load_file(path: Path, error_class: type[ConfigError] = ConfigError) -> Any:
    """Parse a YAML (or JSON) file; an empty file is ``None``.

    Raises ``error_class`` naming the file and line for a missing file or a syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_class("file not found", source=str(path)) from None
    except OSError as exc:
        raise error_class(f"cannot read file: {exc.strerror}", source=str(path)) from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise error_class(f"invalid JSON: {exc.msg}", source=str(path), line=exc.lineno) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = exc.problem or "syntax error"
        raise error_class(
            f"invalid YAML: {problem}", source=str(path), line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise error_class(f"invalid YAML: {exc}", source=str(path)) from None


def find_line(path: str | None, keys: Sequence[str | int]) -> int | None:
    """Return the 1-based line of ``keys`` (a path of mapping keys) in a YAML file, if found.

    Only called when reporting an error, so the second parse costs nothing on the happy path.
    The line of the deepest key that exists is returned.
    """
    if not path or path.startswith("<"):
        return None
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            for k_node, v_node in node.value:
                if k_node.value == str(key):
                    line = k_node.start_mark.line + 1
                    node = v_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line
