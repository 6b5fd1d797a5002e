"""Unit tests: remediation plans (lines to send, diff, rollback) per platform and mode."""

from __future__ import annotations

import pytest

from genja_prefect_flows.remediation import UnsupportedPlatformError, plan_change
from tests.flows.samples import read_data

EOS = read_data("sim_eos_show_running_config.txt")
IOS = read_data("sim_ios_show_running_config.txt")


def _changed(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_a_replaced_single_value_shows_the_old_line_removed_and_sends_only_the_new_one() -> None:
    plan = plan_change("eos", EOS, "interface Ethernet1\n   description new\n   ip address 10.0.0.9/24\n")
    assert plan.mode == "merge"
    assert plan.lines == ["interface Ethernet1", "  description new", "  ip address 10.0.0.9/24", "  exit"]
    assert _changed(plan.diff) == [
        "-   description uplink",
        "-   ip address 10.0.0.2/24",
        "+   description new",
        "+   ip address 10.0.0.9/24",
    ]
    assert plan.rollback == ["interface Ethernet1", "  description uplink", "  ip address 10.0.0.2/24", "  exit"]


def test_an_already_present_candidate_is_an_empty_plan() -> None:
    plan = plan_change("eos", EOS, "interface Ethernet1\n   description uplink\nntp server 192.0.2.123\n")
    assert plan.empty and plan.lines == [] and plan.diff == "" and plan.rollback == []
    assert plan_change("ios", IOS, "no ntp server 198.51.100.7\n").empty  # absent already


def test_negations_remove_lines_and_are_sent_as_no() -> None:
    plan = plan_change("ios", IOS, "no ntp server 192.0.2.123\ninterface GigabitEthernet3\n no shutdown\n")
    assert plan.lines == ["no ntp server 192.0.2.123", "interface GigabitEthernet3", "  no shutdown", "  exit"]
    assert _changed(plan.diff) == ["- shutdown", "-ntp server 192.0.2.123"]


def test_replace_mode_negates_what_the_candidate_section_does_not_list() -> None:
    plan = plan_change("eos", EOS, "interface Ethernet1\n   mtu 9000\n", mode="replace")
    assert plan.mode == "replace"
    assert plan.lines == [
        "interface Ethernet1",
        "  no description uplink",
        "  no ip address 10.0.0.2/24",
        "  mtu 9000",
        "  exit",
    ]
    assert _changed(plan.diff) == ["-   description uplink", "-   ip address 10.0.0.2/24", "+   mtu 9000"]
    merge = plan_change("eos", EOS, "interface Ethernet1\n   mtu 9000\n")
    assert merge.lines == ["interface Ethernet1", "  mtu 9000", "  exit"]


def test_nxos_and_iosxr_descriptions_are_single_values() -> None:
    nxos = plan_change("nxos", "interface Ethernet1/1\n  description old\n  no shutdown\n",
                       "interface Ethernet1/1\n  description new\n")
    assert nxos.lines == ["interface Ethernet1/1", "  description new", "  exit"]
    assert _changed(nxos.diff) == ["-  description old", "+  description new"]
    xr = plan_change("iosxr", "interface GigabitEthernet0/0/0/0\n description old\n!\n",
                     "interface GigabitEthernet0/0/0/0\n description new\n")
    assert xr.lines[:2] == ["interface GigabitEthernet0/0/0/0", "  description new"]
    assert _changed(xr.diff) == ["- description old", "+ description new"]


def test_junos_set_style() -> None:
    running = (
        "set system host-name r1\nset interfaces ge-0/0/0 description old\n"
        "set system ntp server 192.0.2.1\nset system ntp server 192.0.2.2\n"
    )
    plan = plan_change("junos", running, "set interfaces ge-0/0/0 description new\ndelete system ntp server 192.0.2.1\n")
    assert plan.lines == ["delete system ntp server 192.0.2.1", "set interfaces ge-0/0/0 description new"]
    assert _changed(plan.diff) == [
        "-set interfaces ge-0/0/0 description old",
        "-set system ntp server 192.0.2.1",
        "+set interfaces ge-0/0/0 description new",
    ]
    assert plan_change("junos", running, "set system ntp server 192.0.2.2\n").empty


def test_bgp_address_family_is_left_with_its_own_exit() -> None:
    running = "router bgp 65000\n   neighbor 192.0.2.9 remote-as 65001\n   address-family ipv4\n      neighbor 192.0.2.9 activate\n"
    plan = plan_change("eos", running, "router bgp 65000\n   address-family ipv4\n      neighbor 192.0.2.10 activate\n")
    assert plan.lines == [
        "router bgp 65000",
        "  address-family ipv4",
        "    neighbor 192.0.2.10 activate",
        "    exit-address-family",
        "  exit",
    ]


def test_unknown_platform_and_mode_are_named() -> None:
    with pytest.raises(UnsupportedPlatformError, match="'vyos'.*known: .*eos"):
        plan_change("vyos", "", "set system host-name x")
    with pytest.raises(ValueError, match="mode must be one of merge, replace, not 'overwrite'"):
        plan_change("eos", EOS, "hostname x", mode="overwrite")
