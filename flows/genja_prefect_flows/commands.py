"""Run show commands on every host and return them parsed: the ``run_commands`` job.

Each host runs the commands listed for its platform (:data:`DEFAULT_COMMANDS` unless given);
each output is parsed with ntc-templates (TextFSM) where a template exists for the platform
and command, and kept as text otherwise. As a genja task::

    import genja_prefect as genja_lib
    from genja_prefect_flows import RunCommands

    genja = genja_lib.Genja.from_settings_file("lab/settings.yaml").filter(platform="ios")
    results = genja.run_task(RunCommands(commands=["show ip interface brief"]))
    for row in results["ios1"].result["show ip interface brief"]:
        print(row["interface"], row["status"])

As a Prefect flow (and ``genja-prefect run run_commands --param 'commands=[show version]'``)::

    from genja_prefect_flows import run_commands

    tree = run_commands(settings="lab/settings.yaml", commands={"eos": ["show interfaces"]})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal


from genja_prefect.results import TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.jobs import module_flow
from genja_prefect_flows.common import FlowParameterError, build_runtime, finish_job, in_flow_run, publish_table, results_payload, run_command

__all__ = ["DEFAULT_COMMANDS", "RunCommands", "commands_table", "run_commands", "run_commands_job"]

_INTERFACES = ("show version", "show ip interface brief", "show interfaces")

#: The commands run per platform when none are given; every one has an ntc-templates template.
DEFAULT_COMMANDS: Mapping[str, tuple[str, ...]] = {
    "ios": _INTERFACES,
    "iosxe": _INTERFACES,
    "eos": _INTERFACES,
    "nxos": ("show version", "show ip interface brief", "show interface"),
    "iosxr": ("show version", "show ip interface brief"),
    "junos": ("show version", "show interfaces terse"),
}

Parser = Literal["textfsm", "genie"]


def _commands_by_platform(
    commands: Mapping[str, Sequence[str]] | Sequence[str] | None,
) -> dict[str, tuple[str, ...]] | tuple[str, ...]:
    """Validate the ``commands`` parameter: a list for every platform, or lists per platform."""
    if commands is None:
        return dict(DEFAULT_COMMANDS)
    if isinstance(commands, str):
        commands = [commands]
    if isinstance(commands, Mapping):
        out: dict[str, tuple[str, ...]] = {}
        for platform, items in commands.items():
            if isinstance(items, str):
                items = [items]
            if not isinstance(items, Sequence) or not all(isinstance(c, str) and c.strip() for c in items):
                raise FlowParameterError(f"commands.{platform}: expected a list of commands, got {items!r}")
            out[str(platform)] = tuple(c.strip() for c in items)
        return out
    if not isinstance(commands, Sequence) or not all(isinstance(c, str) and c.strip() for c in commands):
        raise FlowParameterError(f"commands: expected a list of commands or platform -> list, got {commands!r}")
    return tuple(c.strip() for c in commands)


@task(name="run_commands")
class RunCommands:
    """Run show commands and parse each output.

    ``commands``: a list run on every host, or ``{platform: [command, ...]}`` (default
    :data:`DEFAULT_COMMANDS`); hosts of a platform without commands are skipped (reason
    ``unsupported_platform``). ``parse``: ``"textfsm"`` (default), ``"genie"`` or ``None``
    (text only). The host result maps each command to its parsed rows, or to its text when no
    template covers it (a warning says so); ``metadata["parsed_with"]`` says which per command.
    A command the device rejects fails the host with kind ``command``, naming the command.
    ``include_raw=True`` keeps every output's text in ``metadata["raw"]``.
    """

    connection_plugin = "scrapli"

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
        parse: Parser | None = "textfsm",
        include_raw: bool = False,
    ) -> None:
        if parse not in (None, "textfsm", "genie"):
            raise FlowParameterError(f"parse: expected textfsm, genie or none, got {parse!r}")
        self.commands = _commands_by_platform(commands)
        self.parse = parse
        self.include_raw = include_raw

    def commands_for(self, platform: str | None) -> tuple[str, ...]:
        """The commands a host of ``platform`` runs (empty: the host is skipped)."""
        if isinstance(self.commands, tuple):
            return self.commands
        return self.commands.get(platform or "", ())

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        commands = self.commands_for(host.platform)
        if not commands:
            known = sorted(self.commands) if isinstance(self.commands, dict) else []
            return TaskSkipResult(
                reason="unsupported_platform",
                message=f"no commands for platform {host.platform!r} (commands are given for {known})",
            )
        # Imported here: genja_prefect_scrapli needs scrapli (the devices extra); the module
        # must import without it so a deployment run can say which extra to install.
        from genja_prefect_scrapli.parsing import ParseError, ParserNotInstalledError, parse_output

        connection = context.get_connection(self.connection_plugin)
        result: dict[str, Any] = {}
        parsed_with: dict[str, str] = {}
        raw: dict[str, str] = {}
        warnings: list[str] = []
        for command in commands:
            output = run_command(connection, command)
            raw[command] = output
            result[command], parsed_with[command] = output, "text"
            if self.parse is None:
                continue
            try:
                result[command] = parse_output(
                    output, platform=host.platform, command=command, parse=self.parse, host=host.id
                )
                parsed_with[command] = self.parse
            except ParserNotInstalledError:
                raise  # a missing library is the install's problem, not this output's
            except ParseError as exc:  # NoTemplateError included: text is still a useful answer
                warnings.append(f"{command!r} kept as text: {exc}")
        metadata: dict[str, Any] = {"parsed_with": parsed_with}
        if self.include_raw:
            metadata["raw"] = raw
        parsed = sum(1 for how in parsed_with.values() if how != "text")
        return TaskSuccessResult(
            result=result,
            summary=f"{len(commands)} command(s), {parsed} parsed",
            warnings=warnings,
            metadata=metadata,
        )


def commands_table(tree: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per host and command of a ``run_commands`` result tree (for the table artifact)."""
    rows: list[dict[str, Any]] = []
    for host_id, entry in tree.get("hosts", {}).items():
        result = entry.get("result")
        parsed_with = (entry.get("metadata") or {}).get("parsed_with", {})
        if not isinstance(result, Mapping) or not result:
            rows.append({"host": host_id, "status": entry.get("status"), "command": "", "parsed_with": "",
                         "rows": None, "message": entry.get("message") or entry.get("reason") or ""})
            continue
        for command, value in result.items():
            rows.append(
                {
                    "host": host_id,
                    "status": entry.get("status"),
                    "command": command,
                    "parsed_with": parsed_with.get(command, ""),
                    "rows": len(value) if isinstance(value, list) else None,
                    "message": "" if isinstance(value, list | dict) else f"{len(str(value).splitlines())} lines of text",
                }
            )
    return rows


