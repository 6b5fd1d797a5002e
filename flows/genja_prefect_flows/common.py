"""What every ready-made flow shares: building the runtime from flow parameters, calling
connection methods, recognizing device error replies, and Prefect artifacts.

Example::

    from genja_prefect_flows.common import build_runtime

    genja = build_runtime("lab/settings.yaml", filter={"platform": "eos"}, workers=5)
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from genja_prefect.errors import GenjaError
from genja_prefect import Genja
from genja_prefect.connection import CommandError
from genja_prefect.masking import mask_secrets, mask_tree
from genja_prefect.results import RunResults, TaskResults

__all__ = [
    "RUNNING_CONFIG_COMMANDS",
    "FlowParameterError",
    "build_runtime",
    "call",
    "check_output",
    "finish_job",
    "in_flow_run",
    "markdown_table",
    "pin_controlling_terminal",
    "publish_markdown",
    "publish_table",
    "results_payload",
    "run_command",
    "run_logger",
]

logger = logging.getLogger("genja_prefect_flows")

#: First lines with which CLIs reject a command (IOS, EOS, NX-OS, Junos, fakenos models).
_ERROR_REPLY = re.compile(
    r"^\s*(?:% ?Invalid input|% ?Invalid command|% ?Incomplete command|% ?Ambiguous command|"
    r"% ?Unrecognized command|% ?Error|Unknown command|syntax error|error: )",
    re.IGNORECASE | re.MULTILINE,
)


#: platform -> the command that prints the running configuration.
RUNNING_CONFIG_COMMANDS: dict[str, str] = {
    "ios": "show running-config",
    "iosxe": "show running-config",
    "eos": "show running-config",
    "nxos": "show running-config",
    "asa": "show running-config",
    "junos": "show configuration",
}


class FlowParameterError(GenjaError, ValueError):
    """A flow parameter is wrong; the message names the parameter and what to do."""


class FlowSetupError(GenjaError, RuntimeError):
    """The machine running the flow lacks something it needs (a connection plugin, an extra);
    the message says what to install where."""


#: The extra of genja-prefect that brings each first-party connection plugin's library.
PLUGIN_EXTRAS = {"scrapli": "devices", "ncclient": "devices"}


def _require_connection_plugins(genja: Genja, names: Sequence[str]) -> None:
    """Fail the flow at its start, with one line, when a connection plugin its task needs is not
    available here (typically: the worker's environment lacks ``genja-prefect[devices]``),
    instead of failing every host with the same plugin error."""
    available = genja.plugin_manager.plugins("connection")
    for name in names:
        if name in available:
            continue
        load_errors = [f"{where}: {error}" for where, error in genja.plugin_manager.discovery_errors.items()
                       if where.endswith(f":{name}")]
        why = f" ({load_errors[0]})" if load_errors else ""
        extra = PLUGIN_EXTRAS.get(name)
        fix = (f"pip install 'genja-prefect[{extra}]' in the environment the worker runs flows in" if extra
               else f"install the package providing connection plugin {name!r} where the worker runs")
        raise FlowSetupError(f"connection plugin {name!r} is not available on {socket.gethostname()}{why}: {fix}")


def _inventory_block(settings: str | os.PathLike[str]) -> Genja | None:
    """The runtime of a ``GenjaInventory`` block when ``settings`` is ``genja-inventory/NAME``."""
    if not os.fspath(settings).startswith("genja-inventory/"):
        return None  # a settings file: no Prefect import (a --no-prefect run never needs it)
    from genja_prefect.prefect.blocks import GenjaInventory, inventory_block_name

    name = inventory_block_name(settings)
    if name is None:
        return None
    try:
        block = GenjaInventory.load(name, _sync=True)  # type: ignore[call-arg]
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise FlowParameterError(f"settings: no GenjaInventory block named {name!r} ({exc})") from None
    return block.runtime()  # type: ignore[no-any-return]


def build_runtime(
    settings: str | os.PathLike[str],
    filter: Mapping[str, Any] | None = None,  # noqa: A002 - the flows' public parameter name
    workers: int | None = None,
    runner: str | None = None,
    *,
    job: str | None = None,
    needs: Sequence[str] = (),
    **setting_overrides: Mapping[str, Any],
) -> Genja:
    """A :class:`Genja` runtime from a settings path and the flows' common parameters.

    ``settings`` may also name a :class:`~genja_prefect.prefect.blocks.GenjaInventory` block
    as ``genja-inventory/NAME`` (when no file of that name exists).
    ``filter`` is a keyword filter (``{"platform": "ios"}``, ``{"data__role": "edge"}``);
    ``workers`` sets ``runner.worker_count``; ``runner`` picks the runner plugin by name.
    ``job`` names the ready-made job: its Prefect flow run is named after it and the selection
    (``collect_facts platform=ios (12 hosts)``). ``needs`` names the connection plugins the
    flow's task uses: a missing one raises :class:`FlowSetupError` before any host is
    contacted. Extra keyword arguments are settings sections to change
    (``prefect={"enabled": False}``).
    """
    if not isinstance(settings, (str, os.PathLike)) or not str(settings):
        raise FlowParameterError(f"settings: expected the path of a settings.yaml file, got {settings!r}")
    block = _inventory_block(settings)
    if block is None and not os.path.isfile(settings):
        raise FlowParameterError(
            f"settings: no settings file at {os.fspath(settings)!r} (working directory {os.getcwd()!r})"
        )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise FlowParameterError(f"workers: expected a whole number of 1 or more, got {workers!r}")
    genja = block if block is not None else Genja.from_settings_file(settings)
    # Load the connection plugins now, in one thread: host threads that look a plugin up
    # while another thread is still discovering them can get a spurious PluginKindError
    # (genja_prefect.plugins.PluginManager._ensure_discovered; reported).
    genja.plugin_manager.plugins("connection")
    _require_connection_plugins(genja, needs)
    overrides: dict[str, dict[str, Any]] = {k: dict(v) for k, v in setting_overrides.items()}
    if workers is not None:
        overrides.setdefault("runner", {})["worker_count"] = workers
    if overrides:
        genja = genja.with_settings(**overrides)
    if runner is not None:
        genja = genja.with_runner(runner)
    if filter:
        # A key no host has (``platfrom``) raises genja_prefect.errors.FilterError, as
        # Genja.filter() and the command line's --filter do.
        genja = genja.filter(**dict(filter))
    if job:
        genja = genja.with_run_parameters(job=job)
    if not genja.host_ids():
        logger.warning("no hosts selected (settings %s, filter %s)", os.fspath(settings), dict(filter or {}))
    return genja


def call(connection: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call a connection method, sync or ``async def`` (an async one runs on the run's loop).

    Raises :class:`NotImplementedError` naming the method when the connection lacks it.
    """
    fn = getattr(connection, method, None)
    if fn is None or not callable(fn):
        raise NotImplementedError(f"connection {type(connection).__name__} has no method {method}()")
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        from genja_prefect.engine.execution import current_env

        env = current_env()
        if env is None:
            raise RuntimeError(f"{method}() returned an awaitable outside a genja-prefect run")
        return env.bridge.run(result)
    return result


def check_output(command: str, output: Any, *, anywhere: bool = False) -> str:
    """The output as text; raises :class:`CommandError` when the device rejected the command.

    By default only the first lines are checked: a rejection comes first (after IOS's caret
    line), while a config that merely contains such words further down (a banner) is fine.
    ``anywhere=True`` checks every line (the output of several config lines).
    """
    text = output if isinstance(output, str) else str(getattr(output, "result", output))
    lines = [line for line in text.splitlines() if line.strip()]
    head = "\n".join(lines if anywhere else lines[:3])
    match = _ERROR_REPLY.search(head)
    if match is not None:
        line = head[match.start():].strip().splitlines()[0]
        raise CommandError(f"device rejected {command!r}: {line}", output=text)
    return text


def run_command(connection: Any, command: str) -> str:
    """Run one CLI command through a connection's ``execute_command``; rejected -> CommandError."""
    return check_output(command, call(connection, "execute_command", command))


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table of ``rows`` (missing values empty, ``|`` escaped)."""

    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def results_payload(results: RunResults | TaskResults) -> Any:
    """What a flow returns: the normalized result tree (a list for several root tasks), with
    secrets in config text masked (a flow's return value is persisted and shown by Prefect)."""
    if isinstance(results, TaskResults):
        return mask_tree(results.to_dict())
    if len(results) == 1:
        return mask_tree(results[0].to_dict())
    return mask_tree(results.to_dict())


def finish_job(tree: Any, results: RunResults | TaskResults, fail_on: str) -> Any:
    """What a job returns: the result tree, or inside a flow run whose hosts failed past
    ``fail_on`` a Failed state carrying it (``genja_prefect.prefect.flows.job_state``). Run as
    a plain function (``--no-prefect``) Prefect is never imported here."""
    if not in_flow_run():
        return tree
    from genja_prefect.prefect.flows import job_state

    return job_state(tree, results, fail_on)


def in_flow_run() -> bool:
    """True inside a running Prefect flow (where artifacts can be created)."""
    if "prefect" not in sys.modules:
        return False  # never imported, so no flow run: a job run with --no-prefect stays without it
    try:
        from prefect.context import FlowRunContext
    except ImportError:  # pragma: no cover - prefect is a dependency
        return False
    return FlowRunContext.get() is not None


def run_logger() -> Any:
    """Prefect's run logger inside a flow run (its lines show in the UI), else this package's logger."""
    if in_flow_run():
        from prefect.logging import get_run_logger

        return get_run_logger()
    return logger


def publish_markdown(key: str, markdown: str, description: str) -> None:
    """Create a markdown artifact in the Prefect flow run this job runs in (else do nothing).

    That is a running Prefect flow, or the flow run ``genja-prefect run JOB`` records for the
    job without Prefect's flow engine (:func:`genja_prefect.prefect.jobs.run_job`).

    Secrets in config text are masked here too, whatever the caller built the markdown from.
    Within a job's record (both cases, for a ready-made job) the artifact is posted in the
    background with the rest of the record: spooled, not lost or waited for, when Prefect is down.
    """
    if not in_flow_run():
        from genja_prefect.prefect.jobs import publish_artifact

        publish_artifact(key, "markdown", mask_secrets(markdown), description)
        return
    from genja_prefect.prefect.jobs import publish_artifact

    if publish_artifact(key, "markdown", mask_secrets(markdown), description):
        return
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(markdown=mask_secrets(markdown), key=key, description=description)


def publish_table(key: str, rows: list[dict[str, Any]], description: str) -> None:
    """Create a table artifact in the Prefect flow run this job runs in (else do nothing);
    within the job's record like :func:`publish_markdown`."""
    if not in_flow_run():
        return
    from genja_prefect.prefect.jobs import publish_artifact

    # The API's form of a table artifact: its rows as one JSON string, as Prefect's
    # create_table_artifact sends them.
    if publish_artifact(key, "table", json.dumps(rows, default=str), description):
        return
    from prefect.artifacts import create_table_artifact

    create_table_artifact(table=rows, key=key, description=description)


def __getattr__(name: str) -> Any:
    # pin_controlling_terminal lived here first and is still exported from here, imported on
    # first use: genja_prefect_scrapli imports scrapli (the devices extra), and this module
    # must import without it (see _require_connection_plugins).
    if name == "pin_controlling_terminal":
        from genja_prefect_scrapli.terminal import pin_controlling_terminal

        return pin_controlling_terminal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
