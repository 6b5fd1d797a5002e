"""EventSender: batching, coalescing of a run's unsent events, flush, failure handling.

The sender's HTTP side is a recording stand-in here (what reaches a real server is covered by
tests/test_prefect_runs.py and tests/test_prefect_engine.py); these tests pin down what is
posted, in which order and how often.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import orjson
import pytest

from genja_prefect.prefect.events import EventSender
from genja_prefect.prefect.server import FAST_INGEST_SERVER_ENV, tune_ephemeral_server
from genja_prefect.prefect.task_runs import HostRunRecorder
from tests import server_template


class _Response:
    status_code = 200
    content = b""
    text = ""

    def raise_for_status(self) -> None:
        return None

    def json(self) -> Any:
        return 0


class _Client:
    """Records every POST /events body; ``gate`` lets a test hold the sender inside a post."""

    def __init__(self, fail: bool | int = False) -> None:
        self.posts: list[list[dict[str, Any]]] = []
        self.fail = fail  # True: always; a number: that many posts fail first
        self.attempts = 0
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def request(self, method: str, path: str, content: bytes = b"", **_: Any) -> _Response:
        assert (method, path) == ("POST", "/events")
        self.entered.set()
        self.gate.wait(30)
        self.attempts += 1
        if self.fail is True or self.attempts <= self.fail:
            raise httpx.ConnectError("API down")
        self.posts.append(orjson.loads(content))
        return _Response()


class _Sender(EventSender):
    def __init__(self, client: _Client, **kwargs: Any) -> None:
        self.fake = client
        super().__init__(**kwargs)

    def _client(self) -> Any:
        return self.fake


def _event(n: int, run: str, state: str) -> dict[str, Any]:
    return {"id": f"e{n}", "event": f"prefect.task-run.{state}", "follows": f"e{n - 1}", "resource": {"run": run}}


def test_a_runs_unsent_running_event_is_replaced_by_its_final_event() -> None:
    client = _Client()
    client.gate.clear()
    sender = _Sender(client, interval=0.01)
    # Hold the sender inside its first post, so the next events wait unsent.
    sender.put(_event(0, "r0", "Completed"), "f", 1)
    assert client.entered.wait(10)
    sender.put(_event(1, "r1", "Running"), "f", 0, coalesce_key="r1")
    sender.put(_event(2, "r2", "Running"), "f", 0, coalesce_key="r2")
    sender.put(_event(3, "r1", "Completed"), "f", 2, coalesce_key="r1")
    sender.put(_event(4, "r3", "Running"), "f", 0)  # no key: never replaced
    sender.put(_event(5, "r3", "Completed"), "f", 2)
    client.gate.set()
    assert sender.flush(10)

    posted = [event for post in client.posts for event in post]
    assert [(e["resource"]["run"], e["event"]) for e in posted] == [
        ("r0", "prefect.task-run.Completed"),
        # r1's final event took the place of its Running event, which was never sent
        ("r1", "prefect.task-run.Completed"),
        ("r2", "prefect.task-run.Running"),
        ("r3", "prefect.task-run.Running"),
        ("r3", "prefect.task-run.Completed"),
    ]
    r1_final = posted[1]
    assert r1_final["follows"] is None  # it follows no event the server will ever see
    assert posted[3]["follows"] == "e3"
    assert sender.coalesced == 1
    assert sender.sent == 5 and sender.dropped == 0
    # the run's event count used for flow control counts what was posted
    assert sender._final_run_events == 1 + 1 + 2


def test_a_running_event_already_sent_is_not_replaced() -> None:
    client = _Client()
    sender = _Sender(client, interval=0.0)
    sender.put(_event(1, "r1", "Running"), "f", 0, coalesce_key="r1")
    assert sender.flush(10)
    sender.put(_event(2, "r1", "Completed"), "f", 2, coalesce_key="r1")
    assert sender.flush(10)
    posted = [event["event"] for post in client.posts for event in post]
    assert posted == ["prefect.task-run.Running", "prefect.task-run.Completed"]
    assert sender.coalesced == 0


def test_batches_are_at_most_batch_size_and_flush_waits_for_all() -> None:
    client = _Client()
    client.gate.clear()
    sender = _Sender(client, batch_size=3, interval=0.01)
    sender.put(_event(0, "x", "Running"), "f", 0)
    assert client.entered.wait(10)
    for n in range(1, 8):
        sender.put(_event(n, f"r{n}", "Completed"), "f", 1, coalesce_key=f"r{n}")
    client.gate.set()
    assert sender.flush(10)
    assert [len(post) for post in client.posts] == [1, 3, 3, 1]
    assert [e["id"] for post in client.posts for e in post] == [f"e{n}" for n in range(8)]


def test_a_failing_api_is_retried_and_every_event_delivered_once_in_order() -> None:
    client = _Client(fail=2)
    sender = _Sender(client, interval=0.0)
    sender.put(_event(1, "r1", "Running"), "f", 0, coalesce_key="r1")
    sender.put(_event(2, "r2", "Completed"), "f", 1, coalesce_key="r2")
    assert sender.flush(30)
    assert client.attempts >= 3
    assert [e["id"] for post in client.posts for e in post] == ["e1", "e2"]
    assert sender.dropped == 0 and sender.sent == 2
    assert sender._thread.is_alive()


def test_events_the_api_never_takes_are_spilled_to_the_spool(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genja_prefect.prefect import spool

    monkeypatch.setattr(spool, "spool_dir", lambda: tmp_path)
    client = _Client(fail=True)
    sender = _Sender(client, interval=0.0)
    sender.put(_event(1, "r1", "Running"), "f", 0, coalesce_key="r1")
    sender.put(_event(2, "r1", "Completed"), "f", 2, coalesce_key="r1")  # replaces the unsent Running
    sender.put(_event(3, "r9", "Completed"), "other-run", 1)
    assert not sender.flush(1.0)  # retried, not dropped
    assert sender.spill({"f"}, "run-1", timeout=30) == 1
    lines = [orjson.loads(line) for line in (tmp_path / "run-1.jsonl").read_bytes().splitlines()]
    assert [line["event"]["id"] for line in lines if "event" in line] == ["e2"]
    assert sender.spill(None, "run-2", timeout=30) == 1  # the other run's event
    assert sender.flush(10)  # nothing left to wait for
    assert sender.sent == 0 and sender.dropped == 0


def test_recorder_events_name_tags_as_related_resources_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[dict[str, Any]] = []

    class Capture:
        dropped = 0

        def put(self, event: dict[str, Any], *_: Any) -> None:
            posted.append(event)

    monkeypatch.setattr(EventSender, "shared", classmethod(lambda cls: Capture()))
    flow_run = "0194a4f0-0000-7000-8000-000000000000"
    for tag_resources in (True, False):
        recorder = HostRunRecorder(flow_run, flow_run_name="run", record_pending=False, tag_resources=tag_resources)
        run = recorder.start("show@r1", task_key="genja.show", tags=["host:r1", "group:core"])
        recorder.finish(run, ok=True)
    with_tags, without = posted[1], posted[3]
    assert [r["prefect.resource.role"] for r in with_tags["related"]] == ["tag", "tag", "flow-run"]
    assert [r["prefect.resource.role"] for r in without["related"]] == ["flow-run"]
    # the task run itself carries its tags either way (UI rows, filters)
    assert with_tags["payload"]["task_run"]["tags"] == without["payload"]["task_run"]["tags"] == ["host:r1", "group:core"]


def test_tune_ephemeral_server_sets_batched_writes_without_overriding(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    for name in FAST_INGEST_SERVER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE", "42")
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:1/api"}):
        assert tune_ephemeral_server() is False
        assert "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE" not in os.environ
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert tune_ephemeral_server() is True
    assert os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "500"
    assert os.environ["PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE"] == "42"  # the user's value wins


_EPHEMERAL_JOB = """
import genja_prefect as genja_lib
from genja_prefect.task import TaskSuccessResult, task

