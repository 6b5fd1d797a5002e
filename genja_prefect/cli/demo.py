"""``genja-prefect demo``: the quick start in one command.

Starts the loopback lab (simulated Cisco IOS, Arista EOS and Juniper devices, a NETCONF and a
RESTCONF server), writes its inventory, runs the ready-made ``collect_facts`` and
``backup_configs`` jobs as Prefect flows, prints the results and says where to look in the
Prefect UI. Everything it started is stopped before it returns.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from rich.console import Console

from genja_prefect.errors import GenjaError


def _ui_hint(run_names: list[str]) -> str:
    from genja_prefect.prefect.temporary_server import TemporaryServer

    api = os.environ.get("PREFECT_API_URL")
    server = TemporaryServer.current()
    if api and not (server is not None and server.api_url == api):  # not the process's own, gone at exit
        ui = api[: -len("/api")] if api.endswith("/api") else api
        names = " and ".join(f"'{n}'" for n in run_names)
        return f"See the flow runs {names}, with a task run per device, in the Prefect UI: {ui}/runs"
    return (
        "Prefect ran in ephemeral mode (no server). To watch runs in the UI: "
        "`prefect server start` in another terminal, then "
        "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` and run the demo again."
    )


def run_demo(directory: Path, workers: int = 10) -> int:
    """Run the demo; returns the CLI exit code (0 when no host failed)."""
    try:
        from genja_prefect.lab import Lab
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise GenjaError(f"the demo needs the lab extra: pip install 'genja-prefect[lab]' ({exc})") from None
    try:
        from genja_prefect_flows import backup_configs, collect_facts
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise GenjaError(f"the ready-made flows are not installed ({exc})") from None
    from genja_prefect.cli.jobs import run_job
    from genja_prefect.cli.progress import print_summary
    from genja_prefect.prefect.naming import run_name
    from genja_prefect.prefect.server import tune_ephemeral_server
    from genja_prefect.selection import describe

    # Tuned before the first job starts the temporary server. And the demo's traffic stays on
    # 127.0.0.1: no telemetry heartbeat from that server (it also raced the server's first writes).
    # The jobs run like `genja-prefect run JOB`: recorded in the background (run_job).
    if tune_ephemeral_server():
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    console = Console()
    directory = directory.resolve()
    # The simulated devices and scrapli narrate their sessions at WARNING (fakenos: unknown
    # "terminal" commands; scrapli: enable without a password). Real failures still show in
    # the results table.
    for name, level in (("fakenos", logging.CRITICAL), ("scrapli", logging.ERROR)):
        logging.getLogger(name).setLevel(level)
    console.print(f"[bold]Starting the device lab[/bold] in {directory} ...")
    with Lab(ios=2, eos=1, junos=1, sim=6, sim_eos=2, netconf=1, http=1, directory=directory, worker_count=workers) as lab:
        settings = str(directory / "settings.yaml")
        console.print(f"{len(lab.hosts)} devices on 127.0.0.1; inventory: {settings}")
        ssh_only = {"groups__contains": "lab_ssh"}
        console.print("[bold]Collecting facts[/bold] ...")
        facts = run_job(collect_facts, settings=settings, filter=ssh_only)
        console.print("[bold]Backing up configs[/bold] ...")
        # fakenos's Junos model has no configuration command, so only IOS and EOS are backed up.
        backup_hosts = {"groups__contains": "lab_ssh", "platform__ne": "junos"}
        backups = run_job(backup_configs, settings=settings, filter=backup_hosts, backup_dir=str(directory / "backups"))
    trees = [*facts, *backups]
    names = [
        run_name("collect_facts", [describe(ssh_only)], len(facts[0]["hosts"])),
        run_name("backup_configs", [describe(backup_hosts)], len(backups[0]["hosts"])),
    ]
    print_summary(trees, console)
    console.print(f"Backups are in {directory / 'backups'}")
    console.print(_ui_hint(names))
    failed = any(r["status"] == "failed" for t in trees for r in t["hosts"].values())
    return 1 if failed else 0
