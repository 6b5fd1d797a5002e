"""A ready-made job run by Prefect's flow engine when the Prefect server goes away.

A deployment's flow run (``python -m prefect.engine`` started by a worker), or a ready-made
flow called from Python, runs inside Prefect's flow engine, which needs the API at the end: it
sets the flow run's final state with Prefect's client, whose retries take ~80 s against a dead
server before it raises -- and then again for the Failed state, ending the process with
tracebacks and the flow run left Running. :func:`recorded_flow_run` wraps the job's function
so that instead:

- the job's runs record into one :class:`~genja_prefect.prefect.record.RunRecord` of the flow
  run (its subflows, host task runs, artifacts and log lines, posted in the background and
  spooled when Prefect does not take them: one line for the whole flow run, not one per run);
- the flow run's final state -- Completed, or Failed as the job's hosts or its own error
  decide -- is proposed as usual while the server answers; when it does not, the state goes to
  the spool with the rest (with its persisted result, written to local storage by the engine
  as always), Prefect's engine is told it was accepted, and the process ends normally (exit
  code 0, so the worker does not mark the run Crashed either);
- the flow run's log lines from then on are spooled too (Prefect's log worker would print
  ``--- Error logging to API ---`` per batch and retry each for over a minute, also at exit);
- ONE WARNING says that Prefect was unreachable and what was spooled where:
  ``genja-prefect prefect sync`` (or the next run) delivers it, and the flow run ends in the
  state it deserves.

An error of the job itself still fails the flow run with its traceback, as without an outage.
Prefect's own connection noise during an outage (its suspension observer's websocket) is
logged at DEBUG instead (:func:`quiet_prefect_outage_noise`).

Example (what ``genja_prefect_flows.jobs`` does in each ready-made flow)::

    @flow(name="collect-facts")
    def collect_facts(settings: str) -> dict:
        with recorded_flow_run():
            return collect_facts_job(settings)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from genja_prefect.prefect import api, spool
from genja_prefect.prefect.jobs import JOB_RECORD_TIMEOUT_S, job_record
from genja_prefect.prefect.record import RunRecord

__all__ = ["quiet_prefect_outage_noise", "recorded_flow_run"]

logger = logging.getLogger(__name__)

#: The longest the final-state check waits for the server's health endpoint.
HEALTH_TIMEOUT_S = 5.0


def _unreachable() -> str | None:
    """Why this process's Prefect API does not answer (``None``: it does). One quick look, with
    the API's credentials: Prefect's client would retry an unreachable server for over a minute."""
    import httpx

    try:
        http = api.client(timeout=HEALTH_TIMEOUT_S)
    except RuntimeError:  # no URL here (Prefect's ephemeral mode): its own client decides
        return None
    try:
        with http:
            http.get("/health").raise_for_status()
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


class _RunLogs:
    """Where this process's log lines for the Prefect API go (Prefect's API log sink) while a
    ready-made job's flow run is on: while the job runs, batches in its record (delivered in the
    background, spooled if Prefect is down); afterwards to Prefect's own log worker, or to the
    spool once Prefect was found unreachable -- Prefect's log worker would print ``--- Error
    logging to API ---`` for each batch and retry each for over a minute, also at exit."""

    BATCH_S = 2.0  # as Prefect's own log worker (PREFECT_LOGGING_TO_API_BATCH_INTERVAL)
    BATCH_SIZE = 1000  # lines per POST at most

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.mode = "record"  # then "prefect" or "spool"
        self._items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self, log: dict[str, Any]) -> None:
        log = {k: v for k, v in log.items() if k != "__payload_size__"}
        with self._lock:
            if self.mode == "record":
                self._items.append(log)
                full = len(self._items) >= self.BATCH_SIZE
                if self._timer is None and not full:
                    self._timer = threading.Timer(self.BATCH_S, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                if not full:
                    return
            mode = self.mode
        if mode == "record":
            self.flush()
        elif mode == "spool" and log.get("flow_run_id") == self.record.flow_run_id:
            spool.append(self.record.key, [{"post": "/logs/", "method": "POST", "body": [log], "resolves": None}])
        else:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.instance().send(log)

    def flush(self, mode: str | None = None) -> None:
        """Hand the lines gathered so far to the record; with ``mode``, switch to it at once."""
        with self._lock:
            items, self._items = self._items, []
            timer, self._timer = self._timer, None
            if mode is not None:
                self.mode = mode
        if timer is not None:
            timer.cancel()  # a no-op when it is the timer calling
        if items:
            self.record.post("/logs/", items)

    def switch(self, mode: str) -> None:
        """``prefect`` or ``spool`` (only this flow run's lines; others go to Prefect's log
        worker) from now on; what the record was to take is handed to it first."""
        self.flush(mode)


class _FinalState:
    """Stands in for the flow engine's ``client.set_flow_run_state`` for one flow run, from the
    start of the job's function until its final state has been set (then it removes itself)."""

    def __init__(self, client: Any, flow_run_id: str, record: RunRecord, logs: _RunLogs) -> None:
        self.client, self.flow_run_id, self.record, self.logs = client, flow_run_id, record, logs
        self.original = client.set_flow_run_state
        self.spooled_line: str | None = None  # the record's line, when it was spooled
        client.set_flow_run_state = self

    def remove(self) -> None:
        if self.client.__dict__.get("set_flow_run_state") is self:
            del self.client.set_flow_run_state

    def __call__(self, flow_run_id: Any, state: Any, force: bool = False) -> Any:
        if str(flow_run_id) != self.flow_run_id or not state.is_final():
            return self.original(flow_run_id, state, force=force)
        self.remove()
        import httpx

        reason = _unreachable()
        if reason is None:
            try:
                answer = self.original(flow_run_id, state, force=force)
            except httpx.TransportError as exc:  # died just now: Prefect's own retries are spent
                reason = f"{type(exc).__name__}: {exc}"
            else:
                self.logs.switch("prefect")
                if self.spooled_line:
                    _warn(self.spooled_line)  # the record's part is in the spool
                return answer
        return self._spool(flow_run_id, state, reason)

    def _spool(self, flow_run_id: Any, state: Any, reason: str) -> Any:
        from uuid import uuid4

        from prefect.client.schemas import OrchestrationResult
        from prefect.client.schemas.responses import SetStateStatus, StateAcceptDetails
        from prefect.states import to_state_create

        state_create = to_state_create(state)
        state_create.state_details.flow_run_id = flow_run_id
        state_create.state_details.transition_id = uuid4()
        # forced: the run ends as it did here, whatever the server recorded meanwhile
        body = {"state": state_create.model_dump(mode="json", serialize_as_any=True), "force": True}
        record = self.record
        record.failure = record.failure or reason
        record.final_state = str(state.name or state.type.value.title())
        record.spool_call(f"/flow_runs/{flow_run_id}/set_state", body)
        self.logs.switch("spool")
        line = record.summary()
        if line:
            _warn(line)
        # What the server would answer: the state accepted as proposed.
        return OrchestrationResult(status=SetStateStatus.ACCEPT, state=state, details=StateAcceptDetails())


