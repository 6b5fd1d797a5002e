"""The per-run connection cache: open once per (host, plugin), reuse, close at the end.

A :class:`TaskConnectionResolver` lives for one ``run_tasks`` (one flow run). It resolves a
task's connection plugin for a host, opens the connection (retrying up to
``runner.max_connection_attempts`` times with exponential backoff for retryable failures),
hands the same connection to every task and sub-task on that host, reopens a dead one once,
and closes everything in :meth:`close_all` -- which the engine calls in a ``finally``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

from genja_prefect.engine.bridge import AsyncBridge
from genja_prefect.engine.hostlog import note
from genja_prefect.connection import (
    CapabilityProxy,
    CommandError,
    ConnectionKey,
    ConnectionOpenError,
    ResolvedConnectionParams,
)
from genja_prefect.errors import SecretResolutionError
from genja_prefect.inventory import Inventory
from genja_prefect.plugins import PluginManager
from genja_prefect.results import TaskFailureKind
from genja_prefect.resolution import resolve_connection_plugin_name
from genja_prefect.settings import RunnerConfig

logger = logging.getLogger(__name__)


def classify_exception(exc: BaseException) -> tuple[TaskFailureKind, bool]:
    """Map an exception to (failure kind, retryable)."""
    if isinstance(exc, ConnectionOpenError):
        return exc.kind, exc.retryable
    if isinstance(exc, CommandError):
        return TaskFailureKind.COMMAND, False
    if isinstance(exc, SecretResolutionError):
        return TaskFailureKind.VALIDATION, False
    name = type(exc).__name__.lower()
    if "auth" in name or "permissiondenied" in name:
        return TaskFailureKind.AUTHENTICATION, False
    if isinstance(exc, (TimeoutError, socket.timeout)) or "timeout" in name:
        return TaskFailureKind.TIMEOUT, True
    if isinstance(exc, socket.gaierror):
        return TaskFailureKind.CONNECTION, False
    if isinstance(exc, (ConnectionError, OSError, EOFError)):
        return TaskFailureKind.CONNECTION, True
    return TaskFailureKind.CONNECTION, True


def redact(text: str, secrets: Sequence[str | None]) -> str:
    """Replace known secret values in text from third-party libraries (defence in depth)."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


