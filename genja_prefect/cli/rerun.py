"""``genja-prefect rerun RUN --failed``: run a past run's failed hosts again.

``RUN`` is a flow run's id or its unique name. The past flow run's ``invocation`` parameter
(recorded by ``genja-prefect run``) says what was run (task class, settings path, filters);
a ready-made job's flow run has the job's own parameters. The per-root-task table artifacts of
its subflows say which hosts failed. The same job then runs again on exactly those hosts, as
a new flow run.
"""

from __future__ import annotations

from typing import Any

from genja_prefect.cli.jobs import RunOutcome, job_specs, load_task, run_job, run_task_class
from genja_prefect.errors import GenjaError
from genja_prefect.prefect.history import failed_hosts_of_run


class RerunError(GenjaError):
    """The run cannot be re-run (unknown id, not started by the CLI, nothing failed...)."""


def rerun_failed(run_id: str, settings_override: str | None = None) -> RunOutcome:
    """Run the job of ``run_id`` (an id or a unique run name) again on its failed hosts."""
    from genja_prefect.runtime import Genja

    invocation, failed = failed_hosts_of_run(run_id)
    if not failed:
        raise RerunError(f"no host failed in flow run {run_id}: nothing to rerun")
    if "job_flow" not in invocation:
        settings = settings_override or invocation["settings"]
        genja = Genja.from_settings_file(settings).filter(id__in=failed)
        recorded = {k: v for k, v in invocation.items() if k != "call_id"}
        genja = genja.with_run_parameters(**{**recorded, "settings": settings, "rerun_of": run_id})
        return run_task_class(genja, load_task(invocation["target"]), None, prefect=True)
    specs = {spec.flow_name: spec for spec in job_specs().values()}
    spec = specs.get(invocation["job_flow"])
    if spec is None:
        raise RerunError(f"flow run {run_id} ran '{invocation['job_flow']}', which is not a genja-prefect job installed here")
    params: dict[str, Any] = dict(invocation["parameters"])
    if settings_override:
        params["settings"] = settings_override
    params["filter"] = {"id__in": failed}
    return run_job(spec, params, prefect=True)
