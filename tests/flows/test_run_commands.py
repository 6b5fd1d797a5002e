"""run_commands: show commands per platform, parsed with ntc-templates, against the lab
(the asyncssh simulator and fakenos), as a genja task, a Prefect flow and a CLI job."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect_flows import FLOWS, JOBS, FlowParameterError, RunCommands, run_commands
from genja_prefect_flows.commands import DEFAULT_COMMANDS, commands_table
from genja_prefect_scrapli.parsing import has_textfsm_template
from tests.cli.test_cli import cli
from tests.flows import prefect_rest


def test_every_default_command_has_a_template() -> None:
    for platform, commands in DEFAULT_COMMANDS.items():
        for command in commands:
            assert has_textfsm_template(platform, command), (platform, command)


def test_default_commands_parse_on_simulated_ios_and_eos(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    results = plain_runtime(lab_settings, name__any=["sim-ios1", "sim-eos1"]).run_task(RunCommands())
    assert results.failed_hosts == []
    for host_id, first in (("sim-ios1", "GigabitEthernet1"), ("sim-eos1", "Ethernet1")):
        result = results[host_id]
        assert list(result.result) == ["show version", "show ip interface brief", "show interfaces"]
        assert result.metadata["parsed_with"] == dict.fromkeys(result.result, "textfsm")
        interfaces = {row["interface"]: row for row in result.result["show interfaces"]}
        assert interfaces[first]["description"] == "uplink"
        brief = {row["interface"]: row for row in result.result["show ip interface brief"]}
        assert brief["Loopback0"]["status"] == "up"
        assert result.warnings == []


def test_a_command_without_template_is_kept_as_text_with_a_warning(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    job = RunCommands(commands={"eos": ["show hostname", "show running-config"]}, include_raw=True)
    result = plain_runtime(lab_settings, name="sim-eos1").run_task(job)["sim-eos1"]
    assert result.status == "passed", result.message
    assert result.result["show hostname"] == [{"hostname": "sim-eos1", "fqdn": "sim-eos1.lab.local"}]
    assert "hostname sim-eos1" in result.result["show running-config"]
    assert result.metadata["parsed_with"] == {"show hostname": "textfsm", "show running-config": "text"}
    assert any("'show running-config' kept as text" in w for w in result.warnings)
    assert set(result.metadata["raw"]) == {"show hostname", "show running-config"}


def test_hosts_of_other_platforms_are_skipped_and_rejected_commands_fail(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    job = RunCommands(commands={"ios": ["show frobnication"]})
    results = plain_runtime(lab_settings, name__any=["sim-ios1", "sim-eos1"]).run_task(job)
    assert results["sim-eos1"].status == "skipped" and results["sim-eos1"].reason == "unsupported_platform"
    failed = results["sim-ios1"]
    assert failed.status == "failed" and str(failed.kind) == "command"
    assert "show frobnication" in failed.message


def test_bad_parameters_are_named() -> None:
    with pytest.raises(FlowParameterError, match="commands.ios: expected a list of commands"):
        RunCommands(commands={"ios": [""]})
    with pytest.raises(FlowParameterError, match="parse: expected textfsm, genie or none"):
        RunCommands(parse="regex")  # type: ignore[arg-type]


def test_run_commands_is_a_registered_job_and_flow() -> None:
    assert JOBS["run_commands"] is run_commands and FLOWS["run-commands"] is run_commands


def test_run_commands_flow_publishes_a_table(prefect_api: str, lab_settings: str) -> None:
    state = run_commands(
        settings=lab_settings, filter={"platform": "eos"}, commands=["show version", "show interfaces"],
        return_state=True,
    )
    assert state.is_completed(), state
    tree = state.result()
    assert tree["hosts"]["sim-eos1"]["result"]["show version"][0]["image"] == "4.28.3M"
    [artifact] = prefect_rest.artifacts("genja-commands", state.state_details.flow_run_id)
    assert artifact["type"] == "table"
    rows = artifact["data"] if isinstance(artifact["data"], list) else json.loads(artifact["data"])
    row = next(r for r in rows if r["host"] == "sim-eos1" and r["command"] == "show interfaces")
    assert {"host": "sim-eos1", "command": "show interfaces", "parsed_with": "textfsm"}.items() <= row.items()
    assert row["rows"] >= 4  # the session lab's simulator starts with 4; other tests may add one
    assert rows == commands_table(tree)


def test_cli_run_commands(lab: Any, prefect_api: str) -> None:
    settings = Path(lab.directory) / "settings.yaml"
    out = cli(
        "run", "run_commands", "--settings", str(settings), "--filter", "name=sim-ios1",
        "--param", "commands=[show ip interface brief]", "--json", env={"PREFECT_API_URL": prefect_api},
    )
    assert out.returncode == 0, out.stderr
    tree = json.loads(out.stdout)
    rows = tree["hosts"]["sim-ios1"]["result"]["show ip interface brief"]
    assert [row["interface"] for row in rows] == ["GigabitEthernet1", "GigabitEthernet2", "GigabitEthernet3", "Loopback0"]
