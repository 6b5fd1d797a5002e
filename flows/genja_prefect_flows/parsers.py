"""Parsers for ``show version`` (and friends): device facts out of CLI text.

Plain functions over strings, no I/O. Each parser returns only the facts it found, as a
:class:`Facts` mapping with the keys ``hostname``, ``vendor``, ``os``, ``version``, ``model``,
``serial``, ``uptime`` (the device's own words) and ``uptime_seconds``. A key the output does
not carry is left out, so parsers of several commands can be merged with :func:`merge_facts`.

Tested on the outputs of fakenos (ios, eos, junos, nxos, asa), of the lab's device simulator
(ios, eos) and on real-device samples; see ``tests/flows/data/``.

Example::

    from genja_prefect_flows.parsers import parse_show_version

    facts = parse_show_version("eos", output)
    print(facts["version"], facts.get("serial"))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "FACT_KEYS",
    "Facts",
    "PARSERS",
    "UnsupportedPlatformError",
    "merge_facts",
    "parse_show_version",
    "parse_uptime",
    "supported_platforms",
]

Facts = dict[str, Any]

#: The facts every parser may fill, in report order.
FACT_KEYS = ("hostname", "vendor", "os", "version", "model", "serial", "uptime", "uptime_seconds")


class UnsupportedPlatformError(ValueError):
    """No parser exists for a platform/command pair."""


# -- helpers --------------------------------------------------------------------------------
_CONTINUATION = re.compile(r"[ \t]*\\[ \t]*\r?\n[ \t]*")

_UNIT_SECONDS = {
    "year": 365 * 86400,
    "yr": 365 * 86400,
    "y": 365 * 86400,
    "week": 7 * 86400,
    "wk": 7 * 86400,
    "w": 7 * 86400,
    "day": 86400,
    "d": 86400,
    "hour": 3600,
    "hr": 3600,
    "h": 3600,
    "minute": 60,
    "min": 60,
    "m": 60,
    "second": 1,
    "sec": 1,
    "s": 1,
}
_WORD_UNITS = re.compile(
    r"(\d+)\s*(years?|yrs?|weeks?|wks?|days?|day\(s\)|hours?|hour\(s\)|hrs?|minutes?|minute\(s\)|mins?|"
    r"seconds?|second\(s\)|secs?)\b",
    re.IGNORECASE,
)
_COMPACT_UNITS = re.compile(r"(\d+)([ywdhms])", re.IGNORECASE)
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?\b")


def _normalize(text: str) -> str:
    """Join backslash-continued lines (fakenos wraps long lines that way) and drop CRs."""
    return _CONTINUATION.sub(" ", text.replace("\r\n", "\n"))


def _first(pattern: str, text: str, flags: int = re.MULTILINE) -> str | None:
    match = re.search(pattern, text, flags)
    if match is None:
        return None
    value = match.group(1).strip()
    return value or None


def parse_uptime(text: str) -> int | None:
    """Seconds in an uptime phrase, or ``None`` when it has no recognizable duration.

    Understands ``1 week, 2 days, 3 hours, 4 minutes`` (IOS, EOS), ``749 day(s), 15 hour(s)``
    (NX-OS), ``114 days 18 hours`` (ASA), ``185 days, 17:59`` (Junos ``show system uptime``)
    and ``26w3d 17:59`` (Junos compact form).
    """
    total = 0
    found = False
    for count, unit in _WORD_UNITS.findall(text):
        key = unit.lower().replace("(s)", "").rstrip("s") or "s"
        if key not in _UNIT_SECONDS:
            key = key[:3] if key[:3] in _UNIT_SECONDS else key[:1]
        total += int(count) * _UNIT_SECONDS[key]
        found = True
    if not found:
        for count, unit in _COMPACT_UNITS.findall(text):
            total += int(count) * _UNIT_SECONDS[unit.lower()]
            found = True
    clock = _CLOCK.search(text)
    if clock is not None:
        hours, minutes, seconds = clock.group(1), clock.group(2), clock.group(3) or "0"
        total += int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        found = True
    return total if found else None


def _with_uptime(facts: Facts, uptime: str | None) -> Facts:
    if uptime:
        facts["uptime"] = uptime
        seconds = parse_uptime(uptime)
        if seconds is not None:
            facts["uptime_seconds"] = seconds
    return facts


def _clean(facts: Mapping[str, Any]) -> Facts:
    return {k: v for k, v in facts.items() if v not in (None, "")}


# -- per platform ---------------------------------------------------------------------------
def parse_ios_show_version(output: str) -> Facts:
    """Cisco IOS / IOS-XE ``show version``."""
    text = _normalize(output)
    facts: Facts = {"vendor": "Cisco"}
    facts["os"] = "IOS-XE" if re.search(r"IOS[ -]XE", text) else "IOS"
    facts["version"] = _first(r"Cisco IOS.*?,\s*Version\s+([^\s,]+)", text) or _first(
        r"^\s*Version\s+([^\s,]+)", text
    )
    uptime_line = re.search(r"^\s*(\S+)\s+uptime is\s+(.+?)\s*$", text, re.MULTILINE)
    if uptime_line is not None:
        facts["hostname"] = uptime_line.group(1)
    facts["model"] = _first(r"^\s*[Cc]isco\s+(\S+)(?:\s+\([^)]*\))?\s+(?:processor|\(revision)", text) or _first(
        r"^Model [Nn]umber\s*:\s*(\S+)", text
    )
    facts["serial"] = _first(r"^System [Ss]erial [Nn]umber\s*:\s*(\S+)", text) or _first(
        r"^Processor board ID\s+(\S+)", text
    )
    _with_uptime(facts, uptime_line.group(2) if uptime_line is not None else None)
    return _clean(facts)


def parse_eos_show_version(output: str) -> Facts:
    """Arista EOS ``show version``."""
    text = _normalize(output)
    facts: Facts = {"vendor": "Arista", "os": "EOS"}
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    model = re.fullmatch(r"(?:Arista\s+)?([A-Za-z0-9][\w.-]*)", first_line)
    if model is not None:
        facts["model"] = model.group(1)
    facts["serial"] = _first(r"^Serial number:[ \t]*(\S*)[ \t]*$", text)
    facts["version"] = _first(r"^Software image version:\s*(\S+)", text)
    _with_uptime(facts, _first(r"^Uptime:\s*(.+?)\s*$", text))
    return _clean(facts)


def parse_eos_show_hostname(output: str) -> Facts:
    """Arista EOS ``show hostname``. (fakenos 1.2 prints the name in braces: ``{eos1}``;
    braces cannot be part of a hostname, so they are dropped.)"""
    return _clean({"hostname": _first(r"^Hostname:\s*\{?([^\s{}]+)\}?", _normalize(output))})


def parse_junos_show_version(output: str) -> Facts:
    """Juniper Junos ``show version`` (single RE or the per-member ``fpcN:`` form)."""
    text = _normalize(output)
    facts: Facts = {"vendor": "Juniper", "os": "Junos"}
    facts["hostname"] = _first(r"^\s*Hostname:\s*(\S+)", text)
    facts["model"] = _first(r"^\s*Model:\s*(\S+)", text)
    facts["version"] = (
        _first(r"^\s*Junos:\s*(\S+)", text, re.MULTILINE | re.IGNORECASE)
        or _first(r"^\s*JUNOS .*?Software Suite \[([^\]]+)\]", text)
        or _first(r"^\s*JUNOS [^\[\n]*\[([^\]]+)\]", text)
    )
    return _clean(facts)


def parse_junos_show_chassis_hardware(output: str) -> Facts:
    """Juniper ``show chassis hardware``: the chassis serial number and model."""
    match = re.search(r"^Chassis\s+(\S+)\s+(\S.*?)\s*$", _normalize(output), re.MULTILINE)
    if match is None:
        return {}
    return _clean({"serial": match.group(1), "chassis_model": match.group(2)})


def parse_junos_show_system_uptime(output: str) -> Facts:
    """Juniper ``show system uptime``: the ``up N days, HH:MM`` figure."""
    text = _normalize(output)
    uptime = _first(r"\bup\s+(.+?),\s*\d+\s+users?", text)
    if uptime is None:
        uptime = _first(r"^System booted:.*\(([^)]*?)\s+ago\)", text)
    return _with_uptime({}, uptime)


def parse_nxos_show_version(output: str) -> Facts:
    """Cisco NX-OS ``show version``."""
    text = _normalize(output)
    facts: Facts = {"vendor": "Cisco", "os": "NX-OS"}
    facts["version"] = (
        _first(r"^\s*NXOS:\s*version\s+(\S+)", text)
        or _first(r"^\s*system:\s*version\s+(\S+)", text)
        or _first(r"^\s*kickstart:\s*version\s+(\S+)", text)
    )
    facts["hostname"] = _first(r"^\s*Device name:\s*(\S+)", text)
    facts["model"] = _first(r"^\s*cisco\s+(.+?)\s+[Cc]hassis\b", text)
    facts["serial"] = _first(r"^\s*Processor [Bb]oard ID\s+(\S+)", text)
    _with_uptime(facts, _first(r"^\s*Kernel uptime is\s+(.+?)\s*$", text))
    return _clean(facts)


def parse_asa_show_version(output: str) -> Facts:
    """Cisco ASA ``show version``."""
    text = _normalize(output)
    facts: Facts = {"vendor": "Cisco", "os": "ASA"}
    facts["version"] = _first(r"Adaptive Security Appliance Software Version\s+(\S+)", text)
    facts["model"] = _first(r"^Hardware:\s*([^,\s]+)", text)
    facts["serial"] = _first(r"^Serial Number:\s*(\S+)", text)
    uptime = re.search(r"^(\S+)\s+up\s+(.+?)\s*$", text, re.MULTILINE)
    if uptime is not None and uptime.group(1) != "failover":
        facts["hostname"] = uptime.group(1)
        _with_uptime(facts, uptime.group(2))
    return _clean(facts)


Parser = Callable[[str], Facts]

#: platform -> ordered ``(command, parser, required)``; the first entry is ``show version``.
PARSERS: dict[str, tuple[tuple[str, Parser, bool], ...]] = {
    "ios": (("show version", parse_ios_show_version, True),),
    "iosxe": (("show version", parse_ios_show_version, True),),
    "eos": (
        ("show version", parse_eos_show_version, True),
        ("show hostname", parse_eos_show_hostname, False),
    ),
    "junos": (
        ("show version", parse_junos_show_version, True),
        ("show chassis hardware", parse_junos_show_chassis_hardware, False),
        ("show system uptime", parse_junos_show_system_uptime, False),
    ),
    "nxos": (("show version", parse_nxos_show_version, True),),
    "asa": (("show version", parse_asa_show_version, True),),
}


def supported_platforms() -> list[str]:
    """Platforms with a ``show version`` parser."""
    return sorted(PARSERS)


def parse_show_version(platform: str, output: str) -> Facts:
    """Parse ``show version`` of ``platform``; raises :class:`UnsupportedPlatformError`."""
    commands = PARSERS.get(platform)
    if commands is None:
        raise UnsupportedPlatformError(
            f"no show version parser for platform {platform!r}; supported: {supported_platforms()}"
        )
    return commands[0][1](output)


def merge_facts(*parts: Mapping[str, Any]) -> Facts:
    """Merge partial facts: the first non-empty value of each key wins (so ``show version`` beats
    helper commands), later parts fill gaps. Extra keys (``chassis_model``) come last."""
    merged: Facts = {}
    for part in parts:
        for key, value in part.items():
            if key not in merged and value not in (None, ""):
                merged[key] = value
    ordered = {k: merged[k] for k in FACT_KEYS if k in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return ordered
