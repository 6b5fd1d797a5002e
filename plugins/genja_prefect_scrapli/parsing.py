"""Structured output for CLI commands: TextFSM (ntc-templates), Genie and TTP.

What nornir_scrapli users know as ``response.textfsm_parse()`` / ``genie_parse()``, on plain
strings so that it works for any output (a connection's, a file's, a test sample's)::

    from genja_prefect_scrapli.parsing import parse_output

    rows = parse_output(output, platform="ios", command="show ip interface brief")
    print(rows[0]["interface"], rows[0]["status"])

or through the connection (see :meth:`ScrapliConnection.execute_command`)::

    rows = context.connection().execute_command("show ip interface brief", parse="textfsm")

This project's platform names (``ios``, ``eos``, ``junos``, ...; the NAPALM names) are mapped
to ntc-templates' and Genie's with netutils' ``lib_mapper``, so a platform netutils knows works
without a table here. TextFSM (ntc-templates, netutils) comes with the ``devices`` extra; Genie
with the ``genie`` extra; TTP with the ``ttp`` extra. A missing library is a
:class:`ParserNotInstalledError` naming the extra to install; an output that no template
covers is a :class:`NoTemplateError` naming platform and command.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from genja_prefect.errors import GenjaError

__all__ = [
    "PARSERS",
    "CommandResponse",
    "NoTemplateError",
    "ParseError",
    "ParseWith",
    "ParserNotInstalledError",
    "genie_platform",
    "has_textfsm_template",
    "normalized_platform",
    "ntc_templates_platform",
    "parse_genie",
    "parse_output",
    "parse_textfsm",
    "parse_ttp",
]

logger = logging.getLogger(__name__)

#: The parsers :func:`parse_output` knows.
ParseWith = Literal["textfsm", "genie", "ttp"]
PARSERS: tuple[str, ...] = ("textfsm", "genie", "ttp")

# Names netutils has no NAPALM entry for but this project uses (scrapli's iosxe definition).
_EXTRA_NORMALIZED = {"iosxe": "cisco_xe"}


class ParseError(GenjaError, ValueError):
    """An output could not be parsed; the message names host (when known), platform and command."""


class NoTemplateError(ParseError, LookupError):
    """No TextFSM template (or Genie parser) exists for this platform and command."""


class ParserNotInstalledError(ParseError, ImportError):
    """The parsing library is not installed; the message names the extra that brings it."""


def _import(module: str, extra: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ParserNotInstalledError(
            f"{what} needs the Python package {exc.name or module!r}: install genja-prefect[{extra}]"
        ) from None


def normalized_platform(platform: str | None) -> str | None:
    """netutils' normalized name (``cisco_ios``, ``arista_eos``) for a platform name.

    Accepts this project's names (``ios``, ``eos``, ``junos``, ``nxos``, ``iosxr``, ``asa``:
    NAPALM's), Netmiko's and netutils' own; ``None`` when netutils knows none of them.
    """
    if not platform:
        return None
    mapper = _import("netutils.lib_mapper", "devices", "mapping platform names")
    name = platform.strip().lower()
    if name in _EXTRA_NORMALIZED:
        return _EXTRA_NORMALIZED[name]
    if name in mapper.MAIN_LIB_MAPPER:  # already a netutils name
        return str(mapper.MAIN_LIB_MAPPER[name])
    for table in (mapper.NAPALM_LIB_MAPPER, mapper.NETMIKO_LIB_MAPPER, mapper.SCRAPLI_LIB_MAPPER):
        if name in table:
            return str(table[name])
    return None


def ntc_templates_platform(platform: str | None) -> str | None:
    """ntc-templates' platform name (``cisco_ios``) for a platform, or ``None``."""
    normalized = normalized_platform(platform)
    if normalized is None:
        return None
    mapper = _import("netutils.lib_mapper", "devices", "mapping platform names")
    value = mapper.NTCTEMPLATES_LIB_MAPPER_REVERSE.get(normalized)
    return None if value is None else str(value)


