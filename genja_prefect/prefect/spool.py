"""What Prefect could not take yet: provisional ids, and the on-disk spool replayed later.

A run's record (its flow run, subflows, host task runs) is built before the Prefect server has
answered, or while it is down. Objects whose id the server assigns (flows, flow runs) get a
provisional id (:class:`Aliases`) that the events and API calls carry until the server's id is
known; everything is rewritten just before it is posted. Task runs and events carry their own
client-made ids, so posting them twice is harmless: the server upserts task runs by id, ignores a
state it already has (same event id), and returns the existing flow run for a flow run created
again with the same idempotency key (the provisional id).

What could not be delivered when a run ends is written to the spool, one JSON-lines file per
run under ``$PREFECT_HOME/genja-spool/`` (no secret: only what would have been posted -- names,
tags, states, messages, artifact rows). :func:`replay_spool` posts it when a server answers: at
the start of the next run, or from ``genja-prefect prefect sync``.

Example::

    from genja_prefect.prefect.spool import replay_spool

    delivered, left = replay_spool()   # files fully delivered, files still waiting
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from genja_prefect.processes import pid_alive

__all__ = ["ALIASES", "Aliases", "SPOOL_LIMIT_BYTES", "append", "replay_spool", "spool_dir", "spooled_files"]

logger = logging.getLogger(__name__)

#: The spool never grows beyond this (all files together); what does not fit is dropped with a warning.
SPOOL_LIMIT_BYTES = 256 * 1024 * 1024
_WRITE_LOCK = threading.Lock()


class Aliases:
    """Provisional ids of objects the server has not created yet, and their server ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: dict[str, str] = {}
        self._pending: set[str] = set()

    def new(self) -> str:
        """A provisional id (a random UUID, so it never collides with anything in a payload)."""
        local = str(uuid.uuid4())
        with self._lock:
            self._pending.add(local)
        return local

    def resolve(self, local: str, server: str) -> None:
        """The server created ``local`` as ``server``."""
        with self._lock:
            self._server[local] = server
            self._pending.discard(local)

    def is_pending(self, ident: str) -> bool:
        """Whether ``ident`` is a provisional id the server has not created yet."""
        return ident in self._pending

    def waits_for(self, text: str, own: str | None = None) -> bool:
        """Whether ``text`` refers to a provisional id (other than ``own``) not created yet."""
        with self._lock:
            return any(local in text for local in self._pending if local != own)

    def get(self, ident: str) -> str:
        """The server id of ``ident`` (``ident`` itself if it is not provisional or not created yet)."""
        return self._server.get(ident, ident)

    def known(self) -> dict[str, str]:
        """Every provisional id the server has created, and its server id."""
        with self._lock:
            return dict(self._server)

    def apply(self, text: str, mapping: dict[str, str] | None = None) -> str:
        """``text`` (JSON, a URL path) with every created provisional id replaced by its server id."""
        for local, server in (mapping if mapping is not None else self._server).items():
            if local in text:
                text = text.replace(local, server)
        return text


#: The process's provisional ids (shared by the run records and the event sender).
ALIASES = Aliases()


class Unavailable(Exception):
    """The API did not take a call but may later: unreachable, timeout, 5xx, 408, 429."""


def post(client: Any, path: str, text: str, method: str = "POST") -> tuple[int, Any]:
    """POST (or ``method``) JSON ``text`` through a Prefect client: (status, decoded answer or ``None``).

    A 4xx answer is returned (refused for good: sending again cannot help); anything that may
    succeed later raises :class:`Unavailable`. Prefect's client raises on every error status
    itself; both ways end here. Sent through the client's own httpx transport (base URL,
    headers, auth), bypassing Prefect's retries: their backoff (seconds, growing) would hold
    a host event or a run update far longer than the caller's own retry.
    """
    import httpx

    headers = {"content-type": "application/json"}
    try:
        http = getattr(client, "_client", None)
        if isinstance(http, httpx.Client):
            response = httpx.Client.send(http, http.build_request(method, path, content=text, headers=headers))
        else:
            response = client.request(method, path, content=text, headers=headers)
    except httpx.HTTPStatusError as exc:
        response = exc.response
    except httpx.HTTPError as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if status >= 500 or status in (408, 429):
        raise Unavailable(f"HTTP {status} from {path}")
    if status >= 400:
        return status, response.text[:300]
    return status, (response.json() if response.content else None)


def spool_dir() -> Path:
    """``$PREFECT_HOME/genja-spool``: where undelivered run records wait."""
    from genja_prefect.prefect.api import prefect_home

    return prefect_home() / "genja-spool"


def spooled_files() -> list[Path]:
    """Spool files waiting for delivery, oldest first."""
    folder = spool_dir()
    if not folder.is_dir():
        return []
    for claimed in folder.glob("*.replaying"):
        # claimed by a process that ended mid-replay (e.g. a run's background replay at exit)
        stem, _, pid = claimed.name[: -len(".replaying")].rpartition(".")
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            try:
                claimed.rename(folder / f"{stem}.jsonl")
            except OSError:
                pass
    return sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)


