"""Unit tests: facts parsers on captured fakenos/simulator outputs and real-device samples."""

from __future__ import annotations

import pytest

from genja_prefect_flows.parsers import (
    UnsupportedPlatformError,
    merge_facts,
    parse_junos_show_chassis_hardware,
    parse_junos_show_system_uptime,
    parse_show_version,
    parse_uptime,
)
from tests.flows.samples import read_data

WEEK, DAY, HOUR, MINUTE = 7 * 86400, 86400, 3600, 60

CASES = [
    (
        "ios", "fakenos_ios_show_version.txt",
        {"vendor": "Cisco", "os": "IOS-XE", "version": "17.03.01a", "hostname": "ios1", "model": "CSR1000V",
         "serial": "9ESGOBARV9D", "uptime": "1 day, 17 hours, 32 minutes",
         "uptime_seconds": DAY + 17 * HOUR + 32 * MINUTE},
    ),
    (
        "ios", "sim_ios_show_version.txt",
        {"version": "17.03.04a", "hostname": "sim-ios1", "model": "CSR1000V", "serial": "9ESGOBARV9D",
         "uptime_seconds": WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE},
    ),
    (
        "ios", "sample_ios_c2960x_show_version.txt",
        # "System serial number" (the chassis) wins over "Processor board ID" (the board).
        {"os": "IOS", "version": "15.2(2)E7", "hostname": "access-sw01", "model": "WS-C2960X-48FPD-L",
         "serial": "FOC1939S0XZ",
         "uptime_seconds": 2 * 365 * DAY + 12 * WEEK + 3 * DAY + HOUR + 44 * MINUTE},
    ),
    (
        "ios", "sample_iosxe_c9300_show_version.txt",
        {"os": "IOS-XE", "version": "16.12.04", "hostname": "core-sw1", "model": "C9300-48P",
         "serial": "FCW2233L0AB", "uptime_seconds": 4 * WEEK + DAY + 2 * HOUR + 10 * MINUTE},
    ),
    (
        "eos", "fakenos_eos_show_version.txt",
        # fakenos prints an empty "Serial number:": no serial, rather than a wrong one.
        {"vendor": "Arista", "os": "EOS", "model": "cEOSLab", "version": "4.26.0F-21792469.4260F",
         "uptime": "0 weeks, 0 days, 0 hours and 8 minutes", "uptime_seconds": 8 * MINUTE},
    ),
    (
        "eos", "sim_eos_show_version.txt",
        {"model": "vEOS-lab", "serial": "SN-sim-eos1", "version": "4.28.3M",
         "uptime_seconds": WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE},
    ),
    (
        "eos", "sample_eos_dcs7050_show_version.txt",
        {"model": "DCS-7050TX-64-R", "serial": "JPE16121065", "version": "4.20.5F",
         "uptime_seconds": 6 * WEEK + DAY + 3 * HOUR + 56 * MINUTE},
    ),
    (
        "junos", "fakenos_junos_show_version.txt",
        {"vendor": "Juniper", "os": "Junos", "hostname": "lab", "model": "ex4550-32f", "version": "13.2X51-D35.3"},
    ),
    (
        "junos", "sample_junos_mx480_show_version.txt",
        {"hostname": "edge-r1", "model": "mx480", "version": "18.4R3-S4.2"},
    ),
    (
        "nxos", "fakenos_nxos_show_version.txt",
        {"os": "NX-OS", "version": "7.1(4)N1(1)", "hostname": "IEDP02-N5K-SW01", "model": "Nexus 5596",
         "serial": "FOC17153X08", "uptime_seconds": 749 * DAY + 15 * HOUR + 17 * MINUTE + 48},
    ),
    (
        "asa", "fakenos_asa_show_version.txt",
        {"os": "ASA", "version": "9.8(3)21", "model": "FPR4K-SM-12", "hostname": "fw002",
         "uptime_seconds": 114 * DAY + 18 * HOUR},
    ),
]


@pytest.mark.parametrize(("platform", "sample", "expected"), CASES, ids=[c[1] for c in CASES])
def test_show_version(platform: str, sample: str, expected: dict[str, object]) -> None:
    facts = parse_show_version(platform, read_data(sample))
    assert {k: facts.get(k) for k in expected} == expected


def test_fakenos_eos_has_no_serial() -> None:
    assert "serial" not in parse_show_version("eos", read_data("fakenos_eos_show_version.txt"))


def test_windows_line_endings_and_continuations() -> None:
    text = read_data("fakenos_ios_show_version.txt").replace("\n", "\r\n")
    facts = parse_show_version("ios", text)
    assert facts["model"] == "CSR1000V"  # the model line is continued with a backslash
    assert facts["version"] == "17.03.01a"


def test_eos_show_hostname() -> None:
    from genja_prefect_flows.parsers import parse_eos_show_hostname

    assert parse_eos_show_hostname(read_data("fakenos_eos_show_hostname.txt")) == {"hostname": "eos1"}
    assert parse_eos_show_hostname("Hostname: spine1\nFQDN:     spine1.example.net\n") == {"hostname": "spine1"}


def test_junos_helpers() -> None:
    hardware = parse_junos_show_chassis_hardware(read_data("fakenos_junos_show_chassis_hardware.txt"))
    assert hardware == {"serial": "A0000", "chassis_model": "MX104"}
    uptime = parse_junos_show_system_uptime(read_data("fakenos_junos_show_system_uptime.txt"))
    assert uptime == {"uptime": "185 days, 17:59", "uptime_seconds": 185 * DAY + 17 * HOUR + 59 * MINUTE}


def test_merge_keeps_first_value_and_fills_gaps() -> None:
    merged = merge_facts({"version": "1", "model": "a"}, {"model": "b", "serial": "S"}, {"uptime": "x"})
    assert merged == {"version": "1", "model": "a", "serial": "S", "uptime": "x"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1 week, 2 days, 3 hours, 4 minutes", WEEK + 2 * DAY + 3 * HOUR + 4 * MINUTE),
        ("749 day(s), 15 hour(s), 17 minute(s), 48 second(s)", 749 * DAY + 15 * HOUR + 17 * MINUTE + 48),
        ("26w3d 17:59", 26 * WEEK + 3 * DAY + 17 * HOUR + 59 * MINUTE),
        ("1 year, 1 hour", 365 * DAY + HOUR),
        ("no idea", None),
    ],
)
def test_parse_uptime(text: str, seconds: int | None) -> None:
    assert parse_uptime(text) == seconds


def test_garbage_gives_no_version() -> None:
    assert "version" not in parse_show_version("ios", "% Invalid input detected at '^' marker.")
    assert "version" not in parse_show_version("eos", "")


def test_unknown_platform_is_named() -> None:
    with pytest.raises(UnsupportedPlatformError, match="'vyos'.*supported"):
        parse_show_version("vyos", "anything")
