"""Device facts out of ntc-templates' ``show version`` rows (TextFSM), per platform.

``collect_facts`` parses ``show version`` with ntc-templates first (the templates the
community keeps up to date for many more software trains than the hand-written parsers in
:mod:`genja_prefect_flows.parsers` know) and fills what a template leaves out, or a template
that rejects the output, from those parsers. The columns differ per template, hence a table
of which column holds which fact. Example::

    from genja_prefect_flows.ntcfacts import textfsm_facts

    facts = textfsm_facts("ios", "show version", output)   # {} when no template applies
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any


__all__ = ["NTC_FACT_COLUMNS", "textfsm_facts"]

logger = logging.getLogger("genja_prefect_flows")

_IOS = {"hostname": "hostname", "version": "version", "model": "hardware", "serial": "serial", "uptime": "uptime"}

#: platform -> command -> fact key -> ntc-templates column. Only columns that mean the same as
#: the hand-written parsers' keys: NX-OS' ``platform`` ("5596") is not the model the parser
#: reports ("Nexus 5596"), so the parser keeps that one.
NTC_FACT_COLUMNS: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "ios": {"show version": _IOS},
    "iosxe": {"show version": _IOS},
    "eos": {"show version": {"version": "image", "model": "model", "serial": "serial_number", "uptime": "uptime"}},
    "nxos": {"show version": {"hostname": "hostname", "version": "os", "serial": "serial", "uptime": "uptime"}},
    "junos": {"show version": {"hostname": "hostname", "model": "model", "version": "junos_version"}},
    "asa": {
        "show version": {
            "hostname": "hostname", "version": "version", "model": "hardware", "serial": "serial", "uptime": "uptime",
        }
    },
}


def _value(raw: Any) -> Any:
    if isinstance(raw, list):  # List values (IOS' hardware, serial): the first is the chassis
        raw = raw[0] if raw else None
    if isinstance(raw, str):
        raw = raw.strip()
    return raw or None


def textfsm_facts(platform: str | None, command: str, output: str) -> dict[str, Any]:
    """Facts from ntc-templates' parse of ``command``; ``{}`` when no template applies or the
    template rejects the output (the caller then relies on its own parser)."""
    columns = NTC_FACT_COLUMNS.get(platform or "", {}).get(command)
    if not columns:
        return {}
    # Imported here: genja_prefect_scrapli imports scrapli (the devices extra), and the jobs'
    # modules must import without it (a deployment run then fails with build_runtime's
    # one-line "install the extra" instead of an ImportError while loading the flow).
    from genja_prefect_scrapli.parsing import ParseError, parse_textfsm

    try:
        rows = parse_textfsm(output, platform=platform, command=command)
    except ParseError as exc:  # includes a missing ntc-templates install: the parsers still work
        logger.debug("ntc-templates gave no facts for %s %r: %s", platform, command, exc)
        return {}
    if not rows:
        return {}
    row = rows[0]
    facts = {key: _value(row.get(column)) for key, column in columns.items()}
    return {key: value for key, value in facts.items() if value is not None}
