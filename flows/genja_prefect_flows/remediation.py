"""What a candidate config changes on a device, and the exact lines that make the change.

Built on hier_config (per-OS remediation rules: which lines a new value replaces, how a line is
negated, how a section is left). :func:`plan_change` compares a running config with a candidate
and returns a :class:`ChangePlan`: the config mode lines to send (``lines``, exactly what an
apply sends), a unified diff of the running config before and after (old lines ``-``, new
ones ``+``: replacing ``description old`` with ``description new`` shows both), the lines
that would undo it (``rollback``), and which mode was used:

``merge`` (default)
    Candidate lines are added; a line with a single value replaces the old value (hier_config's
    idempotency rules: ``description``, ``ip address``, ``hostname``, ...); ``no X`` removes
    ``X`` (a ``no X`` whose ``X`` is not configured is already satisfied and not sent; a
    device that prints a default-off setting as ``no X`` is compared with that line as is).
    Everything else on the device stays.
``replace``
    Each section of the candidate (``interface Ethernet1`` with its children) becomes exactly
    the candidate's: children not in the candidate are negated. Top-level single lines merge.

Platforms: ``ios``/``iosxe``, ``nxos``, ``eos``, ``iosxr`` (CLI style) and ``junos`` (``set``
style: the running config as ``show configuration | display set``)::

    from genja_prefect_flows.remediation import plan_change

    running = "interface Ethernet1\\n   description old\\n   ip address 10.0.0.1/24\\n"
    plan = plan_change("eos", running, "interface Ethernet1\\n   description new\\n")
    plan.lines   # ['interface Ethernet1', '  description new', '  exit']
    print(plan.diff)   # -   description old / +   description new
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from hier_config import HConfig, HConfigChild, Platform, get_hconfig, get_hconfig_driver
from hier_config.models import IdempotentCommandsRule, MatchRule
from hier_config.platforms.driver_base import HConfigDriverBase

__all__ = ["HIER_CONFIG_PLATFORMS", "MODES", "ChangePlan", "Mode", "UnsupportedPlatformError", "plan_change"]

Mode = Literal["merge", "replace"]
MODES: tuple[str, ...] = ("merge", "replace")

#: genja/scrapli/netmiko platform names -> hier_config's platform.
HIER_CONFIG_PLATFORMS: dict[str, Platform] = {
    "ios": Platform.CISCO_IOS,
    "iosxe": Platform.CISCO_IOS,
    "cisco_ios": Platform.CISCO_IOS,
    "cisco_iosxe": Platform.CISCO_IOS,
    "cisco_xe": Platform.CISCO_IOS,
    "nxos": Platform.CISCO_NXOS,
    "cisco_nxos": Platform.CISCO_NXOS,
    "nxos_ssh": Platform.CISCO_NXOS,
    "eos": Platform.ARISTA_EOS,
    "arista_eos": Platform.ARISTA_EOS,
    "iosxr": Platform.CISCO_XR,
    "cisco_iosxr": Platform.CISCO_XR,
    "cisco_xr": Platform.CISCO_XR,
    "junos": Platform.JUNIPER_JUNOS,
    "juniper_junos": Platform.JUNIPER_JUNOS,
}

#: Single-value lines hier_config 3.7's drivers do not know as such (EOS and NX-OS interface
#: descriptions): without these, a new description would be planned next to the old one.
_EXTRA_IDEMPOTENT: dict[Platform, tuple[tuple[MatchRule, ...], ...]] = {
    Platform.ARISTA_EOS: ((MatchRule(startswith="interface"), MatchRule(startswith="description ")),),
    Platform.CISCO_NXOS: ((MatchRule(startswith="interface"), MatchRule(startswith="description ")),),
    Platform.CISCO_XR: ((MatchRule(startswith="interface"), MatchRule(startswith="description ")),),
    # Junos set lines whose last word is the one value of a leaf (no schema to ask).
    Platform.JUNIPER_JUNOS: tuple(
        (MatchRule(re_search=pattern),)
        for pattern in (
            r"^set interfaces \S+ (?:unit \d+ )?description ",
            r"^set interfaces \S+ (?:unit \d+ )?mtu ",
            r"^set system host-name ",
            r"^set system domain-name ",
            r"^set system time-zone ",
            r"^set snmp location ",
            r"^set snmp contact ",
            r"^set routing-options router-id ",
            r"^set routing-options autonomous-system ",
        )
    ),
}


class UnsupportedPlatformError(ValueError):
    """The host's platform has no remediation rules; the message names it and the known ones."""


@dataclass(frozen=True)
class ChangePlan:
    """The outcome of comparing a running config with a candidate."""

    platform: str
    mode: str
    #: config mode lines, in order, exactly as an apply sends them (sections left with
    #: ``exit``/``exit-address-family``); empty when the device already matches.
    lines: list[str]
    #: unified diff of the running config now and after the change ('' when none).
    diff: str
    #: the lines that would bring the device back to the running config compared against.
    rollback: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the running config already satisfies the candidate."""
        return not self.lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (host results)."""
        return {"mode": self.mode, "lines": list(self.lines), "rollback": list(self.rollback)}


@functools.lru_cache(maxsize=None)
def _driver(platform: Platform) -> HConfigDriverBase:
    driver = get_hconfig_driver(platform)
    for match_rules in _EXTRA_IDEMPOTENT.get(platform, ()):
        driver.rules.idempotent_commands.append(IdempotentCommandsRule(match_rules=match_rules))
    return driver


