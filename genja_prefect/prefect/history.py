"""Reading a past run back from Prefect's API: what ran, and which hosts failed."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from genja_prefect.errors import GenjaError
from genja_prefect.prefect.artifacts import failed_hosts, read_run_artifacts


logger = logging.getLogger(__name__)


class RunLookupError(GenjaError):
    """The flow run cannot be found or read."""


def _run_uuid(client: Any, id_or_name: str) -> UUID:
    """The id of a flow run given by id or by its (unique) name."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    try:
        return UUID(id_or_name)
    except ValueError:
        pass
    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[id_or_name])), limit=10)
    if not runs:
        raise RunLookupError(f"no flow run named '{id_or_name}' on this Prefect API (give its id or name)")
    if len(runs) > 1:
        ids = ", ".join(str(r.id) for r in runs)
        raise RunLookupError(f"{len(runs)} flow runs are named '{id_or_name}' ({ids}): give the id of one")
    return UUID(str(runs[0].id))


def find_run_by_call_id(call_id: str) -> str | None:
    """The id of the flow run whose recorded invocation has ``call_id`` (the command line tags
    each of its runs so it can print the run's id), or None. Plain HTTP: a CLI run that recorded
    without importing Prefect does not import it for this either."""
    from genja_prefect.prefect import api

    try:
        with api.client(timeout=10.0) as client:
            response = client.post("/flow_runs/filter", json={"sort": "EXPECTED_START_TIME_DESC", "limit": 50})
            response.raise_for_status()
            for run in response.json():
                invocation = (run.get("parameters") or {}).get("invocation") or {}
                if isinstance(invocation, dict) and invocation.get("call_id") == call_id:
                    return str(run["id"])
    except Exception as exc:  # noqa: BLE001 - Prefect down: the run's results stand without its id
        logger.debug("could not look the run up in Prefect: %s", exc)
    return None


def failed_hosts_of_run(run_id: str) -> tuple[dict[str, Any], list[str]]:
    """The invocation of a flow run and the hosts that failed in any of its root tasks.

    The invocation is what ``genja-prefect run`` recorded (``cli``, ``target``, ``settings``,
    ``filter``), or for a ready-made job's flow run ``{"job_flow": NAME, "parameters": {...}}``.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        uid = _run_uuid(client, run_id)
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
