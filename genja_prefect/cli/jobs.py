"""What the command line runs: task classes named on the command line, and ready-made jobs."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from genja_prefect.errors import GenjaError
from genja_prefect.outcome import HostsFailedError


class CliError(GenjaError):
    """A usage problem, reported as one line plus a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def load_task(target: str) -> Any:
    """The task class named by ``module:Class`` or ``path/to/file.py:Class``."""
    module_name, _, attr = target.partition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.exists():
            raise CliError(f"task file not found: {path}")
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
        raise CliError(f"'{module_name}' has no task '{attr}'") from None


def job_registry() -> dict[str, Any]:
    """The ready-made jobs (name -> flow) whose dependencies are installed."""
    try:
        flows = importlib.import_module("genja_prefect_flows")
    except ImportError:
        return {}
    return dict(flows.available_jobs())


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


def run_job(job: Any, **parameters: Any) -> list[dict[str, Any]]:
    """Call a ready-made job's flow; its result trees, also when hosts failed past
    ``prefect.fail_on`` (the flow run is then Failed in Prefect and the flow raises
    :class:`HostsFailedError` carrying the tree)."""
    if hasattr(job, "fn"):
        # A Prefect flow: its function runs at once, in a flow run of the flow recorded in the
        # background, so Prefect being slow, down or failing never blocks or loses the result.
        from genja_prefect.prefect.jobs import run_job as run_recorded

        out = run_recorded(job, parameters)
    else:
        try:
            out = job(**parameters)
        except HostsFailedError as exc:
            out = exc.tree
    return out if isinstance(out, list) else [out]
