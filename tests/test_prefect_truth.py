"""What Prefect shows about a run is true at a glance (checked through Prefect's API of the
temporary server): the prefect.fail_on policy on the run and its subflows, the failed host's
reason as an ERROR log on its task run, Skipped hosts, run names, an honest timeline, nothing
left Running after the call returns, genja events, and the artifacts' row order."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.task import TaskFailureResult, TaskSkipResult, TaskSuccessResult, task
from tests.flows import prefect_rest

pytestmark = pytest.mark.usefixtures("prefect_api")


def _flow_runs(flow_name: str) -> list[dict[str, Any]]:
    """Flow runs of a flow (subflows included), oldest first."""
    return list(
        prefect_rest.post(
            "/flow_runs/filter",
            {"flows": {"name": {"any_": [flow_name]}}, "sort": "START_TIME_ASC", "limit": 200, "offset": 0},
        )
    )


def _outer_and_subflows(flow_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runs = _flow_runs(flow_name)
    outer = [r for r in runs if not r.get("parent_task_run_id")]
    assert len(outer) == 1, [r["name"] for r in runs]
    subs = [r for r in runs if r.get("parent_task_run_id")]
    return outer[0], subs


def _task_runs(flow_run_id: str) -> list[dict[str, Any]]:
    return list(
        prefect_rest.post(
            "/task_runs/filter",
            {"flow_runs": {"id": {"any_": [flow_run_id]}}, "sort": "NAME_ASC", "limit": 200, "offset": 0},
        )
    )


def _final_task_runs(flow_run_id: str, expected: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The task runs of a flow run once ``expected`` of them are final (the temporary server
    writes them within ~1 s of the call's return)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = _task_runs(flow_run_id)
        done = [r for r in runs if r["state"] and r["state"]["type"] in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")]
        if len(done) >= expected or time.monotonic() > deadline:
            return done
        time.sleep(0.25)


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@task(name="mixed")
class Mixed:
    """r1 fails, r2 is skipped, the others pass."""

    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        if host.id == "r1":
            return TaskFailureResult(message="wrong password for admin", kind="authentication")
        if host.id == "r2":
            return TaskSkipResult(reason="unsupported_platform", message="no parser for platform 'xos'")
        time.sleep(0.05)
        return TaskSuccessResult(summary=f"ok {host.id}")


def _hosts(n: int) -> dict[str, dict[str, Any]]:
    return {f"r{i}": {"platform": "ios" if i % 2 else "eos"} for i in range(1, n + 1)}


@pytest.mark.parametrize(
    ("fail_on", "red"),
    [("any", True), ("all", False), ("percent:30", False), ("percent:20", True)],
)
def test_fail_on_decides_the_run_and_subflow_states(fail_on: str, red: bool) -> None:
    flow_name = f"genja-truth-policy-{fail_on.replace(':', '-')}"
    genja = genja_lib.Genja.from_hosts(
        _hosts(4), settings={"prefect": {"flow_name": flow_name, "fail_on": fail_on}}
    )
    results = genja.run_task(Mixed)
    assert results.failed_hosts == ["r1"] and results.skipped_hosts == ["r2"]  # returned either way
    outer, (sub,) = _outer_and_subflows(flow_name)
    expected = "FAILED" if red else "COMPLETED"
    assert outer["state"]["type"] == expected and sub["state"]["type"] == expected
    assert "1 of 4 hosts failed: r1" in outer["state"]["message"]
    assert "1 of 4 hosts failed: r1" in sub["state"]["message"]


def test_reasons_skipped_state_names_and_an_honest_timeline() -> None:
    flow_name = "genja-truth-main"
    genja = genja_lib.Genja.from_hosts(
        _hosts(6), settings={"prefect": {"flow_name": flow_name}, "runner": {"worker_count": 2}}
    )
    ios = genja.filter(platform="ios")
    ios.run_task(Mixed)

    outer, (sub,) = _outer_and_subflows(flow_name)
    # names: the job (its root task) and the selection; the subflow belongs to the same flow
    assert outer["name"] == "mixed platform=ios (3 hosts)"
    assert sub["name"] == "mixed (3 hosts)" and sub["flow_id"] == outer["flow_id"]

    # the temporary server writes within ~1 s (on a server of the user's the call itself waits
    # for that: tests/flows/test_prefect_record.py)
    deadline = time.monotonic() + 60
    while True:
        runs = {r["name"]: r for r in _task_runs(sub["id"])}
        final = all(r["state"]["type"] in ("COMPLETED", "FAILED") for r in runs.values())
        if (len(runs) == 3 and final) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert set(runs) == {"mixed@r1", "mixed@r3", "mixed@r5"}
    assert final, runs
    assert sub["state"]["type"] == "FAILED" and outer["state"]["type"] == "FAILED"

    # honest timeline: the subflow started before its first host and ended after its last
    first_host = min(_stamp(r["start_time"]) for r in runs.values())
    last_host = max(_stamp(r["end_time"]) for r in runs.values())
    assert _stamp(sub["start_time"]) <= first_host
    assert _stamp(sub["end_time"]) >= last_host

    # the failed host: Failed, its reason in the state message and as an ERROR log line
    # starting with the host id (the UI's task-run page shows logs, not state messages)
    failed = runs["mixed@r1"]
    assert failed["state"]["type"] == "FAILED" and "wrong password" in failed["state"]["message"]
    deadline = time.monotonic() + 60
    errors: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not errors:
        logs = prefect_rest.post(
            "/logs/filter",
            {"logs": {"task_run_id": {"any_": [failed["id"]]}, "level": {"ge_": 40}}, "limit": 50, "offset": 0, "sort": "TIMESTAMP_ASC"},
        )
        errors = [entry for entry in logs if entry["message"].startswith("r1: authentication failed: wrong password")]
        if not errors:
            time.sleep(0.5)
    assert errors, "no ERROR log line on the failed host's task run"


def test_skipped_hosts_end_in_a_completed_state_named_skipped() -> None:
    flow_name = "genja-truth-skipped"
    genja = genja_lib.Genja.from_hosts(_hosts(3), settings={"prefect": {"flow_name": flow_name, "fail_on": "all"}})
    genja.run_task(Mixed)
    _, (sub,) = _outer_and_subflows(flow_name)
    skipped = next(r for r in _final_task_runs(sub["id"], 3) if r["name"] == "mixed@r2")
    assert skipped["state"]["type"] == "COMPLETED" and skipped["state"]["name"] == "Skipped"
    assert skipped["state"]["message"] == "skipped (unsupported_platform): no parser for platform 'xos'"


def test_table_rows_failed_first_then_skipped_then_passed_with_links_and_a_summary_on_the_run() -> None:
    from genja_prefect.prefect.artifacts import table_rows_of

    flow_name = "genja-truth-artifacts"
    genja = genja_lib.Genja.from_hosts(_hosts(5), settings={"prefect": {"flow_name": flow_name}})
    genja.run_task(Mixed)
    outer, (sub,) = _outer_and_subflows(flow_name)
    table = prefect_rest.artifacts("genja-mixed", sub["id"])[0]
    raw = table["data"] if isinstance(table["data"], list) else __import__("json").loads(table["data"])
    assert [r["status"] for r in raw] == ["failed", "skipped", "passed", "passed", "passed"]
    assert list(raw[0]) == ["host", "status", "failure_kind", "summary", "changed", "duration_ms"]
    run_ids = {r["name"].split("@")[1]: r["id"] for r in _final_task_runs(sub["id"], 5)}
    assert raw[0]["host"] == f"[r1](/runs/task-run/{run_ids['r1']})"

    class _Artifact:
        type, key, data = table["type"], table["key"], table["data"]

    assert [r["host"] for r in table_rows_of(_Artifact()) or []] == ["r1", "r2", "r3", "r4", "r5"]
    # the summary is on the job's own flow run too, and the failed host got its own artifact
    on_run = prefect_rest.post(
        "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [outer["id"]]}}, "limit": 50, "offset": 0}
    )
    assert any(a["type"] == "markdown" and "r1" in (a["data"] or "") and "Failed hosts" in a["data"] for a in on_run)
    on_host = prefect_rest.post(
        "/artifacts/filter", {"artifacts": {"task_run_id": {"any_": [run_ids["r1"]]}}, "limit": 50, "offset": 0}
    )
    assert any("wrong password" in (a["data"] or "") for a in on_host)
    assert not prefect_rest.post(
        "/artifacts/filter", {"artifacts": {"task_run_id": {"any_": [run_ids["r3"]]}}, "limit": 50, "offset": 0}
    )


def _events(name: str, resource_prefix: str) -> list[dict[str, Any]]:
    body = {"filter": {"event": {"name": [name]}, "resource": {"id_prefix": [resource_prefix]}}, "limit": 50}
    return list(prefect_rest.post("/events/filter", body).get("events", []))


def test_genja_events_for_failed_and_changed_hosts_and_the_finished_run() -> None:
    @task(name="evented")
    class Evented:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            if host.id == "ev1":
                return TaskFailureResult(message="timed out", kind="timeout")
            return TaskSuccessResult(summary="changed", changed=True, diff="-ntp server 1.1.1.1\n+ntp server 2.2.2.2\n")

    flow_name = "genja-truth-events"
    genja = genja_lib.Genja.from_hosts(
        {"ev1": {"platform": "ios", "groups": ["core"]}, "ev2": {"platform": "eos"}},
        {"core": {}},
        settings={"prefect": {"flow_name": flow_name}},
    )
    genja.run_task(Evented)
    outer, (sub,) = _outer_and_subflows(flow_name)
    deadline = time.monotonic() + 60
    failed = changed = finished = []
    while time.monotonic() < deadline:
        failed = _events("genja.host.failed", "genja.host.ev1")
        changed = _events("genja.host.changed", "genja.host.ev2")
        finished = _events("genja.run.finished", f"genja.run.{outer['id']}")
        if failed and changed and finished:
            break
        time.sleep(0.5)
    assert failed and changed and finished
    event = failed[0]
    assert event["resource"]["genja.platform"] == "ios" and event["resource"]["genja.groups"] == "core"
    assert event["payload"]["kind"] == "timeout"
    related = {r["prefect.resource.id"] for r in event["related"]}
    assert f"prefect.flow-run.{sub['id']}" in related and f"prefect.flow-run.{outer['id']}" in related
    assert changed[0]["payload"]["lines_added"] == 1 and changed[0]["payload"]["lines_removed"] == 1
    assert finished[0]["payload"]["failed"] == 1 and finished[0]["payload"]["passed"] == 1


def test_connection_retries_are_logged_on_the_hosts_task_run_with_its_attempt_count() -> None:
    from genja_prefect.connection import ConnectionBase, ConnectionOpenError, ConnectionPluginBase

    class Refusing(ConnectionBase):
        def open(self, params):  # type: ignore[no-untyped-def]
            raise ConnectionOpenError(f"{params.address}: connection refused", kind="connection")

        def close(self):  # type: ignore[no-untyped-def]
            return None

        def is_alive(self) -> bool:
            return False

    class RefusingPlugin(ConnectionPluginBase):
        name = "refusing"

        def create(self, key):  # type: ignore[no-untyped-def]
            return Refusing()

    @task(name="needs_session", connection_plugin_name="refusing")
    class NeedsSession:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            context.connection()
            return TaskSuccessResult(summary="never")

    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(RefusingPlugin())
    flow_name = "genja-truth-retries"
    genja = genja_lib.Genja.from_hosts(
        {"edge1": {"hostname": "127.0.0.1", "port": 9}},
        settings={
            "prefect": {"flow_name": flow_name},
            "runner": {"max_connection_attempts": 3, "connection_backoff_ms": 10},
        },
        plugin_manager=pm,
    )
    result = genja.run_task(NeedsSession)["edge1"]
    assert result.status == "failed" and result.details["attempts"] == 3
    _, (sub,) = _outer_and_subflows(flow_name)
    (run,) = _final_task_runs(sub["id"], 1)
    assert run["run_count"] == 3 and run["state"]["type"] == "FAILED"
    deadline = time.monotonic() + 60
    retries: list[str] = []
    while time.monotonic() < deadline and len(retries) < 2:
        logs = prefect_rest.post(
            "/logs/filter",
            {"logs": {"task_run_id": {"any_": [run["id"]]}}, "limit": 50, "offset": 0, "sort": "TIMESTAMP_ASC"},
        )
        retries = [e["message"] for e in logs if "retrying in" in e["message"]]
        time.sleep(0.3)
    assert len(retries) == 2 and all(m.startswith("edge1: opening refusing@edge1 failed (attempt") for m in retries), retries
    assert "(attempt 1/3, connection)" in retries[0] and "(attempt 2/3, connection)" in retries[1]
