"""The ``genja-prefect`` command line.

    genja-prefect run collect_facts --settings settings.yaml --filter platform=ios --workers 20
    genja-prefect run mytasks:BackupConfig --settings settings.yaml --json
    genja-prefect inventory list --settings settings.yaml
    genja-prefect inventory show router1 --settings settings.yaml
    genja-prefect plugins list
    genja-prefect lab up | down | status
    genja-prefect server start | stop | status
    genja-prefect demo
    genja-prefect rerun RUN_ID --failed
    genja-prefect doctor [--api-url URL]
    genja-prefect prefect sync

A user error (settings, inventory, filter, job, parameter, plugin) is one line naming the
file, host or key and a hint, exit code 2; ``--debug`` anywhere on the line shows the
traceback, ``--verbose`` the device libraries' logs. Commands that do not record a run in
Prefect (``--help``, ``inventory``, ``plugins``, ``lab``, ``run --no-prefect``) never import it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genja_prefect.cli.errors import CliError
from genja_prefect.errors import GenjaError

if TYPE_CHECKING:
    from genja_prefect.cli.jobs import RunOutcome

EXIT_OK, EXIT_FAILED_HOSTS, EXIT_ERROR = 0, 1, 2

#: Flags that may stand anywhere on the command line (``genja-prefect run ... --debug``).
GLOBAL_FLAGS = ("--debug", "--verbose")


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--{what} '{item}' is not KEY=VALUE", hint=f"e.g. --{what} platform=ios")
        import yaml

        try:
            out[key] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            out[key] = value
    return out


def _settings_path(args: argparse.Namespace) -> Path:
    settings = Path(args.settings)
    if not settings.is_file():
        raise CliError(f"settings file not found: {settings}", hint="pass --settings PATH (or start the lab: genja-prefect lab up)")
    return settings


def _runtime(args: argparse.Namespace, *, prefect: bool = False) -> Any:
    """The runtime of ``--settings`` with ``--filter``/``--workers``/``--runner``: settings,
    inventory and filter errors surface here, before anything runs."""
    from genja_prefect.runtime import Genja

    genja = Genja.from_settings_file(_settings_path(args))
    filters = _pairs(getattr(args, "filter", None), "filter")
    if filters:
        genja = genja.filter(**filters)
    changes: dict[str, dict[str, Any]] = {}
    if getattr(args, "workers", None):
        changes.setdefault("runner", {})["worker_count"] = args.workers
    if not prefect:
        changes.setdefault("prefect", {})["enabled"] = False
    if changes:
        genja = genja.with_settings(**changes)
    if getattr(args, "runner", None):
        genja = genja.with_runner(args.runner)
    return genja


def cmd_run(args: argparse.Namespace) -> int:
    from genja_prefect.cli.jobs import check_job_parameters, find_job, load_task, run_job, run_task_class
    from genja_prefect.cli.progress import LiveProgress

    use_prefect = not args.no_prefect
    params = _pairs(args.param, "param")
    if ":" in args.target:
        task = load_task(args.target)
        if params:
            raise CliError("--param is for ready-made jobs", hint="a task class takes its settings from the inventory")
    else:
        spec = find_job(args.target)
        check_job_parameters(spec, params)
    # Settings, inventory and filter problems are reported before Prefect starts.
    genja = _runtime(args, prefect=use_prefect)
    use_prefect = use_prefect and genja.settings.prefect.enabled
    if use_prefect:
        from genja_prefect.prefect.server import tune_ephemeral_server
        from genja_prefect.cli.server import choose_server

        config = genja.settings.prefect
        server = choose_server(config.server, config.server_port, config.server_idle_stop_min * 60)
        if genja.settings.prefect.tune_ephemeral_server:
            tune_ephemeral_server()
    else:
        server = "no Prefect (--no-prefect)"
    progress = LiveProgress(enabled=not args.json and sys.stdout.isatty(), total=genja.host_count())
    # The lasting server's idle clock stays at zero while the run records there.
    from genja_prefect.cli.server import in_use

    using: AbstractContextManager[object] = in_use() if use_prefect else nullcontext()
    if ":" in args.target:
        genja = genja.with_run_parameters(cli="run", target=args.target, settings=str(args.settings),
                                          filter=_pairs(args.filter, "filter"))
        with using, progress:
            outcome = run_task_class(genja, task, args.max_depth, prefect=use_prefect)
    else:
        kwargs: dict[str, Any] = {"settings": str(args.settings), "filter": _pairs(args.filter, "filter") or None}
        if args.workers:
            kwargs["workers"] = args.workers
        if args.runner:
            kwargs["runner"] = args.runner
        kwargs.update(params)
        with using, progress:
            outcome = run_job(spec, kwargs, prefect=use_prefect)
    return _report(outcome, args, server)


def _report(outcome: "RunOutcome", args: argparse.Namespace, server: str) -> int:
    trees = outcome.trees
    if args.json:
        print(json.dumps(trees if len(trees) > 1 else trees[0], indent=2, default=str))
    else:
        from genja_prefect.cli.progress import print_summary
        from genja_prefect.cli.results_view import print_results

        print_summary(trees)
        print_results(trees, show=args.show)
        print(_run_line(outcome, server))
    return EXIT_FAILED_HOSTS if any(_failed(t) for t in trees) else EXIT_OK


def _run_line(outcome: "RunOutcome", server: str) -> str:
    """Which server recorded the run, the run's id and, on a lasting server, its UI address."""
    if outcome.flow_run_id is None:
        return f"Ran with {server}."
    from genja_prefect.cli.server import run_url

    url = run_url(outcome.flow_run_id)
    line = f"Flow run {outcome.flow_run_id} on {server}"
    return f"{line}\n  {url}" if url else line


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
        raise CliError(f"unknown host '{args.host}' in {args.settings}", hint="list them with: genja-prefect inventory list")
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
    from genja_prefect.cli.labview import lab_command

    return lab_command(args)


