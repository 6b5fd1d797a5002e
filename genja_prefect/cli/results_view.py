"""Per-host results on the terminal, in the spirit of Nornir's ``print_result``.

``--show failed`` (the default) lists every host that failed or was skipped with its full
reason; ``--show results`` every host with its summary, result and diff; ``--show none``
nothing per host. Reasons are wrapped to the terminal, never cut. Files a task wrote (a
``path`` in its result, as ``backup_configs`` has) are summed up by folder in every mode.

Example::

    from genja_prefect.cli.results_view import print_results

    print_results([tree], show="failed")
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

SHOW_CHOICES = ("results", "failed", "none")

_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


def _walk(tree: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    name = f"{path}/{tree['task_name']}" if path else tree["task_name"]
    yield name, tree
    for child in tree.get("sub_tasks", {}).values():
        yield from _walk(child, name)


def _reason(result: dict[str, Any]) -> str:
    if result["status"] == "failed":
        return f"{result.get('kind') or 'failed'}: {result.get('message') or ''}".rstrip(": ")
    if result["status"] == "skipped":
        reason = result.get("reason") or "skipped"
        message = result.get("message")
        return f"{reason}: {message}" if message else str(reason)
    return str(result.get("summary") or "")


def _block(console: Console, label: str, body: str, style: str = "") -> None:
    """``label:`` then ``body`` below it, indented, wrapped to the terminal (never cut)."""
    console.print(Text(f"    {label}:", style="dim"))
    for line in _wrap(body, console.width):
        console.print(Text(line, style=style), soft_wrap=True)


def _wrap(body: str, width: int, indent: str = "      ") -> list[str]:
    lines: list[str] = []
    for paragraph in body.splitlines() or [""]:
        # A line's own indentation (JSON, a diff's context) stays; wrapped parts line up with it.
        lead = indent + paragraph[: len(paragraph) - len(paragraph.lstrip())]
        lines.extend(textwrap.wrap(paragraph.strip(), width=max(width, 40), initial_indent=lead,
                                   subsequent_indent=lead, break_on_hyphens=False) or [lead])
    return [line.rstrip() for line in lines]


def written_files(trees: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Folder -> number of files the tasks wrote (hosts whose result has a ``path``)."""
    folders: dict[str, int] = {}
    for tree in trees:
        for _, node in _walk(tree):
            for result in node["hosts"].values():
                value = result.get("result")
                if result["status"] == "passed" and isinstance(value, dict) and isinstance(value.get("path"), str):
                    folder = str(Path(value["path"]).parent)
                    folders[folder] = folders.get(folder, 0) + 1
    return folders


def print_results(trees: Sequence[dict[str, Any]], show: str = "failed", console: Console | None = None) -> None:
    """Print per-host results of the result trees (see the module docstring for ``show``)."""
    console = console or Console()
    if show != "none":
        for tree in trees:
            for name, node in _walk(tree):
                hosts = node["hosts"]
                shown = [
                    (h, r) for h, r in hosts.items() if show == "results" or r["status"] in ("failed", "skipped")
                ]
                if not shown:
                    continue
                console.print(Text(f"{name} ", style="bold") + Text(f"({len(hosts)} hosts)", style="dim"))
                for host_id, result in shown:
                    _print_host(console, host_id, result, full=show == "results")
    for folder, count in written_files(trees).items():
        console.print(Text(f"{count} file(s) written in {folder}"), soft_wrap=True)


def _print_host(console: Console, host_id: str, result: dict[str, Any], *, full: bool) -> None:
    status = result["status"]
    line = Text(f"  * {host_id} ", style="bold")
    line.append(status.upper() if status == "failed" else status, style=_STYLE.get(status, ""))
    if result.get("changed"):
        line.append(" (changed)", style="cyan")
    console.print(line)
    reason = _reason(result)
    if reason:
        label = "summary" if status == "passed" else "reason"
        _block(console, label, reason, _STYLE.get(status, "") if status != "passed" else "")
    value = result.get("result")
    if full and value not in (None, "", {}, []):
        body = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
        _block(console, "result", body)
    for warning in result.get("warnings") or ():
        _block(console, "warning", str(warning), "yellow")
    if result.get("diff") and (full or result.get("changed")):
        console.print(Text("    diff:", style="dim"))
        for diff_line in str(result["diff"]).rstrip("\n").splitlines():
            style = "green" if diff_line.startswith("+") else "red" if diff_line.startswith("-") else ""
            for wrapped in _wrap(diff_line, console.width):
                console.print(Text(wrapped, style=style), soft_wrap=True)
