"""Platforms of the SSH device simulator, as data: prompts, messages, outputs, initial config.

Prompts are built to match scrapli's definitions (``cisco_iosxe``, ``arista_eos`` and
``cisco_nxos`` YAML): ``name>`` (exec), ``name#`` (privileged), ``name(config)#`` and
``name(config-if)#``. The definitions send ``term width N`` and ``term len 0`` on open, and
enter privileged mode with ``enable``; the simulator asks no enable password, which scrapli
accepts after a logged retry. NX-OS sessions start in privileged mode, as on a real switch.

Output templates are ``str.format`` strings with ``{hostname}``. ``show ip interface brief``,
``show interfaces description``, ``show running-config`` and ``show startup-config`` are built
from the device's running config instead (see :mod:`genja_prefect.lab.sim_cli`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class SimPlatform:
    """Everything platform-specific about a simulated CLI device."""

    name: str
    scrapli_definition: str
    #: mode -> prompt template; ``{hostname}`` and, for sections, ``{section}``.
    prompts: Mapping[str, str]
    invalid_input: str
    show_caret: bool
    incomplete: str
    ambiguous: str
    configure_banner: str
    terminal_length_message: str
    terminal_width_message: str
    write_memory_output: str
    #: what ``configure replace flash:NAME`` prints when it worked.
    replace_output: str
    indent: str
    #: first word of a config line -> section (sub-mode) name, e.g. "interface" -> "if".
    sections: Mapping[str, str]
    #: other first words accepted at the top level of config mode.
    config_keywords: frozenset[str]
    #: interface abbreviation (lower case) -> full name prefix.
    interface_names: Mapping[str, str]
    #: lines of the initial running config (children indented by ``indent``).
    initial_config: tuple[str, ...]
    config_header: tuple[str, ...]
    config_footer: tuple[str, ...]
    outputs: Mapping[str, str] = field(default_factory=dict)
    #: the mode a new session starts in (NX-OS logs an admin straight into ``#``).
    start_mode: str = "exec"
    #: the line ``show running-config`` prints before each section (NX-OS: an empty line).
    section_separator: str = "!"
    #: NX-OS named checkpoints: ``checkpoint NAME``, ``rollback running-config checkpoint
    #: NAME``, ``show checkpoint NAME``, ``no checkpoint NAME`` (see :mod:`genja_prefect.lab.sim_cli`).
    named_checkpoints: bool = False


_COMMON_KEYWORDS = frozenset(
    {
        "aaa",
        "access-list",
        "banner",
        "boot",
        "cdp",
        "clock",
        "default",
        "description",
        "errdisable",
        "hostname",
        "ip",
        "ipv6",
        "lldp",
        "logging",
        "management",
        "mpls",
        "no",
        "ntp",
        "service",
        "snmp-server",
        "spanning-tree",
        "tacacs-server",
        "radius-server",
        "username",
        "vrf",
        "alias",
        "daemon",
        "event-handler",
        "transceiver",
        "system",
        "control-plane",
        "dns",
        "policy-map",
        "class-map",
    }
)

_SECTIONS = {
    "interface": "if",
    "router": "router",
    "vlan": "vlan",
    "line": "line",
    "route-map": "route-map",
    "policy-map": "pmap",
    "class-map": "cmap",
    "vrf": "vrf",
}

_IOS_VERSION = """\
Cisco IOS XE Software, Version 17.03.04a
Cisco IOS Software [Amsterdam], Virtual XE Software (X86_64_LINUX_IOSD-UNIVERSALK9-M), \
Version 17.3.4a, RELEASE SOFTWARE (fc3)
Technical Support: http://www.cisco.com/techsupport
Copyright (c) 1986-2021 by Cisco Systems, Inc.
Compiled Tue 20-Jul-21 04:59 by mcpre

ROM: IOS-XE ROMMON

{hostname} uptime is 1 week, 2 days, 3 hours, 4 minutes
Uptime for this control processor is 1 week, 2 days, 3 hours, 6 minutes
System returned to ROM by reload
System image file is "bootflash:packages.conf"
Last reload reason: reload

cisco CSR1000V (VXE) processor (revision VXE) with 715705K/3075K bytes of memory.
Processor board ID 9ESGOBARV9D
Router operating mode: Autonomous
4 Gigabit Ethernet interfaces
32768K bytes of non-volatile configuration memory.
3978420K bytes of physical memory.
6188032K bytes of virtual hard disk at bootflash:.

