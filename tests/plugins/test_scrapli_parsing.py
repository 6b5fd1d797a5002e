"""Structured output (genja_prefect_scrapli.parsing): ntc-templates on the lab simulator's
outputs, the connection's ``execute_command(parse=...)`` / ``send_command`` against the
simulator over SSH, and the errors a user gets for a missing template or library."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from genja_prefect import PluginManager
from genja_prefect.lab.sim_cli import CliSession, DeviceState
from genja_prefect.lab.sim_platforms import SIM_PLATFORMS
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task
from genja_prefect_scrapli import CommandResponse, NoTemplateError, ParseError, ParserNotInstalledError, parse_output
from genja_prefect_scrapli.parsing import genie_platform, has_textfsm_template, ntc_templates_platform

from .conftest import make_genja, ssh_host


def sim_output(platform: str, command: str, hostname: str = "r1") -> str:
    """What the lab simulator prints for ``command`` (the same code its SSH server runs)."""
    session = CliSession(DeviceState(SIM_PLATFORMS[platform], hostname))
    session.handle_line("enable")
    return session.handle_line(command).output


@pytest.mark.parametrize(
    ("platform", "expected"),
    [("ios", "cisco_ios"), ("iosxe", "cisco_ios"), ("eos", "arista_eos"), ("junos", "juniper_junos"),
     ("nxos", "cisco_nxos"), ("iosxr", "cisco_xr"), ("asa", "cisco_asa"), ("cisco_ios", "cisco_ios"),
     ("frobos", None), (None, None)],
)
def test_platform_names_map_to_ntc_templates(platform: str | None, expected: str | None) -> None:
    assert ntc_templates_platform(platform) == expected


def test_platform_names_map_to_genie() -> None:
    assert [genie_platform(p) for p in ("ios", "iosxe", "nxos", "iosxr", "junos", "eos")] == [
        "iosxe", "iosxe", "nxos", "iosxr", "junos", None,
    ]


def test_ios_show_version_parses() -> None:
    [row] = parse_output(sim_output("ios", "show version"), platform="ios", command="show version")
    assert (row["hostname"], row["version"], row["hardware"], row["serial"]) == (
        "r1", "17.3.4a", ["CSR1000V"], ["9ESGOBARV9D"],
    )
    assert row["uptime"] == "1 week, 2 days, 3 hours, 4 minutes"


def test_eos_show_version_parses() -> None:
    [row] = parse_output(sim_output("eos", "show version", "sw1"), platform="eos", command="show version")
    assert (row["model"], row["image"], row["serial_number"]) == ("vEOS-lab", "4.28.3M", "SN-sw1")


@pytest.mark.parametrize("platform", ["ios", "eos"])
def test_show_ip_interface_brief_parses(platform: str) -> None:
    rows = parse_output(
        sim_output(platform, "show ip interface brief"), platform=platform, command="show ip interface brief"
    )
    by_name = {row["interface"]: row for row in rows}
    first = "GigabitEthernet1" if platform == "ios" else "Ethernet1"
    third = "GigabitEthernet3" if platform == "ios" else "Ethernet3"
    assert len(rows) == 4 and "Loopback0" in by_name
    assert by_name[first]["status"] == "up"
    assert by_name[third]["status"] in ("administratively down", "adminDown")
    assert by_name[third]["ip_address"] == "unassigned"


@pytest.mark.parametrize("platform", ["ios", "eos"])
def test_show_interfaces_parses_every_interface_from_the_running_config(platform: str) -> None:
    rows = parse_output(sim_output(platform, "show interfaces"), platform=platform, command="show interfaces")
    by_name = {row["interface"]: row for row in rows}
    first, third = ("GigabitEthernet1", "GigabitEthernet3") if platform == "ios" else ("Ethernet1", "Ethernet3")
    assert sorted(by_name) == sorted([first, first[:-1] + "2", third, "Loopback0"])
    assert by_name[first]["description"] == "uplink"
    assert by_name[first]["link_status"] == "up"
    assert by_name[third]["link_status"] == "administratively down"
    assert by_name[first]["mtu"] == "1500"
    assert by_name[first]["mac_address"].count(".") == 2
    if platform == "ios":  # IOS prints the mask as a prefix length after the address
        assert (by_name[first]["ip_address"], by_name[first]["prefix_length"]) == ("10.0.0.1", "24")
    else:
        assert by_name[first]["ip_address"] == "10.0.0.2/24"


def test_a_config_change_shows_in_parsed_show_interfaces() -> None:
    state = DeviceState(SIM_PLATFORMS["ios"], "r1")
    session = CliSession(state)
    for line in ("enable", "configure terminal", "interface GigabitEthernet2", "description to-core",
                 "ip address 172.16.0.1 255.255.255.252", "end"):
        session.handle_line(line)
    rows = parse_output(session.handle_line("show interfaces").output, platform="ios", command="show interfaces")
    gi2 = next(row for row in rows if row["interface"] == "GigabitEthernet2")
    assert (gi2["description"], gi2["ip_address"], gi2["prefix_length"]) == ("to-core", "172.16.0.1", "30")


def test_abbreviated_commands_find_their_template() -> None:
    assert has_textfsm_template("ios", "sh ip int br")
    assert parse_output(sim_output("ios", "sh ip int br"), platform="ios", command="sh ip int br")


def test_no_template_names_platform_and_command() -> None:
    with pytest.raises(NoTemplateError, match=r"host 'r1', platform 'ios', command 'show frobnication'"):
        parse_output("x", platform="ios", command="show frobnication", host="r1")
    with pytest.raises(NoTemplateError, match="no ntc-templates platform .* platform 'frobos'"):
        parse_output("x", platform="frobos", command="show version")


def test_own_textfsm_template_file(tmp_path: Path) -> None:
    template = tmp_path / "clock.textfsm"
    template.write_text("Value TIME (\\S+)\nValue ZONE (\\S+)\n\nStart\n  ^\\*${TIME}\\s+${ZONE} -> Record\n")
    rows = parse_output(sim_output("ios", "show clock"), platform="ios", command="show clock", template=template)
    assert rows == [{"time": "12:00:00.000", "zone": "UTC"}]


def test_a_broken_template_is_a_parse_error(tmp_path: Path) -> None:
    template = tmp_path / "broken.textfsm"
    template.write_text("Value X (\\S+\n\nStart\n  ^${X} -> Record\n")
    with pytest.raises(ParseError, match="TextFSM could not parse the output of platform 'ios', command 'show clock'"):
        parse_output("x", platform="ios", command="show clock", template=template)


@pytest.mark.skipif(importlib.util.find_spec("ttp") is None, reason="the ttp extra is not installed")
def test_ttp_template_text() -> None:
    template = (
        '<group name="interfaces">\n'
        '{{ interface }} {{ ip }} YES {{ method }} {{ state | re(".+") }}\n'
        "</group>"
    )
    [result] = parse_output(
        sim_output("ios", "show ip interface brief"), platform="ios", command="show ip int brief",
        parse="ttp", template=template,
    )
    names = [row["interface"] for row in result["interfaces"]]
    assert names == ["GigabitEthernet1", "GigabitEthernet2", "GigabitEthernet3", "Loopback0"]


def test_ttp_without_template_says_so() -> None:
    with pytest.raises(ParseError, match="parse='ttp' needs a template"):
        parse_output("x", platform="ios", command="show clock", parse="ttp")


@pytest.mark.skipif(importlib.util.find_spec("genie") is not None, reason="genie is installed here")
def test_genie_missing_names_the_extra() -> None:
    with pytest.raises(ParserNotInstalledError, match=r"install genja-prefect\[genie\]"):
        parse_output(sim_output("ios", "show version"), platform="ios", command="show version", parse="genie")


@pytest.mark.skipif(importlib.util.find_spec("genie") is None, reason="the genie extra is not installed")
def test_genie_parses_ios_show_version() -> None:
    parsed = parse_output(sim_output("ios", "show version"), platform="ios", command="show version", parse="genie")
    assert parsed["version"]["version"] == "17.3.4a"


# -- through the connection, against the simulator over SSH ------------------------------------
@task(name="parsed_commands", connection_plugin_name="scrapli")
class ParsedCommands:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        connection = context.connection()
        response = connection.send_command("show version")
        assert isinstance(response, CommandResponse)
        return TaskSuccessResult(
            result={
                "brief": connection.execute_command("show ip interface brief", parse="textfsm"),
                "interfaces": connection.execute_command("show interfaces", parse="textfsm"),
                "version": response.textfsm_parse(),
                "text": response.result,
            }
        )


@pytest.mark.parametrize(("name", "platform"), [("sim-ios1", "ios"), ("sim-eos1", "eos")])
def test_execute_command_parse_over_ssh(
    lab: Any, lab_password: str, plugin_manager: PluginManager, name: str, platform: str
) -> None:
    device = lab.host(name)
    genja = make_genja({name: ssh_host(device.port, platform, lab_password)}, plugin_manager)
    result = genja.run_task(ParsedCommands)[name]
    assert result.status == "passed", result.message
    parsed: dict[str, Any] = result.result
    assert {row["interface"] for row in parsed["brief"]} >= {"Loopback0"}
    # the session lab's devices are shared: another test may have added an interface (Loopback42)
    assert len(parsed["interfaces"]) >= 4
    assert parsed["interfaces"][0]["description"] == "uplink"
    [version] = parsed["version"]
    assert version.get("version", version.get("image")) in ("17.3.4a", "4.28.3M")
    assert "Software" in parsed["text"] or "Arista" in parsed["text"]


@task(name="unparsable", connection_plugin_name="scrapli")
class Unparsable:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().execute_command("show running-config", parse="textfsm"))


def test_no_template_over_ssh_fails_the_host_naming_the_command(
    lab: Any, lab_password: str, plugin_manager: PluginManager
) -> None:
    device = lab.host("sim-eos1")
    genja = make_genja({"sw": ssh_host(device.port, "eos", lab_password)}, plugin_manager)
    result = genja.run_task(Unparsable)["sw"]
    assert result.status == "failed"
    assert "NoTemplateError" in result.message and "host 'sw', platform 'eos', command 'show running-config'" in result.message
