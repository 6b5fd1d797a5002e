"""The scrapli SSH CLI connection plugin (scrapli 2026.x, the libscrapli API).

``ScrapliPlugin`` is registered under the name ``scrapli`` (entry point group
``genja_prefect.connection``) for the platforms ios, iosxe, eos, junos, nxos and iosxr, as
the default plugin of connection type ``ssh``. Each host gets one :class:`ScrapliConnection`,
opened once per run and shared by every task on that host. Example::

    from genja_prefect.task import TaskSuccessResult, task

    @task(name="show_version", connection_plugin_name="scrapli")
    class ShowVersion:
        def start(self, task, host, context):
            output = context.connection().execute_command("show version")
            return TaskSuccessResult(summary=output.splitlines()[0], result=output)

Every method is synchronous: the engine runs host executions in worker threads, and
libscrapli does its I/O in its own threads while the caller waits on a file descriptor
(with ``poll()``, not scrapli's ``select()``: see :mod:`genja_prefect_scrapli.pollwait`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

from scrapli import AuthOptions, Cli, LookupKeyValue, SessionOptions, TransportBinOptions, TransportSsh2Options
from scrapli.exceptions import ScrapliException

from genja_prefect.masking import mask_logger
from genja_prefect.connection import (
    CommandError,
    ConnectionBase,
    ConnectionKey,
    ConnectionOpenError,
    ConnectionPluginBase,
    ResolvedConnectionParams,
    invalid_extras,
    register_connection_plugin,
)
from genja_prefect.errors import GenjaError
from genja_prefect.results import TaskFailureKind
from genja_prefect_scrapli.capabilities import CliCommands, CliConfig
from genja_prefect_scrapli.options import (
    PLATFORM_DEFINITIONS,
    ScrapliExtras,
    definition_for,
    enable_secret,
    parse_extras,
)
from genja_prefect_scrapli.parsing import CommandResponse, ParseWith, parse_output
from genja_prefect_scrapli.pollwait import install_unless_opted_out
from genja_prefect_scrapli.terminal import pin_controlling_terminal

logger = logging.getLogger("genja_prefect_scrapli")

# What libscrapli says, as (pattern, failure kind, retryable). libscrapli reports failures as
# text only ("Session: session.Session authenticate: open failed, error: 'permission denied'"),
# so the text is all there is to classify. First match wins.
_OPEN_FAILURES: tuple[tuple[re.Pattern[str], TaskFailureKind, bool, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind, retryable, reason)
    for pattern, kind, retryable, reason in (
        (r"host key verification failed|known host check", TaskFailureKind.AUTHENTICATION, False,
         "host key verification failed"),
        (r"permission denied|authentication failed|password prompt\s+seen multiple times",
         TaskFailureKind.AUTHENTICATION, False, "authentication failed"),
        (r"timed? ?out|timeoutexceeded|operation timeout", TaskFailureKind.TIMEOUT, True, "timed out"),
        (r"could not resolve hostname|name or service not known", TaskFailureKind.CONNECTION, False,
         "host name does not resolve"),
        (r"connection refused", TaskFailureKind.CONNECTION, True, "connection refused"),
        (r"no route to host|network is unreachable|host is down", TaskFailureKind.CONNECTION, True,
         "host unreachable"),
        (r"connection reset|connection closed|eof", TaskFailureKind.CONNECTION, True,
         "connection closed by the device"),
    )
)
# OpenSSH (bin transport) prints this on the session's terminal when the far end hangs up.
_CLOSED_BY_REMOTE = re.compile(rb"Connection to \S+ closed")


class ScrapliTimeoutError(GenjaError, TimeoutError):
    """A command or configuration operation took longer than ``timeout_ops``."""


class ScrapliSessionLostError(ConnectionOpenError):
    """The SSH session dropped during an operation (failure kind ``connection``, retryable)."""


def classify_open_failure(exc: BaseException) -> tuple[TaskFailureKind, bool, str]:
    """(kind, retryable, short reason) for an exception raised by ``Cli.open``."""
    text = str(exc)
    if isinstance(exc, TimeoutError):
        return TaskFailureKind.TIMEOUT, True, "timed out"
    for pattern, kind, retryable, reason in _OPEN_FAILURES:
        if pattern.search(text):
            return kind, retryable, reason
    return TaskFailureKind.CONNECTION, True, "could not open the session"


class ScrapliConnection(ConnectionBase):
    """One scrapli ``Cli`` session to one host.

    Methods: :meth:`execute_command` (text, or parsed with ``parse=``), :meth:`send_command`
    (a :class:`~genja_prefect_scrapli.parsing.CommandResponse` with ``textfsm_parse()``),
    :meth:`send_commands`, :meth:`send_config`, :meth:`get_prompt`; the scrapli object itself
    is :attr:`cli` for anything else.
    """

    def __init__(self, key: ConnectionKey) -> None:
        self.key = key
        self.cli: Cli | None = None
        self.extras = ScrapliExtras()
        self.definition: str | None = None
        #: The host's inventory platform (``ios``, ``eos``, ...): picks the parsing templates.
        self.platform: str | None = None
        self._address = key.host_id
        self._usable = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "open" if self.cli is not None else "closed"
        return f"ScrapliConnection({self.key}, {self.definition or '?'}, {self._address}, {state})"

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, params: ResolvedConnectionParams) -> None:
        """Open the SSH session; failures raise :class:`ConnectionOpenError` with a kind."""
        self._address = f"{params.hostname}:{params.port or 22}"
        where = f"scrapli connection to host '{params.host_id}' ({self._address})"
        try:
            extras = parse_extras(params.extras)
            definition = definition_for(params.platform, extras)
            secondary = enable_secret(extras)
        except ValueError as exc:
            raise invalid_extras(where, "scrapli", exc) from None
        install_unless_opted_out()  # scrapli's select() wait fails past ~200 open sessions
        pin_controlling_terminal()  # a session leader without a tty (a Prefect process worker's run)
        if extras.strict_key and not extras.known_hosts_file:
            logger.debug("%s: strict host key checking against ~/.ssh/known_hosts", where)
        cli = Cli(
            params.hostname,
            port=params.port or 22,
            definition_file_or_name=definition,
            auth_options=AuthOptions(
                username=params.username,
                password=params.password_value(),
                private_key_path=os.path.expanduser(extras.private_key_file) if extras.private_key_file else None,
                # the definitions' enable instructions look up "enable"
                lookups=[LookupKeyValue("enable", secondary)] if secondary is not None else None,
            ),
            session_options=SessionOptions(operation_timeout_ns=_ns(extras.open_timeout_s)),
            transport_options=_transport_options(extras),
            logging_uid=params.host_id,
        )
        # libscrapli logs every line it sends and reads at DEBUG, config secrets included.
        mask_logger(cli.logger)
        try:
            cli.open()
        except Exception as exc:  # noqa: BLE001 - every open failure is classified below
            _force_close(cli)
            kind, retryable, reason = classify_open_failure(exc)
            raise ConnectionOpenError(
                f"{where} failed: {reason} ({type(exc).__name__}: {exc}; definition {definition}, "
                f"transport {extras.transport}, timeout_open {extras.open_timeout_s:g} s)",
                kind=kind,
                retryable=retryable,
            ) from exc
        self.cli, self.extras, self.definition, self._usable = cli, extras, definition, True
        self.platform = params.platform

    def close(self) -> ConnectionKey:
        """Close the session and free libscrapli's threads, sockets and ssh process."""
        with self._lock:
            cli, self.cli = self.cli, None
            usable, self._usable = self._usable, False
            if cli is None:
                return self.key
            if usable:
                try:
                    cli.close()
                    return self.key
                except Exception as exc:  # noqa: BLE001 - fall back to a forced close below
                    logger.debug("closing %s cleanly failed (%s); forcing it", self, exc)
            # A forced close skips the on-close commands: right for a dead or confused session.
            # (A plain close of a session whose transport never came up aborts the process.)
            _force_close(cli)
            return self.key

    def is_alive(self) -> bool:
        """False once the session dropped, timed out mid-operation or was closed.

        Reads whatever the device sent since the last operation (normally nothing) without
        waiting: a dropped session reads as an error or as OpenSSH's "Connection closed".
        """
        with self._lock:
            if self.cli is None or not self._usable:
                return False
            try:
                for _ in range(16):
                    chunk = self.cli.read(4096)
                    if not chunk:
                        return True
                    if _CLOSED_BY_REMOTE.search(chunk):
                        self._usable = False
                        return False
                    logger.debug("%s: discarded unsolicited output: %r", self, chunk[:200])
                return True
            # libscrapli's read of a dead session raises OperationException or, in 2026.10.14,
            # a ValueError for an unknown result code: both mean the session is gone.
            except (ScrapliException, ValueError, OSError) as exc:
                logger.debug("%s is not alive: %s", self, exc)
                self._usable = False
                return False

    # -- CLI operations -------------------------------------------------------------------
    @overload
    def execute_command(
        self, command: str, *, timeout: float | None = None, parse: None = None, template: None = None
    ) -> str: ...

    @overload
    def execute_command(
        self, command: str, *, timeout: float | None = None, parse: ParseWith, template: str | Path | None = None
    ) -> Any: ...

    def execute_command(
        self,
        command: str,
        *,
        timeout: float | None = None,
        parse: ParseWith | None = None,
        template: str | Path | None = None,
    ) -> Any:
        """Run ``command`` at the definition's default mode and return its output.

        With ``parse="textfsm"`` the output comes back as rows (ntc-templates' template for
        the host's platform and the command, or ``template``, a TextFSM file), with
        ``parse="genie"`` as Genie's dict, with ``parse="ttp"`` parsed by ``template`` (see
        :mod:`genja_prefect_scrapli.parsing`; a missing template or library raises a
        :class:`~genja_prefect_scrapli.parsing.ParseError` naming host, platform and command).

        Raises :class:`CommandError` (with the output) when the device answers with an
        error marker, :class:`ScrapliTimeoutError` after ``timeout`` (default
        ``timeout_ops``) seconds, :class:`ScrapliSessionLostError` if the session drops.
        """
        result = self._run("send_input", command, timeout)
        self._check(result, [command])
        output = str(result.result)
        if parse is None:
            return output
        return parse_output(
            output, platform=self.platform, command=command, parse=parse, template=template, host=self.key.host_id
        )

    def send_command(self, command: str, *, timeout: float | None = None) -> CommandResponse:
        """Run ``command`` and return its output as a response with ``textfsm_parse()``,
        ``genie_parse()`` and ``ttp_parse(template)`` (as nornir_scrapli's ``send_command``).

        Raises as :meth:`execute_command` does.
        """
        output = self.execute_command(command, timeout=timeout)
        return CommandResponse(host=self.key.host_id, platform=self.platform, command=command, result=output)

    def send_commands(self, commands: Sequence[str], *, timeout: float | None = None) -> list[str]:
        """Run ``commands`` in order at the default mode; one output per command.

        Stops at the first command the device rejects and raises :class:`CommandError`
        naming it. ``timeout`` is for all of them together.
        """
        commands = _as_lines(commands)
        if not commands:
            return []
        result = self._run("send_inputs", commands, timeout)
        self._check(result, commands)
        return [str(r) for r in result.results]

    def send_config(self, lines: Sequence[str] | str, *, timeout: float | None = None) -> str:
        """Send configuration ``lines`` in configuration mode and return the combined output.

        The mode is the definition's ``configuration`` mode (``extras.config_mode`` to use
        another, e.g. ``configuration_exclusive`` on Junos). Stops at the first rejected line
        and raises :class:`CommandError`; lines before it stay applied, as on the device's
        own CLI. The next command returns to the default mode by itself. On Junos, include
        ``commit`` (or ``commit and-quit``) in ``lines``.
        """
        lines = _as_lines(lines)
        if not lines:
            return ""
        result = self._run("send_inputs", lines, timeout, requested_mode=self.extras.config_mode)
        self._check(result, lines)
        return str(result.result)

    def get_prompt(self) -> str:
        """The device's current prompt (e.g. ``router1#``)."""
        return str(self._run("get_prompt", None, None).result).strip()

    # -- helpers --------------------------------------------------------------------------
    def _run(self, method: str, arg: Any, timeout: float | None, **kwargs: Any) -> Any:
        with self._lock:
            cli = self.cli
            if cli is None or not self._usable:
                raise ScrapliSessionLostError(
                    f"scrapli session to host '{self.key.host_id}' ({self._address}) is not open",
                    kind=TaskFailureKind.CONNECTION,
                    retryable=True,
                )
            seconds = timeout if timeout is not None else self.extras.ops_timeout_s
            call = getattr(cli, method)
            args = () if arg is None else (arg,)
            try:
                return call(*args, operation_timeout_ns=_ns(seconds), **kwargs)
            except Exception as exc:  # noqa: BLE001 - libscrapli only tells us in text
                # After a timeout the device may still be answering: the session cannot be
                # trusted for the next command, so the engine reopens it.
                self._usable = False
                what = f"{method}({_preview(arg)}) on host '{self.key.host_id}' ({self._address})"
                text = str(exc)
                if isinstance(exc, TimeoutError) or re.search(r"timeout", text, re.IGNORECASE):
                    raise ScrapliTimeoutError(f"{what} timed out after {seconds:g} s") from exc
                raise ScrapliSessionLostError(
                    f"{what} failed, the session is no longer usable: {type(exc).__name__}: {text}",
                    kind=TaskFailureKind.CONNECTION,
                    retryable=True,
                ) from exc

    def _check(self, result: Any, inputs: list[str]) -> None:
        outputs = [str(r) for r in result.results]
        markers = self.extras.failed_when_contains
        for index, output in enumerate(outputs):
            marker = None
            if result.failed and index == len(outputs) - 1:
                marker = result.results_failed_indicator
            else:
                marker = next((m for m in markers if m in output), None)
            if marker:
                command = inputs[index] if index < len(inputs) else inputs[-1]
                raise CommandError(
                    f"host '{self.key.host_id}' rejected {command!r}: {marker.strip()}",
                    output=output,
                )
        if result.failed:  # indicator without a matching output (defensive: never seen)
            raise CommandError(
                f"host '{self.key.host_id}' reported an error: {result.results_failed_indicator}",
                output=str(result.result),
            )


