"""Root-task subflow runs, created with a few API calls instead of Prefect's flow engine.

Prefect's own subflow call (a ``@flow`` called inside a flow) costs ~0.2-0.35 s on an idle
2-core machine and seconds under load, and fails when the API does. A root task needs none of
that -- its hosts are recorded by :class:`~genja_prefect.prefect.task_runs.HostRunRecorder` --
so :class:`SubflowPlan` creates the same objects Prefect would, as calls of the run's
:class:`~genja_prefect.prefect.record.RunRecord` (posted in order by its background thread,
retried while the server is away, spooled if it does not come back in time):

1. when the run starts, for every root task: a tracking task run in the parent flow run (what
   nests the subflow under its parent in the UI) and the subflow run itself, Pending -- with a
   provisional id until the server has created it, which host events may already refer to;
2. as each root task starts and ends: Running, then Completed or Failed with a message --
   queued at that moment, so on a healthy server the subflow's start and end times are the
   real ones -- and the root task's artifacts and events.

The subflow runs belong to the parent's own flow (one flow per job in the UI's Flows page);
their run names say which root task they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from genja_prefect.prefect.record import RunRecord
from genja_prefect.prefect.spool import ALIASES

__all__ = ["RootSubflow", "SubflowPlan"]


def _state(state_type: str, name: str, message: str = "") -> dict[str, Any]:
    return {"type": state_type, "name": name, "message": message}


class RootSubflow:
    """The subflow run of one root task (created by :class:`SubflowPlan`)."""

    def __init__(self, plan: "SubflowPlan", name: str, run_name: str) -> None:
        record = plan.record
        self._plan = plan
        self.name = name
        self.run_name = run_name
        self.parent_flow_run_id = record.flow_run_id
        self.flow_id = record.flow_id
        self.tracking_task_run_id = uuid.uuid4()
        tracking = str(self.tracking_task_run_id)
        record.post(
            "/task_runs/",
            {
                "id": tracking,
                "name": f"{name}-{self.tracking_task_run_id.hex[:8]}",
                "flow_run_id": record.flow_run_id,
                "task_key": f"genja.root.{name}",
                "dynamic_key": self.tracking_task_run_id.hex,
                "state": _state("PENDING", "Pending"),
            },
        )
        self.id = ALIASES.new()
        record.post(
            "/flow_runs/",
            {
                "flow_id": record.flow_id,
                "name": run_name,
                "parent_task_run_id": tracking,
                "parameters": {},
                "idempotency_key": self.id,
                "state": _state("PENDING", "Pending"),
            },
            resolves=self.id,
        )
        self.started = False
        self.finished = False

    def _set_state(self, state_type: str, name: str, message: str = "", *, now: bool = False) -> None:
        body = {"state": _state(state_type, name, message), "force": True}
        record = self._plan.record
        post = record.post_now if now else record.post
        # The server stamps a state when it receives it: the subflow's Running goes out now
        # (when Prefect is healthy), so it starts before its first host in the UI.
        post(f"/flow_runs/{self.id}/set_state", body)
        post(f"/task_runs/{self.tracking_task_run_id}/set_state", body)

    def start(self) -> None:
        """Running (before the root task's first host starts, when Prefect is healthy)."""
        self.started = True
        self._set_state("RUNNING", "Running", now=True)

    def create_artifact(
        self, key: str | None, artifact_type: str, data: Any, description: str, *, task_run_id: str | None = None
    ) -> None:
        """An artifact of this subflow run, or of one of its host task runs.

        A table's rows are sent as one JSON string, as Prefect's ``create_table_artifact``
        does: the server stores a string instead of validating and re-encoding every row
        (~0.2 s less for 10,000 rows here).
        """
        self._plan.create_artifact(key, artifact_type, data, description, flow_run_id=self.id, task_run_id=task_run_id)

    def create_parent_artifact(self, artifact_type: str, data: Any, description: str) -> None:
        """An artifact (without a key) of the parent flow run: the job's own run."""
        self._plan.create_artifact(None, artifact_type, data, description)

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Post Prefect events about this root task's hosts."""
        self._plan.emit(events)

    def finish(self, *, ok: bool, message: str) -> None:
        """Completed or Failed, with ``message`` (after its last host finished)."""
        self.finished = True
        self._set_state(*(("COMPLETED", "Completed") if ok else ("FAILED", "Failed")), message)

    def cancel(self, *, message: str) -> None:
        """Cancelled, with ``message``: the run was cancelled or interrupted."""
        self.finished = True
        self._set_state("CANCELLED", "Cancelled", message)


class SubflowPlan:
    """The subflow runs of one run's root tasks, created up front in the record's flow run."""

    def __init__(self, record: RunRecord, names: Sequence[str], run_name: Callable[[str], str]) -> None:
        self.record = record
        self.parent_flow_run_id = record.flow_run_id
        self.subflows = [RootSubflow(self, name, run_name(name)) for name in names]
        record.subflow_ids.extend(s.id for s in self.subflows)
        if record.parent is not None:
            record.parent.subflow_ids.extend(s.id for s in self.subflows)

    def send(self, path: str, body: Any) -> None:
        """POST ``body`` to ``path`` (in order, in the background)."""
        self.record.post(path, body)

    def create_artifact(
        self,
        key: str | None,
        artifact_type: str,
        data: Any,
        description: str,
        *,
        flow_run_id: str | None = None,
        task_run_id: str | None = None,
    ) -> None:
        """An artifact of ``flow_run_id`` (default: the parent flow run), or of a task run."""
        if artifact_type == "table" and not isinstance(data, str):
            data = orjson.dumps(data).decode()
        body: dict[str, Any] = {
            "type": artifact_type,
            "data": data,
            "description": description,
            "flow_run_id": str(flow_run_id or self.parent_flow_run_id),
        }
        if key:
            body["key"] = key
        if task_run_id:
            body["task_run_id"] = task_run_id
        self.send("/artifacts/", body)

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Post Prefect events (e.g. ``genja.host.failed``) in one request."""
        if events:
            self.send("/events", events)

    def close(self) -> None:
        """Cancel subflows that never started and fail unfinished ones."""
        for sub in self.subflows:
            if not sub.started:
                sub.cancel(message="not run: the run stopped before this root task")
            elif not sub.finished:
                sub.finish(ok=False, message="the root task did not finish")
