"""Delivery of client-side Prefect events: one background sender per process and API.

:class:`EventSender` takes event dicts from any thread (``put`` only queues), and one daemon
thread posts them to the API's ``POST /events`` in batches of up to ``batch_size``.

Two things keep a large run cheap for the Prefect server, which is what limits how fast task
runs appear in the UI:

- Coalescing: an event put with a ``coalesce_key`` (one task run) replaces that key's earlier
  event while the earlier one is still unsent. A host that finishes within the batching
  interval (or while the sender waits for the server) is then recorded with one event, its
  final state with start and end time, instead of Running and final: half the server's work.
  A host that runs longer than that shows as Running in the UI as soon as it starts.
- Flow control: Prefect 3.8.8's in-memory broker drops messages beyond 10,000 waiting per
  consumer (``prefect.server.utilities.messaging.memory``), and the task-run recorder and event
  persister consume a batch only after writing the previous one. So at most ``window`` posted
  events may be unwritten, estimated from the flow runs' task-run counts and stored events
  (read only while the window is full).
- Reading the event persister's progress must not cost the server more than the events do.
  Counting a flow run's stored events (``/events/filter`` with a ``related`` filter) joins
  ``events`` to ``event_resources``; on PostgreSQL, with the new rows not yet in its
  statistics, the planner picks a nested loop that grows with the square of the run's events
  (2-3 s per count at 5,000 hosts: two thirds of the database's time in a run, measured with
  pg_stat_statements). Instead, a few of the posted events are looked up by id (the primary
  key), spread over those not yet seen stored: the persister writes them in the order they
  were posted, so the newest one found stored means everything before it is.

Outages: events of a flow run the server has not created yet (a provisional id, see
:mod:`genja_prefect.prefect.spool`) wait until it has; a post that fails (server down, 5xx,
timeout) is retried with a backoff of up to 2 s, never dropped. A run that ends while its events
still wait hands them to the spool (:meth:`EventSender.spill`).
"""

from __future__ import annotations

import atexit
import contextvars
import itertools
import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
import orjson

from genja_prefect.prefect import api, spool
from genja_prefect.prefect.spool import ALIASES

__all__ = ["FINAL_STATE_TYPES", "EventSender"]

logger = logging.getLogger(__name__)

FINAL_STATE_TYPES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
#: Posted events looked up by id per look at the event persister's progress (the events API
#: returns at most 50 per page).
_STORED_PROBES = 32

@dataclass(slots=True, eq=False)  # hashed by identity: an item without a coalesce key is its own key
class _Item:
    event: dict[str, Any]
    flow_run_id: str
    final_of: int  # the run's event count if this is its last event, else 0
    coalesce_key: str | None
    seq: int = 0  # arrival order of the first event this item holds


class _Flush:
    __slots__ = ("done", "seq")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.seq = 0


class _Spill:
    """Asks the sender thread to move the unsent events of some flow runs to the spool."""

    __slots__ = ("count", "done", "flow_run_ids", "name")

    def __init__(self, flow_run_ids: set[str] | None, name: str) -> None:
        self.flow_run_ids = flow_run_ids  # None: every run's
        self.name = name
        self.count = 0
        self.done = threading.Event()


