"""Root-task subflow runs, created with a few API calls instead of Prefect's flow engine.

Prefect's own subflow call (a ``@flow`` called inside a flow) costs ~0.2-0.35 s on an idle
2-core machine and seconds under load: a tracking task through a fresh async client, the flow
engine's context and hooks machinery, and retries with multi-second backoff whenever a
SQLite-backed server answers 503 because its event recorder holds the database (which it does
right after a root task's host runs were posted). A root task needs none of that -- its hosts
are recorded by :class:`~genja_prefect.prefect.task_runs.HostRunRecorder` -- so
:class:`SubflowPlan` creates the same objects Prefect would, directly:

1. when the run starts (the database is quiet then), for every root task: a tracking task run
   in the parent flow run (what nests the subflow under its parent in the UI) and the subflow
   run itself, Pending -- so its id exists before any host event refers to it;
2. as each root task starts and ends: Running, then Completed or Failed with a message --
   posted at that moment, so the subflow's start and end times are the real ones (its start
   before its first host's, its end after its last host's) -- and the root task's artifacts
   and events, sent by one background thread off the hosts' critical path;
   :meth:`SubflowPlan.close` waits for them (and cancels subflows that never ran).

The subflow runs belong to the parent's own flow (one flow per job in the UI's Flows page);
their run names say which root task they are.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import orjson

logger = logging.getLogger(__name__)



def _state(state_type: str, name: str, message: str = "") -> dict[str, Any]:
    return {"type": state_type, "name": name, "message": message}


class _Api:
    """POSTs through a Prefect client's own httpx transport, base URL and headers (auth
    included), retrying 503/429 briefly and often instead of Prefect's seconds of backoff."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def url(self) -> str:
        return str(self._client.api_url)

    def post(self, path: str, body: Any, attempts: int = 60) -> Any:
        import httpx

        http = self._client._client
        delay = 0.02
        for attempt in range(attempts):
            response = httpx.Client.send(http, http.build_request("POST", path, json=body))
            if response.status_code not in (429, 503) or attempt == attempts - 1:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        response.raise_for_status()
        return response.json() if response.content else None


class RootSubflow:
    """The subflow run of one root task (created by :class:`SubflowPlan`)."""

    def __init__(self, plan: "SubflowPlan", flow_id: str, name: str, run_name: str, parent_flow_run_id: UUID) -> None:
        self.parent_flow_run_id = parent_flow_run_id
        self._plan = plan
        self.name = name
        self.run_name = run_name
        self.flow_id = UUID(flow_id)
        self.tracking_task_run_id = uuid.uuid4()
        api = plan.api
        api.post(
            "/task_runs/",
            {
                "id": str(self.tracking_task_run_id),
                "name": f"{name}-{self.tracking_task_run_id.hex[:8]}",
                "flow_run_id": str(parent_flow_run_id),
                "task_key": f"genja.root.{name}",
                "dynamic_key": self.tracking_task_run_id.hex,
                "state": _state("PENDING", "Pending"),
            },
        )
        run = api.post(
            "/flow_runs/",
            {
                "flow_id": flow_id,
                "name": run_name,
                "parent_task_run_id": str(self.tracking_task_run_id),
                "parameters": {},
                "state": _state("PENDING", "Pending"),
            },
        )
        self.id = UUID(run["id"])
        self.started = False
        self.finished = False

    def _set_state(self, state_type: str, name: str, message: str = "", *, now: bool = False) -> None:
        body = {"state": _state(state_type, name, message), "force": True}
        done = 0
        paths = ("/flow_runs/{}/set_state".format(self.id), "/task_runs/{}/set_state".format(self.tracking_task_run_id))
        if now:
            # The server stamps a state when it receives it: post at the moment it happens.
            # A server that does not answer costs the record, never the run.
            try:
                for i, path in enumerate(paths):
                    self._plan.api.post(path, body, attempts=6)  # ~0.3 s of 503s at most
                    done = i + 1
                return
            except Exception as exc:  # noqa: BLE001 - queue it instead; host work goes on
                logger.debug("posting %s now failed (%s); sending it in the background", name, exc)
        for path in paths[done:]:
            self._plan.send(path, body)

    def start(self) -> None:
        """Mark the subflow Running, now (before its first host starts)."""
        self.started = True
        self._set_state("RUNNING", "Running", now=True)

    def create_artifact(
        self, key: str | None, artifact_type: str, data: Any, description: str, *, task_run_id: str | None = None
    ) -> None:
        """An artifact of this subflow run, or of one of its host task runs (sent in the background).

        A table's rows are sent as one JSON string, as Prefect's ``create_table_artifact``
        does: the server stores a string instead of validating and re-encoding every row
        (~0.2 s less for 10,000 rows here).
        """
        self._plan.create_artifact(key, artifact_type, data, description, flow_run_id=self.id, task_run_id=task_run_id)

    def create_parent_artifact(self, artifact_type: str, data: Any, description: str) -> None:
        """An artifact (without a key) of the parent flow run: the job's own run."""
        self._plan.create_artifact(None, artifact_type, data, description)

    def emit(self, events: list[dict[str, Any]]) -> None:
        """Post Prefect events about this root task's hosts (sent in the background)."""
        self._plan.emit(events)

    def finish(self, *, ok: bool, message: str) -> None:
        """Completed or Failed, with ``message``, now (after its last host finished)."""
        self.finished = True
        self._set_state(*(("COMPLETED", "Completed") if ok else ("FAILED", "Failed")), message, now=True)

    def cancel(self, *, message: str) -> None:
        """Cancelled, with ``message`` (sent in the background): the run was cancelled or interrupted."""
        self.finished = True
        self._set_state("CANCELLED", "Cancelled", message)


class SubflowPlan:
    """The subflow runs of one run's root tasks, created up front in the current flow run."""

    def __init__(
        self,
        client: Any,
        parent_flow_run_id: UUID,
        parent_flow_id: UUID | str,
        names: Sequence[str],
        run_name: Callable[[str], str],
    ) -> None:
        self.api = _Api(client)
        self.parent_flow_run_id = parent_flow_run_id
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = queue.SimpleQueue()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._send_all, name="genja-prefect-subflows", daemon=True)
        self._thread.start()
        self.subflows = [
            RootSubflow(self, str(parent_flow_id), name, run_name(name), parent_flow_run_id) for name in names
        ]

    def send(self, path: str, body: Any) -> None:
        """POST ``body`` to ``path`` from the background thread, in order."""
        self._queue.put((path, body))

    def create_artifact(
        self,
        key: str | None,
        artifact_type: str,
        data: Any,
        description: str,
        *,
        flow_run_id: UUID | None = None,
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

    def _send_all(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            path, body = item
            try:
                self.api.post(path, body)
            except Exception as exc:  # noqa: BLE001 - the UI lags; host results are unaffected
                text = f"could not update Prefect ({path}): {type(exc).__name__}: {exc}"
                self.errors.append(text)
                logger.warning(text)

    def close(self, timeout: float = 120.0) -> None:
        """Cancel subflows that never started, fail unfinished ones, and wait for the sender."""
        for sub in self.subflows:
            if not sub.started:
                sub._set_state("CANCELLED", "Cancelled", "not run: the run stopped before this root task")
            elif not sub.finished:
                sub.finish(ok=False, message="the root task did not finish")
        self._queue.put(None)
        self._thread.join(timeout)
