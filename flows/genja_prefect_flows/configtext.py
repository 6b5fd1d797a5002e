"""CLI configuration text: indentation trees, candidate-vs-running diffs, secret masking.

Plain functions over strings, no I/O. The model is the one IOS/EOS-style configs share: a line
indented deeper than the line above it is that line's child (``interface Ethernet1`` /
``   description uplink``). Comment lines (``!``, ``#``), blank lines and ``end``/``exit``
carry no configuration and are ignored when comparing.

A candidate line ``no X`` asks for ``X`` to be absent under the same parent; any other line asks
for itself to be present. Lines are compared after collapsing whitespace, so write candidate
lines the way the device prints them (``interface Ethernet1``, not ``int e1``).

Example::

    from genja_prefect_flows.configtext import candidate_diff, missing_lines

    running = "hostname r1\\ninterface Ethernet1\\n   description old\\n"
    candidate = "interface Ethernet1\\n   description new\\n"
    print(candidate_diff(running, candidate, platform="eos"))   # - description old, + description new
    missing_lines(running, candidate)            # [('interface Ethernet1', 'description new')]
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from genja_prefect.masking import MASK, mask_secrets  # re-exported: flows import it from here
from genja_prefect_flows.remediation import plan_change

__all__ = [
    "MASK",
    "ConfigLine",
    "candidate_diff",
    "config_lines_to_send",
    "mask_secrets",
    "missing_lines",
    "parse_config",
    "strip_volatile",
    "unified_diff",
]

_IGNORED = re.compile(r"^\s*(?:!.*|#.*|end|exit|exit-[\w-]+)?\s*$")

#: Lines that change without the configuration changing (timestamps, sizes, banners of
#: ``show running-config`` itself). Dropped before configs are compared or saved.
VOLATILE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"^Building configuration\.\.\.\s*$",
        r"^Current configuration\s*:\s*\d+ bytes\s*$",
        r"^! Last configuration change at .*$",
        r"^! NVRAM config last updated at .*$",
        r"^! No configuration change since last restart\s*$",
        r"^!Time: .*$",
        r"^## Last commit: .*$",
        r"^ntp clock-period \d+\s*$",
    )
)



@dataclass
class ConfigLine:
    """One configuration line with its children."""

    text: str
    indent: int = 0
    number: int = -1  # 0-based line number in the source text; -1 for synthetic nodes
    children: list["ConfigLine"] = field(default_factory=list)
    last: int = -1  # line number of the block's last line (itself or deepest last child)

    @property
    def key(self) -> str:
        """The line with whitespace collapsed: what comparisons use."""
        return " ".join(self.text.split())


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))


def parse_config(text: str | Iterable[str]) -> list[ConfigLine]:
    """Parse configuration text (or lines) into a forest by indentation."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    roots: list[ConfigLine] = []
    stack: list[ConfigLine] = []
    for number, raw in enumerate(lines):
        if _IGNORED.match(raw):
            continue
        node = ConfigLine(raw.strip(), _indent(raw), number, last=number)
        while stack and stack[-1].indent >= node.indent:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        for parent in stack:
            parent.last = number
        stack.append(node)
    return roots


def _find(nodes: Sequence[ConfigLine], key: str) -> ConfigLine | None:
    return next((n for n in nodes if n.key == key), None)


def _negated(key: str) -> str | None:
    return key[3:] if key.startswith("no ") else None


def missing_lines(running: str, candidate: str | Iterable[str]) -> list[tuple[str, ...]]:
    """Candidate lines the running config does not satisfy, each as its path of parent lines.

    ``("interface Ethernet1", "description new")`` means that child is missing under that
    parent; ``("no ntp server 192.0.2.9",)`` means that line is still present.
    """
    missing: list[tuple[str, ...]] = []

    def walk(wanted: Sequence[ConfigLine], have: Sequence[ConfigLine] | None, path: tuple[str, ...]) -> None:
        for node in wanted:
            negated = _negated(node.key)
            found = _find(have, node.key) if have is not None else None
            if negated is not None and not node.children:
                if found is None and have is not None and _find(have, negated) is not None:
                    missing.append((*path, node.key))
                continue
            if found is None:
                missing.append((*path, node.key))
            walk(node.children, found.children if found is not None else None, (*path, node.key))

    walk(parse_config(candidate), parse_config(running), ())
    return missing


def unified_diff(before: str, after: str, fromfile: str = "before", tofile: str = "after", context: int = 3) -> str:
    """A unified diff of two texts (empty string when they are equal)."""
    return "".join(
        difflib.unified_diff(
            [line + "\n" for line in before.splitlines()],
            [line + "\n" for line in after.splitlines()],
            fromfile=fromfile,
            tofile=tofile,
            n=context,
        )
    )


def candidate_diff(
    running: str, candidate: str | Iterable[str], name: str = "running-config", *, platform: str = "ios",
    mode: str = "merge",
) -> str:
    """What applying ``candidate`` would change in ``running``, as a unified diff ('' if nothing).

    Computed with the platform's remediation rules (:func:`genja_prefect_flows.remediation.plan_change`):
    a line that replaces a single-value line shows the old one removed. Comments and ``end``
    are not part of the compared text.
    """
    diff = plan_change(platform, running, candidate, mode).diff
    return diff.replace("--- running (now)", f"--- {name} (current)", 1).replace(
        "+++ running (after the change)", f"+++ {name} (candidate)", 1
    )


def config_lines_to_send(candidate: str | Iterable[str]) -> list[str]:
    """The candidate as the lines to type in config mode.

    Indentation is dropped and an ``exit`` follows every block with children, so a device that
    stays in a sub-mode (``interface``) is back at the top level for the next line.
    """
    out: list[str] = []

    def walk(nodes: Sequence[ConfigLine]) -> None:
        for node in nodes:
            out.append(node.key)
            if node.children:
                walk(node.children)
                out.append("exit")

    walk(parse_config(candidate))
    return out


def strip_volatile(text: str) -> str:
    """Drop lines that change on every read (sizes, timestamps); keep everything else."""
    kept = [line for line in text.splitlines() if not any(p.match(line) for p in VOLATILE_PATTERNS)]
    while kept and not kept[0].strip():
        kept.pop(0)
    return "\n".join(kept) + ("\n" if kept else "")
