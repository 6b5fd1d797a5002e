"""The simulator's CLI state machine, without SSH: modes, abbreviations, config, errors."""

from __future__ import annotations

import pytest

from genja_prefect.lab.sim_cli import CliSession, DeviceState
from genja_prefect.lab.sim_platforms import EOS, IOS, NXOS, SimPlatform


def _session(platform: SimPlatform = IOS, name: str = "r1") -> CliSession:
    return CliSession(DeviceState(platform, name))


def test_modes_and_prompts_follow_enable_configure_end() -> None:
    cli = _session()
    assert cli.prompt == "r1>"
    cli.handle_line("enable")
    assert cli.prompt == "r1#"
    cli.handle_line("conf t")
    assert cli.prompt == "r1(config)#"
    cli.handle_line("int gi2")
    assert cli.prompt == "r1(config-if)#"
    cli.handle_line("exit")
    assert cli.prompt == "r1(config)#"
    cli.handle_line("end")
    assert cli.prompt == "r1#"
    cli.handle_line("disable")
    assert cli.prompt == "r1>"
    assert cli.handle_line("exit").close


@pytest.mark.parametrize(
    ("platform", "error"), [(IOS, "% Invalid input detected at '^' marker."), (EOS, "% Invalid input")]
)
def test_unknown_command_gets_the_platform_error(platform: SimPlatform, error: str) -> None:
    cli = _session(platform)
    cli.handle_line("enable")
    assert cli.handle_line("show bogus").output.endswith(error)


def test_ios_caret_points_at_the_bad_word() -> None:
    cli = _session()
    cli.handle_line("enable")
    caret, _ = cli.handle_line("show versoin").output.split("\n")
    assert caret.index("^") == len("r1#show ")


def test_privileged_commands_are_refused_in_exec_mode() -> None:
    cli = _session()
    assert "Invalid input" in cli.handle_line("show running-config").output
    assert "Invalid input" in cli.handle_line("configure terminal").output


def test_terminal_settings_and_abbreviations_are_accepted() -> None:
    eos = _session(EOS)
    assert eos.handle_line("term len 0").output == "Pagination disabled."
    assert eos.handle_line("terminal width 32767").output == "Width set to 32767 columns."
    ios = _session()
    assert ios.handle_line("term width 512").output == ""
    assert ios.handle_line("sh ver").output.startswith("Cisco IOS XE Software")
    assert ios.handle_line("sh").output == "% Incomplete command."


def test_configuration_changes_running_config_and_show_commands() -> None:
    cli = _session()
    for line in [
        "enable",
        "configure terminal",
        "interface Loopback7",
        "description from test",
        "ip address 10.7.7.7 255.255.255.255",
        "exit",
        "ntp server 192.0.2.7",
        "end",
    ]:
        assert cli.handle_line(line).output in ("", IOS.configure_banner)
    running = cli.handle_line("show running-config").output
    assert "interface Loopback7\n description from test\n ip address 10.7.7.7 255.255.255.255" in running
    assert "ntp server 192.0.2.7" in running
    assert "Loopback7              10.7.7.7" in cli.handle_line("show ip interface brief").output
    assert "from test" in cli.handle_line("show interfaces description | include Lo7").output


def test_no_removes_lines_and_hostname_changes_the_prompt() -> None:
    cli = _session(EOS, "eos9")
    for line in [
        "enable",
        "conf t",
        "interface Ethernet3",
        "no shutdown",
        "exit",
        "no ntp server 192.0.2.123",
        "hostname core9",
    ]:
        cli.handle_line(line)
    assert cli.prompt == "core9(config)#"
    running = cli.handle_line("do show running-config").output
    assert "ntp server" not in running
    assert "interface Ethernet3\n   shutdown" not in running
    assert "hostname core9" in running


def test_invalid_config_line_is_rejected_and_not_stored() -> None:
    cli = _session()
    cli.handle_line("enable")
    cli.handle_line("conf t")
    assert "Invalid input" in cli.handle_line("frobnicate everything").output
    assert "frobnicate" not in cli.handle_line("do show run").output


