"""The background server's keeper and the ``prefect.server: auto`` choice, without a Prefect
server: the keeper runs a stand-in child process and asks a loopback HTTP stand-in for the
flow-run count (the real server: tests/cli/test_newcomer.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from genja_prefect.cli import server_keeper
from genja_prefect.cli.server import server_mode
from genja_prefect.processes import pid_alive


class _Api:
    """A loopback stand-in for ``POST /api/flow_runs/count``: answers ``running``."""

    def __init__(self) -> None:
        self.running = 1
        self.unanswered = 0  # the next questions about running flow runs it fails (a loaded server)
        self.ended = 0  # flow runs that ended within the asked window
        self.queries: list[dict[str, Any]] = []
        self.answers: list[tuple[float, int]] = []  # (when, running flow runs) per RUNNING question
        self.asked = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["flow_runs"]
                assert self.path == "/api/flow_runs/count"
                states = body["state"]["type"]["any_"]
                api.queries.append(body)
                # runs at work: running/cancelling ones started recently, pending ones due recently
                assert ("start_time" in body) == ("RUNNING" in states), body
                assert ("expected_start_time" in body) == (states == ["PENDING"]), body
                assert ("end_time" in body) == ("COMPLETED" in states), body
                answer = api.running if "RUNNING" in states else api.ended if "COMPLETED" in states else 0
                if "RUNNING" in states and api.unanswered > 0:
                    api.unanswered -= 1
                    api.answers.append((time.monotonic(), -1))
                    self.send_error(503)
                    api.asked.set()
                    return
                reply = json.dumps(answer).encode()
                if "RUNNING" in states:
                    api.answers.append((time.monotonic(), api.running))
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                api.asked.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[_Api]:
    stand_in = _Api()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def _keeper(tmp_path: Path, url: str, idle_stop_s: float) -> subprocess.Popen[str]:
    state = tmp_path / "state.json"
    command = [sys.executable, "-m", "genja_prefect.cli.server_keeper", "--url", url, "--state", str(state),
               "--stamp", str(tmp_path / "used"), "--idle-stop", str(idle_stop_s), "--",
               sys.executable, "-c", "import time; time.sleep(600)"]
    keeper = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    state.write_text(json.dumps({"pid": keeper.pid, "url": url, "log_file": "x"}))
    return keeper


def _stopped_by_itself(keeper: subprocess.Popen[str]) -> str:
    """The keeper's output once it has stopped by itself (exit 0, within a generous bound);
    killed if it has not."""
    try:
        out, _ = keeper.communicate(timeout=120)
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait(30)
    assert keeper.returncode == 0, out
    return out


def test_the_keeper_waits_while_a_flow_run_is_running_then_stops_the_idle_server(api: _Api, tmp_path: Path) -> None:
    keeper = _keeper(tmp_path, api.url, idle_stop_s=1.0)
    try:
        # idle for longer than 1 s, but a flow run is running: the keeper asks and keeps it up
        assert api.asked.wait(120), "the keeper never asked the server whether a flow run is running"
        api.asked.clear()
        assert api.asked.wait(120)  # asked again: it did not stop after the first answer
        assert keeper.poll() is None
        api.running = 0
        out = _stopped_by_itself(keeper)
    finally:
        if keeper.poll() is None:  # an assertion above failed
            keeper.kill()
            keeper.wait(30)
    assert "stopped the server" in out and "no run used it for" in out
    assert not (tmp_path / "state.json").exists()  # it named this keeper: removed
    # The run seen at work was use: the keeper stopped the server one idle time after it last
    # saw it (a lower bound, which load only lengthens), not at its next look.
    last_busy = max(when for when, running in api.answers if running)
    first_idle = min(when for when, running in api.answers if not running)
    assert first_idle - last_busy >= 0.9, api.answers


def test_a_recent_run_resets_the_idle_clock(api: _Api, tmp_path: Path) -> None:
    api.running = 0
    stamp = tmp_path / "used"
    started = time.time()
    stamp.touch()
    assert server_keeper.idle_since(stamp, started - 100) >= started - 1  # the stamp, not the start
    assert server_keeper.idle_since(tmp_path / "missing", started) == started
    assert not server_keeper.busy(api.url)
    assert {"RUNNING", "PENDING"} <= {s for q in api.queries for s in q["state"]["type"]["any_"]}  # both asked
    assert not server_keeper.busy(api.url, ended_within=60)
    ended = api.queries[-1]
    assert ended["state"]["type"]["any_"] == server_keeper.FINAL_STATES
    assert abs((datetime.now(UTC) - datetime.fromisoformat(ended["end_time"]["after_"])).total_seconds() - 60) < 30
    api.ended = 1  # a run ended a moment ago: the server was used
    assert server_keeper.busy(api.url, ended_within=60)
    assert not server_keeper.busy(api.url)  # not asked about ended runs without ended_within
    api.ended = 0
    api.running = 2
    assert server_keeper.busy(api.url)
    # a run left Running by a killed process keeps the server up for a day at most
    after = datetime.fromisoformat(api.queries[-1]["start_time"]["after_"])
    assert abs((datetime.now(UTC) - after).total_seconds() - server_keeper.STALE_AFTER_S) < 600
    assert server_keeper.busy("http://127.0.0.1:9") is None  # nobody answers: unknown, not idle


def test_a_starting_or_briefly_unanswering_server_is_not_stopped(api: _Api, tmp_path: Path) -> None:
    """A server that has not answered yet is starting, however long that takes on a loaded
    machine (`genja-prefect server start` stops it if it never comes up); one that answered
    and then does not answer once is asked again. It stops once it answers that nothing runs
    -- or once it has not answered for the whole idle time."""
    api.running = 0
    api.unanswered = 10**6
    keeper = _keeper(tmp_path, api.url, idle_stop_s=1.0)
    try:
        # asked (and unanswered) for well over the idle time: still kept
        deadline = time.monotonic() + 120
        while len(api.answers) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(api.answers) >= 6 and keeper.poll() is None, api.answers
        assert api.answers[-1][0] - api.answers[0][0] > 1.0, api.answers  # longer than the idle time
        api.unanswered = 0
        out = _stopped_by_itself(keeper)
    finally:
        if keeper.poll() is None:  # an assertion above failed
            keeper.kill()
            keeper.wait(30)
    assert "no run used it for" in out, out
    assert {running for _, running in api.answers} == {-1, 0}, api.answers

    # answered (a run at work), then silent: stopped one idle time after the first unanswered question
    api.answers.clear()
    api.running = 1
    keeper = _keeper(tmp_path, api.url, idle_stop_s=1.0)
    try:
        deadline = time.monotonic() + 120
        while not any(running == 1 for _, running in api.answers) and time.monotonic() < deadline:
            time.sleep(0.05)
        api.unanswered = 10**6
        out = _stopped_by_itself(keeper)
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait(30)
    assert "did not answer for" in out, out


def test_a_cli_run_keeps_the_idle_clock_at_zero_while_it_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The run's flow run may not exist yet (a slow start on a loaded machine): the CLI itself
    touches the stamp while it runs, so the keeper never sees a run in progress as idleness."""
    from genja_prefect.cli import server

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    stamp = tmp_path / server.USED_FILE
    with server.in_use() as none:  # no lasting server: nothing to keep
        assert none is None
    assert not stamp.exists()
    (tmp_path / server.STATE_FILE).write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9",
                                                          "log_file": "x", "idle_stop_s": 1.0}))
    with server.in_use() as state:
        assert state is not None and state.idle_stop_s == 1.0
        first = stamp.stat().st_mtime_ns
        deadline = time.monotonic() + 60
        while stamp.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stamp.stat().st_mtime_ns > first, "not touched again while the run went on"
        os.utime(stamp, (0, 0))
    assert stamp.stat().st_mtime > time.time() - 600  # touched at the end: the idle time counts from there
    assert not any(t.name == "genja-prefect-server-in-use" for t in threading.enumerate())


