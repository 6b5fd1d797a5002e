"""Small readers of the temporary Prefect API's REST endpoints.

prefect 3.8.8's client sends ``null`` for filter fields left out (``sort``...), which its own
server rejects with 422 here; these helpers post exactly the fields meant, and page through
everything when asked for "all".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RuntimeError("no Prefect API configured (use the prefect_api fixture)")
    return str(url).rstrip("/")


def post(path: str, body: dict[str, Any]) -> Any:
    with httpx.Client(base_url=api_url(), timeout=60) as client:
        response = client.post(path, json=body)
        response.raise_for_status()
        return response.json()


def _all(path: str, body: dict[str, Any], page: int = 200) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        chunk = post(path, {**body, "limit": page, "offset": len(items)})
        items.extend(chunk)
        if len(chunk) < page:
            return items


def flow_runs(flow_name: str | None = None, parent: str | None = None) -> list[dict[str, Any]]:
    """Top-level flow runs of the flow ``flow_name`` (its root tasks' subflow runs belong to
    the same flow and are left out), or the children of the flow run ``parent``."""
    body: dict[str, Any] = {"sort": "START_TIME_ASC"}
    if flow_name is not None:
        body["flows"] = {"name": {"any_": [flow_name]}}
        if parent is None:
            body["flow_runs"] = {"parent_task_run_id": {"is_null_": True}}
    if parent is not None:
        body["flow_runs"] = {"parent_flow_run_id": {"any_": [parent]}}
    return _all("/flow_runs/filter", body)


def task_runs(flow_run_ids: list[str]) -> list[dict[str, Any]]:
    body = {"sort": "NAME_ASC", "flow_runs": {"id": {"any_": flow_run_ids}}}
    return _all("/task_runs/filter", body)


def all_flow_runs() -> list[dict[str, Any]]:
    return _all("/flow_runs/filter", {"sort": "START_TIME_ASC"})


def all_task_runs() -> list[dict[str, Any]]:
    return _all("/task_runs/filter", {"sort": "NAME_ASC"})


def all_logs() -> list[dict[str, Any]]:
    return _all("/logs/filter", {"sort": "TIMESTAMP_ASC"}, page=200)


def all_artifacts() -> list[dict[str, Any]]:
    return _all("/artifacts/filter", {"sort": "CREATED_DESC"})


def artifacts_of(flow_run_ids: list[str]) -> list[dict[str, Any]]:
    return _all("/artifacts/filter", {"sort": "CREATED_DESC", "artifacts": {"flow_run_id": {"any_": flow_run_ids}}})


def final(run: dict[str, Any]) -> bool:
    state = run.get("state") or {}
    return state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def wait_until(read: Callable[[], list[dict[str, Any]]], done: Callable[[list[dict[str, Any]]], bool],
               timeout: float = 120) -> list[dict[str, Any]]:
    """Read until ``done`` (the server records client-side task runs from events, a bit later)."""
    deadline = time.monotonic() + timeout
    while True:
        items = read()
        if done(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.25)