Configuration register is 0x2102"""

_EOS_VERSION = """\
Arista vEOS-lab
Hardware version:
Serial number: SN-{hostname}
Hardware MAC address: 5254.0012.3456
System MAC address: 5254.0012.3456

Software image version: 4.28.3M
Architecture: x86_64
Internal build version: 4.28.3M-29186367.4283M
Internal build ID: 8a5a8b4f-1c2f-4b24-9e9b-0b5f5e3b7c4e
Image format version: 1.0
Image optimization: None

Uptime: 1 week, 2 days, 3 hours and 4 minutes
Total memory: 2006404 kB
Free memory: 1238480 kB"""

IOS = SimPlatform(
    name="ios",
    scrapli_definition="cisco_iosxe",
    prompts=MappingProxyType(
        {
            "exec": "{hostname}>",
            "privileged": "{hostname}#",
            "config": "{hostname}(config)#",
            "section": "{hostname}(config-{section})#",
        }
    ),
    invalid_input="% Invalid input detected at '^' marker.",
    show_caret=True,
    incomplete="% Incomplete command.",
    ambiguous='% Ambiguous command:  "{command}"',
    configure_banner="Enter configuration commands, one per line.  End with CNTL/Z.",
    terminal_length_message="",
    terminal_width_message="",
    write_memory_output="Building configuration...\n[OK]",
    replace_output="Total number of passes: 1\nRollback Done",
    indent=" ",
    sections=MappingProxyType(_SECTIONS),
    config_keywords=_COMMON_KEYWORDS | {"enable", "archive", "redundancy", "crypto", "license"},
    interface_names=MappingProxyType(
        {"gi": "GigabitEthernet", "te": "TenGigabitEthernet", "lo": "Loopback", "vl": "Vlan", "po": "Port-channel"}
    ),
    initial_config=(
        "service timestamps debug datetime msec",
        "service timestamps log datetime msec",
        "hostname {hostname}",
        "ip domain name lab.local",
        "interface GigabitEthernet1",
        " description uplink",
        " ip address 10.0.0.1 255.255.255.0",
        "interface GigabitEthernet2",
        " ip address 10.0.1.1 255.255.255.0",
        "interface GigabitEthernet3",
        " shutdown",
        "interface Loopback0",
        " ip address 192.0.2.1 255.255.255.255",
        "ntp server 192.0.2.123",
        "line vty 0 4",
        " transport input ssh",
    ),
    config_header=("Building configuration...", "", "Current configuration : {size} bytes", "!", "version 17.3"),
    config_footer=("!", "end"),
    outputs=MappingProxyType(
        {
            "show version": _IOS_VERSION,
            "show clock": "*12:00:00.000 UTC Mon Jan 1 2024",
            "show inventory": (
                'NAME: "Chassis", DESCR: "Cisco CSR1000V Chassis"\nPID: CSR1000V          , VID: V00  , SN: 9ESGOBARV9D'
            ),
            "show ip route": (
                "Codes: L - local, C - connected, S - static\n\n"
                "Gateway of last resort is not set\n\n"
                "      10.0.0.0/8 is variably subnetted, 2 subnets, 2 masks\n"
                "C        10.0.0.0/24 is directly connected, GigabitEthernet1\n"
                "L        10.0.0.1/32 is directly connected, GigabitEthernet1"
            ),
        }
    ),
)

EOS = SimPlatform(
    name="eos",
    scrapli_definition="arista_eos",
    prompts=MappingProxyType(
        {
            "exec": "{hostname}>",
            "privileged": "{hostname}#",
            "config": "{hostname}(config)#",
            "section": "{hostname}(config-{section})#",
        }
    ),
    invalid_input="% Invalid input",
    show_caret=False,
    incomplete="% Incomplete command",
    ambiguous="% Ambiguous command",
    configure_banner="",
    terminal_length_message="Pagination disabled.",
    terminal_width_message="Width set to {width} columns.",
    write_memory_output="Copy completed successfully.",
    replace_output="",
    indent="   ",
    sections=MappingProxyType(_SECTIONS),
    config_keywords=_COMMON_KEYWORDS,
    interface_names=MappingProxyType(
        {"et": "Ethernet", "ma": "Management", "lo": "Loopback", "vl": "Vlan", "po": "Port-Channel"}
    ),
    initial_config=(
        "hostname {hostname}",
        "ip domain-name lab.local",
        "spanning-tree mode mstp",
        "interface Ethernet1",
        "   description uplink",
        "   ip address 10.0.0.2/24",
        "interface Ethernet2",
        "   ip address 10.0.1.2/24",
        "interface Ethernet3",
        "   shutdown",
        "interface Loopback0",
        "   ip address 192.0.2.2/32",
        "ntp server 192.0.2.123",
    ),
    config_header=(
        "! Command: show running-config",
        "! device: {hostname} (vEOS-lab, EOS-4.28.3M)",
        "!",
    ),
    config_footer=("!", "end"),
    outputs=MappingProxyType(
        {
            "show version": _EOS_VERSION,
            "show clock": "Mon Jan  1 12:00:00 2024\nTimezone: UTC\nClock source: local",
            "show hostname": "Hostname: {hostname}\nFQDN:     {hostname}.lab.local",
            "show inventory": (
                "System information\n  Model                    Description\n"
                "  ------------------------ ----------------------------------------------\n"
                "  vEOS-lab                 Arista Networks EOS"
            ),
        }
    ),
)

_NXOS_VERSION = """\
Cisco Nexus Operating System (NX-OS) Software
TAC support: http://www.cisco.com/tac
Copyright (C) 2002-2021, Cisco and/or its affiliates.
All rights reserved.

