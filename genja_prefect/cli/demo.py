"""``genja-prefect demo``: the quick start in one command.

Starts the loopback lab (simulated Cisco IOS, Arista EOS and Juniper devices, a NETCONF and a
RESTCONF server), writes its inventory, runs the ready-made ``collect_facts`` and
``backup_configs`` jobs as Prefect flows, prints the results and says where to look in the
Prefect UI. The lab is stopped before it returns; the Prefect server is the one ``run`` would
use (``prefect.server``): at a terminal the lasting ``genja-prefect server``, so the runs can
be looked at in the UI afterwards, elsewhere a temporary one that stops with the demo.
"""

from __future__ import annotations

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
    # The temporary server stopped with the demo. (At a terminal the demo uses the lasting one.)
    return (
        "Prefect ran its temporary server, which stopped with the demo. To watch runs in the UI: "
        "`genja-prefect server start`, then run the demo again and open http://127.0.0.1:4200"
    )


def run_demo(directory: Path, workers: int = 10) -> int:
    """Run the demo; returns the CLI exit code (0 when no host failed)."""
    try:
        from genja_prefect.lab import Lab
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise GenjaError(f"the demo needs the lab extra: pip install 'genja-prefect[lab]' ({exc})") from None
    from genja_prefect.cli.jobs import find_job, run_job
    from genja_prefect.cli.progress import print_summary
    from genja_prefect.cli.results_view import print_results
    from genja_prefect.prefect.naming import run_name
    from genja_prefect.prefect.server import tune_ephemeral_server
    from genja_prefect.selection import describe

    collect_facts, backup_configs = find_job("collect_facts"), find_job("backup_configs")
    # The ready-made flows are Prefect flows: the temporary server starts with the first one,
    # before the engine could tune it.
    tune_ephemeral_server()  # fast ingest, no telemetry (see its docstring)
    console = Console()
    directory = directory.resolve()
    console.print(f"[bold]Starting the device lab[/bold] in {directory} ...")
    with Lab(ios=2, eos=1, junos=1, sim=6, sim_eos=2, netconf=1, http=1, directory=directory, worker_count=workers) as lab:
        settings = str(directory / "settings.yaml")
        console.print(f"{len(lab.hosts)} devices on 127.0.0.1; inventory: {settings}")
        ssh_only = {"groups__contains": "lab_ssh"}
        console.print("[bold]Collecting facts[/bold] ...")
        facts = run_job(collect_facts, {"settings": settings, "filter": ssh_only}, prefect=True).trees
        console.print("[bold]Backing up configs[/bold] ...")
        # fakenos's Junos model has no configuration command, so only IOS and EOS are backed up.
        backup_hosts = {"groups__contains": "lab_ssh", "platform__ne": "junos"}
        backups = run_job(backup_configs, {"settings": settings, "filter": backup_hosts,
                                           "backup_dir": str(directory / "backups")}, prefect=True).trees
    trees = [*facts, *backups]
    names = [
        run_name("collect_facts", [describe(ssh_only)], len(facts[0]["hosts"])),
        run_name("backup_configs", [describe(backup_hosts)], len(backups[0]["hosts"])),
    ]
    print_summary(trees, console)
    print_results(trees, show="failed", console=console)
    console.print(_ui_hint(names))
    failed = any(r["status"] == "failed" for t in trees for r in t["hosts"].values())
    return 1 if failed else 0
