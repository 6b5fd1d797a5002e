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