@register_connection_plugin(
    platforms=sorted(PLATFORM_DEFINITIONS),
    connection_type="ssh",
    connection_library="scrapli",
    capabilities=[CliCommands, CliConfig],
    default_for_connection_type=True,
)
class ScrapliPlugin(ConnectionPluginBase):
    """Factory of :class:`ScrapliConnection` instances (plugin name ``scrapli``)."""

    name = "scrapli"

    def create(self, key: ConnectionKey) -> ScrapliConnection:
        """A new, unopened connection for one host."""
        return ScrapliConnection(key)


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def _transport_options(extras: ScrapliExtras) -> TransportBinOptions | TransportSsh2Options:
    if extras.transport == "ssh2":
        # libssh2 checks the key whenever a known_hosts file is given and never without one,
        # so strict checking without a configured file uses OpenSSH's default file, as bin does.
        path = None
        if extras.strict_key:
            path = extras.known_hosts_path() or os.path.expanduser("~/.ssh/known_hosts")
        return TransportSsh2Options(known_hosts_path=path)
    return TransportBinOptions(
        known_hosts_path=extras.known_hosts_path(),
        enable_strict_key=extras.strict_key,
    )


def _force_close(cli: Cli) -> None:
    if cli.ptr is None:
        return
    try:
        cli.close(force=True)
    except Exception as exc:  # noqa: BLE001 - nothing more can be done for this session
        logger.debug("forced close of %s failed: %s", cli, exc)


def _as_lines(lines: Sequence[str] | str) -> list[str]:
    if isinstance(lines, str):
        return [line for line in lines.splitlines() if line.strip()]
    return [str(line) for line in lines]


def _preview(arg: Any) -> str:
    if arg is None:
        return ""
    if isinstance(arg, str):
        return repr(arg)
    items = list(arg)
    return f"[{len(items)} lines: {items[0]!r}...]" if len(items) > 1 else repr(items)