def test_config_is_shared_by_sessions_of_one_device_and_saved_by_write() -> None:
    state = DeviceState(IOS, "r2")
    first, second = CliSession(state), CliSession(state)
    for line in ["enable", "conf t", "hostname r2-new", "end"]:
        first.handle_line(line)
    second.handle_line("enable")
    assert second.prompt == "r2-new#"
    assert "hostname r2\n" in second.handle_line("show startup-config").output
    second.handle_line("write memory")
    assert "hostname r2-new" in second.handle_line("show startup-config").output


def test_pipe_filters() -> None:
    cli = _session()
    cli.handle_line("enable")
    assert cli.handle_line("show run | include ^interface").output.splitlines() == [
        "interface GigabitEthernet1",
        "interface GigabitEthernet2",
        "interface GigabitEthernet3",
        "interface Loopback0",
    ]
    section = cli.handle_line("show run | section Loopback0").output
    assert section == "interface Loopback0\n ip address 192.0.2.1 255.255.255.255"
    assert cli.handle_line("show run | count interface").output.endswith("= 4")


@pytest.mark.parametrize("platform", [IOS, EOS], ids=["ios", "eos"])
def test_checkpoint_copy_replace_more_delete(platform: SimPlatform) -> None:
    state = DeviceState(platform, "r1")
    cli = CliSession(state)
    cli.handle_line("enable")
    before = cli.handle_line("show running-config").output
    assert cli.handle_line("copy running-config flash:cp1.cfg").output == platform.write_memory_output
    cli.handle_line("configure terminal")
    cli.handle_line("hostname changed")
    cli.handle_line("ntp server 192.0.2.55")
    cli.handle_line("end")
    assert cli.handle_line("show running-config").output != before
    assert cli.handle_line("more flash:cp1.cfg").output == before
    force = " force" if platform is IOS else ""
    assert cli.handle_line(f"configure replace flash:cp1.cfg{force}").output == platform.replace_output
    assert cli.handle_line("show running-config").output == before and cli.prompt == "r1#"
    cli.handle_line("delete /force flash:cp1.cfg")
    assert "No such file" in cli.handle_line("more flash:cp1.cfg").output
    assert "No such file" in cli.handle_line("configure replace flash:cp1.cfg").output
    # checkpoint commands are privileged: from user exec they are not commands at all
    cli.handle_line("disable")
    assert "Invalid input" in cli.handle_line("copy running-config flash:cp2.cfg").output


def test_nxos_named_checkpoint_save_show_rollback_delete() -> None:
    cli = _session(NXOS, "sw1")
    assert cli.prompt == "sw1#"  # NX-OS logs an admin straight into privileged mode
    before = cli.handle_line("show running-config").output
    assert "\ninterface Ethernet1/1\n  description uplink\n" in before
    assert cli.handle_line("checkpoint cp1").output.endswith("Done")
    assert cli.handle_line("checkpoint cp1").output.startswith("ERROR: Checkpoint name cp1 is already in use")
    for line in ("configure terminal", "interface eth1/1", "description changed", "exit", "hostname sw2", "end"):
        cli.handle_line(line)
    assert cli.prompt == "sw2#" and "description changed" in cli.handle_line("show running-config").output
    shown = cli.handle_line("show checkpoint cp1").output.splitlines()
    assert shown[1] == "Name: cp1" and "!Command: Checkpoint cmd vdc 1" in shown and "  description uplink" in shown
    done = cli.handle_line("rollback running-config checkpoint cp1 atomic").output
    assert done.endswith("Rollback completed successfully.")
    assert cli.handle_line("show running-config").output == before and cli.prompt == "sw1#"
    assert cli.handle_line("no checkpoint cp1").output == ""
    assert cli.handle_line("show checkpoint cp1").output == "ERROR: Checkpoint cp1 does not exist"
    assert cli.handle_line("rollback running-config checkpoint cp1").output.startswith("ERROR:")
    assert cli.handle_line("show bogus").output.endswith("% Invalid command at '^' marker.")
    # IOS has no named checkpoints: the same words are not a command there
    ios = _session(IOS)
    ios.handle_line("enable")
    assert "Invalid input" in ios.handle_line("checkpoint cp1").output