def hier_platform(platform: str | None) -> Platform:
    """hier_config's platform for a genja platform name (raises UnsupportedPlatformError)."""
    found = HIER_CONFIG_PLATFORMS.get((platform or "").lower())
    if found is None:
        known = ", ".join(sorted(HIER_CONFIG_PLATFORMS))
        raise UnsupportedPlatformError(f"no config remediation rules for platform {platform!r}; known: {known}")
    return found


def load(platform: str | None, text: str | Iterable[str]) -> HConfig:
    """Parse config text with the platform's rules (comments, ``end``, banners dropped)."""
    body = text if isinstance(text, str) else "\n".join(text)
    return get_hconfig(_driver(hier_platform(platform)), body)


def plan_change(platform: str | None, running: str, candidate: str | Iterable[str], mode: str = "merge") -> ChangePlan:
    """Plan bringing ``running`` in line with ``candidate`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    have = load(platform, running)
    want = load(platform, candidate)
    if hier_platform(platform) is Platform.JUNIPER_JUNOS:
        future = _junos_future(have, want)
    else:
        _drop_satisfied_negations(have, want)
        future = have.future(want)
    if mode == "replace":
        _replace_sections(future, want)
    remediation = have.config_to_get_to(future).set_order_weight()
    rollback = future.config_to_get_to(have).set_order_weight()
    lines = list(remediation.lines(sectional_exiting=True))
    step = _indent_step(running) if hier_platform(platform) is not Platform.JUNIPER_JUNOS else ""
    diff = "".join(
        difflib.unified_diff(
            [line + "\n" for line in _render(have, None, step)],
            [line + "\n" for line in _render(future, have, step)],
            fromfile="running (now)",
            tofile="running (after the change)",
            n=3,
        )
    )
    return ChangePlan(
        platform=platform or "",
        mode=mode,
        lines=lines,
        diff=diff if lines else "",
        rollback=list(rollback.lines(sectional_exiting=True)),
    )


def _junos_future(have: HConfig, want: HConfig) -> HConfig:
    """``have`` after the candidate's ``set``/``delete`` lines (hier_config's own future() keeps
    ``delete`` lines as lines). ``delete X`` removes X and everything under it; a ``set`` of a
    single-value leaf replaces the old value."""
    future = have.deep_copy()
    for line in want.children:
        if line.text.startswith("delete "):
            path = "set " + line.text[len("delete "):]
            for child in list(future.children):
                if child.text == path or child.text.startswith(path + " "):
                    child.delete()
        elif future.get_child(equals=line.text) is None:
            replaced = future.driver.idempotent_for(line, future.children)
            if replaced is not None:
                replaced.delete()
            future.add_child(line.text)
    return future


def _drop_satisfied_negations(have: HConfig | HConfigChild | None, want: HConfig | HConfigChild) -> None:
    """Remove candidate lines ``no X`` where ``X`` is not configured: they ask for an absence
    that is already there (hier_config would otherwise plan them as new ``no X`` lines, which
    a device does not print back, so the change would never look done)."""
    prefix = want.driver.negation_prefix if isinstance(want, HConfig) else want.root.driver.negation_prefix
    for child in list(want.children):
        match = have.get_child(equals=child.text) if have is not None else None
        if child.text.startswith(prefix) and not child.children and match is None:
            positive = child.text[len(prefix):]
            if have is None or have.get_child(equals=positive) is None:
                child.delete()
            continue
        _drop_satisfied_negations(match, child)


def _replace_sections(future: HConfig, want: HConfig) -> None:
    """Make each of the candidate's top-level sections in ``future`` exactly the candidate's."""
    negation = future.driver.negation_prefix
    for section in want.children:
        if not section.children or section.text.startswith(negation):
            continue
        existing = future.get_child(equals=section.text)
        if existing is not None:
            existing.delete()
        copy = future.add_deep_copy_of(section)
        # "no shutdown" in a replaced section asks for an absence the replacement already makes.
        for child in list(copy.all_children()):
            if child.text.startswith(negation):
                child.delete()


def _render(config: HConfig | HConfigChild, before: HConfig | HConfigChild | None, step: str) -> list[str]:
    """``config`` as text in the order of ``before`` (the running config), so the diff shows
    what changes and not what hier_config re-sorted. A line that replaces a single-value line
    takes the old line's place; other new lines follow the block's existing ones."""
    old = list(before.children) if before is not None else []
    order = {child.text: index for index, child in enumerate(old)}
    driver = config.driver if isinstance(config, HConfig) else config.root.driver
    keyed: list[tuple[float, int, HConfigChild]] = []
    for position, child in enumerate(config.children):
        rank: float = order.get(child.text, -1)
        if rank < 0:
            replaced = driver.idempotent_for(child, old)
            rank = order[replaced.text] + 0.5 if replaced is not None else len(old) + position
        keyed.append((rank, position, child))
    out: list[str] = []
    for _, _, child in sorted(keyed, key=lambda item: (item[0], item[1])):
        out.append(step * (child.depth() - 1) + child.text)
        match = before.get_child(equals=child.text) if before is not None else None
        out.extend(_render(child, match, step))
    return out


def _indent_step(running: str) -> str:
    """The running config's own indentation step (1 space on IOS, 3 on EOS)."""
    previous = None
    for line in running.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith(("!", "#")):
            continue
        indent = len(line) - len(stripped)
        if previous is not None and indent > previous:
            return " " * (indent - previous)
        previous = indent
    return " "
