"""The artifacts of a run: written per root task, and read back (``genja-prefect rerun``).

Per root task: a table (``genja-<task>``, one row per host: host, status, summary, changed,
failure_kind) and a markdown summary (``genja-<task>-summary``). The writer and the reader
live together so the format has one definition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

from genja_prefect.definition import TaskDefinition
from genja_prefect.prefect.naming import (
    ARTIFACT_PREFIX,
    host_state_message,
    summary_artifact_key,
    table_artifact_key,
)
from genja_prefect.results import TaskResults

#: ``create(key, type, data, description)``: creates one artifact ("table" or "markdown").
ArtifactWriter = Callable[[str, str, Any, str], Any]


def table_rows(results: TaskResults) -> list[dict[str, Any]]:
    """The table artifact's rows: one per host."""
    return [
        {
            "host": host_id,
            "status": r.status,
            "summary": getattr(r, "summary", None) or getattr(r, "message", None) or getattr(r, "reason", "") or "",
            "changed": bool(getattr(r, "changed", False)),
            "failure_kind": r.kind.value if r.status == "failed" else "",  # type: ignore[union-attr]
        }
        for host_id, r in results.hosts.items()
    ]


def summary_markdown(task_name: str, results: TaskResults) -> str:
    """The markdown summary: counts and the failed hosts with their reasons."""
    summary = results.task_summary()
    lines = [
        f"# {task_name}",
        "",
        f"- hosts: {len(results.hosts)} ({results.host_summary()})",
        f"- whole tree (sub-tasks included): {summary.tasks} task(s), {summary.hosts}",
    ]
    failed = results.failed_hosts
    if failed:
        lines += ["", "## Failed hosts", ""]
        lines += [f"- `{h}`: {host_state_message(results.hosts[h])}" for h in failed[:200]]
        if len(failed) > 200:
            lines.append(f"- ... and {len(failed) - 200} more")
    return "\n".join(lines)


def publish(task: TaskDefinition, results: TaskResults, create: ArtifactWriter) -> None:
    """Create a root task's table and summary artifacts with ``create``."""
    create(table_artifact_key(task.name), "table", table_rows(results), f"Per-host results of {task.name}")
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
    """The rows of one of genja-prefect's table artifacts, or None for any other artifact."""
    if artifact.type != "table" or not artifact.key or not artifact.key.startswith(ARTIFACT_PREFIX):
        return None
    data = artifact.data
    rows = data if isinstance(data, list) else json.loads(data or "[]")
    return [r for r in rows if isinstance(r, dict)]


def failed_hosts(artifacts: list[Any]) -> list[str]:
    """Hosts with a ``failed`` row in any of genja-prefect's table artifacts, first seen first."""
    found: dict[str, None] = {}
    for artifact in artifacts:
        for row in table_rows_of(artifact) or ():
            if row.get("status") == "failed":
                found.setdefault(str(row["host"]))
    return list(found)
