"""Deployment pull steps that explain their failures in the flow run's state.

A pull step runs in the flow run's process before the flow is loaded. When Prefect's own
``set_working_directory`` fails (the directory does not exist on the worker's machine), the
process exits and the worker records only ``Crashed: Process exited with status code: 1``; the
``FileNotFoundError`` is in the worker's output alone. :func:`set_working_directory` here does
the same work, and on failure first sets the flow run ``Failed`` with a one-line reason through
the API (a crashed state proposed afterwards by the worker does not replace a final one), so
the reason is in the UI, in ``prefect flow-run inspect`` and in the API. In prefect.yaml::

    pull:
      - genja_prefect_flows.steps.set_working_directory:
          directory: "{{ $PWD }}"
"""

from __future__ import annotations

import logging
import os
import socket

__all__ = ["PullStepError", "fail_flow_run", "set_working_directory"]

logger = logging.getLogger("genja_prefect_flows.steps")


class PullStepError(RuntimeError):
    """A pull step could not prepare the flow run; the message says why and what to do."""


def fail_flow_run(reason: str) -> bool:
    """Set the flow run this process executes (``PREFECT__FLOW_RUN_ID``) to ``Failed`` with
    ``reason`` as its message. Returns False (and logs why) when there is no flow run or the
    API cannot be reached: the caller raises its error all the same."""
    flow_run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
    if not flow_run_id:
        return False
    try:
        from prefect.client.orchestration import get_client
        from prefect.states import Failed

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run_id, Failed(message=reason), force=True)
        return True
    except Exception as exc:  # noqa: BLE001 - the original failure is raised by the caller
        logger.warning("could not set flow run %s to Failed: %s: %s", flow_run_id, type(exc).__name__, exc)
        return False


def set_working_directory(directory: str) -> dict[str, str]:
    """Prefect's ``set_working_directory`` pull step; when ``directory`` cannot be entered the
    flow run is set ``Failed`` with the reason (which directory, which machine, what to do)
    before :class:`PullStepError` is raised."""
    from prefect.deployments.steps.pull import set_working_directory as prefect_step

    try:
        return prefect_step(directory)
    except OSError as exc:
        problem = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be entered ({exc.strerror or exc})"
        reason = (f"working directory {directory} {problem} on worker machine {socket.gethostname()}: "
                  "run `prefect deploy` from a checkout that exists where the worker runs, "
                  "or change the pull step's directory")
        fail_flow_run(reason)
        raise PullStepError(reason) from None