def cmd_server(args: argparse.Namespace) -> int:
    import genja_prefect.cli.server as server

    if args.action == "start":
        if args.idle_stop < 0:
            raise CliError(f"--idle-stop {args.idle_stop:g}: minutes must be 0 (never) or more")
        state = server.server_start(port=args.port, idle_stop_s=args.idle_stop * 60)
        print(f"Prefect server running at {state.describe()}")
        print("genja-prefect runs now record there; open the UI at that address. Stop it: genja-prefect server stop")
    elif args.action == "stop":
        stopped = server.server_stop()
        print(f"stopped the Prefect server at {stopped.url} (pid {stopped.pid})" if stopped else "no genja-prefect server was running")
    else:
        running = server.server_status()
        print(f"Prefect server running at {running.describe()}" if running
              else "no genja-prefect server running (start one: genja-prefect server start)")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from genja_prefect.cli.demo import run_demo
    from genja_prefect.cli.server import choose_server, in_use
    from genja_prefect.settings import Settings

    # prefect.server as for `run` (GENJA_PREFECT_PREFECT__* only: the demo writes its own
    # settings): at a terminal the lasting server, so the UI still shows the runs afterwards.
    config = Settings.from_dict({}, source="environment").prefect
    print(f"Using {choose_server(config.server, config.server_port, config.server_idle_stop_min * 60)}.")
    with in_use():  # a lasting server's idle clock stays at zero while the demo records there
        return run_demo(Path(args.dir), workers=args.workers)


def cmd_rerun(args: argparse.Namespace) -> int:
    from genja_prefect.cli.rerun import rerun_failed
    from genja_prefect.cli.server import choose_server, in_use

    if not args.failed:
        raise CliError("rerun needs --failed", hint="re-running every host is just `genja-prefect run` again")
    server = choose_server()
    with in_use():
        outcome = rerun_failed(args.run_id, settings_override=args.settings)
    return _report(outcome, args, server)


