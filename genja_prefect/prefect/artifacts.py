"""The artifacts of a run: written per root task, and read back (``genja-prefect rerun``).

Per root task: a table (``genja-<task>``, one row per host: host, status, summary, changed,
failure_kind, duration_ms) and a markdown summary (``genja-<task>-summary``). The writer and the reader
live together so the format has one definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from genja_prefect.definition import TaskDefinition
from genja_prefect.prefect.naming import (
    ARTIFACT_PREFIX,
    host_state_message,
    summary_artifact_key,
    table_artifact_key,
)
from genja_prefect.results import AnyHostResult, TaskResults

#: ``create(key, type, data, description)``: creates one artifact ("table" or "markdown").
ArtifactWriter = Callable[[str, str, Any, str], Any]


#: Table rows: failed hosts first, then skipped, then passed; each group by host id.
_ORDER = {"failed": 0, "skipped": 1, "passed": 2}
#: A row's summary is cut here (the full text is on the host's task run).
SUMMARY_CHARS = 120
_LINK = re.compile(r"^\[(?P<host>[^\]]*)\]\([^)]*\)$")


def _summary(result: AnyHostResult) -> str:
    text = getattr(result, "summary", None) or getattr(result, "message", None) or getattr(result, "reason", "") or ""
    text = " ".join(str(text).split())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def task_run_link(host_id: str, task_run_id: str) -> str:
    """A table cell linking to the host's task run in the Prefect UI (cells render markdown)."""
    return f"[{host_id}](/runs/task-run/{task_run_id})"


def table_rows(results: TaskResults, task_runs: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The table artifact's rows, failed first: ``host, status, failure_kind, summary, changed,
    duration_ms``.

    ``task_runs`` (host id -> task run id) turns the host cell into a link to its task run.
    """
    links = task_runs or {}
    ordered = sorted(results.hosts.items(), key=lambda item: (_ORDER.get(item[1].status, 3), item[0]))
    return [
        {
            "host": task_run_link(host_id, links[host_id]) if host_id in links else host_id,
            "status": r.status,
            "failure_kind": r.kind.value if r.status == "failed" else "",  # type: ignore[union-attr]
            "summary": _summary(r),
            "changed": bool(getattr(r, "changed", False)),
            "duration_ms": r.duration_ms,
        }
        for host_id, r in ordered
    ]


def summary_markdown(task_name: str, results: TaskResults) -> str:
    """The markdown summary: counts, the task's duration and slowest host, then failed and
    skipped hosts with their reasons."""
    summary = results.task_summary()
    lines = [
        f"# {task_name}",
        "",
        f"- hosts: {len(results.hosts)} ({results.host_summary()})",
        f"- whole tree (sub-tasks included): {summary.tasks} task(s), {summary.hosts}",
    ]
    if summary.started_at is not None and summary.finished_at is not None:
        lines.append(
            f"- duration: {summary.duration_ms:.1f} ms ({summary.started_at.isoformat()} to "
            f"{summary.finished_at.isoformat()})"
        )
        timed = [(r.duration_ms, h) for h, r in results.hosts.items() if r.duration_ms is not None]
        if timed:
            slowest, host_id = max(timed)
            lines.append(f"- slowest host: `{host_id}` {slowest:.1f} ms")
    for title, hosts in (("Failed hosts", results.failed_hosts), ("Skipped hosts", results.skipped_hosts)):
        if hosts:
            lines += ["", f"## {title}", ""]
            lines += [f"- `{h}`: {host_state_message(results.hosts[h])}" for h in sorted(hosts)[:200]]
            if len(hosts) > 200:
                lines.append(f"- ... and {len(hosts) - 200} more")
    return "\n".join(lines)


def host_markdown(host_id: str, result: AnyHostResult) -> str:
    """A per-host artifact: the failure details, or the change (diff) the host reported."""
    lines = [f"# {host_id}: {result.status}", ""]
    if result.status == "failed":
        lines += [
            f"- kind: `{result.kind.value}`",  # type: ignore[union-attr]
            f"- attempts: {getattr(result, 'attempts', 1)}",
            "",
            "```text",
            str(result.message),  # type: ignore[union-attr]
            "```",
        ]
        output = (getattr(result, "details", None) or {}).get("output")
        if output:
            lines += ["", "Device output:", "", "```text", str(output)[:4000], "```"]
    else:
        lines.append(host_state_message(result))
        diff = getattr(result, "diff", None)
        if diff:
            lines += ["", "```diff", str(diff)[:20000], "```"]
    return "\n".join(lines)


def wants_host_artifact(setting: str, result: AnyHostResult) -> bool:
    """Whether ``prefect.host_artifacts`` asks for an artifact of this host's result."""
    if setting == "none":
        return False
    if setting == "all":
        return True
    if setting == "failed":
        return result.status == "failed"
    return bool(getattr(result, "changed", False))  # "changed"


def publish(
    task: TaskDefinition,
    results: TaskResults,
    create: ArtifactWriter,
    task_runs: Mapping[str, str] | None = None,
) -> None:
    """Create a root task's table and summary artifacts with ``create``."""
    create(table_artifact_key(task.name), "table", table_rows(results, task_runs), f"Per-host results of {task.name}")
    create(summary_artifact_key(task.name), "markdown", summary_markdown(task.name, results), f"Summary of {task.name}")


def create_in_current_run(key: str, artifact_type: str, data: Any, description: str) -> None:
    """An :data:`ArtifactWriter` for the current Prefect flow or task run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    if artifact_type == "table":
        create_table_artifact(table=data, key=key, description=description)
    else:
        create_markdown_artifact(markdown=data, key=key, description=description)


def read_run_artifacts(client: Any, flow_run_ids: list[UUID]) -> list[Any]:
    """Artifacts of these flow runs, newest first (``client``: a sync Prefect client)."""
    from prefect.client.schemas.objects import Artifact

    response = client.request(
        "POST",
        "/artifacts/filter",
        json={
            "artifacts": {"flow_run_id": {"any_": [str(i) for i in flow_run_ids]}},
            "sort": "CREATED_DESC",
            "limit": 200,
            "offset": 0,
        },
    )
    return [Artifact.model_validate(a) for a in response.json()]


def table_rows_of(artifact: Any) -> list[dict[str, Any]] | None:
    """The rows of one of genja-prefect's table artifacts (host cells as plain ids), or None
    for any other artifact."""
    if artifact.type != "table" or not artifact.key or not artifact.key.startswith(ARTIFACT_PREFIX):
        return None
    data = artifact.data
    rows = data if isinstance(data, list) else json.loads(data or "[]")
    out = []
    for row in rows:
        if isinstance(row, dict):
            link = _LINK.match(str(row.get("host", "")))
            out.append({**row, "host": link.group("host")} if link else row)
    return out


def failed_hosts(artifacts: list[Any]) -> list[str]:
    """Hosts with a ``failed`` row in any of genja-prefect's table artifacts, first seen first."""
    found: dict[str, None] = {}
    for artifact in artifacts:
        for row in table_rows_of(artifact) or ():
            if row.get("status") == "failed":
                found.setdefault(str(row["host"]))
    return list(found)
