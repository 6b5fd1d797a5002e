"""A migrated Prefect SQLite database, made once per test session and copied into the home of
each test server that would otherwise start on an empty one.

A Prefect server on an empty SQLite database first runs every Alembic migration: ~10 s of CPU
of its ~17 s start on a 2-core machine, and the suite starts ~20 such servers (each test's
``prefect server start``, each xdist worker's temporary API). A copy of a database already at
the migration head skips exactly that step; the server still checks the head, registers its
block types and starts its services as on any later start of a user's server.

Tests whose point is a server's first start on an empty home (the newcomer's experience, a
start that times out) do not use this.

The database is made by ``prefect server database upgrade -y`` (Prefect's own command) in a
directory the pytest controller makes at configure time (:func:`configure`) and removes at
the end. The controller starts making it in the background at once; whoever holds the file
lock first (that background process or a worker that needs the database already) makes it,
the others wait for it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

#: The session's template directory; set by the controller, inherited by the xdist workers.
ENV = "GENJA_TESTS_PREFECT_DB_TEMPLATE_DIR"
#: Prefect's default SQLite file name under PREFECT_HOME.
DB_NAME = "prefect.db"


def configure() -> subprocess.Popen[bytes] | None:
    """In the pytest controller: make the session's template directory and start making the
    database in the background (while the xdist workers start and collect), so the first test
    that needs it waits for less. None when there is a directory already (an xdist worker:
    the controller made it)."""
    if os.environ.get(ENV) and Path(os.environ[ENV]).is_dir():
        return None
    directory = Path(tempfile.mkdtemp(prefix="genja-prefect-db-template-"))
    os.environ[ENV] = str(directory)
    # This file as a script: it takes the lock like any worker (whoever is first makes it).
    # A session of its own: cleanup() stops it and its `prefect` child together.
    return subprocess.Popen([sys.executable, __file__], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def template() -> Path:
    """The migrated database file, made on first use (by whichever process comes first)."""
    if not os.environ.get(ENV):  # a process that did not come through the tests' conftest
        os.environ[ENV] = tempfile.mkdtemp(prefix="genja-prefect-db-template-")
    directory = Path(os.environ[ENV])
    database = directory / "home" / DB_NAME
    with (directory / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (directory / "done").exists():
            home = directory / "home"
            shutil.rmtree(home, ignore_errors=True)  # a half-made one from a failed attempt
            home.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GENJA_PREFECT_"))}
            env.update(PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING")
            done = subprocess.run(
                [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
                env=env, capture_output=True, text=True, timeout=600, check=False, cwd=directory,
            )
            if done.returncode != 0 or not database.is_file():
                raise RuntimeError(f"`prefect server database upgrade` failed ({done.returncode}):\n"
                                   f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            (directory / "done").touch()
    return database


def seed(path: Path) -> Path:
    """Copy the migrated database to ``path`` (a server's database file) unless one is there.

    Made under another name and hard-linked into place, which fails if the file exists: a
    server that created its own database meanwhile keeps it, and nobody sees half a copy."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        shutil.copyfile(template(), partial)
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return path


def seed_home(home: Path) -> Path:
    """Give PREFECT_HOME ``home`` the migrated database as its default SQLite file."""
    return seed(home / DB_NAME)


def seed_home_in_background(home: Path) -> threading.Thread:
    """:func:`seed_home` in a daemon thread: nothing waits for the database, and whatever
    starts a server in ``home`` before it is there makes its own (see :func:`seed`)."""

    def run() -> None:
        try:
            seed_home(home)
        except Exception as exc:  # the servers in ``home`` then migrate their own database
            print(f"tests/server_template.py: {home} not seeded: {exc}", file=sys.stderr)

    thread = threading.Thread(target=run, name="seed-prefect-home", daemon=True)
    thread.start()
    return thread


def cleanup(builder: subprocess.Popen[bytes] | None) -> None:
    """Stop the background maker if it still runs and remove the template directory
    (controller only: ``builder`` is what :func:`configure` returned)."""
    if builder is None:
        return
    if builder.poll() is None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(builder.pid, sig)
            except ProcessLookupError:
                break
            try:
                builder.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
    shutil.rmtree(os.environ[ENV], ignore_errors=True)


if __name__ == "__main__":
    template()
