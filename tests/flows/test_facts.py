"""collect_facts against the lab: fakenos ios/eos/junos and the simulator, through Genja."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import genja_prefect as genja_lib
from genja_prefect_flows import CollectFacts


def test_facts_from_every_cli_platform(lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]) -> None:
    genja = plain_runtime(lab_settings)
    results = genja.run_task(CollectFacts())
    ios, eos, junos = (results[h].result for h in ("ios1", "eos1", "junos1"))
    assert ios["version"] == "17.03.01a" and ios["model"] == "CSR1000V" and ios["serial"] == "9ESGOBARV9D"
    assert ios["hostname"] == "ios1" and ios["platform"] == "ios" and ios["uptime_seconds"] > 0
    assert eos["version"].startswith("4.26.0F") and eos["model"] == "cEOSLab"
    assert eos["hostname"] == "eos1"  # from "show hostname"
    assert eos["serial"] is None  # fakenos prints an empty serial number
    assert any("serial" in w for w in results["eos1"].warnings)
    # Junos: version/model from "show version", serial and uptime from the helper commands
    assert junos["version"] == "13.2X51-D35.3" and junos["model"] == "ex4550-32f"
    assert junos["serial"] == "A0000" and junos["uptime_seconds"] == 185 * 86400 + 17 * 3600 + 59 * 60
    sim = results["sim-eos1"].result
    assert sim["serial"] == "SN-sim-eos1" and sim["hostname"] == "sim-eos1"
    # NETCONF and RESTCONF hosts have no CLI: skipped, not failed
    for host_id in ("netconf1", "api1"):
        assert results[host_id].status == "skipped" and results[host_id].reason == "unsupported_platform"
    assert results.failed_hosts == []


def test_textfsm_first_builtin_parsers_fill_the_gaps(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    results = plain_runtime(lab_settings).run_task(CollectFacts())
    # the simulator's IOS-XE and vEOS outputs: ntc-templates reads them; vendor/os come from
    # the project's own parsers
    sim_ios = results["sim-ios1"]
    assert sim_ios.metadata["parsed_with"] == {"show version": ["textfsm", "builtin"]}
    assert sim_ios.result["version"] == "17.3.4a"  # the IOSd version line, as ntc-templates reads it
    assert (sim_ios.result["model"], sim_ios.result["serial"], sim_ios.result["vendor"]) == (
        "CSR1000V", "9ESGOBARV9D", "Cisco",
    )
    assert sim_ios.result["uptime_seconds"] == 788640
    assert results["sim-eos1"].metadata["parsed_with"]["show version"] == ["textfsm", "builtin"]
    # fakenos' Junos output is one ntc-templates' template rejects: the built-in parser stands in
    junos = results["junos1"]
    assert junos.metadata["parsed_with"]["show version"] == ["builtin"]
    assert junos.result["version"] == "13.2X51-D35.3"
    # the same keys whichever parser read the output (Junos adds its chassis_model)
    assert list(sim_ios.result) == [k for k in junos.result if k != "chassis_model"]
    assert list(sim_ios.result) == list(results["ios1"].result)


def test_raw_outputs_only_on_request(lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]) -> None:
    genja = plain_runtime(lab_settings, name="sim-ios1")
    plain = genja.run_task(CollectFacts())["sim-ios1"]
    assert "raw" not in plain.metadata and plain.metadata["commands"] == ["show version"]
    raw = genja.run_task(CollectFacts(include_raw=True))["sim-ios1"]
    assert raw.metadata["raw"]["show version"].startswith("Cisco IOS XE Software")


def test_unparseable_show_version_fails_with_validation(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja], monkeypatch: Any
) -> None:
    from genja_prefect_flows import facts

    monkeypatch.setitem(facts.PARSERS, "ios", (("show clock", facts.PARSERS["ios"][0][1], True),))
    result = plain_runtime(lab_settings, name="sim-ios1").run_task(CollectFacts())["sim-ios1"]
    assert result.status == "failed" and result.kind.value == "validation"
    assert "could not find a software version" in result.message


def test_rejected_command_fails_with_kind_command(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja], monkeypatch: Any
) -> None:
    from genja_prefect_flows import facts

    monkeypatch.setitem(facts.PARSERS, "ios", (("show bogus", facts.PARSERS["ios"][0][1], True),))
    result = plain_runtime(lab_settings, name="sim-ios1").run_task(CollectFacts())["sim-ios1"]
    assert result.status == "failed" and result.kind.value == "command"
    assert "show bogus" in result.message and "Invalid input" in result.message
