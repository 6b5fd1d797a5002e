"""``genja-prefect lab up|down|status``: the loopback device lab in the background, as a table
of its devices and the next command to run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from genja_prefect.cli.errors import CliError


def _table(status: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "platform", "kind", "address", title=f"lab in {status.directory} (pid {status.pid})")
    for host in status.hosts:
        table.add_row(host.name, host.platform, host.kind, f"{host.hostname}:{host.port}")
    Console().print(table)


def lab_command(args: argparse.Namespace) -> int:
    """Run ``lab up``, ``lab down`` or ``lab status``; returns the exit code."""
    try:
        from genja_prefect import lab
    except ImportError as exc:
        raise CliError(f"the device lab is not installed ({exc})", hint="pip install 'genja-prefect[lab]'") from None
    directory = Path(args.dir)
    settings = directory / "settings.yaml"
    if args.action == "up":
        counts = {"ios": args.ios, "eos": args.eos, "junos": args.junos, "sim": args.sim, "sim_eos": args.sim_eos,
                  "sim_nxos": args.sim_nxos, "netconf": args.netconf, "http": args.http}
        status = lab.lab_up(directory, **counts)
        _table(status)
        print(f"{len(status.hosts)} devices up; inventory: {settings}")
        print(f"next: genja-prefect run collect_facts --settings {settings}")
        print(f"stop: genja-prefect lab down --dir {args.dir}")
    elif args.action == "down":
        was = lab.lab_status(directory)
        lab.lab_down(directory)
        if was.running:
            print(f"stopped the lab in {was.directory} ({len(was.hosts)} devices); its inventory files stay")
        else:
            print(f"no lab was running in {was.directory}")
    else:
        status = lab.lab_status(directory)
        if not status.running:
            print(f"no lab running in {status.directory}")
            print(f"start one: genja-prefect lab up --dir {args.dir}")
        else:
            _table(status)
            print(f"inventory: {settings}")
            print(f"next: genja-prefect run collect_facts --settings {settings}")
    return 0