def append(name: str, entries: Iterable[dict[str, Any]]) -> int:
    """Append ``entries`` to the spool file ``name`` (one run's), with the known server ids.

    Returns how many entries were written (0 if the spool is full or cannot be written).
    """
    lines = [orjson.dumps(e) for e in entries]
    if not lines:
        return 0
    folder = spool_dir()
    data = orjson.dumps({"aliases": ALIASES.known()}) + b"\n" + b"\n".join(lines) + b"\n"
    with _WRITE_LOCK:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            used = sum(p.stat().st_size for p in folder.glob("*.jsonl"))
            if used + len(data) > SPOOL_LIMIT_BYTES:
                logger.warning(
                    "the Prefect spool %s is full (%d MB): %d record entries are dropped", folder, used >> 20, len(lines)
                )
                return 0
            fd = os.open(folder / f"{name}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            logger.warning("cannot write the Prefect spool %s: %s; %d record entries are lost", folder, exc, len(lines))
            return 0
    return len(lines)


def note_aliases(name: str) -> None:
    """Add the known server ids to spool file ``name`` if it exists (what it refers to may
    have been created after it was written)."""
    path = spool_dir() / f"{name}.jsonl"
    if path.exists():
        with _WRITE_LOCK:
            try:
                with path.open("ab") as fh:
                    fh.write(orjson.dumps({"aliases": ALIASES.known()}) + b"\n")
            except OSError as exc:
                logger.warning("cannot write the Prefect spool %s: %s", path, exc)


def _ordered(posts: list[dict[str, Any]], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """``posts`` in file order, except that a call referring to an id another call of the file
    creates comes after that call (a nested run's calls are written before its parent's)."""
    created = {e["resolves"] for e in posts if e.get("resolves")}
    known = set(mapping)
    out: list[dict[str, Any]] = []
    waiting = list(posts)
    while waiting:
        for index, entry in enumerate(waiting):
            text = orjson.dumps(entry).decode()
            own = entry.get("resolves")
            if not any(alias in text and alias != own for alias in created - known):
                out.append(waiting.pop(index))
                if own:
                    known.add(own)
                break
        else:
            out.extend(waiting)  # a cycle cannot happen; keep what is left in file order
            break
    return out


def _replay_file(client: Any, path: Path) -> bool:
    """Post one spool file: API calls first (they create what events refer to), then events."""
    mapping: dict[str, str] = {}
    posts: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        entry = orjson.loads(raw)
        if "aliases" in entry:
            mapping.update(entry["aliases"])
        elif "post" in entry:
            posts.append(entry)
        elif "event" in entry:
            events.append(entry["event"])
    done = 0
    try:
        for entry in _ordered(posts, mapping):
            text = ALIASES.apply(orjson.dumps(entry["body"]).decode(), mapping)
            status, answer = post(client, ALIASES.apply(entry["post"], mapping), text, entry.get("method", "POST"))
            if status >= 400:
                # Refused for good (e.g. its parent was deleted): replaying cannot help.
                logger.warning("Prefect refused a spooled %s (%s): skipped: %s", entry["post"], status, answer)
            elif entry.get("resolves"):
                mapping[entry["resolves"]] = answer["id"]
                ALIASES.resolve(entry["resolves"], answer["id"])
            done += 1
        for start in range(0, len(events), 500):
            text = ALIASES.apply(orjson.dumps(events[start : start + 500]).decode(), mapping)
            status, answer = post(client, "/events", text)
            if status >= 400:
                logger.warning("Prefect refused %d spooled task-run events (%s): %s", len(events[start : start + 500]), status, answer)
            done += 1
    except Unavailable as exc:  # the server is still away: keep the file for next time
        logger.debug("spool %s not delivered yet: %s", path.name, exc)
        return False
    path.unlink(missing_ok=True)
    return True


def replay_spool(timeout: float = 30.0) -> tuple[int, int]:
    """Deliver spooled run records to the current Prefect API. Returns (delivered, still waiting) files.

    Call it with an API URL configured (or after
    :func:`genja_prefect.prefect.temporary_server.deliver_spool`'s server start): without one,
    Prefect's client would start its own blocking temporary server.

    Idempotent: a file delivered halfway is posted again from its start next time, which the
    server absorbs (see the module docstring). Files are claimed by renaming, so two processes
    never replay the same file at once.
    """
    files = spooled_files()
    if not files:
        return 0, 0
    from genja_prefect.prefect.api import client as api_client

    delivered = waiting = 0
    deadline = time.monotonic() + timeout
    with api_client(timeout=10.0) as client:
        while files:
            left = []
            for path in files:
                claimed = path.with_suffix(f".{os.getpid()}.replaying")
                try:
                    path.rename(claimed)
                except OSError:
                    continue  # another process has it
                if _replay_file(client, claimed):
                    delivered += 1
                else:
                    claimed.rename(path)
                    left.append(path)
            files = left
            # a server that just (re)started answers 503 for a while: try again until the deadline
            if files and time.monotonic() + 1.0 < deadline:
                time.sleep(1.0)
            else:
                break
        waiting = len(files)
    if delivered:
        logger.info("delivered %d spooled Prefect run record(s) from %s", delivered, spool_dir())
    return delivered, waiting


_REPLAY_STARTED = threading.Event()


def replay_in_background(server: Any = None) -> None:
    """Once per process: when the API answers, deliver the spool of earlier runs (a thread)."""
    if _REPLAY_STARTED.is_set() or not spooled_files():
        return
    _REPLAY_STARTED.set()

    def run() -> None:
        if server is not None and not server.wait_ready(None):
            return
        try:
            replay_spool()
        except Exception as exc:  # noqa: BLE001 - best effort; `genja-prefect prefect sync` retries
            logger.info("spooled Prefect records not delivered yet: %s", exc)

    context = contextvars.copy_context()  # the caller's Prefect settings (API URL)
    threading.Thread(target=context.run, args=(run,), name="genja-prefect-replay", daemon=True).start()