@task(name="noop")
class Noop:
    def start(self, task, host, context):
        return TaskSuccessResult(summary=host.id)

hosts = {f"h{i:04d}": {"platform": "ios"} for i in range(3000)}
genja = genja_lib.Genja.from_hosts(hosts, settings={"prefect": {"host_runs": "per_host"}})
assert len(genja.run_task(Noop).passed_hosts) == 3000
print("ran")
"""


def test_a_process_on_the_temporary_server_exits_only_after_its_task_runs_are_written(tmp_path: Any) -> None:
    """No PREFECT_API_URL: Prefect runs a temporary server that stops with the process. The
    process's last task runs are written before it goes (read back from its SQLite file)."""
    import sqlite3
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    # The home has the session's migrated database (tests/server_template.py): this test is
    # about the process's exit, not the server's first start.
    server_template.seed_home(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _EPHEMERAL_JOB], env=env, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0 and "ran" in done.stdout, done.stderr[-3000:]
    with sqlite3.connect(tmp_path / "prefect.db") as db:
        rows = db.execute(
            "select count(*) from task_run where name like 'noop@h%' and state_type = 'COMPLETED'"
        ).fetchone()
    assert rows == (3000,), done.stderr[-3000:]
    assert "lost" not in done.stderr, done.stderr[-3000:]


