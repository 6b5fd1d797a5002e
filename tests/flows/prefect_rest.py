"""Small readers of Prefect's REST API for the flow tests.

prefect 3.8.8's client sends ``null`` for filter fields left out (``limit``, ``sort``,
``flow_runs``...), which its own server rejects with 422 here (fastapi 0.15x), and an empty
``task_runs`` filter drops flow-level artifacts. These helpers post exactly the fields meant.
"""

from __future__ import annotations

import time
from typing import Any

import httpx


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise RuntimeError("no Prefect API configured (use the prefect_api fixture)")
    return str(url).rstrip("/")


#: A read may be retried this long: on a loaded 2-core machine (three test processes, a worker,
#: flow runs, a CPU hog) a SQLite-backed test server has left a single read unanswered for 30 s.
READ_RETRY_S = 240.0


def request(method: str, path: str, body: dict[str, Any] | None = None, api_url: str | None = None) -> Any:
    """``method`` ``<api>/<path>`` and return the decoded JSON. Any request that meets a busy
    server (503) and reads (GET, ``.../filter``, ``.../count``) that time out are retried up
    to ``READ_RETRY_S``.

    Prefect answers 503 only for errors it classes as retryable (a SQLite database locked
    beyond its busy timeout, a dropped database connection): the request's transaction was
    rolled back, so a write is retried as Prefect's own client retries it. A write that timed
    out may have been applied and is not retried."""
    read = method == "GET" or path.rstrip("/").endswith(("/filter", "/count"))
    deadline = time.monotonic() + READ_RETRY_S
    with httpx.Client(base_url=api_url or _api_url(), timeout=60) as client:
        while True:
            try:
                response = client.request(method, path, json=body)
                if response.status_code != 503:
                    response.raise_for_status()
                    return response.json()
            except httpx.TimeoutException:
                if not read or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                response.raise_for_status()
            time.sleep(1.0)


def post(path: str, body: dict[str, Any], api_url: str | None = None) -> Any:
    """POST ``body`` to ``<api>/<path>`` and return the decoded JSON."""
    return request("POST", path, body, api_url)


def artifacts(key: str, flow_run_id: Any = None, api_url: str | None = None) -> list[dict[str, Any]]:
    """Artifacts with ``key`` (of one flow run when given), newest first."""
    body: dict[str, Any] = {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 50, "offset": 0}
    if flow_run_id is not None:
        body["artifacts"]["flow_run_id"] = {"any_": [str(flow_run_id)]}
    return list(post("/artifacts/filter", body, api_url))
