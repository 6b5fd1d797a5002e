"""The Prefect server genja-prefect talks to: settings that make it ingest host runs fast.

Used by the Prefect adapter before a process's first API call (the temporary server reads
them when it starts) and documented for ``prefect server start`` (docs/prefect.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["FAST_INGEST_SERVER_ENV", "tune_ephemeral_server"]

#: Environment for a Prefect server (``prefect server start``, or the ephemeral one) that
#: writes task-run events and events in batches of up to 500. Prefect's defaults write each
#: task-run event in its own transaction (``batch_size=1``): ~15 host runs/s visible on this
#: 2-core machine, against several hundred with these (bench/RESULTS.md). ``flush_interval``
#: is how long a partial batch waits; the server casts it to ``int``: keep it >= 1.
FAST_INGEST_SERVER_ENV: Mapping[str, str] = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
}


def tune_ephemeral_server() -> bool:
    """Give the temporary server Prefect starts for this process :data:`FAST_INGEST_SERVER_ENV`.

    Only when no API URL is configured (ephemeral mode), and only for variables the
    environment does not set already; also turns the server's telemetry off. The server reads them when it starts, so this matters
    before the process's first Prefect API call. Returns whether the process is in ephemeral mode.
    """
    from genja_prefect.prefect.api import api_url

    if api_url():
        return False
    for name, value in FAST_INGEST_SERVER_ENV.items():
        os.environ.setdefault(name, value)
    # No telemetry service: its traffic would leave 127.0.0.1 (an ERROR line without internet),
    # and its first heartbeat write raced the run's first writes ('database is locked').
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return True
