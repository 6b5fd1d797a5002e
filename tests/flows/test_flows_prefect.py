"""The ready-made @flow functions on a real (temporary) Prefect API, against the lab."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from genja_prefect.errors import FilterError
from tests.flows import prefect_rest
from genja_prefect_flows import (
    FLOWS,
    FlowParameterError,
    backup_configs,
    collect_facts,
    deploy_config,
    netconf_edit_config,
    netconf_get_config,
)

IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"


def _artifacts(key: str, flow_run_id: Any = None) -> list[dict[str, Any]]:
    return prefect_rest.artifacts(key, flow_run_id)


@pytest.fixture
def sim_settings(sim_lab: Callable[..., Any]) -> str:
    """Settings of a fresh lab: sim-ios1, sim-eos1 and netconf1 (flows change their configs)."""
    lab = sim_lab(ios=1, eos=1, netconf=1)
    return str(Path(lab.directory) / "settings.yaml")


def test_collect_facts_flow(prefect_api: str, lab_settings: str) -> None:
    state = collect_facts(settings=lab_settings, filter={"platform": "ios"}, workers=2, return_state=True)
    assert state.is_completed(), state
    tree = state.result()
    assert tree["task_name"] == "collect_facts" and set(tree["hosts"]) == {"ios1", "sim-ios1", "sim-ios2"}
    assert tree["hosts"]["ios1"]["result"]["serial"] == "9ESGOBARV9D"
    markdown = _artifacts("genja-facts", state.state_details.flow_run_id)[0]["data"]
    assert "| ios1 | passed |" in markdown and "CSR1000V" in markdown
    assert _artifacts("genja-collect-facts"), "the engine's per-task table"


def test_backup_flow_with_git(prefect_api: str, sim_settings: str, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    first = backup_configs(settings=sim_settings, filter={"groups__contains": "lab_ssh"},
                           backup_dir=str(backups), git=True)
    assert {h: e["status"] for h, e in first["hosts"].items()} == {"sim-ios1": "passed", "sim-eos1": "passed"}
    assert sorted(p.name for p in backups.glob("*.cfg")) == ["sim-eos1.cfg", "sim-ios1.cfg"]
    deploy_config(settings=sim_settings, template="ntp server 192.0.2.66", filter={"name": "sim-ios1"}, apply=True)
    second = backup_configs(settings=sim_settings, filter={"groups__contains": "lab_ssh"},
                            backup_dir=str(backups), git=True)
    assert second["hosts"]["sim-ios1"]["changed"] and not second["hosts"]["sim-eos1"].get("changed")
    report = _artifacts("genja-backups")[0]["data"]
    assert "changed: 1" in report and "+ntp server 192.0.2.66" in report and "git commit" in report


def test_deploy_flow_dry_run_then_apply(prefect_api: str, sim_settings: str, tmp_path: Path) -> None:
    template = tmp_path / "syslog.j2"
    template.write_text("logging host {{ syslog }}\n")
    common = {"settings": sim_settings, "template": str(template), "filter": {"platform": "eos"},
              "variables": {"syslog": "192.0.2.44"}}
    dry = deploy_config(**common)
    host = dry["hosts"]["sim-eos1"]
    assert host["result"]["dry_run"] and "changed" not in host and "+logging host 192.0.2.44" in host["diff"]
    assert dry["sub_tasks"]["verify_config"]["hosts"]["sim-eos1"]["reason"] == "dry_run"
    assert "dry run" in _artifacts("genja-deploy")[0]["data"]
    applied = deploy_config(**common, apply=True)
    assert applied["hosts"]["sim-eos1"]["changed"]
    assert applied["sub_tasks"]["verify_config"]["hosts"]["sim-eos1"]["status"] == "passed"


def test_deploy_flow_verifies_in_a_fresh_session_and_rolls_back(prefect_api: str, sim_lab: Callable[..., Any]) -> None:
    lab = sim_lab(ios=0, eos=1)
    settings = str(Path(lab.directory) / "settings.yaml")
    before = lab.simulator.running_config("sim-eos1")
    assert lab.simulator.accepted_count("sim-eos1") == 0
    state = deploy_config(settings=settings, template="ntp server 192.0.2.45\n", apply=True, rollback=True,
                          mode="merge", check_command="show running-config | include ntp", check_regex="192.0.2.46",
                          return_state=True)
    assert state.is_failed()  # a change that had to be rolled back is a red run
    tree = state.result(raise_on_failure=False).tree
    host = tree["hosts"]["sim-eos1"]
    assert host["changed"] and host["result"]["checkpoint"].startswith("genja-")
    verify = tree["sub_tasks"]["verify_config"]["hosts"]["sim-eos1"]
    assert verify["status"] == "failed" and verify["details"]["rolled_back"] is True
    assert lab.simulator.running_config("sim-eos1") == before
    # the change and its verification are two runs, each with its own session to the device
    assert lab.simulator.accepted_count("sim-eos1") == 2 and lab.simulator.connection_count("sim-eos1") == 0
    report = _artifacts("genja-deploy")[0]["data"]
    assert "verify failed" in report and "rolled back" in report


def test_netconf_flows(prefect_api: str, sim_settings: str) -> None:
    config = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><description>by-flow</description></interface></interfaces>'
    edited = netconf_edit_config(settings=sim_settings, config=config, filter={"platform": "netconf"})
    assert edited["hosts"]["netconf1"]["changed"] and edited["hosts"]["netconf1"]["result"]["target"] == "candidate"
    got = netconf_get_config(settings=sim_settings, filter={"platform": "netconf"}, subtree=f'<interfaces xmlns="{IF}"/>')
    assert "<description>by-flow</description>" in got["hosts"]["netconf1"]["result"]["xml"]


def test_parameter_errors_are_clear(prefect_api: str, lab_settings: str, tmp_path: Path) -> None:
    from prefect.exceptions import ParameterBindError

    with pytest.raises(ParameterBindError, match="unexpected keyword argument 'hosts'"):
        collect_facts(settings=lab_settings, hosts=["ios1"])
    with pytest.raises(FilterError, match=r"unknown key 'platfrom'.*neither a host attribute .* nor a data key"):
        collect_facts(settings=lab_settings, filter={"platfrom": "ios"})
    with pytest.raises(FlowParameterError, match="no settings file at .*nowhere.yaml"):
        collect_facts(settings=str(tmp_path / "nowhere.yaml"))
    with pytest.raises(Exception, match=r"template file not found: .*missing\.j2"):
        deploy_config(settings=lab_settings, template=str(tmp_path / "missing.j2"))


def test_flow_parameters_hold_no_secret_and_share_a_shape() -> None:
    for name, flow in FLOWS.items():
        params = flow.parameters.properties
        assert list(params)[:1] == ["settings"], name
        assert {"filter", "workers", "runner"} <= set(params), name
        assert not {"password", "username", "secret", "token"} & set(params), name


def _with_dead_device(settings: str, tmp_path: Path, port: int) -> str:
    """A copy of a lab's settings whose inventory also has ``dead1``: nothing listens on its port."""
    import shutil

    import yaml

    source = Path(settings).parent
    target = tmp_path / "with-dead-device"
    shutil.copytree(source, target)
    hosts_file = target / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    hosts["dead1"] = {"hostname": "127.0.0.1", "port": port, "platform": "ios", "groups": ["lab_ssh"]}
    hosts_file.write_text(yaml.safe_dump(hosts))
    return str(target / "settings.yaml")


