"""The ``genja-prefect`` command line.

    genja-prefect run collect_facts --settings settings.yaml --filter platform=ios --workers 20
    genja-prefect run mytasks:BackupConfig --settings settings.yaml --json
    genja-prefect inventory list --settings settings.yaml
    genja-prefect inventory show router1 --settings settings.yaml
    genja-prefect plugins list
    genja-prefect lab up | down | status
    genja-prefect demo
    genja-prefect rerun RUN_ID --failed
    genja-prefect doctor [--api-url URL]
    genja-prefect prefect sync

Errors are one line and a hint; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genja_prefect.cli.jobs import CliError, load_job, load_task, run_job
from genja_prefect.errors import GenjaError

EXIT_OK, EXIT_FAILED_HOSTS, EXIT_ERROR = 0, 1, 2


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{what} '{item}' is not KEY=VALUE", hint=f"e.g. --{what} platform=ios")
        import yaml

        try:
            out[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            out[key] = value
    return out


def _runtime(args: argparse.Namespace) -> Any:
    from genja_prefect.runtime import Genja

    settings = Path(args.settings)
    if not settings.exists():
        raise CliError(f"settings file not found: {settings}", hint="pass --settings PATH (or start the lab: genja-prefect lab up)")
    genja = Genja.from_settings_file(settings)
    filters = _pairs(getattr(args, "filter", None), "filter")
    if filters:
        genja = genja.filter(**filters)
    changes: dict[str, dict[str, Any]] = {}
    if getattr(args, "workers", None):
        changes.setdefault("runner", {})["worker_count"] = args.workers
    if getattr(args, "no_prefect", False):
        changes.setdefault("prefect", {})["enabled"] = False
    if changes:
        genja = genja.with_settings(**changes)
    if getattr(args, "runner", None):
        genja = genja.with_runner(args.runner)
    return genja


def cmd_run(args: argparse.Namespace) -> int:
    from genja_prefect.cli.progress import LiveProgress, print_summary

    params = _pairs(args.param, "param")
    if ":" in args.target:
        task = load_task(args.target)
        genja = _runtime(args).with_run_parameters(cli="run", target=args.target, settings=str(args.settings),
                                                   filter=_pairs(args.filter, "filter"))
        with LiveProgress(enabled=not args.json and sys.stdout.isatty(), total=genja.host_count()):
            trees = [genja.run_task(task, max_depth=args.max_depth).to_dict()]
    else:
        if not Path(args.settings).exists():
            raise CliError(f"settings file not found: {args.settings}", hint="pass --settings PATH (or start the lab: genja-prefect lab up)")
        job = load_job(args.target)
        kwargs: dict[str, Any] = {"settings": str(args.settings), "filter": _pairs(args.filter, "filter") or None}
        if args.workers:
            kwargs["workers"] = args.workers
        if args.runner:
            kwargs["runner"] = args.runner
        kwargs.update(params)
        with LiveProgress(enabled=not args.json and sys.stdout.isatty(), total=None):
            trees = run_job(job, **kwargs)
    if args.json:
        print(json.dumps(trees if len(trees) > 1 else trees[0], indent=2, default=str))
    else:
        print_summary(trees)
    return EXIT_FAILED_HOSTS if any(_failed(t) for t in trees) else EXIT_OK


def cmd_prefect(args: argparse.Namespace) -> int:
    """``prefect sync``: deliver run records spooled while Prefect was unreachable."""
    from genja_prefect.prefect.spool import spool_dir
    from genja_prefect.prefect.temporary_server import deliver_spool

    delivered, waiting = deliver_spool(timeout=args.timeout)
    print(f"delivered {delivered} spooled run record(s); {waiting} still waiting in {spool_dir()}")
    return EXIT_OK if not waiting else EXIT_ERROR


def _failed(tree: dict[str, Any]) -> bool:
    return any(r.get("status") == "failed" for r in tree["hosts"].values()) or any(
        _failed(c) for c in tree["sub_tasks"].values()
    )


def cmd_inventory(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    genja = _runtime(args)
    console = Console()
    if args.action == "list":
        table = Table("host", "hostname", "port", "platform", "groups")
        for host in genja.hosts().values():
            table.add_row(host.id, host.hostname, str(host.port or ""), host.platform or "", ", ".join(host.groups))
        console.print(table)
        console.print(f"{genja.host_count()} host(s)")
        return EXIT_OK
    if not args.host:
        raise CliError("inventory show needs a HOST", hint="genja-prefect inventory show router1 --settings settings.yaml")
    if args.host not in genja.inventory:
        raise CliError(f"unknown host '{args.host}'", hint="list them with: genja-prefect inventory list")
    host = genja.inventory.host_view(args.host)
    plugins = sorted({p for item in genja.inventory.chain(args.host) for p in item.connection_options} | {"default"})
    shown = {
        "id": host.id,
        "hostname": host.hostname,
        "port": host.port,
        "username": host.username,
        "password": "***" if genja.inventory.attribute(args.host, "password") is not None else None,
        "platform": host.platform,
        "groups": list(host.groups),
        "data": dict(host.data),
        "connections": {
            p: json.loads(genja.inventory.connection_params(args.host, p).model_dump_json(exclude={"host_id"}))
            for p in plugins
        },
    }
    console.print_json(json.dumps(shown, default=str))
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from genja_prefect.connection import plugin_spec
    from genja_prefect.plugins import PluginManager

    manager = PluginManager()
    table = Table("name", "kind", "platforms", "type", "library", "module")
    for name, kind in manager.plugin_names_and_groups():
        plugin = manager.get(kind, name)
        spec = plugin_spec(plugin)
        table.add_row(
            name,
            kind,
            ", ".join(spec.platforms) if spec else "",
            (spec.connection_type or "") if spec else "",
            (spec.connection_library or "") if spec else "",
            getattr(plugin, "__module__", type(plugin).__module__),
        )
    console = Console()
    console.print(table)
    for where, error in manager.discovery_errors.items():
        console.print(f"[yellow]could not load {where}: {error}[/yellow]")
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    try:
        from genja_prefect import lab
    except ImportError as exc:
        raise CliError(f"the device lab is not installed ({exc})", hint="pip install 'genja-prefect[lab]'") from None
    directory = Path(args.dir)
    if args.action == "up":
        status = lab.lab_up(directory, ios=args.ios, eos=args.eos, junos=args.junos, sim=args.sim, netconf=args.netconf, http=args.http)
        print(f"lab is up in {directory} ({status})")
        print(f"run a job: genja-prefect run collect_facts --settings {directory / 'settings.yaml'}")
    elif args.action == "down":
        lab.lab_down(directory)
        print(f"lab in {directory} is down")
    else:
        print(lab.lab_status(directory))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from genja_prefect.cli.demo import run_demo

    return run_demo(Path(args.dir), workers=args.workers)


def cmd_rerun(args: argparse.Namespace) -> int:
    from genja_prefect.cli.rerun import rerun_failed

    if not args.failed:
        raise CliError("rerun needs --failed (re-running every host is just `genja-prefect run` again)")
    trees = rerun_failed(args.run_id, settings_override=args.settings)
    from genja_prefect.cli.progress import print_summary

    print_summary(trees)
    return EXIT_FAILED_HOSTS if any(_failed(t) for t in trees) else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from genja_prefect.prefect.doctor import render, run_checks

    checks = list(run_checks(args.api_url, timeout=args.timeout, schedule_grace_s=args.schedule_grace))
    print(render(checks))
    return EXIT_FAILED_HOSTS if any(c.status == "FAIL" for c in checks) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genja-prefect", description="Network automation on Prefect 3.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--settings", default="settings.yaml", help="settings.yaml (default: ./settings.yaml)")
        p.add_argument("--filter", action="append", metavar="KEY=VALUE", help="host filter, repeatable (platform=ios, groups__contains=core)")

    run = sub.add_parser("run", help="run a ready-made job or a task class on the inventory")
    run.add_argument("target", help="job name (collect_facts, backup_configs, ...) or module:TaskClass")
    common(run)
    run.add_argument("--runner", help="runner plugin (threaded, serial, ...)")
    run.add_argument("--workers", type=int, help="worker count for the threaded runner")
    run.add_argument("--max-depth", type=int, default=None, help="sub-task depth limit")
    run.add_argument("--param", action="append", metavar="KEY=VALUE", help="job parameter, repeatable")
    run.add_argument("--json", action="store_true", help="print the result tree as JSON")
    run.add_argument("--no-prefect", action="store_true", help="run without Prefect (no flow run)")
    run.set_defaults(func=cmd_run)

    inv = sub.add_parser("inventory", help="show the inventory")
    inv.add_argument("action", choices=["list", "show"])
    inv.add_argument("host", nargs="?")
    common(inv)
    inv.set_defaults(func=cmd_inventory)

    plugins = sub.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("action", choices=["list"])
    plugins.set_defaults(func=cmd_plugins)

    lab = sub.add_parser("lab", help="the loopback device lab")
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.add_argument("--dir", default=".genja-lab", help="where the lab writes its inventory (default .genja-lab)")
    for name, default in (("ios", 2), ("eos", 1), ("junos", 1), ("sim", 4), ("netconf", 1), ("http", 1)):
        lab.add_argument(f"--{name}", type=int, default=default)
    lab.set_defaults(func=cmd_lab)

    demo = sub.add_parser("demo", help="start the lab, run facts + backups, show where to look")
    demo.add_argument("--dir", default=".genja-lab")
    demo.add_argument("--workers", type=int, default=10)
    demo.set_defaults(func=cmd_demo)

    rerun = sub.add_parser("rerun", help="run a past run's failed hosts again")
    rerun.add_argument("run_id")
    rerun.add_argument("--failed", action="store_true")
    rerun.add_argument("--settings", default=None, help="override the settings path the run used")
    rerun.set_defaults(func=cmd_rerun)

    doctor = sub.add_parser("doctor", help="check the Prefect server: API, schedules, workers, versions")
    doctor.add_argument("--api-url", help="the server's API (default: PREFECT_API_URL)")
    doctor.add_argument("--timeout", type=float, default=10.0, help="seconds per API request")
    doctor.add_argument("--schedule-grace", type=float, default=120.0, metavar="SECONDS",
                        help="a deployment younger than this may have no scheduled run yet")
    doctor.set_defaults(func=cmd_doctor)

    prefect = sub.add_parser("prefect", help="Prefect housekeeping")
    prefect.add_argument("action", choices=["sync"], help="sync: deliver run records spooled while Prefect was unreachable")
    prefect.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    prefect.set_defaults(func=cmd_prefect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into one line
        if args.debug:
            raise
        hint = getattr(exc, "hint", None)
        kind = "" if isinstance(exc, GenjaError) else f"unexpected {type(exc).__name__}: "
        print(f"error: {kind}{exc}", file=sys.stderr)
        print(f"hint: {hint or 'run again with --debug for the traceback'}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
