"""``genja-prefect rerun RUN_ID --failed``: run a past run's failed hosts again.

The past flow run's ``invocation`` parameter (recorded by ``genja-prefect run``) says what was
run (job or task class, settings path, filters); the per-root-task table artifacts of its
subflows say which hosts failed. The same job then runs again on exactly those hosts, as a new
flow run.
"""

from __future__ import annotations

from typing import Any

from genja_prefect.cli.jobs import job_registry, load_task, run_job
from genja_prefect.errors import GenjaError
from genja_prefect.prefect.history import failed_hosts_of_run


class RerunError(GenjaError):
    """The run cannot be re-run (unknown id, not started by the CLI, nothing failed...)."""


def rerun_failed(run_id: str, settings_override: str | None = None) -> list[dict[str, Any]]:
    """Run the job of ``run_id`` again on its failed hosts; returns the new result trees."""
    from genja_prefect.runtime import Genja

    invocation, failed = failed_hosts_of_run(run_id)
    if not failed:
        raise RerunError(f"no host failed in flow run {run_id}: nothing to rerun")
    if "job_flow" not in invocation:
        settings = settings_override or invocation["settings"]
        genja = Genja.from_settings_file(settings).filter(id__in=failed)
        genja = genja.with_run_parameters(**{**invocation, "settings": settings, "rerun_of": run_id})
        return [genja.run_task(load_task(invocation["target"])).to_dict()]
    jobs = {getattr(f, "name", n): f for n, f in job_registry().items()}
    job = jobs.get(invocation["job_flow"])
    if job is None:
        raise RerunError(f"flow run {run_id} ran '{invocation['job_flow']}', which is not a genja-prefect job installed here")
    params = dict(invocation["parameters"])
    if settings_override:
        params["settings"] = settings_override
    params["filter"] = {"id__in": failed}
    return run_job(job, **params)