def test_stopping_the_keepers_group_ends_the_server_with_it(api: _Api, tmp_path: Path) -> None:
    """`genja-prefect server stop` sends SIGTERM to the keeper's process group; the keeper waits
    for its child, so once the keeper is gone the server is too. Idle stop off (0)."""
    keeper = _keeper(tmp_path, api.url, idle_stop_s=0)
    try:
        deadline = time.monotonic() + 120
        children: list[int] = []
        while not children and time.monotonic() < deadline:
            children = [int(p) for p in Path(f"/proc/{keeper.pid}/task/{keeper.pid}/children").read_text().split()]
            time.sleep(0.1)
        assert children, "the keeper did not start its child"
        os.killpg(keeper.pid, signal.SIGTERM)
        keeper.wait(timeout=120)
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait(30)
    assert not pid_alive(children[0])
    assert not (tmp_path / "state.json").exists()


def test_auto_is_a_lasting_server_at_a_terminal_and_a_temporary_one_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert server_mode("auto") == "background"
    assert server_mode("temporary") == "temporary"
    monkeypatch.setenv("CI", "true")  # CI runners may have a terminal: still nothing left running
    assert server_mode("auto") == "temporary"
    monkeypatch.setenv("CI", "false")
    assert server_mode("auto") == "background"
    with open(os.devnull) as nothing:  # cron: stdin is not a terminal
        monkeypatch.setattr(sys, "stdin", nothing)
        assert server_mode("auto") == "temporary"
    assert server_mode("background") == "background"
