"""The per-host engine on a ``prefect server start`` backed by SQLite and by PostgreSQL.

200 hosts, one Prefect task run each (``prefect.host_runs: per_host``), run in this process
against a server started with the fast-ingest settings docs/prefect.md recommends. On either
database: the results are the same as the same job without Prefect, and once the call has
returned every host's task run is final, named ``TASK@HOST``, with the state and the one-line
message its result says. The two parametrizations check the same expectations, so what is
recorded on PostgreSQL is what is recorded on SQLite.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.prefect.naming import SKIPPED_STATE_NAME, host_run_name, host_state_message
from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV
from genja_prefect.task import TaskFailureResult, TaskSkipResult, TaskSuccessResult, task
from tests.flows.postgres import postgres_cluster
from tests.flows.prefect_server import DATABASES, Database, PrefectServer, free_port, prefect_server, process_running

HOSTS = 200
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


@task(name="inventory_check")
class InventoryCheck:
    """Every 7th host fails, every 11th is skipped, the others pass with a payload."""

    def start(self, task, host, context):  # type: ignore[no-untyped-def]
        number = int(host.id[1:])
        time.sleep(0.005)  # a device round trip, short
        if number % 7 == 0:
            return TaskFailureResult(message=f"no answer from {host.id}", kind="timeout")
        if number % 11 == 0:
            return TaskSkipResult(reason="unsupported_platform", message=f"{host.platform} has no parser")
        return TaskSuccessResult(result={"serial": f"SN-{host.id}"}, summary=f"serial SN-{host.id}")


def _genja() -> genja_lib.Genja:
    hosts = {f"h{i:03d}": {"platform": "ios" if i % 2 else "eos", "groups": ["core" if i % 3 else "edge"]}
             for i in range(HOSTS)}
    return genja_lib.Genja.from_hosts(
        hosts, {"core": {}, "edge": {}},
        settings={"prefect": {"flow_name": "genja-db", "host_runs": "per_host"}, "runner": {"worker_count": 20}},
    )


def _task_runs(server: PrefectServer, flow_run_id: str) -> list[dict[str, Any]]:
    """Every task run of a flow run, page by page (the API returns at most 200 at once)."""
    runs: list[dict[str, Any]] = []
    while True:
        page = server.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}},
                                                 "sort": "NAME_ASC", "limit": 200, "offset": len(runs)})
        runs += page
        if len(page) < 200:
            return runs


def _untimed(tree: dict[str, Any]) -> dict[str, Any]:
    """A result tree without each host's timing (when it ran differs between two runs)."""
    timing = {"started_at", "finished_at", "duration_ms"}
    return {**tree, "hosts": {h: {k: v for k, v in r.items() if k not in timing} for h, r in tree["hosts"].items()}}


@pytest.mark.prefect_server
@pytest.mark.timeout(900)  # ~1-2 min each on an idle 2-core machine; generous for a loaded one
@pytest.mark.parametrize("database", DATABASES)
def test_per_host_runs_recorded_on_the_server_database(database: Database, tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    genja = _genja()
    expected = genja.with_settings(prefect={"enabled": False}).run_task(InventoryCheck)
    assert len(expected.failed_hosts) == 29 and len(expected.skipped_hosts) == 16

    with prefect_server(tmp_path / "home", extra_env=dict(FAST_INGEST_SERVER_ENV), database=database) as server:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            results = genja.run_task(InventoryCheck)
        assert _untimed(results.to_dict()) == _untimed(expected.to_dict())

        # Read at once: the call returns once the server has written every host's run.
        flow_runs = server.post("/flow_runs/filter", {"flows": {"name": {"any_": ["genja-db"]}}, "limit": 10, "offset": 0})
        assert len(flow_runs) == 2 and all(r["state"]["type"] in FINAL for r in flow_runs), flow_runs
        (subflow,) = [r for r in flow_runs if r["parent_task_run_id"]]
        recorded = {r["name"]: (r["state"]["type"], r["state"]["name"], r["state"]["message"])
                    for r in _task_runs(server, subflow["id"])}
        want = {}
        for host_id in expected:
            result = expected[host_id]
            state = {"passed": ("COMPLETED", "Completed"), "failed": ("FAILED", "Failed"),
                     "skipped": ("COMPLETED", SKIPPED_STATE_NAME)}[result.status]
            want[host_run_name("inventory_check", host_id)] = (*state, host_state_message(result))
        assert len(recorded) == HOSTS, sorted(set(want) - set(recorded))[:10]
        assert recorded == want, [(name, recorded.get(name), w) for name, w in want.items() if recorded.get(name) != w][:5]


@pytest.mark.prefect_server
@pytest.mark.timeout(300)
def test_postgres_cluster_is_stopped_and_removed_when_the_body_fails() -> None:
    with pytest.raises(RuntimeError, match="the test failed"):
        with postgres_cluster(free_port()) as cluster:
            pid, directory = cluster.pid, cluster.directory
            assert process_running(pid) and (directory / "data" / "PG_VERSION").is_file()
            raise RuntimeError("the test failed")
    assert not process_running(pid) and not directory.exists()