def test_a_nightly_backup_with_a_dead_device_is_a_red_run_named_after_the_job(
    prefect_api: str, sim_settings: str, tmp_path: Path, closed_port: int
) -> None:
    from genja_prefect.outcome import HostsFailedError

    settings = _with_dead_device(sim_settings, tmp_path, closed_port)
    params = {"settings": settings, "filter": {"groups__contains": "lab_ssh"}, "backup_dir": str(tmp_path / "b")}
    state = backup_configs(**params, return_state=True)
    # red in Prefect (notifications and automations on "flow run Failed" fire), naming the device
    assert state.is_failed() and state.message == "1 of 3 hosts failed: dead1"
    error = state.result(raise_on_failure=False)
    assert isinstance(error, HostsFailedError)
    tree = error.tree  # the result tree is kept: the live devices' backups are there
    assert {h: e["status"] for h, e in tree["hosts"].items()} == {"sim-ios1": "passed", "sim-eos1": "passed", "dead1": "failed"}
    assert (tmp_path / "b" / "sim-ios1.cfg").exists()
    run = prefect_rest.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": [str(state.state_details.flow_run_id)]}}, "limit": 1, "offset": 0})[0]
    assert run["name"] == "backup_configs groups__contains=lab_ssh (3 hosts)"
    # called from Python, the flow raises that error (with the tree), not a Prefect wrapper
    with pytest.raises(HostsFailedError, match="1 of 3 hosts failed: dead1") as raised:
        backup_configs(**params)
    assert raised.value.tree["hosts"]["sim-eos1"]["status"] == "passed"


