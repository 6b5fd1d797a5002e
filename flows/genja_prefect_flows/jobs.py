"""The ready-made jobs by name, and their Prefect flows made on first use.

Each job is a plain function (``collect_facts_job``, ...) that builds the runtime from its
parameters, runs its genja task(s) and returns the result tree. Its Prefect flow
(``collect_facts``, ...) calls that function; it is created only when something asks for it,
because ``import prefect`` costs about two seconds: the command line's ``--help``,
``inventory`` and ``--no-prefect`` runs never pay it. The module attributes
``genja_prefect_flows.facts.collect_facts`` and ``genja_prefect_flows.collect_facts`` are
those flows (deployment entrypoints such as ``facts.py:collect_facts`` resolve to them).

Example::

    from genja_prefect_flows.jobs import JOB_SPECS

    spec = JOB_SPECS["collect_facts"]
    tree = spec.function()(settings="lab/settings.yaml")    # no Prefect involved
    flow = spec.flow()                                       # the Prefect flow "collect-facts"
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genja_prefect.errors import GenjaError

__all__ = ["JOB_SPECS", "JobSpec", "module_flow", "report_user_errors_elsewhere"]

#: Options every ready-made flow is declared with (results as JSON, kept for the UI).
FLOW_OPTIONS: dict[str, Any] = {"log_prints": False, "persist_result": True, "result_serializer": "json"}

#: The parameters every job takes (the runtime's), beside its own.
COMMON_PARAMETERS = ("settings", "filter", "workers", "runner")

_lock = threading.Lock()


class _UserErrorLog(logging.Filter):
    """Prefect logs a flow's exception with its traceback ("Encountered exception during
    execution"); for genja-prefect's own errors (bad settings, filter, template, parameter),
    whose message already names the file/host/key, the traceback through Prefect's engine is
    noise: the record keeps its one line (also in the UI). ``drop`` removes it altogether, for
    a caller that prints the error itself (the command line)."""

    drop = False

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, GenjaError):
            if self.drop:
                return False
            record.exc_info = None
            record.exc_text = None
        return True


_user_errors = _UserErrorLog()


def report_user_errors_elsewhere() -> None:
    """The caller reports genja-prefect errors of flow runs itself: Prefect does not log them."""
    _user_errors.drop = True
_flows: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class JobSpec:
    """One ready-made job: its CLI name, Prefect flow name and where its function lives."""

    name: str
    flow_name: str
    module: str

    def function(self) -> Callable[..., Any]:
        """The job as a plain function (``<name>_job``): no Prefect import, no flow run."""
        fn: Callable[..., Any] = getattr(importlib.import_module(self.module), f"{self.name}_job")
        return fn

    def check(self, params: dict[str, Any]) -> None:
        """Raise the error the job would raise for ``params`` (its own ones: a missing template,
        bad XML) before any run starts; the module's ``<name>_check`` does it, if it has one."""
        check = getattr(importlib.import_module(self.module), f"{self.name}_check", None)
        if check is not None:
            check(**{k: v for k, v in params.items() if k not in COMMON_PARAMETERS})

    def flow(self) -> Any:
        """The job's Prefect flow (created once per process; this imports Prefect)."""
        return _make_flow(self, self.function())


def _make_flow(spec: JobSpec, fn: Callable[..., Any]) -> Any:
    key = (fn.__module__, spec.name)
    with _lock:
        made = _flows.get(key)
        if made is None:
            from prefect import flow

            from genja_prefect.prefect.flow_run_guard import quiet_prefect_outage_noise, recorded_flow_run

            @functools.wraps(fn)
            def body(*args: Any, **kwargs: Any) -> Any:
                # In a Prefect flow run (a deployment's): the job's record, artifacts and final
                # state survive the Prefect server going away (flow_run_guard).
                with recorded_flow_run():
                    return fn(*args, **kwargs)

            # Prefect names the entrypoint of a served flow after the function:
            # ``genja_prefect_flows.facts:collect_facts`` resolves to this flow again.
            body.__name__ = body.__qualname__ = spec.name
            made = flow(name=spec.flow_name, **FLOW_OPTIONS)(body)
            for name in ("prefect.flow_runs", "prefect.engine"):
                if _user_errors not in logging.getLogger(name).filters:
                    logging.getLogger(name).addFilter(_user_errors)
            quiet_prefect_outage_noise()
            _flows[key] = made
        return made


#: The ready-made jobs by name, as ``genja-prefect run JOB`` knows them.
JOB_SPECS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("collect_facts", "collect-facts", "genja_prefect_flows.facts"),
        JobSpec("backup_configs", "backup-configs", "genja_prefect_flows.backup"),
        JobSpec("deploy_config", "deploy-config", "genja_prefect_flows.deploy"),
        JobSpec("netconf_get_config", "netconf-get-config", "genja_prefect_flows.netconf"),
        JobSpec("netconf_edit_config", "netconf-edit-config", "genja_prefect_flows.netconf"),
        JobSpec("run_commands", "run-commands", "genja_prefect_flows.commands"),
    )
}


def module_flow(module_globals: dict[str, Any], name: str) -> Any:
    """The flow ``name`` of the module whose ``globals()`` are given (for its ``__getattr__``).

    Made from that module's own ``<name>_job`` function, so a module loaded from its file path
    (a deployment entrypoint ``flows/genja_prefect_flows/facts.py:collect_facts``) works too.
    """
    spec = JOB_SPECS.get(name)
    fn = module_globals.get(f"{name}_job")
    if spec is None or fn is None:
        raise AttributeError(f"module {module_globals.get('__name__')!r} has no attribute {name!r}")
    return _make_flow(spec, fn)
