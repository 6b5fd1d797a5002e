"""Terminal output for the CLI: a live host counter and the summary table."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from genja_prefect.engine.execution import observe_progress, stop_observing_progress


class LiveProgress:
    """While active, shows hosts done / failed per root task as they finish."""

    def __init__(self, *, enabled: bool, total: int | None) -> None:
        self.enabled = enabled
        self.total = total
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._failed: dict[str, int] = {}
        self._progress: Progress | None = None
        self._token: Any = None

    def _on_host(self, task_name: str, host_id: str, result: Any) -> None:
        assert self._progress is not None
        with self._lock:
            if task_name not in self._tasks:
                self._failed[task_name] = 0
                self._tasks[task_name] = self._progress.add_task(task_name, total=self.total, failed=0)
            if result.status == "failed":
                self._failed[task_name] += 1
            self._progress.update(self._tasks[task_name], advance=1, failed=self._failed[task_name])

    def __enter__(self) -> "LiveProgress":
        if self.enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            self._token = observe_progress(self._on_host)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            stop_observing_progress(self._token)


def _count(tree: dict[str, Any]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0, "changed": 0}
    for result in tree["hosts"].values():
        counts[result["status"]] += 1
        counts["changed"] += bool(result.get("changed"))
    return counts


def _rows(tree: dict[str, Any], depth: int = 0) -> list[tuple[str, dict[str, int]]]:
    rows = [("  " * depth + tree["task_name"], _count(tree))]
    for child in tree["sub_tasks"].values():
        rows.extend(_rows(child, depth + 1))
    return rows


def print_summary(trees: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    """The per-task counts (passed, failed, skipped, changed) as a rich table; the hosts behind
    them are printed by :func:`genja_prefect.cli.results_view.print_results`."""
    console = console or Console()
    table = Table("task", "passed", "failed", "skipped", "changed", title="genja-prefect results")
    for tree in trees:
        for name, c in _rows(tree):
            table.add_row(name, str(c["passed"]), f"[red]{c['failed']}[/red]" if c["failed"] else "0",
                          f"[yellow]{c['skipped']}[/yellow]" if c["skipped"] else "0", str(c["changed"]))
    console.print(table)
