"""Show-command output the simulator derives from a device's config, and ``| include`` & co."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

# (name, address, shut down?, description) per interface, as DeviceState.interfaces() gives them.
Interfaces = Sequence[tuple[str, str, bool, str]]

PIPES = ("include", "exclude", "begin", "section", "count")


def ip_interface_brief(platform: str, interfaces: Interfaces) -> str:
    """``show ip interface brief`` in the platform's layout (``eos`` or IOS-style)."""
    if platform == "eos":
        lines = [
            " " * 74 + "Address",
            "Interface       IP Address        Status       Protocol            MTU    Owner",
            "--------------- ----------------- ------------ -------------- ----------- -------",
        ]
        for name, addr, shut, _ in interfaces:
            status = "adminDown    down" if shut else "up           up"
            lines.append(f"{name:<15} {addr:<17} {status:<27} {1500:>11}")
        return "\n".join(lines)
    lines = ["Interface              IP-Address      OK? Method Status                Protocol"]
    for name, addr, shut, _ in interfaces:
        status = "administratively down down" if shut else "up                    up"
        method = "NVRAM" if addr != "unassigned" else "unset"
        lines.append(f"{name:<22} {addr:<15} YES {method:<6} {status}")
    return "\n".join(lines)


def interfaces_description(interface_names: Mapping[str, str], interfaces: Interfaces) -> str:
    """``show interfaces description`` with short interface names (``Gi1``, ``Et1``)."""
    lines = ["Interface                      Status         Protocol Description"]
    for name, _, shut, description in interfaces:
        status = "admin down     down    " if shut else "up             up      "
        lines.append(f"{short_name(interface_names, name):<30} {status} {description}".rstrip())
    return "\n".join(lines)


def short_name(interface_names: Mapping[str, str], name: str) -> str:
    """``GigabitEthernet1`` -> ``Gi1`` using the platform's abbreviation table."""
    for short, full in interface_names.items():
        if name.startswith(full):
            return short.capitalize() + name[len(full) :]
    return name


def apply_pipe(output: str, pipe: str) -> str:
    """Apply ``include|exclude|begin|section|count <regex>`` (abbreviations allowed)."""
    verb, _, pattern = pipe.partition(" ")
    verbs = [v for v in PIPES if v.startswith(verb.lower())] if verb else []
    if len(verbs) != 1:
        return output
    try:
        regex = re.compile(pattern.strip())
    except re.error:
        regex = re.compile(re.escape(pattern.strip()))
    lines = output.splitlines()
    if verbs[0] == "include":
        lines = [ln for ln in lines if regex.search(ln)]
    elif verbs[0] == "exclude":
        lines = [ln for ln in lines if not regex.search(ln)]
    elif verbs[0] == "begin":
        start = next((i for i, ln in enumerate(lines) if regex.search(ln)), len(lines))
        lines = lines[start:]
    elif verbs[0] == "count":
        return f"Number of lines which match regexp = {sum(1 for ln in lines if regex.search(ln))}"
    else:  # section: matching top-level lines with their indented children
        kept, keep = [], False
        for ln in lines:
            if not ln.startswith(" "):
                keep = bool(regex.search(ln))
            if keep:
                kept.append(ln)
        lines = kept
    return "\n".join(lines)


def interface_detail(platform: str, interfaces: Sequence[tuple[str, str | None, bool, str]], mac_seed: int) -> str:
    """``show interfaces`` as IOS-XE (CSR1000V) or vEOS prints it, counters at rest.

    ``interfaces`` holds (name, address with prefix length or None, shut down?, description);
    the layout follows the devices line by line, because ntc-templates' TextFSM templates
    (which the lab's parsing tests use) reject any line they do not know (EOS) or skip
    fields whose line differs (IOS).
    """
    blocks = []
    for index, (name, cidr, shut, description) in enumerate(interfaces, start=1):
        mac = f"5254.00{mac_seed % 256:02x}.{index:04x}"
        loopback = name.lower().startswith("loopback")
        blocks.append(
            _eos_interface(name, cidr, shut, description, mac, loopback)
            if platform == "eos"
            else _ios_interface(name, cidr, shut, description, mac, loopback)
        )
    return "\n".join(blocks)