class EventSender:
    """One daemon thread per process and API URL that posts queued events in batches.

    Use :meth:`shared` rather than the constructor: every recorder of a process shares it.
    Delivery never raises into the caller: a failed post is logged and counted in ``dropped``.
    """

    _instances: ClassVar[dict[str, EventSender]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        batch_size: int = 500,
        interval: float = 0.1,
        window: int = 8000,
        poll: float = 1.0,
        *,
        ephemeral: bool = False,
        exit_wait: float = 120.0,
    ) -> None:
        self.batch_size = batch_size
        self.ephemeral = ephemeral
        self.exit_wait = exit_wait
        self.interval = interval
        self.window = window
        self.poll = poll
        self.dropped = 0
        self.sent = 0
        self.coalesced = 0  # events replaced by a later event of the same run before sending
        self.last_error = ""  # while posts fail; cleared by a successful one
        self.failure = ""  # the last error seen, kept for messages
        self.progress_at = time.monotonic()  # last time the API accepted a batch
        self._queue: queue.SimpleQueue[_Item | _Flush | _Spill] = queue.SimpleQueue()
        # Final-state events the API accepted, per flow run, until the run's record is known
        # to be written: a server killed right after accepting them loses them (in-memory broker).
        self._finals: dict[str, list[dict[str, Any]]] = {}
        self._finals_lock = threading.Lock()
        self._pending: dict[object, _Item] = {}  # unsent items in arrival order
        self._markers: list[_Flush] = []
        self._seq = 0
        self._use_worker = False
        self._flow_runs: dict[str, None] = {}  # ordered set of flow run ids posted to
        self._final_runs = 0  # runs whose final event was posted ...
        self._final_run_events = 0  # ... and how many events those runs had
        self._written = 0.0  # estimate of posted events the server has written
        self._track_persister = True
        self._persisted = 0.0
        # (events posted up to and including this one, its id) for posted events not yet seen
        # stored, oldest first: what the persister's progress is read from
        self._unconfirmed: deque[tuple[int, str]] = deque()
        # the sender thread adds to it; its flow control and a run's end-of-run wait (another
        # thread, several with concurrent runs in one process) read and trim it
        self._unconfirmed_lock = threading.Lock()
        self._persisted_at = time.monotonic()
        # every event this sender posts occurs after its creation (client clock)
        self._since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        # The creator's context carries the settings (API URL) the thread must use.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="genja-prefect-events", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    @classmethod
    def shared(cls) -> EventSender:
        """The sender for the current Prefect API URL (created on first use)."""
        key = api.api_url()
        with cls._lock:
            sender = cls._instances.get(key)
            if sender is None or not sender._thread.is_alive():
                from genja_prefect.prefect.temporary_server import TemporaryServer

                # The process's own temporary server (stopped at exit): wait for its writes then.
                server = TemporaryServer.current()
                ephemeral = not key or (server is not None and server.api_url == key)
                sender = cls._instances[key] = cls(ephemeral=ephemeral)
            return sender

    def put(self, event: dict[str, Any], flow_run_id: str, final_of: int, coalesce_key: str | None = None) -> None:
        """Queue ``event`` of ``flow_run_id``; ``final_of`` is the run's event count if this is its last event.

        With ``coalesce_key``, the event replaces an unsent earlier event put with the same key.
        """
        self._queue.put(_Item(event, flow_run_id, final_of, coalesce_key))

    def flush(self, timeout: float | None) -> bool:
        """Block until everything put before this call was posted (or spooled)."""
        return self.flush_marker().done.wait(timeout)

    def flush_marker(self) -> _Flush:
        """A marker whose ``done`` is set once everything put before this call was posted (or spooled)."""
        marker = _Flush()
        self._queue.put(marker)
        return marker

    def accepted_finals(self, flow_run_ids: set[str], keep: bool = False) -> list[dict[str, Any]]:
        """The final-state events of ``flow_run_ids`` the API accepted (forgotten unless ``keep``)."""
        with self._finals_lock:
            out = [e for i in flow_run_ids for e in self._finals.get(i, ())]
            if not keep:
                for i in flow_run_ids:
                    self._finals.pop(i, None)
        return out

    def spill(self, flow_run_ids: set[str] | None, name: str, timeout: float) -> int | None:
        """Move the unsent events of ``flow_run_ids`` (``None``: all) to the spool file ``name``.

        Returns how many were spooled, or ``None`` if the sender thread did not get to it
        within ``timeout`` (it is busy posting; it spools them when it does).
        """
        marker = _Spill(flow_run_ids, name)
        self._queue.put(marker)
        return marker.count if marker.done.wait(timeout) else None

    def _do_spill(self, marker: _Spill) -> None:
        keys = [
            k for k, item in self._pending.items()
            if marker.flow_run_ids is None or item.flow_run_id in marker.flow_run_ids
        ]  # fmt: skip
        items = [self._pending.pop(k) for k in keys]
        marker.count = spool.append(marker.name, ({"event": item.event} for item in items))
        self.dropped += len(items) - marker.count
        marker.done.set()
        self._release_markers()

    def _at_exit(self, stall: float = 15.0) -> None:
        # Wait while the API takes events (a large run's tail), at most 15 s of no progress;
        # what is left is spooled for the next run or `genja-prefect prefect sync`.
        marker = self.flush_marker()
        start = time.monotonic()
        while not marker.done.wait(0.2):
            if time.monotonic() - max(self.progress_at, start) > stall:
                count = self.spill(None, f"exit-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}", 5.0)
                if count:
                    logger.warning(
                        "Prefect was not reachable at exit (%s): %d task-run events spooled to %s",
                        self.failure or "no answer", count, spool.spool_dir(),
                    )  # fmt: skip
                return
        if self.ephemeral and self.sent:
            self.wait_until_written(self.exit_wait)

    def wait_until_written(
        self, timeout: float, poll: float = 0.2, *, task_runs_only: bool = False, stall: float = 30.0,
        stop: threading.Event | None = None,
    ) -> bool:
        """Block until the server has written every event this sender posted (best estimate).

        ``task_runs_only``: return once the task runs are written (the end of a run: what
        the UI shows), without waiting for the event feed. Called at exit for the temporary server Prefect starts in-process when no API URL is
        set: it stops with the process, and events it has accepted but not yet written
        (batched, up to ~1 s, longer after a large run) would be lost. Task runs come first:
        once they are all written, stored events get at most 10 s more. A busy server's
        errors (503, timeouts) are retried until ``timeout``; a server that is gone ends the
        wait, and so does one that answers but writes none of them for ``stall`` seconds (task
        runs of a flow run that was never created -- its record spooled -- are never written:
        they are in the spool, as accepted final states). Call it only while the sender is idle
        (after :meth:`flush`). ``stop``, once set, ends the wait (``False``) at its next look.
        """
        import httpx

        start = time.monotonic()
        deadline = start + timeout
        runs_done_at: float | None = None
        recorded = persisted = 0.0
        most, moved_at = -1.0, start  # the highest count seen, and when it last grew
        last_error = ""
        try:
            client = api.client(timeout=10.0)
        except Exception as exc:  # noqa: BLE001 - at exit, nothing more can be done
            logger.warning("cannot reach the Prefect server to wait for its writes: %s", exc)
            return False
        with client:
            while True:
                if stop is not None and stop.is_set():
                    return False
                try:
                    recorded, persisted = self._progress(client)
                    last_error = ""
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    logger.info("the Prefect server is gone; %d task-run events may be unwritten: %s", self.sent - recorded, exc)
                    return False
                except Exception as exc:  # noqa: BLE001 - a busy server (503, timeout): ask again
                    last_error = f"{type(exc).__name__}: {exc}"
                now = time.monotonic()
                if recorded + persisted > most:
                    most, moved_at = recorded + persisted, now
                elif not last_error and now - moved_at > stall:
                    logger.info(
                        "the Prefect server wrote none of the last %d task-run events in %.0f s; not waiting for them",
                        self.sent - recorded, stall,
                    )  # fmt: skip
                    return False
                if not last_error and recorded >= self.sent:
                    if persisted >= self.sent or task_runs_only:
                        return True
                    runs_done_at = runs_done_at or now
                    if now - runs_done_at > 10.0:
                        logger.info("task runs written; %d events not yet stored in the event feed", self.sent - persisted)
                        return True
                if now > deadline:
                    logger.warning(
                        "the Prefect server had written ~%d of %d task-run events after %.0f s%s; %s",
                        recorded,
                        self.sent,
                        now - start,
                        f" (last error: {last_error})" if last_error else "",
                        "the rest is lost when it stops with this process"
                        if self.ephemeral
                        else "the rest is still being written: some hosts may show Running for a while",
                    )
                    return False
                # A short run's task runs are written within the server's ~1 s flush: look
                # often during the first second (a CLI job's exit waits on it), then every ``poll``.
                time.sleep(poll if now - start > 1.0 else min(poll, 0.05))

    # -- the sender thread -----------------------------------------------------------------

    def _absorb(self, entry: _Item | _Flush | _Spill) -> None:
        self._seq += 1
        if isinstance(entry, _Spill):
            self._do_spill(entry)
            return
        if isinstance(entry, _Flush):
            entry.seq = self._seq
            self._markers.append(entry)
            return
        entry.seq = self._seq
        key: object = entry.coalesce_key if entry.coalesce_key is not None else entry
        earlier = self._pending.get(key)
        if earlier is None:
            self._pending[key] = entry
            return
        # The earlier event was never posted: the later one takes its place (and arrival
        # order, so a flush waiting for the earlier one is not held up by the later one).
        self.coalesced += 1
        entry.seq = earlier.seq
        entry.event["follows"] = None  # the event it followed will never exist
        if entry.final_of:
            entry.final_of -= 1
        self._pending[key] = entry

    def _drain(self, timeout: float) -> None:
        """Move queued entries to ``_pending``, waiting up to ``timeout`` for a full batch."""
        deadline = time.monotonic() + timeout
        while len(self._pending) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                entry = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return
            self._absorb(entry)
            if not isinstance(entry, _Item):
                return  # someone waits: send what we have now

    def _release_markers(self) -> None:
        oldest = next(iter(self._pending.values())).seq if self._pending else None
        keep = []
        for marker in self._markers:
            if oldest is None or marker.seq < oldest:
                marker.done.set()
            else:
                keep.append(marker)
        self._markers = keep

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` while absorbing what arrives (coalescing, markers, spills)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self._absorb(self._queue.get(timeout=remaining))
            except queue.Empty:
                return
            self._release_markers()

    def _run(self) -> None:
        client: Any = None
        delay = 0.2
        while True:
            try:
                if not self._pending:
                    entry = self._queue.get()
                    self._absorb(entry)
                    if not isinstance(entry, _Item):
                        self._release_markers()
                        continue
                self._drain(self.interval)
                if self._pending:
                    oldest = next(iter(self._pending.values()))
                    if ALIASES.is_pending(oldest.flow_run_id):
                        # its flow run is not created yet (server not up, or down)
                        self._pause(0.1)
                        continue
                    if client is None:
                        client = self._client()
                    batch = self._take_batch(client)
                    if self._send(client, batch):
                        delay = 0.2
                    else:
                        self._requeue(batch)
                        if client is not None and self.last_error.startswith("ConnectError"):
                            client = None  # a new connection pool once the server is back
                        self._pause(delay)
                        delay = min(delay * 2, 2.0)
                self._release_markers()
            except Exception:  # noqa: BLE001 - a bug here must not hang every flush() forever
                logger.exception("the Prefect event sender failed; spooling %d unsent events", len(self._pending))
                self._do_spill(_Spill(None, f"error-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"))

    def _requeue(self, batch: list[_Item]) -> None:
        """Put a batch that was not delivered back in front, in order; an event of the same run
        that arrived meanwhile replaces its earlier one, as in :meth:`_absorb`."""
        pending: dict[object, _Item] = {}
        for item in batch:
            key: object = item.coalesce_key if item.coalesce_key is not None else item
            later = self._pending.pop(key, None)
            if later is None:
                pending[key] = item
                continue
            self.coalesced += 1
            later.seq = item.seq
            later.event["follows"] = item.event.get("follows")
            if later.final_of:
                later.final_of -= 1
            pending[key] = later
        pending.update(self._pending)
        self._pending = pending

    def _take_batch(self, client: Any) -> list[_Item]:
        """The oldest ``batch_size`` pending items of created flow runs, once the server has room."""
        keys = []
        for key, item in self._pending.items():
            if ALIASES.is_pending(item.flow_run_id):
                break
            keys.append(key)
            self._flow_runs.setdefault(ALIASES.get(item.flow_run_id))
            if len(keys) == self.batch_size:
                break
        if client is not None and not self._use_worker:
            self._wait_for_room(client, len(keys))
        # popped after the wait: items may have been replaced by their runs' later events
        return [self._pending.pop(key) for key in keys if key in self._pending]

    def _client(self) -> Any:
        # Our own client: a flow's client is closed when its flow ends, while this thread
        # lives on. Plain HTTP: recording needs no Prefect import (see api.py).
        try:
            return api.client(timeout=60.0)
        except Exception as exc:  # noqa: BLE001 - recording must never stop host work
            logger.warning("could not open a Prefect client to record task runs: %s", exc)
            return None

    def _send(self, client: Any, batch: list[_Item]) -> bool:
        """Post ``batch``; ``False`` if it may succeed later (the caller keeps it)."""
        events = [item.event for item in batch]
        try:
            if client is None:
                raise RuntimeError("no Prefect client")
            if not self._use_worker:
                status, answer = spool.post(client, "/events", ALIASES.apply(orjson.dumps(events).decode()))
                if status not in (404, 405):
                    if status >= 400:  # refused for good (422): sending again cannot help
                        self.dropped += len(batch)
                        logger.warning("Prefect refused %d task-run events (%s): %s", len(batch), status, answer)
                        return True
                    self._posted(batch)
                    self.last_error = ""
                    with self._finals_lock:
                        for item in batch:
                            if item.final_of:
                                self._finals.setdefault(item.flow_run_id, []).append(item.event)
                    for item in batch:
                        if item.final_of:
                            self._final_runs += 1
                            self._final_run_events += item.final_of
                    return True
                # An API without POST /events (Prefect Cloud?): Prefect's websocket events worker.
                self._use_worker = True
            from prefect.events.schemas.events import Event
            from prefect.events.worker import EventsWorker

            worker = EventsWorker.instance()
            for event in events:
                worker.send(Event.model_validate(orjson.loads(ALIASES.apply(orjson.dumps(event).decode()))))
            self._posted(batch)
            return True
        except (spool.Unavailable, RuntimeError, httpx.HTTPError) as exc:
            if not self.last_error:
                logger.info("Prefect is not taking task-run events (%s); retrying", exc)
            self.last_error = self.failure = f"{type(exc).__name__}: {exc}"
            return False

    def _posted(self, batch: list[_Item]) -> None:
        """Count ``batch`` as posted (and remember its ids while the persister is followed)."""
        if self._track_persister:
            with self._unconfirmed_lock:
                self._unconfirmed.extend(zip(itertools.count(self.sent + 1), (item.event["id"] for item in batch)))
        self.sent += len(batch)
        self.progress_at = time.monotonic()

    def _wait_for_room(self, client: Any, incoming: int, stall: float = 120.0) -> None:
        if self.last_error:
            return  # the server is failing: no flow control until a post succeeds
        last_progress = time.monotonic()
        while self.sent + incoming - self._written > self.window:
            try:
                written = self._server_progress(client)
            except Exception as exc:  # noqa: BLE001 - flow control is best effort
                logger.warning("cannot read the Prefect server's progress, posting without flow control: %s", exc)
                return
            if written > self._written:
                self._written, last_progress = written, time.monotonic()
            elif time.monotonic() - last_progress > stall:
                logger.warning("the Prefect server wrote no task-run events for %.0f s; posting anyway", stall)
                return
            if self.sent + incoming - self._written > self.window:
                # Each progress read costs the server's only core some time: read rarely, and
                # meanwhile let runs that finish replace their unsent Running events.
                deadline = time.monotonic() + self.poll
                while (remaining := deadline - time.monotonic()) > 0:
                    try:
                        self._absorb(self._queue.get(timeout=remaining))
                    except queue.Empty:
                        break

    def _server_progress(self, client: Any) -> float:
        """Posted events both slow consumers (task-run recorder, event persister) have written."""
        recorded, persisted = self._progress(client)
        return min(recorded, persisted)

    def _progress(self, client: Any) -> tuple[float, float]:
        """Estimates of the posted events the task-run recorder and the event persister wrote."""

        def post(path: str, body: dict[str, Any]) -> Any:
            response = client.request("POST", path, json=body)
            response.raise_for_status()  # a busy server answers 503: not a count
            return response.json()

        ids = [ALIASES.get(i) for i in self._flow_runs]
        flow_runs = {"id": {"any_": ids}}
        final = {"state": {"type": {"any_": list(FINAL_STATE_TYPES)}}}
        runs = post("/task_runs/count", {"flow_runs": flow_runs})
        finals = post("/task_runs/count", {"flow_runs": flow_runs, "task_runs": final})
        # A run in a final state had all its events recorded; any other run, at least one.
        # Exact integers once every finished run is final (a float ratio can land a hair
        # below the posted count and never reach it).
        done = min(finals, self._final_runs)
        if done == self._final_runs:
            final_events = self._final_run_events
        else:
            final_events = done * self._final_run_events // self._final_runs
        recorded = float(final_events + max(runs - finals, 0))
        if not self._track_persister:
            return recorded, recorded
        persisted = self._stored(post)
        now = time.monotonic()
        if persisted > self._persisted:
            self._persisted, self._persisted_at = persisted, now
        elif recorded > persisted and now - self._persisted_at > 30.0:
            # Events are recorded but none stored for 30 s: the persister is off (or elsewhere).
            self._track_persister = False
            with self._unconfirmed_lock:
                self._unconfirmed.clear()
            return recorded, recorded
        return recorded, self._persisted

    def _stored(self, post: Any) -> float:
        """How many posted events the event persister has stored: the newest of a few posted
        events (spread over those not yet seen stored, the newest always among them) that the
        API finds by id, and everything posted before it."""
        unconfirmed = self._unconfirmed
        with self._unconfirmed_lock:
            if not unconfirmed:
                return self._persisted
            last = len(unconfirmed) - 1
            probes = [unconfirmed[i] for i in sorted({last * i // (_STORED_PROBES - 1) for i in range(_STORED_PROBES)})]
        now = datetime.now(UTC)
        page = post(
            "/events/filter",
            {
                "filter": {
                    # `until` defaults to the server's now: a client clock a little ahead of it must not hide events
                    "occurred": {"since": self._since, "until": (now + timedelta(days=1)).isoformat()},
                    "id": {"id": [event_id for _, event_id in probes]},
                },
                "limit": len(probes),
            },
        )
        found = {str(event["id"]) for event in page.get("events", ())}
        count = next((count for count, event_id in reversed(probes) if event_id in found), None)
        if count is None:
            return self._persisted
        with self._unconfirmed_lock:
            while unconfirmed and unconfirmed[0][0] <= count:
                unconfirmed.popleft()
        return max(float(count), self._persisted)
