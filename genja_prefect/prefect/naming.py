"""How genja-prefect names things in Prefect: runs, task runs, tags, artifact keys, messages.

One place, so the UI, the artifacts and the code that reads them back (``rerun``) agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from genja_prefect.results import AnyHostResult
from genja_prefect.task import Host

_SLUG = re.compile(r"[^a-z0-9-]+")

#: Artifact keys of genja-prefect start with this; the table of a root task is ``genja-<task>``.
ARTIFACT_PREFIX = "genja-"


def slug(text: str) -> str:
    """A Prefect artifact-key-safe form of ``text`` (lowercase letters, digits, dashes)."""
    return _SLUG.sub("-", text.lower()).strip("-") or "task"


def host_tags(host: Host) -> list[str]:
    """The Prefect tags of a host's task run: ``host:<id>``, ``platform:<p>``, ``group:<g>``."""
    tags = [f"host:{host.id}"]
    if host.platform:
        tags.append(f"platform:{host.platform}")
    tags.extend(f"group:{g}" for g in host.groups)
    return tags


def host_run_name(task_name: str, host_id: str) -> str:
    """A host's task run: ``TASK@HOST``."""
    return f"{task_name}@{host_id}"


def host_task_key(task_name: str) -> str:
    return f"genja.{task_name}"


def batch_run_name(task_name: str, batch: int, first: int, last: int) -> str:
    """A batch's task run (batch mode): ``TASK@batch-N (hosts a-b)``; ``batch`` counts from 1."""
    return f"{task_name}@batch-{batch} (hosts {first}-{last})"


def batch_task_key(task_name: str) -> str:
    return f"genja.{task_name}.batch"


def subflow_run_name(task_name: str, host_count: int) -> str:
    """A root task's subflow run: ``TASK (N hosts)``."""
    return f"{task_name} ({_hosts(host_count)})"


def _hosts(count: int) -> str:
    return f"{count} host" if count == 1 else f"{count} hosts"


def run_name(job: str, selection: Sequence[str], host_count: int) -> str:
    """The flow run of a job: what ran, on which selection, how many hosts.

    ``collect_facts platform=ios (12 hosts)``, ``collect_facts all (12 hosts)`` for the whole
    inventory (a root task's subflow is ``collect_facts (12 hosts)``); a long selection is
    shortened.
    """
    parts = [job or "no tasks"]
    if not selection:
        parts.append("all")
    for item in selection:
        parts.append(item if len(item) <= 40 else item[:37] + "...")
    text = " ".join(parts)
    if len(text) > 100:
        text = text[:97] + "..."
    return f"{text} ({_hosts(host_count)})"


def job_name(task_names: Sequence[str]) -> str:
    """The job a ``run_tasks`` call runs, named by its root tasks: ``a, b``."""
    return ", ".join(task_names)


def table_artifact_key(task_name: str) -> str:
    return f"{ARTIFACT_PREFIX}{slug(task_name)}"


def summary_artifact_key(task_name: str) -> str:
    return f"{table_artifact_key(task_name)}-summary"


def host_state_message(result: AnyHostResult) -> str:
    """A host's outcome in one line: the task run's state message and the summary's lines."""
    if result.status == "failed":
        return f"failed ({result.kind.value}): {result.message}"  # type: ignore[union-attr]
    if result.status == "skipped":
        message = getattr(result, "message", None)
        return f"skipped ({result.reason})" + (f": {message}" if message else "")  # type: ignore[union-attr]
    return result.summary or "passed"  # type: ignore[union-attr]


#: The state name of a skipped host's task run (a Completed-type state): told apart from
#: passed hosts in lists and filters.
SKIPPED_STATE_NAME = "Skipped"


def host_failure_line(host_id: str, result: AnyHostResult) -> str:
    """The ERROR line on a failed host's task run: ``r1: authentication failed: ...``."""
    return f"{host_id}: {result.kind.value} failed: {result.message}"  # type: ignore[union-attr]
