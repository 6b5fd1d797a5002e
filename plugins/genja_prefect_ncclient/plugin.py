"""The ncclient NETCONF connection plugin.

``NcclientPlugin`` is registered under the name ``ncclient`` (entry point group
``genja_prefect.connection``), connection type ``netconf``, library ``ncclient``, for the
platforms in :data:`~genja_prefect_ncclient.options.PLATFORM_HANDLERS` (``netconf`` is the
generic one; there is deliberately no ``"*"``: a wildcard plugin would join every resolution
and make SSH-only tasks on any platform ambiguous). Example::

    from genja_prefect.task import TaskSuccessResult, task

    @task(name="running_config", connection_plugin_name="ncclient")
    class RunningConfig:
        def start(self, task, host, context):
            xml = context.connection().get_config(source="running")
            return TaskSuccessResult(result=xml)

Replies are XML text: ``get``/``get_config`` return the ``<data>`` element, the other
operations the whole ``<rpc-reply>``. ``filter`` is subtree XML text (wrapped in
``<filter type="subtree">`` unless it already is a ``<filter>``), or ncclient's own
``("subtree", xml)`` / ``("xpath", expr)`` tuples.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import ncclient.transport.session as nc_session
from lxml import etree
from ncclient import manager
from ncclient.operations import RaiseMode
from ncclient.operations.errors import OperationError, TimeoutExpiredError
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import (
    AuthenticationError,
    SSHUnknownHostError,
    TransportError,
)

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
from genja_prefect.masking import mask_logger
from genja_prefect.results import TaskFailureKind
from genja_prefect_ncclient.capabilities import NetconfCandidate, NetconfEdit, NetconfGet
from genja_prefect_ncclient.options import (
    DEFAULT_PORT,
    PLATFORM_HANDLERS,
    NcclientExtras,
    handler_for,
    parse_extras,
)

logger = logging.getLogger("genja_prefect_ncclient")
# ncclient logs every RPC and reply it sends and reads at DEBUG, config secrets included.
for _name in ("ncclient.transport.session", "ncclient.transport.ssh", "ncclient.transport.parser",
              "ncclient.operations.rpc", "ncclient.operations.edit"):
    mask_logger(_name)

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
_tick_lock = threading.Lock()


class NetconfTimeoutError(GenjaError, TimeoutError):
    """An RPC got no reply within ``timeout`` seconds."""


class NetconfSessionLostError(ConnectionOpenError):
    """The NETCONF session dropped (failure kind ``connection``, retryable)."""


class NetconfRpcError(CommandError):
    """The server answered with one or more ``<rpc-error>`` (failure kind ``command``).

    ``errors`` holds one dict per ``<rpc-error>``: ``tag``, ``type``, ``severity``,
    ``message``, ``path`` (``<error-path>``) and ``info`` (``<error-info>`` children by name,
    e.g. ``{"bad-element": "mtu"}``); the message names them too, so a user sees which
    element was wrong and where.
    """

    def __init__(self, message: str, *, errors: list[dict[str, Any]], output: str | None = None) -> None:
        super().__init__(message, output=output)
        self.errors = errors

    @property
    def tags(self) -> list[str]:
        """The ``error-tag`` of each error (``lock-denied``, ``unknown-element``, ...)."""
        return [str(e.get("tag")) for e in self.errors if e.get("tag")]


def lower_ncclient_tick(seconds: float | None) -> float:
    """Lower ncclient's process-wide socket polling interval to ``seconds`` (never raises it).

    ``None`` leaves it alone. Returns the interval in force. See
    :mod:`genja_prefect_ncclient.options` for the measurements behind the default.
    """
    with _tick_lock:
        if seconds is not None and seconds < nc_session.TICK:
            nc_session.TICK = seconds
        return float(nc_session.TICK)


class NcclientConnection(ConnectionBase):
    """One NETCONF session (an ncclient ``Manager``) to one host; ``manager`` is public."""

    def __init__(self, key: ConnectionKey) -> None:
        self.key = key
        self.manager: Any = None
        self.extras = NcclientExtras()
        self.device_handler: str | None = None
        self._sock: socket.socket | None = None
        self._address = key.host_id
        self._lock = threading.Lock()
        # What open() was given, for open_another(); the password inside is a Secret.
        self._params: ResolvedConnectionParams | None = None

    def __repr__(self) -> str:
        state = "open" if self.manager is not None else "closed"
        return f"NcclientConnection({self.key}, {self._address}, {state})"

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, params: ResolvedConnectionParams) -> None:
        """Connect, authenticate and exchange ``<hello>``; failures are classified."""
        port = params.port or DEFAULT_PORT
        self._address = f"{params.hostname}:{port}"
        where = f"NETCONF connection to host '{params.host_id}' ({self._address})"
        try:
            extras = parse_extras(params.extras)
            handler = handler_for(params.platform, extras)
        except ValueError as exc:
            raise invalid_extras(where, "ncclient", exc) from None
        lower_ncclient_tick(extras.ncclient_tick)
        sock = _connect_tcp(params.hostname, port, extras.timeout_open, where)
        # ncclient has no overall deadline for SSH negotiation and <hello> (paramiko waits
        # 15 s for a banner): a watchdog shuts the socket down when timeout_open is up.
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _shutdown(sock)

        watchdog = threading.Timer(extras.timeout_open, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            mgr = manager.connect(
                host=params.hostname,
                port=port,
                sock=sock,
                username=params.username,
                password=params.password_value(),
                key_filename=extras.path(extras.private_key_file),
                allow_agent=extras.allow_agent,
                look_for_keys=extras.look_for_keys,
                hostkey_verify=extras.hostkey_verify,
                hostkey_b64=extras.hostkey_b64,
                ssh_config=extras.path(extras.ssh_config_file),
                device_params={"name": handler},
                timeout=extras.timeout_open,
            )
        except Exception as exc:  # noqa: BLE001 - classified below
            _shutdown(sock, close=True)
            if expired.is_set():
                kind, retryable, reason = TaskFailureKind.TIMEOUT, True, f"no NETCONF session within {extras.timeout_open:g} s"
            else:
                kind, retryable, reason = _classify(exc)
            raise ConnectionOpenError(
                f"{where} failed: {reason} ({type(exc).__name__}: {exc})", kind=kind, retryable=retryable
            ) from exc
        finally:
            watchdog.cancel()
        mgr.timeout = extras.timeout
        mgr.raise_mode = RaiseMode.ERRORS
        self.manager, self.extras, self.device_handler, self._sock = mgr, extras, handler, sock
        self._params = params

    def open_another(self) -> NcclientConnection:
        """A second, independent NETCONF session to the same host with the same parameters
        (the caller closes it). What a check after a confirmed commit reads through: it shows
        what a new session sees, and that the device still accepts one."""
        if self._params is None:
            raise NetconfSessionLostError(
                f"NETCONF session to host '{self.key.host_id}' was never opened", kind=TaskFailureKind.CONNECTION
            )
        other = NcclientConnection(self.key)
        other.open(self._params)
        return other

    def close(self) -> ConnectionKey:
        """``<close-session>`` if the session is up, then close the socket (always)."""
        with self._lock:
            mgr, self.manager = self.manager, None
            sock, self._sock = self._sock, None
        if mgr is not None and mgr.connected:
            try:
                mgr.close_session()
            except Exception as exc:  # noqa: BLE001 - the socket is closed below anyway
                logger.debug("close-session on %s failed: %s", self, exc)
        if sock is not None:
            # Ends paramiko's and ncclient's threads if close-session could not.
            _shutdown(sock, close=True)
        return self.key

    def is_alive(self) -> bool:
        """Whether the NETCONF session is still up (ncclient notices a drop at once)."""
        mgr = self.manager
        return bool(mgr is not None and mgr.connected)

    # -- NETCONF operations ---------------------------------------------------------------
    @property
    def server_capabilities(self) -> list[str]:
        """The capability URIs the server announced in its ``<hello>``."""
        return list(self._require().server_capabilities)

    def get(self, filter: Any = None) -> str:  # noqa: A002 - NETCONF's own name
        """``<get>``: running configuration and state; returns the ``<data>`` XML."""
        return self._rpc("get", lambda m: m.get(filter=_filter(filter)), data=True)

    def get_config(self, source: str = "running", filter: Any = None) -> str:  # noqa: A002
        """``<get-config>`` of ``source``; returns the ``<data>`` XML."""
        return self._rpc(f"get-config {source}", lambda m: m.get_config(source=source, filter=_filter(filter)), data=True)

    def edit_config(
        self,
        config: Any,
        target: str = "running",
        default_operation: str | None = None,
        error_option: str | None = None,
    ) -> str:
        """``<edit-config>`` of ``target`` (``running`` or ``candidate``).

        ``config`` is XML text or an lxml element: a ``<config>`` element (in the NETCONF
        base namespace or without one), or the configuration itself, which is wrapped in
        ``<config>``. ``default_operation``: ``merge`` (the server's default), ``replace`` or
        ``none``. ``error_option``: ``stop-on-error`` (the server's default),
        ``continue-on-error`` or ``rollback-on-error`` (needs the server's ``:rollback-on-error``).
        """
        element = _config_element(config)
        return self._rpc(
            f"edit-config {target}",
            lambda m: m.edit_config(
                config=element, target=target, default_operation=default_operation, error_option=error_option
            ),
        )

    def lock(self, target: str = "running") -> str:
        """``<lock>`` ``target``."""
        return self._rpc(f"lock {target}", lambda m: m.lock(target=target))

    def unlock(self, target: str = "running") -> str:
        """``<unlock>`` ``target``."""
        return self._rpc(f"unlock {target}", lambda m: m.unlock(target=target))

    def commit(
        self,
        confirmed: bool = False,
        timeout: int | None = None,
        persist: str | None = None,
        persist_id: str | None = None,
    ) -> str:
        """``<commit>`` the candidate datastore.

        ``confirmed=True`` (the server's ``:confirmed-commit``): a confirmed commit that the
        server undoes unless a confirming ``commit()`` follows within ``timeout`` seconds (the
        server's default, 600 s, when None). ``persist`` (1.1) lets it outlive this session;
        then confirm or cancel it from any session with ``persist_id``.
        """
        what = "commit confirmed" if confirmed else "commit"
        seconds = str(int(timeout)) if timeout is not None else None
        return self._rpc(what, lambda m: m.commit(confirmed=confirmed, timeout=seconds, persist=persist,
                                                  persist_id=persist_id))

    def cancel_commit(self, persist_id: str | None = None) -> str:
        """``<cancel-commit>`` (``:confirmed-commit:1.1``): undo the pending confirmed commit now."""
        return self._rpc("cancel-commit", lambda m: m.cancel_commit(persist_id=persist_id))

    def discard_changes(self) -> str:
        """``<discard-changes>``."""
        return self._rpc("discard-changes", lambda m: m.discard_changes())

    def execute_command(self, command: str) -> str:
        """Send one raw RPC operation (e.g. ``<get-config>...</get-config>``); return the reply XML.

        Elements without a namespace are taken as NETCONF base elements.
        """
        element = etree.fromstring(command.encode(), _PARSER)
        if etree.QName(element).namespace is None:
            for node in element.iter(tag=etree.Element):
                if etree.QName(node).namespace is None:
                    node.tag = f"{{{BASE_NS}}}{etree.QName(node).localname}"
        return self._rpc(f"rpc <{etree.QName(element).localname}>", lambda m: m.dispatch(element))

    # -- helpers --------------------------------------------------------------------------
    def _require(self) -> Any:
        mgr = self.manager
        if mgr is None or not mgr.connected:
            raise NetconfSessionLostError(
                f"NETCONF session to host '{self.key.host_id}' ({self._address}) is not open",
                kind=TaskFailureKind.CONNECTION,
                retryable=True,
            )
        return mgr

    def _rpc(self, what: str, call: Callable[[Any], Any], *, data: bool = False) -> str:
        mgr = self._require()
        where = f"{what} on host '{self.key.host_id}' ({self._address})"
        try:
            reply = call(mgr)
        except RPCError as exc:
            errors = rpc_errors(exc)
            raise NetconfRpcError(
                f"{where} failed: {'; '.join(_error_line(e) for e in errors) or str(exc)}",
                errors=errors,
                output=_xml_text(exc.xml),
            ) from exc
        except TimeoutExpiredError as exc:
            raise NetconfTimeoutError(f"{where} got no reply within {mgr.timeout:g} s") from exc
        except (TransportError, OSError, EOFError) as exc:
            raise NetconfSessionLostError(
                f"{where} failed, the session is gone: {type(exc).__name__}: {exc}",
                kind=TaskFailureKind.CONNECTION,
                retryable=True,
            ) from exc
        except OperationError as exc:  # e.g. a missing capability (":candidate")
            raise CommandError(f"{where} failed: {exc}") from exc
        return str(reply.data_xml if data else reply.xml)


@register_connection_plugin(
    platforms=sorted(PLATFORM_HANDLERS),
    connection_type="netconf",
    connection_library="ncclient",
    capabilities=[NetconfGet, NetconfEdit, NetconfCandidate],
    default_for_connection_type=True,
)
class NcclientPlugin(ConnectionPluginBase):
    """Factory of :class:`NcclientConnection` instances (plugin name ``ncclient``)."""

    name = "ncclient"

    def create(self, key: ConnectionKey) -> NcclientConnection:
        """A new, unopened connection for one host."""
        return NcclientConnection(key)


def _connect_tcp(hostname: str, port: int, timeout: float, where: str) -> socket.socket:
    """Our own TCP connect, so refused, unreachable and timed out can be told apart."""
    try:
        return socket.create_connection((hostname, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ConnectionOpenError(f"{where} failed: host name does not resolve ({exc})", retryable=False) from exc
    except TimeoutError as exc:
        raise ConnectionOpenError(
            f"{where} failed: TCP connect timed out after {timeout:g} s", kind=TaskFailureKind.TIMEOUT
        ) from exc
    except ConnectionRefusedError as exc:
        raise ConnectionOpenError(f"{where} failed: connection refused") from exc
    except OSError as exc:
        raise ConnectionOpenError(f"{where} failed: {exc.strerror or exc}") from exc


def _classify(exc: BaseException) -> tuple[TaskFailureKind, bool, str]:
    if isinstance(exc, SSHUnknownHostError):
        return TaskFailureKind.AUTHENTICATION, False, "host key verification failed (unknown or changed host key)"
    if isinstance(exc, AuthenticationError):
        return TaskFailureKind.AUTHENTICATION, False, "authentication failed"
    if isinstance(exc, TimeoutError) or "timed out" in str(exc).lower():
        return TaskFailureKind.TIMEOUT, True, "timed out"
    return TaskFailureKind.CONNECTION, True, "could not establish the NETCONF session"


def _shutdown(sock: socket.socket, close: bool = False) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected any more
    if close:
        sock.close()


def _filter(spec: Any) -> Any:
    if spec is None or isinstance(spec, (tuple, list)):
        return spec
    element = spec if isinstance(spec, etree._Element) else etree.fromstring(str(spec).encode(), _PARSER)
    if etree.QName(element).localname == "filter":
        return element
    return ("subtree", element)


def _config_element(config: Any) -> etree._Element:
    element = config if isinstance(config, etree._Element) else etree.fromstring(str(config).encode(), _PARSER)
    qname = etree.QName(element)
    if qname.localname == "config" and qname.namespace in (None, BASE_NS):
        if qname.namespace == BASE_NS:
            return element
        # An unqualified <config> is not <nc:config>; strict servers reject it. Re-home it.
        wrapper = etree.Element(f"{{{BASE_NS}}}config", nsmap={"nc": BASE_NS})
        wrapper.extend(list(element))
        return wrapper
    wrapper = etree.Element(f"{{{BASE_NS}}}config", nsmap={"nc": BASE_NS})
    wrapper.append(element)
    return wrapper


def rpc_errors(exc: RPCError) -> list[dict[str, Any]]:
    """One dict per ``<rpc-error>`` of an ncclient RPCError (several when the reply had several)."""
    singles = exc.errlist or [exc]
    out: list[dict[str, Any]] = []
    for err in singles:
        out.append(
            {
                "tag": err.tag,
                "type": err.type,
                "severity": err.severity,
                "message": (err.message or "").strip() or None,
                "path": (err.path or "").strip() or None,
                "info": _error_info(err.info),
            }
        )
    return out


def _error_info(info: Any) -> dict[str, str]:
    """``<error-info>`` children by local name (``bad-element``, ``session-id``, ...)."""
    if not info:
        return {}
    try:
        element = etree.fromstring(str(info).encode(), _PARSER)
    except etree.XMLSyntaxError:
        return {"text": str(info)}
    return {etree.QName(child).localname: (child.text or "").strip() for child in element if isinstance(child.tag, str)}


def _error_line(error: dict[str, Any]) -> str:
    """``unknown-element: unknown element 'mtux' (path /interfaces/interface[name='eth1']/mtux, bad-element mtux)``."""
    text = ": ".join(str(p) for p in (error.get("tag"), error.get("message")) if p)
    extra = [f"path {error['path']}"] if error.get("path") else []
    extra += [f"{key} {value}" for key, value in (error.get("info") or {}).items()]
    return text + (f" ({', '.join(extra)})" if extra else "")


def _xml_text(element: Any) -> str | None:
    if element is None:
        return None
    if isinstance(element, list):
        return "\n".join(etree.tostring(e, encoding="unicode") for e in element)
    return etree.tostring(element, encoding="unicode")