class _Counts:
    """Answers the sender's progress questions: task-run counts, and which of the asked-for
    event ids are stored (``stored``: how many of the posted events, oldest first)."""

    def __init__(self, runs: int, finals: int, stored: int) -> None:
        self.runs, self.finals, self.stored = runs, finals, stored
        self.asked: list[list[str]] = []

    def request(self, method: str, path: str, json: dict[str, Any]) -> Any:
        response = _Response()
        if path == "/events/filter":
            ids = json["filter"]["id"]["id"]
            assert "related" not in json["filter"] and len(ids) <= json["limit"] <= 50
            self.asked.append(ids)
            found = [{"id": i} for i in ids if int(i[1:]) <= self.stored]
            response.json = lambda: {"events": found, "total": len(found)}  # type: ignore[method-assign]
        else:
            value = self.finals if "task_runs" in json else self.runs
            response.json = lambda: value  # type: ignore[method-assign]
        return response


def _posted(sender: EventSender, count: int) -> None:
    """Post ``count`` more events, e<sent+1> on, in that order (one per run)."""
    for n in range(sender.sent + 1, sender.sent + count + 1):
        sender.put(_event(n, f"h{n}", "Completed"), "f", 1)
    assert sender.flush(30)


def test_progress_estimate_reaches_the_posted_count_exactly() -> None:
    """3,000 finished runs with 3,009 events between them: once all are final and stored, the
    estimate is exactly 3,009 (a float ratio gave 3008.999... and an exit wait that never ended)."""
    sender = _Sender(_Client(), window=100_000)
    sender._flow_runs = {"f": None}
    _posted(sender, 3009)
    sender._final_runs, sender._final_run_events = 3000, 3009
    assert sender._progress(_Counts(runs=3000, finals=3000, stored=3009)) == (3009.0, 3009.0)
    sender = _Sender(_Client(), window=100_000)
    sender._flow_runs = {"f": None}
    _posted(sender, 3009)
    sender._final_runs, sender._final_run_events = 3000, 3009
    recorded, stored = sender._progress(_Counts(runs=3000, finals=1500, stored=10))
    assert 1500 <= recorded < 3009 and stored <= 10


