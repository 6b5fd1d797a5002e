"""A ready-made job (a Prefect flow) run from the command line, recorded without blocking on Prefect.

Calling a ``@flow`` runs Prefect's flow engine, which needs the API before the flow's first
line (the temporary server's whole start) and raises if the API fails at its end -- losing
the result. :func:`run_job` runs the flow's function itself, at once, inside a flow run of
the same flow recorded by a :class:`~genja_prefect.prefect.record.RunRecord`: the job's
``run_tasks`` calls record their subflows and host task runs into it, and
:func:`publish_artifact` its artifacts. The result is returned whatever Prefect does.

Example::

    from genja_prefect.prefect.jobs import run_job
    from genja_prefect_flows import collect_facts

    tree = run_job(collect_facts, {"settings": "lab/settings.yaml"})
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from genja_prefect.prefect.record import RunRecord

__all__ = ["current_job_record", "job_record", "publish_artifact", "recorded_job", "run_job"]

logger = logging.getLogger(__name__)

_JOB: ContextVar[RunRecord | None] = ContextVar("genja_prefect_job_record", default=None)

#: How long a CLI job waits at its end while Prefect makes no progress (the runs inside it
#: use their own ``prefect.record_timeout_s``; this only covers the job's own flow run).
JOB_RECORD_TIMEOUT_S = 15.0


def current_job_record() -> RunRecord | None:
    """The record of the job being run by :func:`run_job` in this context, if any."""
    return _JOB.get()


@contextmanager
def job_record(record: RunRecord) -> Iterator[RunRecord]:
    """Make ``record`` the current job's record in the block (the runs inside record into it)."""
    token = _JOB.set(record)
    try:
        yield record
    finally:
        _JOB.reset(token)


@contextmanager
def recorded_job(flow_name: str, parameters: dict[str, Any], start_timeout: float = 120.0) -> Iterator[RunRecord]:
    """A flow run of ``flow_name`` recorded in the background around the block."""
    from genja_prefect.prefect.temporary_server import start_server

    start_server(start_timeout)
    # No name: the server gives it one of its slugs; the run inside renames it after the job
    # and its selection once that is known.
    record = RunRecord(flow_name, "", parameters)
    token = _JOB.set(record)
    try:
        yield record
    except BaseException as exc:
        crashed = not isinstance(exc, Exception)
        record.finish("CRASHED" if crashed else "FAILED", f"{type(exc).__name__}: {exc}"[:500])
        raise
    else:
        # the runs inside judged the hosts (prefect.fail_on): the job's flow run ends the same way
        record.finish(*(record.verdict or ("COMPLETED", "")))
    finally:
        _JOB.reset(token)
        warning = record.close_and_confirm(stall_timeout=JOB_RECORD_TIMEOUT_S, total_timeout=120.0)
        if warning:
            logger.warning("%s", warning)


def run_job(job: Any, parameters: dict[str, Any]) -> Any:
    """Run the Prefect flow ``job``'s function with ``parameters`` (validated as the flow would)."""
    values = job.validate_parameters(parameters) if getattr(job, "should_validate_parameters", True) else parameters
    shown = {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool, dict, list, type(None)))}
    with recorded_job(job.name, shown):
        return job.fn(**values)


def publish_artifact(key: str, artifact_type: str, data: Any, description: str) -> bool:
    """An artifact of the current :func:`run_job` flow run; ``False`` outside one."""
    record = current_job_record()
    if record is None:
        return False
    body: dict[str, Any] = {"key": key, "type": artifact_type, "data": data, "description": description}
    body["flow_run_id"] = record.flow_run_id
    record.post("/artifacts/", body)
    return True
