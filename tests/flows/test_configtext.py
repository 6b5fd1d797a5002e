"""Unit tests: config trees, candidate diffs, lines to send, volatile lines, secret masking."""

from __future__ import annotations

from genja_prefect_flows.configtext import (
    candidate_diff,
    config_lines_to_send,
    mask_secrets,
    missing_lines,
    parse_config,
    strip_volatile,
)
from tests.flows.samples import read_data

EOS = read_data("sim_eos_show_running_config.txt")
IOS = read_data("sim_ios_show_running_config.txt")


def test_parse_config_nests_by_indentation_and_skips_comments() -> None:
    roots = parse_config(EOS)
    keys = [r.key for r in roots]
    assert "interface Ethernet1" in keys and "!" not in keys and "end" not in keys
    eth1 = next(r for r in roots if r.key == "interface Ethernet1")
    assert [c.key for c in eth1.children] == ["description uplink", "ip address 10.0.0.2/24"]


def test_nothing_missing_when_the_candidate_is_already_there() -> None:
    candidate = "interface Ethernet1\n description uplink\nntp server 192.0.2.123\n"
    assert missing_lines(EOS, candidate) == []
    assert candidate_diff(EOS, candidate) == ""


def test_missing_lines_are_reported_with_their_parents() -> None:
    candidate = "interface Ethernet1\n  mtu 9000\ninterface Ethernet7\n  description new\nntp server 192.0.2.5\n"
    assert missing_lines(EOS, candidate) == [
        ("interface Ethernet1", "mtu 9000"),
        ("interface Ethernet7",),
        ("interface Ethernet7", "description new"),
        ("ntp server 192.0.2.5",),
    ]


def test_negated_lines_ask_for_absence() -> None:
    assert missing_lines(EOS, "no ntp server 192.0.2.123\n") == [("no ntp server 192.0.2.123",)]
    assert missing_lines(EOS, "no ntp server 198.51.100.1\n") == []
    assert missing_lines(EOS, "interface Ethernet3\n  no shutdown\n") == [("interface Ethernet3", "no shutdown")]


def test_candidate_diff_inserts_children_in_their_block_with_the_device_indent() -> None:
    diff = candidate_diff(EOS, "interface Ethernet1\n mtu 9000\nntp server 192.0.2.5\nno interface Loopback0\n", platform="eos")
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert added == ["+   mtu 9000", "+ntp server 192.0.2.5"]  # EOS indents children by 3
    assert removed == ["-interface Loopback0", "-   ip address 192.0.2.2/32"]
    lines = diff.splitlines()
    # the new child goes right after the last line of its interface block
    assert lines[lines.index("+   mtu 9000") - 1] == "    ip address 10.0.0.2/24"
    # new top-level lines follow the existing ones
    assert lines[lines.index("+ntp server 192.0.2.5") - 1] == " ntp server 192.0.2.123"


def test_candidate_diff_shows_a_replaced_value_removed() -> None:
    # The example: the old description and address must show as removed.
    running = "hostname r1\ninterface Ethernet1\n   description old\n   ip address 10.0.0.1/24\n"
    diff = candidate_diff(running, "interface Ethernet1\n   description new\n   ip address 10.0.0.2/24\n", platform="eos")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-   description old", "-   ip address 10.0.0.1/24", "+   description new", "+   ip address 10.0.0.2/24"]


def test_ios_indent_is_one_space() -> None:
    diff = candidate_diff(IOS, "interface GigabitEthernet2\n  description core\n")
    assert "+ description core" in diff.splitlines()


def test_lines_to_send_leave_each_block() -> None:
    candidate = "interface Ethernet1\n   description a\n!\nntp server 192.0.2.5\n"
    assert config_lines_to_send(candidate) == ["interface Ethernet1", "description a", "exit", "ntp server 192.0.2.5"]
    assert config_lines_to_send("\n! only a comment\n\n") == []


def test_strip_volatile_drops_sizes_and_build_banners() -> None:
    stripped = strip_volatile(IOS)
    assert "Current configuration" not in stripped
    assert "Building configuration" not in stripped
    assert "hostname sim-ios1" in stripped


def test_mask_secrets_in_cli_and_xml() -> None:
    text = (
        "username admin privilege 15 secret 5 $1$abcd$efgh\n"
        "username ops password 0 hunter2\n"
        "snmp-server community s3cr3t RO\n"
        "snmp-server host 192.0.2.1 version 2c c0mmunity\n"
        " neighbor 192.0.2.2 send-community both\n"
        "<password>pw</password> <name>eth0</name>\n"
    )
    masked = mask_secrets(text)
    for secret in ("$1$abcd$efgh", "hunter2", "s3cr3t", "c0mmunity", ">pw<"):
        assert secret not in masked
    assert "send-community both" in masked  # a keyword, not a secret
    assert "<name>eth0</name>" in masked
    fakenos = mask_secrets(read_data("fakenos_ios_show_running_config.txt"))
    assert "password 0 cisco" not in fakenos and "$1$clqS$" not in fakenos