def test_stored_events_are_read_from_a_few_ids_and_never_counted_twice() -> None:
    """The persister's progress is read by looking up at most 32 posted ids (no join over a
    run's events: quadratic on PostgreSQL); the newest found stored counts everything before it,
    and ids seen stored are not asked for again."""
    sender = _Sender(_Client(), window=100_000)
    sender._flow_runs = {"f": None}
    _posted(sender, 8000)
    counts = _Counts(runs=8000, finals=0, stored=0)
    assert sender._progress(counts)[1] == 0.0
    assert len(counts.asked[-1]) == 32 and counts.asked[-1][0] == "e1" and counts.asked[-1][-1] == "e8000"
    counts.stored = 5000
    stored = sender._progress(counts)[1]
    assert 5000 - 8000 / 31 <= stored <= 5000  # the newest probe at or below the stored count
    assert int(counts.asked[-1][0][1:]) == 1  # nothing was confirmed before this look
    _posted(sender, 100)  # more posted meanwhile
    counts.stored = 8100
    assert sender._progress(counts)[1] == 8100.0
    assert all(int(i[1:]) > stored for i in counts.asked[-1])  # stored ones are not asked again
    asked = len(counts.asked)
    assert sender._progress(counts)[1] == 8100.0 and len(counts.asked) == asked  # all confirmed: no question


def test_final_states_the_server_accepted_before_failing_are_spooled_again(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server took a host's final event (POST /events answered 200) and then died with it in
    # its in-memory queue; the run's own update cannot be delivered. The record gives up and
    # spools its update -- and that accepted final event, which nothing confirmed was written.
    from genja_prefect.prefect import record as record_module
    from genja_prefect.prefect import spool

    monkeypatch.setattr(spool, "spool_dir", lambda: tmp_path)
    sender = _Sender(_Client(), interval=0.0)
    monkeypatch.setattr(EventSender, "shared", classmethod(lambda cls: sender))

    def down() -> Any:
        raise httpx.ConnectError("API down")

    monkeypatch.setattr(record_module, "_client", down)
    run = record_module.RunRecord("flow", "", parent_flow_run_id="fr-1", parent_flow_id="f-1", spool_name="r")
    sender.put(_event(1, "h1", "Completed"), "fr-1", 1, coalesce_key="h1")
    assert sender.flush(10) and sender.sent == 1
    run.post("/flow_runs/fr-1/set_state", {"state": {"type": "COMPLETED"}})  # the API is down: never delivered
    warning = run.close(stall_timeout=0.5, total_timeout=5.0)
    assert warning is not None and "1 run update(s), 1 host task-run event(s) spooled" in warning, warning
    lines = [orjson.loads(line) for line in (tmp_path / "r.jsonl").read_bytes().splitlines()]
    assert [line["event"]["id"] for line in lines if "event" in line] == ["e1"]
    assert [line["post"] for line in lines if "post" in line] == ["/flow_runs/fr-1/set_state"]


def test_two_threads_reading_the_stored_count_at_once_trim_only_what_is_stored() -> None:
    """The sender thread's flow control and a run's end-of-run wait may ask at the same time:
    neither may drop ids the other has not seen stored (the count would then overshoot)."""
    sender = _Sender(_Client(), window=100_000)
    _posted(sender, 8000)
    counts = _Counts(runs=8000, finals=0, stored=5000)
    both_picked = threading.Barrier(2, timeout=30)

    def post(path: str, body: dict[str, Any]) -> Any:
        both_picked.wait()  # both threads have picked their probes before either trims
        return counts.request("POST", path, json=body).json()

    seen: list[float] = []
    threads = [threading.Thread(target=lambda: seen.append(sender._stored(post))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 2 and seen[0] == seen[1] and 5000 - 8000 / 31 <= seen[0] <= 5000, seen
    assert sender._unconfirmed[0][0] == seen[0] + 1  # the first id not seen stored is kept
    counts.stored = 8000
    assert sender._stored(lambda path, body: counts.request("POST", path, json=body).json()) == 8000.0
    assert not sender._unconfirmed