def run_commands_job(
    settings: str,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    commands: dict[str, list[str]] | list[str] | None = None,
    parse: str | None = "textfsm",
    include_raw: bool = False,
) -> dict[str, Any]:
    """Run show commands on every selected host and return their outputs parsed.

    ``commands`` is a list for every host or ``{platform: [command, ...]}`` (default: show
    version, show ip interface brief and show interfaces on ios/iosxe/eos, see
    :data:`DEFAULT_COMMANDS`); ``parse`` is ``textfsm``, ``genie`` or ``None``. Returns the
    result tree and publishes a ``genja-commands`` table artifact (host, command, parser, rows).
    """
    if parse not in (None, "textfsm", "genie"):
        raise FlowParameterError(f"parse: expected textfsm, genie or none, got {parse!r}")
    job = RunCommands(commands=commands, parse=parse, include_raw=include_raw)  # type: ignore[arg-type]
    genja = build_runtime(settings, filter, workers, runner, job="run_commands")
    results = genja.run_tasks([job])
    tree: dict[str, Any] = results_payload(results)
    if in_flow_run():
        publish_table("genja-commands", commands_table(tree), "Commands per host (run_commands)")
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def __getattr__(name: str) -> Any:
    # The Prefect flow (``run_commands``) is made on first use:
    # importing Prefect costs seconds that a run without it should not pay (jobs.py).
    return module_flow(globals(), name)
