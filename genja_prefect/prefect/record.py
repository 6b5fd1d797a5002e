"""The Prefect record of one run, posted in the background: host work never waits for Prefect.

A :class:`RunRecord` is an ordered list of API calls -- create the flow run, its root-task
subflows (a tracking task run in the parent plus the subflow run, as Prefect's own subflow call
makes them), their states and artifacts -- sent by one thread once the server answers. Objects
the server names get provisional ids (:mod:`genja_prefect.prefect.spool`), so host task-run
events can refer to a subflow before the server has created it; the event sender holds those
events until it has.

If the server is down, slow or refusing, calls are retried; when the run ends, the caller waits
for delivery only while Prefect makes progress (:meth:`RunRecord.close`), then whatever is left
is spooled to disk and delivered by a later run or ``genja-prefect prefect sync``.

Example::

    record = RunRecord("genja-run", "collect_facts-6-hosts", {"invocation": None})
    sub = record.subflow("collect_facts", "collect_facts-6-hosts")
    sub.start(); sub.finish(ok=True, message="6 hosts: 6 ok")
    record.finish("COMPLETED", "1 root task(s), 6 host result(s), 0 failed")
    warning = record.close_and_confirm(stall_timeout=15, total_timeout=120)   # None: all delivered (and written)
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import logging
import sys
import threading
import time
import uuid
from typing import Any

import orjson

from genja_prefect.prefect import api, spool
from genja_prefect.prefect.events import EventSender
from genja_prefect.prefect.spool import ALIASES

__all__ = ["RunRecord"]

logger = logging.getLogger(__name__)

_FLOW_IDS: dict[tuple[str, str], str] = {}  # (API URL, flow name) -> flow id (server's or provisional)
_FLOW_LOCK = threading.Lock()


def _state(state_type: str, name: str, message: str = "") -> dict[str, Any]:
    return {"type": state_type, "name": name, "message": message}


class _Op:
    __slots__ = ("body", "method", "path", "resolves")

    def __init__(self, path: str, body: Any, resolves: str | None, method: str = "POST") -> None:
        self.path, self.body, self.resolves, self.method = path, body, resolves, method


class RunRecord:
    """The record of one run (see the module docstring).

    Args:
        flow_name, run_name, parameters: the flow run to create.
        parent_flow_run_id, parent_flow_id: record into this existing flow run (of that flow)
            instead -- a run made inside a Prefect flow, e.g. a deployment's, or inside a CLI
            job's record: no flow run is created.
        spool_name: the spool file for what is not delivered.
        parent: the record this one is nested in (a CLI job's): it shares the parent's spool
            file (a replay then creates the parent first) and reports through the parent.
    """

    def __init__(
        self,
        flow_name: str,
        run_name: str,
        parameters: dict[str, Any] | None = None,
        *,
        parent_flow_run_id: str | None = None,
        parent_flow_id: str | None = None,
        spool_name: str | None = None,
        parent: RunRecord | None = None,
    ) -> None:
        self.api_url = api.api_url()
        self.parent = parent
        self.spooled_ops = self.lost_ops = self.spooled_events = 0
        self.events_in_flight = False
        self._deferred = False
        self.key: str = (parent.key if parent is not None else spool_name) or f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        self.subflow_ids: list[str] = []  # provisional ids of the subflow runs recorded into it
        self.verdict: tuple[str, str] | None = None  # a nested run's (state type, message)
        self.posted = 0
        self.refused: list[str] = []
        self.last_error = ""
        self.failure = ""  # the last error seen, kept for the summary line
        self.final_state = ""  # the name of the flow run's final state, when it was spooled too
        self.progress_at = time.monotonic()
        self._ops: collections.deque[_Op] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._detached = False
        self._closed = False
        self._now_lock = threading.Lock()
        self._now_client: Any = None  # for post_now, from the caller's thread
        self.own_flow_run = parent_flow_run_id is None
        self.flow_name = flow_name
        if parent_flow_run_id is not None:
            self.flow_run_id: str = str(parent_flow_run_id)
            self.flow_id: str = str(parent_flow_id or "")
        else:
            self.flow_run_id = ALIASES.new()
            self.flow_id = self._flow_id(flow_name)
            self.post(
                "/flow_runs/",
                {
                    "flow_id": self.flow_id,
                    **({"name": run_name} if run_name else {}),  # none: the server picks a slug
                    "parameters": parameters or {},
                    "idempotency_key": self.flow_run_id,
                    "tags": [],
                    "state": _state("RUNNING", "Running"),
                },
                resolves=self.flow_run_id,
            )
        # The creator's context carries the settings (API URL, e.g. temporary_settings) to use.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._send_all,), name="genja-prefect-record", daemon=True)
        self._thread.start()

    # -- building the record ---------------------------------------------------------------

    def _flow_id(self, name: str) -> str:
        """The id of flow ``name`` (provisional until the server has created it)."""
        key = (self.api_url, name)
        with _FLOW_LOCK:
            found = _FLOW_IDS.get(key)
            if found is not None and not ALIASES.is_pending(found):
                return found  # created: a provisional one may sit in another run's spool
            found = _FLOW_IDS[key] = ALIASES.new()
        self.post("/flows/", {"name": name}, resolves=found)
        return found

    def post(self, path: str, body: Any, resolves: str | None = None, method: str = "POST") -> None:
        """Queue one API call (sent in order; ``resolves``: the provisional id its answer's ``id`` is)."""
        with self._lock:
            self._ops.append(_Op(path, body, resolves, method))
            self._idle.clear()
        self._wake.set()

    def post_now(self, path: str, body: Any, wait: float = 2.0) -> None:
        """Post at once when Prefect is healthy, else queue like :meth:`post`.

        For states whose server-side timestamp must be the moment they happen (a subflow goes
        Running before its first host starts): waits up to ``wait`` for the calls queued
        before it, then posts from this thread. Prefect down, starting or failing: queued,
        host work never waits for it.
        """
        if self._healthy() and self._idle.wait(wait):
            text = ALIASES.apply(orjson.dumps(body).decode())
            if not ALIASES.waits_for(text + path):
                try:
                    with self._now_lock:
                        if self._now_client is None:
                            self._now_client = _client()
                        status, answer = spool.post(self._now_client, ALIASES.apply(path), text)
                    if status < 400:
                        self.progress_at = time.monotonic()
                        return
                except Exception as exc:  # noqa: BLE001 - queued instead; host work goes on
                    logger.debug("posting %s now failed (%s); queued", path, exc)
        self.post(path, body)

    def _healthy(self) -> bool:
        if self.last_error or self._detached:
            return False
        server = self._own_server()
        return server is None or server.ready

    def finish(self, state_type: str, message: str) -> None:
        """The flow run's final state (only for a flow run this record created)."""
        if self.own_flow_run:
            name = state_type.title()
            self.post(f"/flow_runs/{self.flow_run_id}/set_state", {"state": _state(state_type, name, message), "force": True})

    # -- delivery --------------------------------------------------------------------------

    def _send_all(self) -> None:
        from genja_prefect.prefect.temporary_server import TemporaryServer

        server = TemporaryServer.current()
        if server is not None and server.api_url == self.api_url:
            server.wait_ready(None)
        client: Any = None
        delay = 0.2
        while True:
            with self._lock:
                op = self._ops[0] if self._ops and not self._detached else None
                if op is None:
                    self._idle.set()
                    if self._closed or self._detached:
                        break
            if op is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            if ALIASES.waits_for(orjson.dumps(op.body).decode() + op.path, op.resolves):
                # refers to something another record (the CLI job's flow run) has not created yet
                self._wake.wait(0.1)
                continue
            try:
                if client is None:
                    client = _client()
                answer = self._post(client, op)
            except Exception as exc:  # noqa: BLE001 - down, busy, or no client yet: try again
                self.last_error = self.failure = str(exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.2
            self.last_error = ""
            if op.resolves and answer is not None:
                ALIASES.resolve(op.resolves, answer["id"])
                # a nested record may have spooled calls that refer to this id already
                spool.note_aliases(self.key)
            with self._lock:
                if self._ops and self._ops[0] is op:
                    self._ops.popleft()
            self.posted += 1
            self.progress_at = time.monotonic()
        if client is not None:
            client.close()

    def _post(self, client: Any, op: _Op) -> Any:
        text = ALIASES.apply(orjson.dumps(op.body).decode())
        status, answer = spool.post(client, ALIASES.apply(op.path), text, op.method)
        if status >= 400:
            # Refused for good (422: the server does not accept it): retrying cannot help.
            text = f"Prefect refused {op.path} ({status}): {answer}"
            self.refused.append(text)
            logger.warning("%s", text)
            return None
        return answer

    def pending(self) -> int:
        """API calls not delivered yet."""
        with self._lock:
            return len(self._ops)

    def close(self, stall_timeout: float, total_timeout: float) -> str | None:
        """Wait for this run's record to be delivered, then spool what is left.

        Waits while Prefect makes progress (calls or host events accepted within the last
        ``stall_timeout`` seconds), at most ``total_timeout``; not at all if an earlier record
        of this process already gave up and Prefect has taken nothing since. Returns ``None``
        when everything was delivered, else one line saying what was spooled. A nested
        record (``parent``) adds what it spooled to its parent's line instead: one line per run.

        While this process's temporary server is still starting, nothing is spooled yet: the
        record keeps going in the background and the process waits for it at exit (at most
        until the server's start timeout, then it is spooled).
        """
        global _GAVE_UP_AT
        sender = EventSender.shared()
        with self._now_lock:
            if self._now_client is not None:
                self._now_client.close()
                self._now_client = None
        with self._lock:
            self._closed = True
        self._wake.set()
        if self._wait(sender, stall_timeout, total_timeout):
            return None
        server = self._own_server()
        if server is not None and server.error is None and not server.ready:
            self._deferred = True
            atexit.register(self._finish_at_exit, server, total_timeout)
            return None
        _GAVE_UP_AT = time.monotonic()
        return self._spool_rest(sender, stall_timeout)

    def close_and_confirm(self, stall_timeout: float, total_timeout: float) -> str | None:
        """:meth:`close`, and -- for a run of its own on a server of the user's, which outlives
        this process -- the wait until that server has written the task runs (nothing shows
        Running once the call has returned). The two go side by side: the hosts' events were
        all posted before the record's last calls (final states, artifacts), and the server's
        task-run recorder writes only once a second, so its wait runs during those calls.

        If the server stops first (killed right after accepting the events: its in-memory
        queue is lost) or stalls, the run's accepted final host states are spooled again.
        Returns ``None``, or the one line saying what was spooled."""
        sender = EventSender.shared()
        if sender.ephemeral or self.parent is not None:
            # the temporary server is waited for at exit; a nested run's parent confirms
            return self.close(stall_timeout, total_timeout)
        hosts_posted = sender.flush_marker()  # behind every host event put so far
        stop = threading.Event()
        written: list[bool] = []

        def wait_for_the_writes() -> None:
            while not hosts_posted.done.wait(0.05):
                if stop.is_set():
                    return
            written.append(sender.wait_until_written(total_timeout, task_runs_only=True, stall=stall_timeout, stop=stop))

        # in this context: the API URL may be a context setting (Prefect's temporary_settings)
        waiter = threading.Thread(target=contextvars.copy_context().run, args=(wait_for_the_writes,),
                                  name="genja-prefect-confirm-written", daemon=True)
        waiter.start()
        try:
            line = self.close(stall_timeout, total_timeout)
        except BaseException:
            stop.set()
            raise
        if line is not None or self.deferred:
            stop.set()  # spooled, or left to the exit: nothing to confirm now
            waiter.join(5.0)
            return line
        waiter.join(total_timeout + stall_timeout + 10.0)  # bounded by its own timeouts; a safety net
        stop.set()
        ids = {self.flow_run_id, *self.subflow_ids}
        if written and written[0]:
            sender.accepted_finals(ids)
            return None
        events = sender.accepted_finals(ids)
        spooled = spool.append(self.key, ({"event": e} for e in events))
        if not spooled:
            return None
        return (
            "Prefect accepted this run's record but did not confirm writing it "
            f"(nothing written for {stall_timeout:.0f} s, or not all within {total_timeout:.0f} s): "
            f"{spooled} host final state(s) spooled to {spool.spool_dir()} again; "
            "`genja-prefect prefect sync` or the next run delivers them (twice is harmless)"
        )

    def spool_call(self, path: str, body: Any, method: str = "POST") -> None:
        """Spool one API call now, behind what :meth:`close` spooled (Prefect is known to be
        unreachable); :meth:`summary` counts it."""
        written = spool.append(self.key, [{"post": path, "method": method, "body": body, "resolves": None}])
        self.spooled_ops += 1
        self.lost_ops += 1 - written

    def summary(self) -> str | None:
        """The one line saying what of this run was spooled, and where (``None``: nothing)."""
        return self._summary(EventSender.shared())

    @property
    def deferred(self) -> bool:
        """Whether delivery was left to the process's exit (its temporary server was starting)."""
        return self._deferred

    def _own_server(self) -> Any:
        from genja_prefect.prefect.temporary_server import TemporaryServer

        server = TemporaryServer.current()
        return server if server is not None and server.api_url == self.api_url else None

    def _wait(self, sender: EventSender, stall_timeout: float, total_timeout: float) -> bool:
        """Wait for delivery while Prefect makes progress; ``True`` once all was delivered."""
        marker = sender.flush_marker()
        start = time.monotonic()
        troubled = False  # Prefect failed a call during the wait: no more than stall_timeout in all
        while True:
            now = time.monotonic()
            if self._idle.is_set() and marker.done.is_set():
                return True
            progress = max(self.progress_at, sender.progress_at, start)
            if _GAVE_UP_AT > max(self.progress_at, sender.progress_at):
                return False  # Prefect took nothing since a record gave up: do not wait again
            troubled = troubled or bool(self.last_error or sender.last_error)
            limit = stall_timeout if troubled else total_timeout
            if now - progress > stall_timeout or now - start > limit:
                return False
            # whichever is not done yet (waiting on a set event would spin, taking the GIL
            # from the very threads being waited for)
            (self._idle if marker.done.is_set() else marker.done).wait(0.1)

    def _finish_at_exit(self, server: Any, total_timeout: float) -> None:
        """At exit: wait for the temporary server to start and take the record, then spool the rest."""
        sender = EventSender.shared()
        try:
            if not (self._idle.is_set() and sender.flush(0)):
                remaining = server.started_at + server.start_timeout - time.monotonic()
                bound = "" if server.ready else f"at most {max(remaining, 0):.0f} s; "
                print(
                    f"genja-prefect: waiting for the temporary Prefect server to record this run "
                    f"({bound}Ctrl-C spools it for later)",
                    file=sys.stderr,
                )
                if server.wait_ready(max(remaining, 0)) and self._wait(sender, 15.0, total_timeout):
                    return
        except KeyboardInterrupt:
            pass
        warning = self._spool_rest(sender, 5.0)
        if warning:
            logger.warning("%s", warning)

    def _spool_rest(self, sender: EventSender, stall_timeout: float) -> str | None:
        """Give up waiting: what is left goes to the spool (the threads keep no copy)."""
        with self._lock:
            self._detached = True
            ops = list(self._ops)
            self._ops.clear()
        self._wake.set()
        ids = {self.flow_run_id, *self.subflow_ids}
        written = spool.append(
            self.key, [{"post": op.path, "method": op.method, "body": op.body, "resolves": op.resolves} for op in ops]
        )
        events = sender.spill(ids, self.key, timeout=min(stall_timeout, 5.0))
        # Final host states the server accepted shortly before it failed may be lost with its
        # in-memory queue (nothing confirms they were written): they go again, twice is harmless.
        accepted = spool.append(self.key, ({"event": e} for e in sender.accepted_finals(ids)))
        self.spooled_events += accepted
        self.spooled_ops += len(ops)
        self.lost_ops += len(ops) - written
        if events is None:
            self.events_in_flight = True
        else:
            self.spooled_events += events
        if self.parent is not None and not self.parent._detached:
            self.parent.spooled_ops += self.spooled_ops
            self.parent.lost_ops += self.lost_ops
            self.parent.spooled_events += self.spooled_events
            self.parent.events_in_flight |= self.events_in_flight
            self.parent.failure = self.parent.failure or self.failure
            return None
        return self._summary(sender)

    def _summary(self, sender: EventSender) -> str | None:
        from genja_prefect.prefect.temporary_server import TemporaryServer

        what = []
        ops = self.spooled_ops
        if self.final_state:
            what.append(f"the flow run's final state ({self.final_state})")
            ops -= 1
        if ops or self.lost_ops:
            lost = f" ({self.lost_ops} lost: spool full)" if self.lost_ops else ""
            what.append(f"{ops} run update(s){lost}")
        if self.spooled_events:
            what.append(f"{self.spooled_events} host task-run event(s)")
        if self.events_in_flight:
            what.append("host task-run events still being posted")
        if not what:
            return None
        reason = self.failure or sender.failure or "no answer"
        server = TemporaryServer.current()
        if server is not None and server.api_url == self.api_url and not server.ready:
            waited = time.monotonic() - server.started_at
            reason = server.error or f"the temporary Prefect server had not started after {waited:.0f} s"
        return (
            f"Prefect did not record all of this run ({reason}): {', '.join(what)} spooled to "
            f"{spool.spool_dir()}; `genja-prefect prefect sync` or the next run delivers them"
        )


_GAVE_UP_AT = 0.0  # when a record of this process last gave up waiting for Prefect


def _client() -> Any:
    # Plain HTTP (no Prefect import); raises without an API URL, where Prefect's own client
    # would start its blocking temporary server.
    return api.client(timeout=10.0)