def cmd_doctor(args: argparse.Namespace) -> int:
    from genja_prefect.prefect.doctor import render, run_checks

    checks = list(run_checks(args.api_url, timeout=args.timeout, schedule_grace_s=args.schedule_grace))
    print(render(checks))
    return EXIT_FAILED_HOSTS if any(c.status == "FAIL" for c in checks) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genja-prefect", description="Network automation on Prefect 3.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (allowed anywhere on the line)")
    parser.add_argument("--verbose", action="store_true", help="show device libraries' logs (allowed anywhere)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--settings", default="settings.yaml", help="settings.yaml (default: ./settings.yaml)")
        p.add_argument("--filter", action="append", metavar="KEY=VALUE", help="host filter, repeatable (platform=ios, groups__contains=core)")

    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print the result tree as JSON")
        p.add_argument("--show", choices=["results", "failed", "none"], default="failed",
                       help="per-host output: every host, failed and skipped hosts (default), or none")

    run = sub.add_parser("run", help="run a ready-made job or a task class on the inventory")
    run.add_argument("target", help="job name (collect_facts, backup_configs, ...) or module:TaskClass")
    common(run)
    run.add_argument("--runner", help="runner plugin (threaded, serial, ...)")
    run.add_argument("--workers", type=int, help="worker count for the threaded runner")
    run.add_argument("--max-depth", type=int, default=None, help="sub-task depth limit")
    run.add_argument("--param", action="append", metavar="KEY=VALUE", help="job parameter, repeatable")
    output(run)
    run.add_argument("--no-prefect", action="store_true", help="run without Prefect (no import, server or flow run)")
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
    for name, default in (("ios", 2), ("eos", 1), ("junos", 1), ("sim", 4), ("sim-eos", 1), ("sim-nxos", 0), ("netconf", 1), ("http", 1)):
        lab.add_argument(f"--{name}", type=int, default=default, help=f"number of {name} devices (default {default})")
    lab.set_defaults(func=cmd_lab)

    server = sub.add_parser("server", help="a local Prefect server in the background, reused by every run")
    server.add_argument("action", choices=["start", "stop", "status"])
    server.add_argument("--port", type=int, default=4200, help="port on 127.0.0.1 (default 4200)")
    server.add_argument("--idle-stop", type=float, default=0.0, metavar="MIN",
                        help="stop by itself after MIN minutes in which no run used it (default 0: never)")
    server.set_defaults(func=cmd_server)

    demo = sub.add_parser("demo", help="start the lab, run facts + backups, show where to look")
    demo.add_argument("--dir", default=".genja-lab")
    demo.add_argument("--workers", type=int, default=10)
    demo.set_defaults(func=cmd_demo)

    rerun = sub.add_parser("rerun", help="run a past run's failed hosts again")
    rerun.add_argument("run_id", help="the flow run's id or its (unique) name")
    rerun.add_argument("--failed", action="store_true")
    rerun.add_argument("--settings", default=None, help="override the settings path the run used")
    output(rerun)
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


def _split_global_flags(argv: list[str]) -> tuple[list[str], set[str]]:
    """Take ``--debug``/``--verbose`` out of ``argv`` wherever they stand (not after ``--``)."""
    rest: list[str] = []
    found: set[str] = set()
    for index, item in enumerate(argv):
        if item == "--":
            rest.extend(argv[index:])
            break
        if item in GLOBAL_FLAGS:
            found.add(item)
        else:
            rest.append(item)
    return rest, found


def _user_error(exc: BaseException) -> bool:
    """Errors in what the user gave (as opposed to a bug): reported without the word 'unexpected'."""
    if isinstance(exc, (GenjaError, FileNotFoundError)):
        return True
    # Prefect's own parameter errors for a job called with a wrong --param value.
    kind = type(exc)
    return kind.__module__.startswith("prefect") and kind.__name__ in ("ParameterBindError", "ParameterTypeError")


def _hint(exc: BaseException, args: argparse.Namespace) -> str:
    """What to do next, by the kind of error (the message already says what and where)."""
    from genja_prefect.errors import ConfigError, FilterError, PluginError

    settings = getattr(args, "settings", None) or "settings.yaml"
    if isinstance(exc, FilterError):
        return f"see the hosts and their keys: genja-prefect inventory list --settings {settings}"
    if isinstance(exc, ConfigError):
        return "fix the file and key named above, then run the command again"
    if isinstance(exc, PluginError):
        return "see the installed plugins: genja-prefect plugins list"
    if _user_error(exc):
        return "fix what the message names; --debug shows where it was raised"
    return "run again with --debug for the traceback"


def main(argv: Sequence[str] | None = None) -> int:
    rest, flags = _split_global_flags(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(rest)
    args.debug, args.verbose = "--debug" in flags, "--verbose" in flags
    from genja_prefect.cli.quiet import configure

    configure(args.verbose)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI turns every error into one line
        if args.debug:
            raise
        hint = getattr(exc, "hint", None) or _hint(exc, args)
        kind = "" if _user_error(exc) else f"unexpected {type(exc).__name__}: "
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {kind}{message}", file=sys.stderr)
        print(f"hint: {hint or 'run again with --debug for the traceback'}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
