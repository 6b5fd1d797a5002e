"""``genja-prefect rerun RUN_ID --failed``: run a past run's failed hosts again.

The past flow run's ``invocation`` parameter (recorded by ``genja-prefect run``) says what was
run (job or task class, settings path, filters); the per-root-task table artifacts of its
subflows say which hosts failed. The same job then runs again on exactly those hosts, as a new
flow run.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from genja_prefect.errors import GenjaError


class RerunError(GenjaError):
    """The run cannot be re-run (unknown id, not started by the CLI, nothing failed...)."""


def read_run_artifacts(client: Any, flow_run_ids: list[UUID]) -> list[Any]:
    """Artifacts of these flow runs, newest first."""
    from prefect.client.schemas.objects import Artifact

    response = client.request(
        "POST",
        "/artifacts/filter",
        json={
            "artifacts": {"flow_run_id": {"any_": [str(i) for i in flow_run_ids]}},
            "sort": "CREATED_DESC",
            "limit": 200,
            "offset": 0,
        },
    )
    return [Artifact.model_validate(a) for a in response.json()]


def failed_hosts_of_run(run_id: str) -> tuple[dict[str, Any], list[str]]:
    """The invocation parameters of a flow run and the hosts that failed in any root task."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    try:
        uid = UUID(run_id)
    except ValueError:
        raise RerunError(f"'{run_id}' is not a flow run id (a UUID)") from None
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(uid)
        except ObjectNotFound:
            raise RerunError(f"no flow run {run_id} on this Prefect API") from None
        invocation = dict((run.parameters or {}).get("invocation") or {})
        if invocation.get("cli") != "run":
            # A ready-made job's flow run: its own parameters say what ran.
            flow_name = client.read_flow(run.flow_id).name
            invocation = {"job_flow": flow_name, "parameters": dict(run.parameters or {})}
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[uid])),
            sort=FlowRunSort.START_TIME_ASC,
            limit=200,
        )
        artifacts = read_run_artifacts(client, [uid, *(f.id for f in subflows)])
    failed: dict[str, None] = {}
    for artifact in artifacts:
        if artifact.type != "table" or not artifact.key or not artifact.key.startswith("genja-"):
            continue
        rows = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data or "[]")
        for row in rows:
            if row.get("status") == "failed":
                failed.setdefault(row["host"])
    return invocation, list(failed)


def rerun_failed(run_id: str, settings_override: str | None = None) -> list[dict[str, Any]]:
    """Run the job of ``run_id`` again on its failed hosts; returns the new result trees."""
    from genja_prefect.cli import _load_task
    from genja_prefect.runtime import Genja

    invocation, failed = failed_hosts_of_run(run_id)
    if not failed:
        raise RerunError(f"no host failed in flow run {run_id}: nothing to rerun")
    if "job_flow" not in invocation:
        settings = settings_override or invocation["settings"]
        genja = Genja.from_settings_file(settings).filter(id__in=failed)
        genja = genja.with_run_parameters(**{**invocation, "settings": settings, "rerun_of": run_id})
        return [genja.run_task(_load_task(invocation["target"])).to_dict()]
    from genja_prefect.cli import _jobs

    jobs = {getattr(f, "name", n): f for n, f in _jobs().items()}
    job = jobs.get(invocation["job_flow"])
    if job is None:
        raise RerunError(f"flow run {run_id} ran '{invocation['job_flow']}', which is not a genja-prefect job installed here")
    params = dict(invocation["parameters"])
    if settings_override:
        params["settings"] = settings_override
    params["filter"] = {"id__in": failed}
    out = job(**params)
    return out if isinstance(out, list) else [out]