def _ios_interface(name: str, cidr: str | None, shut: bool, description: str, mac: str, loopback: bool) -> str:
    state = "administratively down, line protocol is down" if shut else "up, line protocol is up"
    lines = [f"{name} is {state} "]
    lines.append("  Hardware is Loopback" if loopback else f"  Hardware is CSR vNIC, address is {mac} (bia {mac})")
    if description:
        lines.append(f"  Description: {description}")
    if cidr:
        lines.append(f"  Internet address is {cidr}")
    if loopback:
        lines += [
            "  MTU 1514 bytes, BW 8000000 Kbit/sec, DLY 5000 usec, ",
            "     reliability 255/255, txload 1/255, rxload 1/255",
            "  Encapsulation LOOPBACK, loopback not set",
            "  Keepalive set (10 sec)",
            "  Last input never, output never, output hang never",
        ]
    else:
        lines += [
            "  MTU 1500 bytes, BW 1000000 Kbit/sec, DLY 10 usec, ",
            "     reliability 255/255, txload 1/255, rxload 1/255",
            "  Encapsulation ARPA, loopback not set",
            "  Keepalive set (10 sec)",
            "  Full Duplex, 1000Mbps, link type is auto, media type is Virtual",
            "  output flow-control is unsupported, input flow-control is unsupported",
            "  ARP type: ARPA, ARP Timeout 04:00:00",
            "  Last input 00:00:01, output 00:00:01, output hang never" if not shut
            else "  Last input never, output never, output hang never",
        ]
    packets = 0 if (shut or loopback) else 12345
    lines += [
        '  Last clearing of "show interface" counters never',
        f"  Input queue: 0/{75 if loopback else 375}/0/0 (size/max/drops/flushes); Total output drops: 0",
        "  Queueing strategy: fifo",
        f"  Output queue: 0/{0 if loopback else 40} (size/max)",
        f"  5 minute input rate {1000 if packets else 0} bits/sec, {1 if packets else 0} packets/sec",
        f"  5 minute output rate {1000 if packets else 0} bits/sec, {1 if packets else 0} packets/sec",
        f"     {packets} packets input, {packets * 98} bytes, 0 no buffer",
        "     Received 0 broadcasts (0 IP multicasts)",
        "     0 runts, 0 giants, 0 throttles ",
        "     0 input errors, 0 CRC, 0 frame, 0 overrun, 0 ignored" + (", 0 abort" if loopback else ""),
    ]
    if not loopback:
        lines.append("     0 watchdog, 0 multicast, 0 pause input")
    lines += [
        f"     {packets * 2} packets output, {packets * 196} bytes, 0 underruns",
        "     Output 0 broadcasts (0 IP multicasts)",
        f"     0 output errors, 0 collisions, {0 if loopback else 1} interface resets",
        "     0 unknown protocol drops",
    ]
    if not loopback:
        lines += [
            "     0 babbles, 0 late collision, 0 deferred",
            "     0 lost carrier, 0 no carrier, 0 pause output",
        ]
    lines.append("     0 output buffer failures, 0 output buffers swapped out")
    return "\n".join(lines)


def _eos_interface(name: str, cidr: str | None, shut: bool, description: str, mac: str, loopback: bool) -> str:
    if shut:
        state = "administratively down, line protocol is down (disabled)"
    else:
        state = "up, line protocol is up (connected)"
    lines = [f"{name} is {state}"]
    lines.append("  Hardware is Loopback" if loopback else f"  Hardware is Ethernet, address is {mac} (bia {mac})")
    if description:
        lines.append(f"  Description: {description}")
    if cidr:
        lines += [f"  Internet address is {cidr}", "  Broadcast address is 255.255.255.255"]
    else:
        lines.append("  No Internet protocol address assigned")
    if loopback:
        lines += ["  IP MTU 65535 bytes", "  Up 9 days, 3 hours, 4 minutes, 12 seconds"]
        return "\n".join(lines)
    packets = 0 if shut else 12345
    lines += [
        "  IP MTU 1500 bytes , BW 1000000 kbit",
        "  Full-duplex, 1Gb/s, auto negotiation: off, uni-link: n/a",
        "  Down 9 days, 3 hours, 4 minutes, 12 seconds" if shut else "  Up 9 days, 3 hours, 4 minutes, 12 seconds",
        "  Loopback Mode : None",
        f"  {3 if shut else 2} link status changes since last clear",
        '  Last clearing of "show interface" counters never',
        f"  5 minutes input rate {312 if packets else 0} bps (0.0% with framing overhead), 0 packets/sec",
        f"  5 minutes output rate {297 if packets else 0} bps (0.0% with framing overhead), 0 packets/sec",
        f"     {packets} packets input, {packets * 98} bytes",
        f"     Received 0 broadcasts, {packets // 10} multicast",
        "     0 runts, 0 giants",
        "     0 input errors, 0 CRC, 0 alignment, 0 symbol, 0 input discards",
        "     0 PAUSE input",
        f"     {packets * 2} packets output, {packets * 196} bytes",
        f"     Sent 0 broadcasts, {packets // 5} multicast",
        "     0 output errors, 0 collisions",
        "     0 late collision, 0 deferred, 0 output discards",
        "     0 PAUSE output",
    ]
    return "\n".join(lines)
