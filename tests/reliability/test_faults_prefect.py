"""The fault matrix with Prefect on (temporary API): the same classification as without Prefect,
one Prefect task run per host in the state its result says, artifact rows per host, the flow
run Completed with the failed-host count, and no connection left open.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from genja_prefect import PluginManager
from genja_prefect.lab.lab import Lab
from genja_prefect.results import TaskFailureKind
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

from . import prefect_api as api
from .conftest import ExplodingRunner, LeakProbe, lab_ssh, make_genja, one_result_per_host, ssh_host

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_mixed_faults_with_prefect(rel_lab: Lab, plugin_manager: PluginManager, closed_port: int,
                                   sim_device: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    flow_name, task_name = f"genja-rel-faults-{suffix}", f"show_version_{suffix}"
    sim_device("sim-ios3").drop_on = "show version"

    @task(name=task_name, connection_plugin_name="scrapli")
    class ShowVersion:
        def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
            output = context.connection().execute_command("show version")
            if host.id == "sim-ios4":
                raise ValueError("cannot parse this version")
            return TaskSuccessResult(summary=output.splitlines()[0], result=output)

    hosts = {
        "sim-ios1": lab_ssh(rel_lab, "sim-ios1"),
        "sim-eos1": lab_ssh(rel_lab, "sim-eos1"),
        "sim-ios2": lab_ssh(rel_lab, "sim-ios2", password="Wrong-Prefect-Pw-1"),
        "sim-ios3": lab_ssh(rel_lab, "sim-ios3"),
        "sim-ios4": lab_ssh(rel_lab, "sim-ios4"),
        "refused": ssh_host(closed_port),
        "nowhere": ssh_host(22, hostname="nonexistent.invalid"),
    }
    expected = {
        "sim-ios1": ("passed", None), "sim-eos1": ("passed", None),
        "sim-ios2": ("failed", TaskFailureKind.AUTHENTICATION), "sim-ios3": ("failed", TaskFailureKind.CONNECTION),
        "sim-ios4": ("failed", TaskFailureKind.INTERNAL), "refused": ("failed", TaskFailureKind.CONNECTION),
        "nowhere": ("failed", TaskFailureKind.CONNECTION),
    }
    sims = [h for h in hosts if h.startswith("sim-")]
    probe = LeakProbe({rel_lab.host(h).port for h in sims} | {closed_port}, rel_lab, sims, check_threads=False)
    settings = {"prefect": {"enabled": True, "flow_name": flow_name},
                "runner": {"worker_count": 4, "max_connection_attempts": 2, "connection_backoff_ms": 10}}
    results = make_genja(hosts, plugin_manager, settings).run_task(ShowVersion)

    one_result_per_host(results, hosts)
    for host_id, (status, kind) in expected.items():
        result = results[host_id]
        assert result.status == status, (host_id, result)
        if kind is not None:
            assert result.kind == kind, (host_id, result)
    assert "Traceback" in results["sim-ios4"].details["traceback"]
    probe.assert_clean()

    # Prefect: the flow run, its subflow, one task run per host in the matching state
    (outer,) = api.flow_runs(flow_name)
    # prefect.fail_on: any (the default): failed devices make the run red, naming them
    assert outer["state"]["type"] == "FAILED", outer["state"]
    assert "5 of 7 hosts failed: " in outer["state"]["message"]
    (subflow,) = api.flow_runs(parent=outer["id"])
    assert subflow["state"]["type"] == "FAILED" and "5 of 7 hosts failed" in subflow["state"]["message"]
    runs = api.wait_until(lambda: api.task_runs([subflow["id"]]),
                          lambda items: len([r for r in items if api.final(r)]) >= len(hosts))
    by_host = {r["name"].split("@", 1)[1]: r for r in runs}
    assert sorted(by_host) == sorted(hosts)  # exactly one task run per host
    for host_id, (status, kind) in expected.items():
        state = by_host[host_id]["state"]
        assert state["type"] == ("COMPLETED" if status == "passed" else "FAILED"), (host_id, state)
        if kind is not None:
            assert f"failed ({kind.value})" in state["message"], (host_id, state)
        assert f"host:{host_id}" in by_host[host_id]["tags"]
    # the per-root-task table artifact has one row per host with its failure kind
    tables = [a for a in api.artifacts_of([subflow["id"]]) if a["type"] == "table"]
    assert tables, "no table artifact"
    from types import SimpleNamespace

    from genja_prefect.prefect.artifacts import table_rows_of

    rows = table_rows_of(SimpleNamespace(**tables[0])) or []
    assert {r["host"]: r["failure_kind"] for r in rows} == {
        h: (k.value if k else "") for h, (_, k) in expected.items()
    }


def test_runner_plugin_raising_with_prefect_reaches_the_caller(rel_lab: Lab, plugin_manager: PluginManager) -> None:
    """Prefect on, the same as off: the runner's own error, not a TypeError, and sessions closed."""
    plugin_manager.register_plugin(ExplodingRunner())
    hosts = {name: lab_ssh(rel_lab, name) for name in ("sim-ios1", "sim-eos1")}
    probe = LeakProbe({rel_lab.host(h).port for h in hosts}, rel_lab, list(hosts), check_threads=False)
    settings = {"prefect": {"enabled": True, "flow_name": f"genja-rel-runner-{uuid.uuid4().hex[:8]}"},
                "runner": {"plugin": "exploding"}}
    genja = make_genja(hosts, plugin_manager, settings)
    with pytest.raises(BaseException) as raised:
        genja.run_task(CliProbe)
    probe.assert_clean()  # checked first: closing does not depend on the error's shape
    assert isinstance(raised.value, RuntimeError), repr(raised.value)
    assert "runner exploded after opening sessions" in str(raised.value)


@task(name="cli_probe_prefect", connection_plugin_name="scrapli")
class CliProbe:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        return TaskSuccessResult(result=context.connection().execute_command("show version"))
