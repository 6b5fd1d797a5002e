"""A throwaway PostgreSQL cluster on 127.0.0.1 for a PostgreSQL-backed ``prefect server start``.

Uses Debian's ``postgresql`` package (``.ci/run`` installs it when missing): ``initdb`` makes
a cluster in a new temporary directory, ``pg_ctl`` starts it on a free loopback port (its
Unix socket in that directory too, nothing in /var/run), ``createdb`` makes the database, and
the cluster is stopped and its directory removed on exit, also when the body raises.

PostgreSQL refuses to run as root, and CI runs as root: then every PostgreSQL command runs as
the unprivileged ``postgres`` account the Debian package creates (``runuser -u postgres --``)
and the directory is handed to it. As any other user the commands run as that user.

Authentication is ``trust`` on loopback only: the cluster lives as long as one test or
benchmark, and a password would only end up in the server's connection URL and its logs.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The unprivileged account PostgreSQL runs as when the caller is root (Debian's package makes it).
SERVICE_ACCOUNT = "postgres"
USER = "genja"
INSTALL_HINT = "PostgreSQL is not installed: `apt-get install -y postgresql` (Debian; .ci/run does it)"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries (or, as root, the ``postgres`` account) are missing."""


def postgres_bin_dir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: on PATH, or Debian's /usr/lib/postgresql/<newest>/bin."""
    found = shutil.which("pg_ctl")
    if found and Path(found).with_name("initdb").exists():
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        raise PostgresUnavailable(INSTALL_HINT)
    return Path(candidates[-1]).parent


@dataclass
class PostgresCluster:
    """A running cluster: connect to ``database`` on 127.0.0.1:``port`` as ``user``."""

    directory: Path
    port: int
    database: str
    user: str = USER

    @property
    def prefect_url(self) -> str:
        """``PREFECT_API_DATABASE_CONNECTION_URL`` for this database (asyncpg comes with Prefect)."""
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def pid(self) -> int:
        """The postmaster's pid (its backends are its children)."""
        return int((self.directory / "data" / "postmaster.pid").read_text().split()[0])


def _as_service_account(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", SERVICE_ACCOUNT, "--", *args]


def _run(args: list[str], what: str, timeout: float) -> None:
    done = subprocess.run(_as_service_account(args), capture_output=True, text=True, timeout=timeout,
                          check=False, cwd="/")
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}".strip())


def _stop(bin_dir: Path, data: Path, timeout: float) -> None:
    """``pg_ctl stop -m fast``; SIGKILL of the postmaster (from postmaster.pid) if that fails."""
    if not (data / "postmaster.pid").exists():
        return
    try:
        _run([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w", "-t", str(int(timeout))],
             "pg_ctl stop", timeout + 10)
        return
    except (RuntimeError, subprocess.TimeoutExpired):
        pass
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


@contextmanager
def postgres_cluster(port: int, database: str = "prefect", durable: bool = False,
                     start_timeout: float = 180.0) -> Iterator[PostgresCluster]:
    """Start a fresh PostgreSQL cluster on 127.0.0.1:``port`` (a free one: the caller's
    ``free_port()``) with database ``database``; stop and remove it on exit.

    ``durable=False`` (tests) turns off fsync and synchronous commit: a test's cluster is
    thrown away, and on a loaded machine the flushes are what make it slow. Benchmarks pass
    ``durable=True`` to measure PostgreSQL as a production server runs it (its defaults).
    """
    bin_dir = postgres_bin_dir()
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVICE_ACCOUNT)
        except KeyError as exc:
            raise PostgresUnavailable(f"running as root and there is no '{SERVICE_ACCOUNT}' account to run "
                                      f"PostgreSQL as: {INSTALL_HINT}") from exc
    # Not pytest's tmp_path: its parents are root's and closed to the postgres account.
    directory = Path(tempfile.mkdtemp(prefix="genja-pg-"))
    data = directory / "data"
    try:
        if os.geteuid() == 0:
            os.chown(directory, account.pw_uid, account.pw_gid)
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], "initdb", start_timeout)
        options = [f"-p {port}", "-h 127.0.0.1", f"-k {directory}", "-c max_connections=200"]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        cluster = PostgresCluster(directory=directory, port=port, database=database)
        try:
            _run([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-l", str(cluster.log), "-w",
                  "-t", str(int(start_timeout)), "-o", " ".join(options)], "pg_ctl start", start_timeout + 30)
            _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, database],
                 "createdb", start_timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            log = cluster.log.read_text(errors="replace")[-3000:] if cluster.log.exists() else ""
            raise RuntimeError(f"{exc}\n{log}") from exc
        yield cluster
    finally:
        _stop(bin_dir, data, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)