Software
  BIOS: version
 NXOS: version 9.3(8)
  BIOS compile time:
  NXOS image file is: bootflash:///nxos.9.3.8.bin
  NXOS compile time:  3/3/2021 12:00:00 [03/04/2021 00:00:00]

Hardware
  cisco Nexus9000 C9300v Chassis
  Intel(R) Xeon(R) CPU  @ 2.20GHz with 16409068 kB of memory.
  Processor Board ID 9N3KD63KWT0

  Device name: {hostname}
  bootflash:    4287040 kB
Kernel uptime is 9 day(s), 2 hour(s), 3 minute(s), 4 second(s)

Last reset
  Reason: Unknown
  System version:
  Service:

plugin
  Core Plugin, Ethernet Plugin"""

NXOS = SimPlatform(
    name="nxos",
    scrapli_definition="cisco_nxos",
    prompts=MappingProxyType(
        {
            "exec": "{hostname}>",
            "privileged": "{hostname}#",
            "config": "{hostname}(config)#",
            "section": "{hostname}(config-{section})#",
        }
    ),
    invalid_input="% Invalid command at '^' marker.",
    show_caret=True,
    incomplete="% Incomplete command at '^' marker.",
    ambiguous="% Ambiguous command at '^' marker.",
    configure_banner="Enter configuration commands, one per line. End with CNTL/Z.",
    terminal_length_message="",
    terminal_width_message="",
    write_memory_output="[########################################] 100%\nCopy complete.",
    replace_output="",
    indent="  ",
    sections=MappingProxyType(_SECTIONS),
    config_keywords=_COMMON_KEYWORDS | {"feature", "copp", "rmon", "callhome", "switchname"},
    interface_names=MappingProxyType(
        {"eth": "Ethernet", "lo": "loopback", "mgmt": "mgmt", "vlan": "Vlan", "po": "port-channel"}
    ),
    initial_config=(
        "hostname {hostname}",
        "feature interface-vlan",
        "feature lldp",
        "ip domain-name lab.local",
        "interface Ethernet1/1",
        "  description uplink",
        "  no switchport",
        "  ip address 10.0.0.3/24",
        "interface Ethernet1/2",
        "  no switchport",
        "  ip address 10.0.1.3/24",
        "interface Ethernet1/3",
        "  shutdown",
        "interface loopback0",
        "  ip address 192.0.2.3/32",
        "ntp server 192.0.2.123 use-vrf management",
    ),
    # No "!Time:" line: the simulator's clock stands still, and a restored config must print
    # exactly as before.
    config_header=("!Command: show running-config", "!No configuration change since last restart", "",
                   "version 9.3(8) Bios:version"),
    config_footer=(),
    outputs=MappingProxyType(
        {
            "show version": _NXOS_VERSION,
            "show clock": "12:00:00.000 UTC Mon Jan 01 2024\nTime source is NTP",
            "show hostname": "{hostname}.lab.local",
            "show inventory": (
                'NAME: "Chassis",  DESCR: "Nexus9000 C9300v Chassis"\n'
                "PID: N9K-C9300v         ,  VID:     ,  SN: 9N3KD63KWT0"
            ),
        }
    ),
    start_mode="privileged",
    section_separator="",
    named_checkpoints=True,
)

#: Simulator platforms by genja platform name.
SIM_PLATFORMS: Mapping[str, SimPlatform] = MappingProxyType({"ios": IOS, "eos": EOS, "nxos": NXOS})
