"""Collect facts: version, model, serial number and uptime per host, parsed from ``show version``.

``show version`` is parsed with ntc-templates (TextFSM) where a template exists for the
platform; the hand-written parsers of :mod:`genja_prefect_flows.parsers` fill every fact the
template leaves out and stand in when it rejects the output. The result keys are the same
either way; ``metadata["parsed_with"]`` says which parsers gave facts per command.

As a genja task (any Genja runtime, with or without Prefect)::

    import genja_prefect as genja_lib
    from genja_prefect_flows import CollectFacts

    genja = genja_lib.Genja.from_settings_file("lab/settings.yaml").filter(platform="eos")
    results = genja.run_task(CollectFacts())
    print(results["eos1"].result["version"])

As a Prefect flow::

    from genja_prefect_flows import collect_facts

    tree = collect_facts(settings="lab/settings.yaml", filter={"platform": "ios"})
    print(tree["hosts"]["ios1"]["result"]["serial"])
"""

from __future__ import annotations

from typing import Any


from genja_prefect.results import TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult
from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, task
from genja_prefect_flows.jobs import module_flow
from genja_prefect_flows.common import (
    build_runtime,
    finish_job,
    markdown_table,
    publish_markdown,
    results_payload,
    run_command,
)
from genja_prefect_flows.ntcfacts import textfsm_facts
from genja_prefect_flows.parsers import FACT_KEYS, PARSERS, merge_facts, parse_uptime, supported_platforms

__all__ = ["CollectFacts", "collect_facts", "collect_facts_job", "facts_markdown"]

#: The keys of every ``collect_facts`` host result (``None`` when the device does not say).
RESULT_KEYS = ("host", "platform", *FACT_KEYS)


@task(name="collect_facts")
class CollectFacts:
    """Run ``show version`` (plus a platform's helper commands) and parse the facts.

    The host result's ``result`` holds ``host``, ``platform``, ``hostname``, ``vendor``, ``os``,
    ``version``, ``model``, ``serial``, ``uptime`` and ``uptime_seconds`` (``None`` where the
    device does not print it, with a warning). Platforms without a parser are skipped
    (reason ``unsupported_platform``); a ``show version`` the parser cannot read fails with
    kind ``validation``. ``include_raw=True`` adds the command outputs to ``metadata["raw"]``.
    """

    #: The connection plugin used for the CLI (opened only for supported platforms).
    connection_plugin = "scrapli"

    def __init__(self, include_raw: bool = False) -> None:
        self.include_raw = include_raw

    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> Any:
        commands = PARSERS.get(host.platform or "")
        if commands is None:
            return TaskSkipResult(
                reason="unsupported_platform",
                message=f"no facts parser for platform {host.platform!r}; supported: {supported_platforms()}",
            )
        connection = context.get_connection(self.connection_plugin)
        raw: dict[str, str] = {}
        parsed_with: dict[str, list[str]] = {}
        parts = []
        warnings = []
        for command, parser, required in commands:
            try:
                output = run_command(connection, command)
            except Exception as exc:
                if required:
                    raise
                warnings.append(f"{command!r} gave no facts: {exc}")
                continue
            raw[command] = output
            structured = textfsm_facts(host.platform, command, output)
            builtin = parser(output)
            # TextFSM first; the parser fills the gaps (vendor, os and what a template lacks)
            parts += [structured, builtin]
            used = ["textfsm"] if structured else []
            if builtin.keys() - structured.keys():
                used.append("builtin")
            parsed_with[command] = used
        facts = merge_facts(*parts)
        if facts.get("uptime"):  # the seconds of the uptime text that won, whichever parser read it
            seconds = parse_uptime(str(facts["uptime"]))
            if seconds is not None:
                facts["uptime_seconds"] = seconds
        if "version" not in facts:
            first_lines = "\n".join(raw.get(commands[0][0], "").splitlines()[:5])
            return TaskFailureResult(
                message=f"could not find a software version in 'show version' of {host.id} (platform {host.platform})",
                kind=TaskFailureKind.VALIDATION,
                details={"output_start": first_lines},
            )
        result: dict[str, Any] = {"host": host.id, "platform": host.platform}
        result.update({key: facts.get(key) for key in FACT_KEYS})
        result.update({k: v for k, v in facts.items() if k not in result})
        absent = [k for k in ("model", "serial", "uptime") if result.get(k) is None]
        if absent:
            warnings.append(f"the device output has no {', '.join(absent)}")
        metadata: dict[str, Any] = {"commands": list(raw), "parsed_with": parsed_with}
        if self.include_raw:
            metadata["raw"] = raw
        return TaskSuccessResult(
            result=result,
            summary=f"{result.get('vendor')} {result.get('model') or '?'} {result['version']}",
            warnings=warnings,
            metadata=metadata,
        )


def facts_markdown(tree: dict[str, Any]) -> str:
    """A markdown table of a ``collect_facts`` result tree (one row per host)."""
    rows = []
    for host_id, entry in tree.get("hosts", {}).items():
        facts = entry.get("result") or {}
        reason = entry.get("message") or entry.get("reason") or "" if entry.get("status") != "passed" else ""
        rows.append({"host": host_id, "status": entry.get("status"), **{k: facts.get(k) for k in FACT_KEYS}, "reason": reason})
    # Failed hosts first (with the reason), then skipped, then passed: what needs a look on top.
    order = {"failed": 0, "skipped": 1, "passed": 2}
    rows.sort(key=lambda r: (order.get(str(r["status"]), 3), r["host"]))
    columns = ["host", "status", "hostname", "vendor", "version", "model", "serial", "uptime", "reason"]
    return "# Device facts\n\n" + markdown_table(rows, columns)


def collect_facts_job(
    settings: str,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the documented parameter name
    workers: int | None = None,
    runner: str | None = None,
    include_raw: bool = False,
) -> dict[str, Any]:
    """Collect version, model, serial and uptime from every selected host.

    ``settings`` is the path of ``settings.yaml``; ``filter`` a keyword filter such as
    ``{"platform": "ios"}``; ``workers`` the number of hosts worked on at once; ``runner`` a
    runner plugin name; ``include_raw`` keeps the command outputs in each host's metadata.
    Returns the result tree (``{"task_name", "hosts", "sub_tasks"}``) and publishes a
    ``genja-facts`` markdown artifact besides the engine's per-task table.
    """
    genja = build_runtime(settings, filter, workers, runner, job="collect_facts", needs=["scrapli"])
    results = genja.run_tasks([CollectFacts(include_raw=include_raw)])
    tree: dict[str, Any] = results_payload(results)
    publish_markdown("genja-facts", facts_markdown(tree), "Facts per host (collect_facts)")
    return finish_job(tree, results, genja.settings.prefect.fail_on)


def __getattr__(name: str) -> Any:
    # The Prefect flows (``collect_facts``) are made on first use:
    # importing Prefect costs seconds that a run without it should not pay (jobs.py).
    return module_flow(globals(), name)