def test_fail_on_all_keeps_a_best_effort_job_green(
    prefect_api: str, sim_settings: str, tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _with_dead_device(sim_settings, tmp_path, closed_port)
    monkeypatch.setenv("GENJA_PREFECT_PREFECT__FAIL_ON", "all")
    state = collect_facts(settings=settings, filter={"groups__contains": "lab_ssh"}, return_state=True)
    assert state.is_completed()
    assert state.result()["hosts"]["dead1"]["status"] == "failed"


def _wait_paused(settings: str, timeout: float = 180) -> str:
    """The id of the paused deploy-config run of ``settings`` (waits for it, bounded)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = prefect_rest.post("/flow_runs/filter", {
            "flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}, "limit": 50, "offset": 0})
        for run in runs:
            if run["parameters"].get("settings") == settings:
                return str(run["id"])
        time.sleep(0.5)
    raise AssertionError(f"no paused deploy-config run for {settings} within {timeout} s")


def _in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``fn`` in a thread now; the returned callable joins it (bounded) and gives its value."""
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(timeout=240)
        assert not thread.is_alive(), "the flow did not finish"
        if "error" in box:
            raise box["error"]
        return box["value"]

    return join


def test_approval_gate_approve_reject_and_timeout(prefect_api: str, sim_lab: Callable[..., Any]) -> None:
    from prefect.flow_runs import resume_flow_run

    lab = sim_lab(ios=0, eos=1)
    settings = str(Path(lab.directory) / "settings.yaml")
    before = lab.simulator.running_config("sim-eos1")
    common = {"settings": settings, "approve": True, "approval_poll_seconds": 1, "return_state": True}

    # approved through Prefect's API: exactly the reviewed lines are applied, then verified
    join = _in_thread(lambda: deploy_config(template="ntp server 192.0.2.61\n", **common))
    run_id = _wait_paused(settings)
    review = _artifacts("genja-deploy-review", run_id)[0]["data"]
    assert "+ntp server 192.0.2.61" in review
    assert lab.simulator.running_config("sim-eos1") == before  # nothing sent while waiting
    resume_flow_run(run_id, run_input={"approve": True, "comment": "CAB-42 approved"})
    state = join()
    assert state.is_completed(), state
    tree = state.result()
    assert tree["approval"] == {"asked": True, "approved": True, "timed_out": False, "comment": "CAB-42 approved"}
    assert tree["hosts"]["sim-eos1"]["result"]["lines"] == ["ntp server 192.0.2.61"]
    assert tree["sub_tasks"]["verify_config"]["hosts"]["sim-eos1"]["status"] == "passed"
    after_approval = lab.simulator.running_config("sim-eos1")
    assert "ntp server 192.0.2.61" in after_approval
    assert "approved: CAB-42 approved" in _artifacts("genja-deploy-approval", run_id)[0]["data"]

    # rejected: nothing is sent, the run ends Cancelled with the comment
    join = _in_thread(lambda: deploy_config(template="ntp server 192.0.2.62\n", **common))
    run_id = _wait_paused(settings)
    resume_flow_run(run_id, run_input={"approve": False, "comment": "not in the change window"})
    state = join()
    assert state.is_cancelled(), state
    assert "rejected: not in the change window; nothing was applied" in state.message
    assert lab.simulator.running_config("sim-eos1") == after_approval

    # nobody decides: the timeout ends the run without changes
    state = deploy_config(template="ntp server 192.0.2.63\n", approval_timeout=2, **common)
    # Prefect's server fails a run whose pause timed out, whatever the flow returns afterwards
    assert state.is_failed() or state.is_cancelled(), state
    decision = _artifacts("genja-deploy-approval", state.state_details.flow_run_id)[0]["data"]
    assert "approval: no decision within 2 s; nothing was applied" in decision
    assert lab.simulator.running_config("sim-eos1") == after_approval
