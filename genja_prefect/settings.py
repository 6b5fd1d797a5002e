"""Settings: ``settings.yaml`` (YAML or JSON) as pydantic models.

Sections: ``core``, ``inventory``, ``ssh``, ``runner``, ``logging`` and ``prefect``. Unknown keys are
errors. Environment variables ``GENJA_PREFECT_<SECTION>__<KEY>`` (nested keys joined by
``__``) override the file, e.g. ``GENJA_PREFECT_RUNNER__WORKER_COUNT=50``; their values are
read as YAML scalars (``50`` is a number, ``true`` a boolean).

Example ``settings.yaml``::

    inventory:
      plugin: FileInventoryPlugin
      options: {hosts_file: hosts.yaml, groups_file: groups.yaml, defaults_file: defaults.yaml}
    runner:
      plugin: threaded
      worker_count: 10
      max_task_depth: 10
      max_connection_attempts: 3
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genja_prefect.errors import SettingsError
from genja_prefect.yamlfile import find_line, load_file

ENV_PREFIX = "GENJA_PREFECT_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CoreConfig(_Section):
    """``core``: ``raise_on_error`` is accepted for Genja compatibility; failures are always
    recorded in the result tree, never raised (see the tasks reference)."""

    raise_on_error: bool = False


class OptionsConfig(_Section):
    """The file inventory plugin's ``inventory.options`` (genja-py's ``OptionsConfig``).

    ``InventoryConfig(options=OptionsConfig(hosts_file="hosts.yaml"))`` works as in genja-py;
    the options are kept as a plain mapping (``settings.inventory.options["hosts_file"]``)
    because other inventory plugins take other options.
    """

    hosts_file: str | None = None
    groups_file: str | None = None
    defaults_file: str | None = None


class InventoryConfig(_Section):
    """``inventory``: which inventory plugin loads the hosts, and how to transform them."""

    plugin: str = "FileInventoryPlugin"
    options: dict[str, Any] = Field(default_factory=dict)
    transform_function: str | None = None
    transform_function_options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options", mode="before")
    @classmethod
    def _options_config(cls, value: Any) -> Any:
        if isinstance(value, OptionsConfig):
            return value.model_dump(exclude_none=True)
        return value


class SSHConfig(_Section):
    """``ssh``: SSH client settings (genja-py's ``SSHConfig``).

    ``config_file`` is an OpenSSH client config file, relative to the settings file; it is
    checked when settings are loaded (:meth:`validate`). Connection plugins that read an SSH
    config take it per host (e.g. the ncclient plugin's ``ssh_config_file`` extra).
    """

    config_file: str | None = None

    def validate(self, base_dir: Path | None = None) -> None:  # type: ignore[override]
        """Raise :class:`SettingsError` if ``config_file`` is set but not a readable file."""
        path = self.path(base_dir)
        if path is not None and not path.is_file():
            raise SettingsError(
                f"SSH config file {str(path)!r} does not exist or is not a file",
                key="ssh.config_file",
            )

    def path(self, base_dir: Path | None = None) -> Path | None:
        """``config_file`` resolved against ``base_dir`` (``~`` expanded), or ``None``."""
        if self.config_file is None:
            return None
        path = Path(self.config_file).expanduser()
        return path if path.is_absolute() or base_dir is None else base_dir / path


class RetryConfig(_Section):
    """``runner.retry``: re-run a host whose result failed with ``retryable=True``."""

    allow: bool = False
    max_attempts: int = Field(default=2, ge=1)
    delay_ms: int = Field(default=0, ge=0)


class RolloutConfig(_Section):
    """``runner.rollout``: run a root task in waves and stop when too many hosts fail.

    ``canary`` hosts run first (in selection order), then waves of ``batch_percent`` % of the
    selected hosts. After each wave, when more than ``max_fail_percent`` % of the hosts run so
    far failed, the rest are skipped with reason ``rollout_halted`` (and the run is red).
    """

    canary: int = Field(default=1, ge=0)
    batch_percent: float = Field(default=25.0, gt=0, le=100)
    max_fail_percent: float = Field(default=0.0, ge=0, le=100)


class RunnerConfig(_Section):
    """``runner``: runner plugin and limits.

    ``worker_count`` is the number of host executions in flight for runners that support
    it (threaded): when unset, the machine's available parallelism; never more than the
    selected hosts; clamped to at least 1. ``rollout`` (off by default) runs every root task
    in waves (:class:`RolloutConfig`); a task can carry its own with ``@task(options={"rollout":
    {...}})``.

    ``host_timeout_s`` is the whole-host deadline: a root task on one host (sub-tasks
    included) that takes longer ends ``failed`` with kind ``timeout``, its connections are
    closed and its worker takes the next host. An async task body is cancelled; a sync one
    cannot be interrupted (a thread cannot be killed): its thread is abandoned and its late
    result discarded. A root task's ``host_timeout_s`` option overrides it. Unset: no deadline.
    """

    plugin: str = "threaded"
    options: dict[str, Any] = Field(default_factory=dict)
    worker_count: int | None = None
    max_task_depth: int = Field(default=10, ge=0)
    max_connection_attempts: int = Field(default=3, ge=1)
    host_timeout_s: float | None = Field(default=None, gt=0)
    connection_backoff_ms: int = Field(default=200, ge=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    rollout: RolloutConfig | None = None

    def effective_worker_count(self, host_count: int) -> int:
        """The threaded runner's worker count for ``host_count`` selected hosts."""
        workers = self.worker_count if self.worker_count is not None else (os.cpu_count() or 1)
        return max(1, min(workers, host_count))


class LoggingConfig(_Section):
    """``logging``: Python logging of genja-prefect itself (the ``genja_prefect`` loggers;
    Prefect's own logging is configured by Prefect). ``log_file`` is relative to the
    settings file; ``to_console`` adds a stderr handler."""

    enabled: bool = True
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "debug", "info", "warning", "error", "critical"] = "INFO"
    log_file: str | None = None
    to_console: bool = False


class PrefectConfig(_Section):
    """``prefect``: how a run maps onto Prefect.

    - ``enabled``: run as Prefect flows (default). ``false`` runs the same engine without
      Prefect (no UI rows), e.g. for quick local checks.
    - ``host_runs``: ``per_host`` records one Prefect task run per host execution, ``batch``
      one per batch of hosts (``batch_size`` hosts each); ``auto`` picks ``per_host`` up to
      ``batch_threshold`` selected hosts and ``batch`` above it.
    - ``artifacts``: publish a table and a markdown summary per root task.
    - ``flush_timeout_s``: the longest a run waits at its end for Prefect to accept its
      record (flow run, subflows, host task-run events) while Prefect makes progress.
    - ``record_timeout_s``: how long a run waits at its end while Prefect makes *no*
      progress (down, restarting, answering 5xx); then the results are returned, what was not
      recorded is spooled under ``$PREFECT_HOME/genja-spool`` (delivered by the next run or
      ``genja-prefect prefect sync``) and one WARNING says so. Host work never waits for
      Prefect, neither at the start nor while the server is away.
    - ``server_start_timeout_s``: with no ``PREFECT_API_URL``, how long the temporary server
      (started in the background while hosts run) may take to answer before it is given up.
    - ``server``: what ``genja-prefect run`` records into when no ``PREFECT_API_URL``, Prefect
      profile or ``genja-prefect server`` names a server. ``auto`` (default): ``background``
      when the command runs at a terminal, ``temporary`` otherwise (cron, CI, scripts,
      ``CI`` set). ``temporary``: a server for that one command, started while hosts run and
      stopped at its exit (its start, 6-17 s, is most of a short job's time). ``background``:
      the first such command starts the lasting ``genja-prefect server`` on
      127.0.0.1:``server_port`` and later ones use it (a process left running on purpose: it
      stops after ``server_idle_stop_min`` minutes in which no run used it and no flow run
      ran, 0 = never; ``genja-prefect server stop`` ends it at once).
    - ``task_runner``: ``threads`` (in-process) or ``dask`` (prefect-dask, a LocalCluster of
      ``dask_workers`` processes unless ``dask_address`` names a scheduler).
    - ``flow_heartbeats`` / ``subflow_heartbeats``: Prefect flow-run heartbeats for the flow
      run genja-prefect creates for a Python/CLI call, and for Dask-mode subflows. Off by
      default: a heartbeat detects crashed runs of deployments (which run inside their own
      flow and keep Prefect's setting), and joining its thread costs up to ~1 s per flow run.
    - ``tag_events``: name a host's tags as related resources of its task-run events, as
      Prefect does (event-feed filters and automations such as "a task run tagged
      ``group:core`` failed" match on them). Task runs carry their tags either way; turning
      it off makes each host ~40 % cheaper for the Prefect server to store.
    - ``fail_on``: when a root task's subflow and the run's flow run end Failed: ``any`` (a
      host failed; the default, so a nightly job with a dead device is a red run and Prefect
      notifications fire), ``all`` (every host failed: best-effort jobs), ``percent:N`` (more
      than N % of the hosts failed). The result tree is returned either way.
    - ``device_lock``: hold a one-slot Prefect concurrency limit per device
      (``genja-device:<host id>``) while a host runs, so two runs never work on one device at
      once. Tag concurrency limits (``prefect concurrency-limit create platform:iosxr 1``) are
      honoured either way.
    - ``host_artifacts``: per-host artifacts on the host's task run (``failed``: the failure
      details; ``changed``: the change diff; ``all``; ``none``). Default ``failed``.
    - ``tune_ephemeral_server``: when no ``PREFECT_API_URL`` is set, Prefect starts a temporary
      server for the process; genja-prefect starts it with batched event writes
      (``genja_prefect.prefect.server.FAST_INGEST_SERVER_ENV``; Prefect's default writes each
      task-run event in its own transaction). Values set in the environment or the Prefect
      profile win. No effect on a server you run yourself: set the same variables there.
    """

    enabled: bool = True
    flow_name: str = "genja-run"
    host_runs: Literal["auto", "per_host", "batch"] = "auto"
    batch_threshold: int = Field(default=1000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    artifacts: bool = True
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = None
    dask_workers: int = Field(default=2, ge=1)
    subflow_heartbeats: bool = False
    flow_heartbeats: bool = False
    flush_timeout_s: float = Field(default=120.0, ge=0)
    record_timeout_s: float = Field(default=15.0, ge=0)
    server_start_timeout_s: float = Field(default=120.0, gt=0)
    server: Literal["auto", "temporary", "background"] = "auto"
    server_port: int = Field(default=4200, ge=1, le=65535)
    server_idle_stop_min: float = Field(default=60.0, ge=0)
    tag_events: bool = True
    tune_ephemeral_server: bool = True
    fail_on: str = "any"
    host_artifacts: Literal["failed", "changed", "all", "none"] = "failed"
    device_lock: bool = False

    @field_validator("fail_on")
    @classmethod
    def _check_fail_on(cls, value: str) -> str:
        from genja_prefect.outcome import FailPolicy

        FailPolicy.parse(value)  # raises ValueError with what to write instead
        return value


class Settings(_Section):
    """All settings. ``base_dir`` is the folder relative paths are resolved against."""

    core: CoreConfig = Field(default_factory=CoreConfig)
    inventory: InventoryConfig = Field(default_factory=InventoryConfig)
    ssh: SSHConfig = Field(default_factory=SSHConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    prefect: PrefectConfig = Field(default_factory=PrefectConfig)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    source: str = Field(default="<settings>", exclude=True)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> "Settings":
        """Load a YAML/JSON settings file, then apply ``GENJA_PREFECT_*`` overrides."""
        file = Path(path)
        data = load_file(file, SettingsError)
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise SettingsError("expected a mapping of sections (core, inventory, runner, ...)", source=str(file))
        return cls.from_dict(data, source=str(file), base_dir=file.resolve().parent, env=env)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = "<settings>",
        base_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> "Settings":
        """Validate a settings mapping, applying ``GENJA_PREFECT_*`` environment overrides."""
        merged = _apply_env(dict(data), os.environ if env is None else env)
        for reserved in ("base_dir", "source"):
            if reserved in merged:
                raise SettingsError("unknown section", source=source, key=reserved)
        try:
            settings = cls.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            loc = [str(p) for p in err["loc"]]
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key (check the spelling)"
            env_var = ENV_PREFIX + "__".join(p.upper() for p in loc)
            if env_var in (os.environ if env is None else env):
                message += f" (value from environment variable {env_var})"
            raise SettingsError(
                message, source=source, key=".".join(loc), line=find_line(source, loc)
            ) from None
        settings.base_dir = base_dir or Path.cwd()
        settings.source = source
        try:
            settings.ssh.validate(settings.base_dir)
        except SettingsError as exc:
            raise SettingsError(exc.reason, source=source, key=exc.key) from None
        return settings


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX):].split("__")]
        if len(path) < 2 or not all(path):
            raise SettingsError(
                f"environment variable {name} must look like {ENV_PREFIX}<SECTION>__<KEY>",
                source="environment",
            )
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = data
        for i, key in enumerate(path[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise SettingsError(
                    f"environment variable {name} sets a key inside '{'.'.join(path[: i + 1])}', which is not a section",
                    source="environment",
                )
            else:
                child = node[key] = dict(child)
            node = child
        node[path[-1]] = value
    return data