def _warn(line: str) -> None:
    """The one WARNING of the flow run: on its console and (spooled) in its log in the UI."""
    try:
        from prefect.logging import get_run_logger

        get_run_logger().warning("%s", line)
    except Exception:  # noqa: BLE001 - no run context: the module's logger says it
        logger.warning("%s", line)


@contextmanager
def recorded_flow_run() -> Iterator[RunRecord | None]:
    """Around a ready-made job's function inside a Prefect flow run (see the module docstring);
    nothing outside one (the command line runs the function itself: ``jobs.run_job``)."""
    from prefect.context import FlowRunContext
    from prefect.logging.handlers import set_api_log_sink

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        yield None
        return
    flow_run = ctx.flow_run
    name = ctx.flow.name if ctx.flow is not None else ""
    record = RunRecord(name, "", parent_flow_run_id=str(flow_run.id), parent_flow_id=str(flow_run.flow_id))
    # The engine's own lines so far (the run's start) are delivered now, by Prefect's log worker
    # while the server is known to be up: a batch left in it when the server dies would be
    # retried against it and reported with "--- Error logging to API ---".
    _deliver_logs_so_far(5.0)
    logs = _RunLogs(record)
    set_api_log_sink(logs)
    guard = _FinalState(ctx.client, str(flow_run.id), record, logs)
    try:
        with job_record(record):
            yield record
    finally:
        _close(record, guard, logs)


def _deliver_logs_so_far(timeout: float) -> None:
    """Have Prefect's log worker send what it holds, waiting at most ``timeout`` s. Only that
    worker: ``APILogWorker.drain_all`` would stop Prefect's events worker too (the services
    share one registry), which warns "Still processing items" while it finishes."""
    from prefect.logging.handlers import APILogWorker

    worker = APILogWorker.instance()
    # drain() blocks until the worker has sent its queue; in a thread of its own, so the wait
    # is bounded (and no event loop of the caller's is in the way)
    waiter = threading.Thread(target=worker.drain, name="genja-prefect-log-drain", daemon=True)
    waiter.start()
    waiter.join(timeout)


def _close(record: RunRecord, guard: _FinalState, logs: _RunLogs) -> None:
    """Wait for the record as a command-line job does; what is left is spooled, and its line
    waits for the flow run's final state (one line for both)."""
    logs.switch("prefect")  # what the job logged goes with its record
    line = record.close_and_confirm(stall_timeout=JOB_RECORD_TIMEOUT_S, total_timeout=120.0)
    if line is not None:
        logs.switch("spool")  # Prefect gave up on: the job's error, if any, is logged next
    guard.spooled_line = line


class _OutageNoise(logging.Filter):
    """Prefect's own records about losing its server (its flow-run suspension observer's
    websocket, and that observer's polling task cancelled at shutdown) go to DEBUG: the run's
    one WARNING says that Prefect was unreachable and what it cost."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not _connection_trouble(exc):
            return True
        if record.name == "asyncio" and "Observer" not in record.getMessage():
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _connection_trouble(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a lost or refused connection, or the task that
    watched one being cancelled."""
    import httpx

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OSError, EOFError, httpx.TransportError, asyncio.CancelledError)):
            return True
        if type(exc).__module__.startswith("websockets."):  # Prefect's events subscriber's
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False


_NOISE = _OutageNoise()
#: Prefect's loggers whose connection-loss records are demoted (see _OutageNoise).
NOISY_LOGGERS = ("prefect.FlowRunSuspendingObserver", "prefect.FlowRunCancellingObserver", "asyncio")


def quiet_prefect_outage_noise() -> None:
    """Install the filter that demotes Prefect's own connection-loss tracebacks to DEBUG."""
    for name in NOISY_LOGGERS:
        target = logging.getLogger(name)
        if _NOISE not in target.filters:
            target.addFilter(_NOISE)