def genie_platform(platform: str | None) -> str | None:
    """Genie's ``os`` name (``iosxe``, ``nxos``) for a platform, or ``None``."""
    normalized = normalized_platform(platform)
    if normalized is None:
        return None
    mapper = _import("netutils.lib_mapper", "devices", "mapping platform names")
    value = mapper.PYATS_LIB_MAPPER_REVERSE.get(normalized)
    return None if value is None else str(value)


@lru_cache(maxsize=1)
def _template_dir() -> str:
    _import("ntc_templates", "devices", "TextFSM parsing")
    return str(importlib.resources.files("ntc_templates") / "templates")


def _clitable() -> Any:
    # CliTable caches the parsed index per directory at class level (under a lock), so a new
    # table per call is cheap and keeps parsing thread-safe (a table holds its last result).
    clitable = _import("textfsm.clitable", "devices", "TextFSM parsing")
    return clitable.CliTable("index", _template_dir())


def has_textfsm_template(platform: str | None, command: str) -> bool:
    """True when ntc-templates has a template for ``command`` on ``platform``."""
    ntc = ntc_templates_platform(platform)
    if ntc is None:
        return False
    return bool(_clitable().index.GetRowMatch({"Platform": ntc, "Command": command.strip()}))


def _where(platform: str | None, command: str, host: str | None) -> str:
    return (f"host '{host}', " if host else "") + f"platform {platform!r}, command {command!r}"


