"""What the command line runs: task classes named on the command line, and ready-made jobs.

A ready-made job (``collect_facts``, ...) comes from the installed ``genja_prefect_flows``
package as a plain function and, only when Prefect records the run, as its Prefect flow: a
``--no-prefect`` run imports no Prefect at all.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genja_prefect.cli.errors import CliError
from genja_prefect.outcome import HostsFailedError


def load_task(target: str) -> Any:
    """The task class named by ``module:Class`` or ``path/to/file.py:Class``."""
    module_name, _, attr = target.partition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.exists():
            raise CliError(f"task file not found: {path}", hint="use path/to/file.py:TaskClass with an existing file")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CliError(f"cannot import '{module_name}': {exc}", hint="use module:TaskClass or path/to/file.py:TaskClass") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise CliError(f"'{module_name}' has no task '{attr}'", hint=f"check the class name in {module_name}") from None


def job_specs() -> dict[str, Any]:
    """The ready-made jobs (name -> ``JobSpec``) of the installed ``genja_prefect_flows``, if any.

    Importing the specs imports the jobs' genja tasks, not Prefect.
    """
    try:
        jobs = importlib.import_module("genja_prefect_flows.jobs")
    except ImportError:
        return {}
    return dict(getattr(jobs, "JOB_SPECS", {}))


def load_job(name: str) -> Any:
    """The ready-made job ``name``; a missing extra or an unknown name is one clear line."""
    try:
        flows = importlib.import_module("genja_prefect_flows")
    except ImportError:
        raise CliError(f"unknown job '{name}' (no ready-made jobs installed)", hint="or run a task class: module:TaskClass") from None
    try:
        return flows.load_job(name)
    except flows.UnknownJobError as exc:
        raise CliError(str(exc), hint="or run a task class: module:TaskClass") from None
    except flows.MissingExtraError as exc:
        raise CliError(str(exc), hint=f"pip install 'genja-prefect[{flows.JOB_EXTRA}]'") from None


def find_job(name: str) -> Any:
    """The ``JobSpec`` of ready-made job ``name``; CliError listing the jobs otherwise."""
    specs = job_specs()
    spec = specs.get(name)
    if spec is None:
        names = ", ".join(sorted(specs)) or "none installed"
        raise CliError(f"unknown job '{name}' (ready-made jobs: {names})", hint="or run a task class: module:TaskClass")
    from genja_prefect_flows import JOB_EXTRA, missing_extra_module

    missing = missing_extra_module()  # before any run starts: the device libraries load on connect
    if missing is not None:
        raise CliError(f"install genja-prefect[{JOB_EXTRA}] to run {name} (missing Python package {missing!r})",
                       hint=f"pip install 'genja-prefect[{JOB_EXTRA}]'")
    try:
        spec.function()
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("genja_prefect_flows", "genja_prefect"):
            raise  # our own module missing is a packaging bug, not a missing extra
        raise CliError(f"install genja-prefect[devices] to run {name} (missing Python package {exc.name!r})",
                       hint="pip install 'genja-prefect[devices]'") from None
    return spec


def job_parameters(fn: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` of job function ``fn`` converted to its parameter types, defaults filled in:
    what Prefect's flow would record as the flow run's parameters."""
    import inspect
    import typing

    from pydantic import TypeAdapter

    bound = inspect.signature(fn).bind(**params)
    bound.apply_defaults()
    hints = typing.get_type_hints(fn)
    return {
        name: TypeAdapter(hints[name]).validate_python(value) if name in params and name in hints else value
        for name, value in bound.arguments.items()
    }


def check_job_parameters(spec: Any, params: dict[str, Any]) -> None:
    """Reject ``--param`` names the job does not take and values of the wrong type, before
    anything runs (Prefect would check them too, inside a flow run, with its own log lines)."""
    import inspect
    import typing

    from pydantic import TypeAdapter, ValidationError

    fn = spec.function()
    accepted = inspect.signature(fn).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        own = [n for n in accepted if n not in ("settings", "filter", "workers", "runner")]
        raise CliError(
            f"job '{spec.name}' has no parameter {', '.join(repr(u) for u in unknown)} "
            f"(its parameters: {', '.join(own) or 'none'})",
            hint="pass them as --param NAME=VALUE; --settings, --filter, --workers and --runner are options",
        )
    required = [n for n, p in accepted.items() if p.default is inspect.Parameter.empty and n != "settings" and n not in params]
    if required:
        raise CliError(f"job '{spec.name}' needs {', '.join(required)}",
                       hint=" ".join(f"--param {n}=VALUE" for n in required))
    hints = typing.get_type_hints(fn)
    for name, value in params.items():
        expected = hints.get(name, Any)
        try:
            TypeAdapter(expected).validate_python(value)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            type_name = getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
            raise CliError(f"--param {name}={value!r}: {problem} (job '{spec.name}' expects {type_name})",
                           hint=f"e.g. --param {name}=true for a flag, a number for a count") from None
    spec.check(params)


@dataclass
class RunOutcome:
    """What a run returned: the result trees and, when Prefect recorded it, its flow run."""

    trees: list[dict[str, Any]]
    flow_run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_job(spec: Any, kwargs: dict[str, Any], *, prefect: bool) -> RunOutcome:
    """Run a ready-made job: as its Prefect flow, or (``prefect=False``) as a plain function
    with ``prefect.enabled: false`` (no Prefect import, server or flow run)."""
    if not prefect:
        os.environ["GENJA_PREFECT_PREFECT__ENABLED"] = "false"  # read by the job's settings
        out = spec.function()(**kwargs)
        return RunOutcome(out if isinstance(out, list) else [out])
    from genja_prefect_flows.jobs import report_user_errors_elsewhere

    from genja_prefect.prefect.jobs import recorded_job
    from genja_prefect.prefect.spool import ALIASES

    report_user_errors_elsewhere()  # the command prints them as one line
    # The job's function runs at once, in a flow run of the job's flow recorded in the
    # background: Prefect being slow to start, down or failing never blocks or loses the result.
    # Nothing here imports Prefect (its import is a second or two the devices need not wait for).
    fn = spec.function()
    values = job_parameters(fn, kwargs)
    shown = {k: v for k, v in values.items() if isinstance(v, (str, int, float, bool, dict, list, type(None)))}
    with recorded_job(spec.flow_name, shown) as record:
        try:
            result = fn(**values)
        except HostsFailedError as exc:
            # Hosts failed past prefect.fail_on: the run is red in Prefect; the error carries
            # the full result tree, which the command prints like any other.
            result = exc.tree
    run_id = ALIASES.get(record.flow_run_id)
    return RunOutcome(result if isinstance(result, list) else [result], run_id)


def run_task_class(genja: Any, task: Any, max_depth: int | None, *, prefect: bool) -> RunOutcome:
    """Run a task class; with Prefect, find the flow run it made (by a call id in its parameters)."""
    call_id = uuid.uuid4().hex
    if prefect:
        genja = genja.with_run_parameters(call_id=call_id)
    tree = genja.run_task(task, max_depth=max_depth).to_dict()
    run_id = None
    if prefect:
        from genja_prefect.prefect.history import find_run_by_call_id

        run_id = find_run_by_call_id(call_id)
    return RunOutcome([tree], run_id)
