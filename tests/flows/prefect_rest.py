"""Small readers of Prefect's REST API for the flow tests.

prefect 3.8.8's client sends ``null`` for filter fields left out (``limit``, ``sort``,
``flow_runs``...), which its own server rejects with 422 here (fastapi 0.15x), and an empty
``task_runs`` filter drops flow-level artifacts. These helpers post exactly the fields meant.
"""

from __future__ import annotations

from typing import Any

import httpx


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RuntimeError("no Prefect API configured (use the prefect_api fixture)")
    return str(url).rstrip("/")


def post(path: str, body: dict[str, Any], api_url: str | None = None) -> Any:
    """POST ``body`` to ``<api>/<path>`` and return the decoded JSON."""
    with httpx.Client(base_url=api_url or _api_url(), timeout=30) as client:
        response = client.post(path, json=body)
        response.raise_for_status()
        return response.json()


def artifacts(key: str, flow_run_id: Any = None, api_url: str | None = None) -> list[dict[str, Any]]:
    """Artifacts with ``key`` (of one flow run when given), newest first."""
    body: dict[str, Any] = {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 50, "offset": 0}
    if flow_run_id is not None:
        body["artifacts"]["flow_run_id"] = {"any_": [str(flow_run_id)]}
    return list(post("/artifacts/filter", body, api_url))
