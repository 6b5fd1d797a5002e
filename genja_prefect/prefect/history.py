"""Reading a past run back from Prefect's API: what ran, and which hosts failed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from genja_prefect.errors import GenjaError
from genja_prefect.prefect.artifacts import failed_hosts, read_run_artifacts


class RunLookupError(GenjaError):
    """The flow run cannot be found or read."""


def failed_hosts_of_run(run_id: str) -> tuple[dict[str, Any], list[str]]:
    """The invocation of a flow run and the hosts that failed in any of its root tasks.

    The invocation is what ``genja-prefect run`` recorded (``cli``, ``target``, ``settings``,
    ``filter``), or for a ready-made job's flow run ``{"job_flow": NAME, "parameters": {...}}``.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    try:
        uid = UUID(run_id)
    except ValueError:
        raise RunLookupError(f"'{run_id}' is not a flow run id (a UUID)") from None
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(uid)
        except ObjectNotFound:
            raise RunLookupError(f"no flow run {run_id} on this Prefect API") from None
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
    return invocation, failed_hosts(artifacts)