class TaskConnectionResolver:
    """Opens, caches and closes connections for one run. Thread-safe."""

    def __init__(
        self,
        inventory: Inventory,
        plugin_manager: PluginManager,
        runner_config: RunnerConfig,
        bridge: AsyncBridge | None = None,
    ) -> None:
        self.inventory = inventory
        self.plugin_manager = plugin_manager
        self.runner_config = runner_config
        self.bridge = bridge or AsyncBridge()
        self._connections: dict[ConnectionKey, Any] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[ConnectionKey, threading.Lock] = {}
        self.opened = 0
        self.closed = 0

    # -- resolution ---------------------------------------------------------------------
    def plugin_name_for(
        self,
        host_id: str,
        plugin_name: str | None = None,
        connection_type: str | None = None,
        connection_library: str | None = None,
        capabilities: Sequence[type] = (),
        fallback_to_default: bool = False,
    ) -> str:
        """The connection plugin for this host: the named one, or resolved from its platform."""
        if plugin_name is not None:
            self.plugin_manager.get("connection", plugin_name)  # clear error if unknown
            return plugin_name
        platform = self.inventory.attribute(host_id, "platform")
        return resolve_connection_plugin_name(
            platform,
            connection_type,
            connection_library,
            capabilities,
            fallback_to_default,
            self.plugin_manager,
        )

    def get_connection(
        self,
        host_id: str,
        plugin_name: str | None = None,
        *,
        connection_type: str | None = None,
        connection_library: str | None = None,
        capabilities: Sequence[type] = (),
        fallback_to_default: bool = False,
    ) -> Any:
        """Return the open connection for (host, plugin), opening it on first use."""
        name = self.plugin_name_for(
            host_id, plugin_name, connection_type, connection_library, capabilities, fallback_to_default
        )
        key = ConnectionKey(host_id, name)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            conn = self._connections.get(key)
            if conn is not None:
                if self._alive(conn):
                    return self._wrap(conn, name, capabilities)
                note(logger, logging.INFO, "connection %s is no longer alive; reopening it once", key, record_level=logging.WARNING)
                self._close_one(key, conn)
                conn = self._open(key, max_attempts=1)
            else:
                conn = self._open(key, max_attempts=self.runner_config.max_connection_attempts)
            with self._lock:  # close_host/close_all iterate the cache from other threads
                self._connections[key] = conn
            return self._wrap(conn, name, capabilities)

    def _wrap(self, conn: Any, name: str, capabilities: Sequence[type]) -> Any:
        if not capabilities:
            return conn
        proxy = CapabilityProxy(conn, name, capabilities)
        for method, cap in proxy.missing_methods.items():
            logger.warning("connection plugin '%s' lacks %s() required by capability %s", name, method, cap)
        return proxy

    def _alive(self, conn: Any) -> bool:
        try:
            return bool(self.bridge.call(conn.is_alive))
        except Exception:  # noqa: BLE001 - a broken liveness check means "not alive"
            return False

    def _open(self, key: ConnectionKey, max_attempts: int) -> Any:
        params = self.inventory.connection_params(key.host_id, key.plugin_name)
        plugin = self.plugin_manager.get("connection", key.plugin_name)
        backoff = self.runner_config.connection_backoff_ms / 1000
        for attempt in range(1, max_attempts + 1):
            conn = None
            try:
                conn = self.bridge.call(plugin.create, key)
                self.bridge.call(conn.open, params)
                self.opened += 1
                return conn
            except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
                kind, retryable = classify_exception(exc)
                if conn is not None:
                    self._quiet_close(key, conn)
                if not retryable or attempt == max_attempts:
                    raise self._open_error(key, params, exc, kind, retryable, attempt) from None
                delay = backoff * (2 ** (attempt - 1))
                # INFO here (a retry that then succeeds is no news on the console); WARNING on
                # the host's own record, next to its outcome.
                note(
                    logger,
                    logging.INFO,
                    "opening %s failed (attempt %d/%d, %s); retrying in %.2fs",
                    key,
                    attempt,
                    max_attempts,
                    kind.value,
                    delay,
                    record_level=logging.WARNING,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_error(
        self,
        key: ConnectionKey,
        params: ResolvedConnectionParams,
        exc: BaseException,
        kind: TaskFailureKind,
        retryable: bool,
        attempts: int,
    ) -> ConnectionOpenError:
        detail = redact(f"{type(exc).__name__}: {exc}", [_safe_password(params)])
        tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}"
        message = f"{key.plugin_name}: opening connection to host '{key.host_id}' ({params.address}) failed{tries}: {detail}"
        error = ConnectionOpenError(message, kind=kind, retryable=retryable)
        error.attempts = attempts  # type: ignore[attr-defined]
        # The plugin's own traceback, for whoever debugs the plugin (secrets removed).
        error.cause_traceback = redact(  # type: ignore[attr-defined]
            "".join(traceback.format_exception(exc)), [_safe_password(params)]
        )
        return error

    # -- closing ------------------------------------------------------------------------
    def _close_one(self, key: ConnectionKey, conn: Any) -> str | None:
        try:
            self.bridge.call(conn.close)
            return None
        except Exception as exc:  # noqa: BLE001 - reported by the caller, close goes on
            logger.warning("closing %s failed: %s: %s", key, type(exc).__name__, exc)
            return f"closing {key} failed: {type(exc).__name__}: {exc}"
        finally:
            self.closed += 1

    def _quiet_close(self, key: ConnectionKey, conn: Any) -> None:
        try:
            self.bridge.call(conn.close)
        except Exception:  # noqa: BLE001 - a half-open connection may refuse to close
            logger.debug("closing half-open %s failed", key, exc_info=True)

    def close_host(self, host_id: str) -> list[str]:
        """Close every connection of one host; returns close errors (as text)."""
        with self._lock:
            keys = [k for k in self._connections if k.host_id == host_id]
            found = [(k, self._connections.pop(k)) for k in keys]
        errors = []
        for key, conn in found:
            if conn is not None:
                err = self._close_one(key, conn)
                if err:
                    errors.append(err)
        return errors

    def close_all(self) -> list[str]:
        """Close every cached connection (in parallel); returns close errors (as text)."""
        with self._lock:
            items = list(self._connections.items())
            self._connections.clear()
        if len(items) <= 1:
            return [err for key, conn in items if (err := self._close_one(key, conn))]
        from concurrent.futures import ThreadPoolExecutor

        workers = min(len(items), max(1, self.runner_config.effective_worker_count(len(items))), 64)
        with ThreadPoolExecutor(workers, thread_name_prefix="genja-close") as pool:
            errors = list(pool.map(lambda item: self._close_one(*item), items))
        return [err for err in errors if err]

    @property
    def open_connections(self) -> list[ConnectionKey]:
        """Keys of the connections currently cached."""
        with self._lock:
            return list(self._connections)


def _safe_password(params: ResolvedConnectionParams) -> str | None:
    try:
        return params.password_value()
    except SecretResolutionError:
        return None