def parse_textfsm(
    output: str,
    *,
    platform: str | None,
    command: str,
    template: str | Path | None = None,
    host: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``output`` as dicts (lower-case column names), by ntc-templates' index.

    ``template`` (a TextFSM template file) replaces the index lookup. Raises
    :class:`NoTemplateError` when ntc-templates has no template for the platform and command,
    :class:`ParseError` when the template rejects the output.
    """
    textfsm = _import("textfsm", "devices", "TextFSM parsing")
    clitable = _import("textfsm.clitable", "devices", "TextFSM parsing")
    try:
        if template is not None:
            with open(template, encoding="utf-8") as handle:
                fsm = textfsm.TextFSM(handle)
            rows = fsm.ParseText(output)
            header = fsm.header
        else:
            ntc = ntc_templates_platform(platform)
            if ntc is None:
                raise NoTemplateError(
                    f"no ntc-templates platform for {_where(platform, command, host)}: give the host a "
                    "platform netutils knows (ios, iosxe, eos, junos, nxos, iosxr, asa, ...) or a template file"
                )
            table = _clitable()
            attributes = {"Platform": ntc, "Command": command.strip()}
            if not table.index.GetRowMatch(attributes):
                raise NoTemplateError(
                    f"ntc-templates has no template for {_where(platform, command, host)} "
                    f"(ntc platform {ntc}): give a template file, or parse the text yourself"
                )
            table.ParseCmd(output, attributes)
            rows = [list(row) for row in table]
            header = list(table.header)
    except (textfsm.parser.Error, clitable.CliTableError) as exc:  # template errors are not TextFSMError
        raise ParseError(f"TextFSM could not parse the output of {_where(platform, command, host)}: {exc}") from None
    except OSError as exc:
        raise ParseError(f"TextFSM template {str(template)!r} for {_where(platform, command, host)}: {exc}") from None
    names = [str(name).lower() for name in header]
    return [dict(zip(names, row, strict=False)) for row in rows]


def parse_genie(output: str, *, platform: str | None, command: str, host: str | None = None) -> dict[str, Any]:
    """Genie's structured result for ``output`` (the ``genie`` extra; Cisco and Junos platforms)."""
    base = _import("genie.conf.base", "genie", "Genie parsing")
    utils = _import("genie.libs.parser.utils", "genie", "Genie parsing")
    os_name = genie_platform(platform)
    if os_name is None:
        raise NoTemplateError(f"Genie has no parsers for {_where(platform, command, host)}")
    device = base.Device(host or "genja-device", os=os_name, custom={"abstraction": {"order": ["os"]}})
    try:
        utils.get_parser(command.strip(), device)
    except Exception as exc:  # noqa: BLE001 - Genie signals "no parser" with several types
        raise NoTemplateError(f"Genie has no parser for {_where(platform, command, host)}: {exc}") from None
    try:
        parsed = device.parse(command.strip(), output=output)
    except Exception as exc:  # noqa: BLE001 - SchemaEmptyParserError and friends
        raise ParseError(
            f"Genie could not parse the output of {_where(platform, command, host)}: {type(exc).__name__}: {exc}"
        ) from None
    return dict(parsed)


def parse_ttp(output: str, *, template: str | Path, command: str = "", host: str | None = None) -> Any:
    """The output parsed by a TTP template (its text, or a path to a file): TTP's result list."""
    ttp = _import("ttp", "ttp", "TTP parsing")
    text = str(template)
    if isinstance(template, Path) or (len(text) < 4096 and "\n" not in text and Path(text).is_file()):
        text = Path(template).read_text(encoding="utf-8")
    try:
        parser = ttp.ttp(data=output, template=text)
        parser.parse()
        return parser.result(structure="flat_list")
    except Exception as exc:  # noqa: BLE001 - TTP raises plain exceptions of many kinds
        raise ParseError(
            f"TTP could not parse the output of {_where(None, command, host)}: {type(exc).__name__}: {exc}"
        ) from None


def parse_output(
    output: str,
    *,
    platform: str | None,
    command: str,
    parse: ParseWith = "textfsm",
    template: str | Path | None = None,
    host: str | None = None,
) -> Any:
    """Parse ``output`` with ``parse`` (``textfsm``, ``genie`` or ``ttp``).

    TextFSM returns a list of dicts, Genie a dict, TTP a list. ``template`` is a TextFSM
    template file (optional) or a TTP template (required for ``ttp``).
    """
    if parse == "textfsm":
        return parse_textfsm(output, platform=platform, command=command, template=template, host=host)
    if parse == "genie":
        return parse_genie(output, platform=platform, command=command, host=host)
    if parse == "ttp":
        if template is None:
            raise ParseError(f"parse='ttp' needs a template (text or file) for {_where(platform, command, host)}")
        return parse_ttp(output, template=template, command=command, host=host)
    raise ParseError(f"parse={parse!r} for {_where(platform, command, host)}: expected one of {', '.join(PARSERS)}")


@dataclass(frozen=True)
class CommandResponse:
    """One command's output with the parsers nornir_scrapli users know.

    Returned by :meth:`ScrapliConnection.send_command`::

        response = context.connection().send_command("show version")
        print(response.result.splitlines()[0])
        facts = response.textfsm_parse()[0]
    """

    host: str
    platform: str | None
    command: str
    result: str

    def __str__(self) -> str:
        return self.result

    def textfsm_parse(self, template: str | Path | None = None) -> list[dict[str, Any]]:
        """The output as rows (ntc-templates' template for the platform and command)."""
        return parse_textfsm(
            self.result, platform=self.platform, command=self.command, template=template, host=self.host
        )

    def genie_parse(self) -> dict[str, Any]:
        """The output as Genie's structure (needs the ``genie`` extra)."""
        return parse_genie(self.result, platform=self.platform, command=self.command, host=self.host)

    def ttp_parse(self, template: str | Path) -> Any:
        """The output parsed by a TTP template (needs the ``ttp`` extra)."""
        return parse_ttp(self.result, template=template, command=self.command, host=self.host)

    def to_dict(self) -> Mapping[str, Any]:
        """Plain data (for results and artifacts)."""
        return {"host": self.host, "platform": self.platform, "command": self.command, "result": self.result}
