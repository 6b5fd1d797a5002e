"""Jinja2 config templates rendered per host.

A template is a file path or the template text itself. It sees ``host`` (the
:class:`~genja_prefect.task.Host`: ``host.id``, ``host.platform``, ``host["key"]``), ``data``
(the host's merged inventory data), ``vars`` (the variables given to the template) and each
variable by its own name. Undefined names are errors, never empty strings, and templates run
in Jinja2's sandbox because their text may come from a flow parameter. Example::

    from genja_prefect_flows.templates import ConfigTemplate

    template = ConfigTemplate("ntp server {{ ntp }}\\n", variables={"ntp": "192.0.2.1"})
    print(template.render(host))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from genja_prefect.errors import GenjaError
from genja_prefect.task import Host

__all__ = ["ConfigTemplate", "TemplateError", "TemplateNotFoundError", "TemplateRenderError"]

_TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".tmpl", ".txt", ".cfg", ".conf")


class TemplateError(GenjaError, ValueError):
    """A config template cannot be used; the message names the file (or ``<string>``) and line."""


class TemplateNotFoundError(TemplateError, FileNotFoundError):
    """The template path names no file."""


class TemplateRenderError(TemplateError):
    """Rendering failed for one host (an undefined variable, a failing filter...)."""


def _looks_like_path(text: str) -> bool:
    if "\n" in text or "{{" in text or "{%" in text:
        return False
    return os.sep in text or text.endswith(_TEMPLATE_SUFFIXES) or not any(c.isspace() for c in text.strip())


class ConfigTemplate:
    """A compiled config template plus its variables.

    ``template`` is a :class:`os.PathLike`, a string naming an existing file, a string that
    looks like a file name (no spaces, or a ``.j2``/``.txt``/... suffix: then a missing file is
    an error naming the path), or else the template text.
    """

    def __init__(self, template: str | os.PathLike[str], variables: Mapping[str, Any] | None = None) -> None:
        self.variables: dict[str, Any] = dict(variables or {})
        self.path: Path | None = None
        if isinstance(template, os.PathLike) or (isinstance(template, str) and _looks_like_path(template)):
            path = Path(template).expanduser()
            if not path.is_file():
                raise TemplateNotFoundError(f"template file not found: {path.absolute()}")
            self.path = path.absolute()
            self.source = path.read_text(encoding="utf-8")
        elif isinstance(template, str):
            self.source = template
        else:
            raise TemplateError(f"template must be a path or the template text, got {type(template).__name__}")
        reserved = {"host", "data", "vars"} & set(self.variables)
        if reserved:
            raise TemplateError(f"variables must not be named {sorted(reserved)}: those names are set per host")
        self._compiled: jinja2.Template | None = None
        self._compile()

    @property
    def name(self) -> str:
        """The file path, or ``<string>`` for inline text."""
        return str(self.path) if self.path is not None else "<string>"

    def _compile(self) -> jinja2.Template:
        if self._compiled is None:
            loader = jinja2.FileSystemLoader(str(self.path.parent)) if self.path is not None else None
            env = SandboxedEnvironment(
                loader=loader,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                autoescape=False,
            )
            try:
                self._compiled = env.from_string(self.source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {self.name}, line {exc.lineno}: {exc.message}") from None
        return self._compiled

    def render(self, host: Host) -> str:
        """The template rendered for ``host``; raises :class:`TemplateRenderError`."""
        context = {**self.variables, "host": host, "data": dict(host.data), "vars": dict(self.variables)}
        try:
            return self._compile().render(context)
        except jinja2.TemplateError as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise TemplateRenderError(f"template {self.name} for host {host.id}: {message}") from None

    # Compiled templates do not pickle; rebuild them where the task lands (e.g. a Dask worker).
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_compiled"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"ConfigTemplate({self.name!r}, variables={sorted(self.variables)})"
