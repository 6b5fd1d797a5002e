"""A NETCONF server over SSH (subsystem ``netconf``) on asyncssh, one device per instance.

Capabilities: base:1.0 and base:1.1 (RFC 6242 chunked framing once both sides say 1.1,
``]]>]]>`` otherwise), ``:candidate``, ``:writable-running``, ``:validate`` (1.0 and 1.1),
``:rollback-on-error`` and ``:confirmed-commit:1.1`` (``confirmed_commit="1.0"`` announces
1.0 instead: no ``<cancel-commit>``, no ``<persist>``; ``None`` none). Errors look like a real server's: ``<error-path>`` and
``<error-info><bad-element>`` for unknown elements (the ietf-interfaces/ietf-system children
the lab knows) and missing/existing data; an edit with the default ``stop-on-error`` keeps
what it changed before the bad element; a ``<lock>`` on a candidate with another session's
uncommitted changes is ``lock-denied``.
Operations: get, get-config (running/candidate, subtree filter), edit-config
(merge/replace/create/delete/remove/none, ``default-operation``), copy-config, lock, unlock,
commit (also ``<confirmed/>`` with ``<confirm-timeout>``, ``<persist>``, ``<persist-id>``),
cancel-commit, discard-changes, validate, close-session, kill-session. Anything else gets an
``operation-not-supported`` ``<rpc-error>``.

A confirmed commit is undone (running restored to what it was before) by ``<cancel-commit>``,
when its confirm timeout passes without a confirming ``<commit>``, or when the session that
issued it ends (unless it gave ``<persist>``); ``server.datastores.rollbacks`` records each
undo and why. Example with ncclient::

    with NetconfServer(username="admin", password="admin") as server:
        with manager.connect(host="127.0.0.1", port=server.port, username="admin",
                             password="admin", hostkey_verify=False,
                             device_params={"name": "default"}) as m:
            print(m.get_config("running").data_xml)

ncclient polls its socket every ``ncclient.transport.session.TICK`` (0.1 s), which puts up to
100 ms on each request whatever the server does; see the lab tests for a measurement.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import itertools
from typing import Any

import asyncssh
from lxml import etree

from genja_prefect.lab._loop import LoopThread
from genja_prefect.lab._service import LabService
from genja_prefect.lab._ssh_common import PasswordServer, lab_host_key
from genja_prefect.lab.netconf_datastore import (
    BASE_NS,
    IF_NS,
    SYS_NS,
    Datastores,
    RpcError,
    edit,
    state_data,
    subtree_filter,
)
from genja_prefect.lab.netconf_framing import Framer, FramingError
from genja_prefect.lab.ports import LOOPBACK, bind_listener, release_port

BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
CAPABILITIES = (
    BASE_10,
    BASE_11,
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:writable-running:1.0",
    "urn:ietf:params:netconf:capability:validate:1.0",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    f"{IF_NS}?module=ietf-interfaces&revision=2018-02-20",
    f"{SYS_NS}?module=ietf-system&revision=2014-08-06",
)
CONFIRMED_COMMIT = "urn:ietf:params:netconf:capability:confirmed-commit:{version}"
#: RFC 6241's default confirm timeout (seconds).
DEFAULT_CONFIRM_TIMEOUT = 600
# Untrusted input: no entity expansion, no network access while parsing.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)


def _el(tag: str, text: str | None = None) -> etree._Element:
    element = etree.Element(f"{{{BASE_NS}}}{tag}", nsmap={None: BASE_NS})
    element.text = text
    return element


def _error_reply(error: RpcError, attrib: dict[str, str]) -> etree._Element:
    reply = _el("rpc-reply")
    reply.attrib.update(attrib)
    err = etree.SubElement(reply, f"{{{BASE_NS}}}rpc-error")
    for tag, text in (("error-type", error.error_type), ("error-tag", error.tag), ("error-severity", "error")):
        etree.SubElement(err, f"{{{BASE_NS}}}{tag}").text = text
    if error.path:
        etree.SubElement(err, f"{{{BASE_NS}}}error-path").text = error.path
    message = etree.SubElement(err, f"{{{BASE_NS}}}error-message")
    message.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    message.text = error.message
    if error.info:
        info = etree.SubElement(err, f"{{{BASE_NS}}}error-info")
        for key, value in error.info.items():
            etree.SubElement(info, f"{{{BASE_NS}}}{key}").text = value
    return reply


def _child(parent: etree._Element, tag: str) -> etree._Element | None:
    return parent.find(f"{{{BASE_NS}}}{tag}")


def _param_text(op: etree._Element, tag: str, default: str) -> str:
    element = _child(op, tag)
    return (element.text or "").strip() if element is not None else default


def _datastore_name(op: etree._Element, param: str) -> str:
    holder = _child(op, param)
    if holder is None or len(holder) == 0:
        raise RpcError("missing-element", f"<{param}> is required", error_type="protocol", info={"bad-element": param})
    return str(etree.QName(holder[0]).localname)


class _Session(asyncssh.SSHServerSession[bytes]):
    """One NETCONF session: hello exchange, then one RPC at a time."""

    def __init__(self, server: NetconfServer) -> None:
        self._server = server
        self.session_id = next(server._ids)
        self._framer = Framer()
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._hello_done = False

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan
        self._server._sessions[self.session_id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self._server._sessions.pop(self.session_id, None)
        self._server.datastores.release(self.session_id)
        self._chan = None

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == "netconf"

    def session_started(self) -> None:
        hello = _el("hello")
        caps = etree.SubElement(hello, f"{{{BASE_NS}}}capabilities")
        for cap in self._server.capabilities:
            etree.SubElement(caps, f"{{{BASE_NS}}}capability").text = cap
        etree.SubElement(hello, f"{{{BASE_NS}}}session-id").text = str(self.session_id)
        self._send(hello)

    def data_received(self, data: bytes, datatype: Any) -> None:
        self._framer.feed(data)
        try:
            while self._chan is not None and (message := self._framer.next_message()) is not None:
                self._handle(message)
        except FramingError:
            self.close()

    def eof_received(self) -> bool:
        return False

    def close(self) -> None:
        """End the session (locks are released in connection_lost)."""
        if self._chan is not None:
            self._chan.close()

    def _send(self, element: etree._Element) -> None:
        if self._chan is not None:
            payload = etree.tostring(element, xml_declaration=True, encoding="UTF-8")
            self._chan.write(self._framer.frame(payload))

    def _handle(self, message: bytes) -> None:
        try:
            root = etree.fromstring(message.strip(), _PARSER)
        except etree.XMLSyntaxError as exc:
            if not self._hello_done:
                return self.close()
            return self._send(_error_reply(RpcError("malformed-message", f"not XML: {exc}", error_type="rpc"), {}))
        if not self._hello_done:
            return self._client_hello(root)
        if root.tag != f"{{{BASE_NS}}}rpc":
            error = RpcError(
                "unknown-element", f"expected <rpc>, got <{etree.QName(root).localname}>", error_type="rpc"
            )
            return self._send(_error_reply(error, {}))
        attrib = dict(root.attrib)
        if "message-id" not in attrib:
            error = RpcError(
                "missing-attribute",
                "<rpc> needs a message-id",
                error_type="rpc",
                info={"bad-attribute": "message-id", "bad-element": "rpc"},
            )
            return self._send(_error_reply(error, attrib))
        op = next((c for c in root if isinstance(c.tag, str)), None)
        try:
            if op is None:
                raise RpcError("missing-element", "<rpc> names no operation", error_type="rpc")
            reply = self._server._dispatch(self, op)
            reply.attrib.update(attrib)
        except RpcError as error:
            reply = _error_reply(error, attrib)
        self._send(reply)
        if op is not None and op.tag == f"{{{BASE_NS}}}close-session":
            self.close()

    def _client_hello(self, root: etree._Element) -> None:
        if root.tag != f"{{{BASE_NS}}}hello":
            return self.close()
        caps = {(c.text or "").strip() for c in root.iter(f"{{{BASE_NS}}}capability")}
        if BASE_10 not in caps and BASE_11 not in caps:
            return self.close()
        self._framer.chunked = BASE_11 in caps
        self._hello_done = True


class NetconfServer(LabService):
    """A NETCONF device on 127.0.0.1; a context manager. ``port`` is set by :meth:`start`."""

    def __init__(
        self,
        name: str = "netconf1",
        *,
        username: str = "admin",
        password: str = "admin",
        loop: LoopThread | None = None,
        confirmed_commit: str | None = "1.1",
    ) -> None:
        if confirmed_commit not in ("1.0", "1.1", None):
            raise ValueError(f"confirmed_commit: '1.0', '1.1' or None, not {confirmed_commit!r}")
        self.name = name
        #: the :confirmed-commit version announced (None: confirmed commits are refused)
        self.confirmed_commit = confirmed_commit
        #: what the server announces in its <hello>
        self.capabilities: tuple[str, ...] = CAPABILITIES + (
            (CONFIRMED_COMMIT.format(version=confirmed_commit),) if confirmed_commit else ()
        )
        self.username = username
        self._password = password
        self.host = LOOPBACK
        self.port = 0
        self.datastores = Datastores(name)
        self._own_loop = loop is None
        self._loop = loop or LoopThread("genja-lab-netconf")
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._sessions: dict[int, _Session] = {}
        self._ids = itertools.count(1)
        self._confirm_timer: asyncio.TimerHandle | None = None
        #: the last RPCs served, oldest first: (session id, operation, target/source datastore
        #: or "", whether a <filter> was given). Tests read it to check the order of a client's
        #: operations (lock before get-config) and what it asked for.
        self.rpc_log: collections.deque[tuple[int, str, str, bool]] = collections.deque(maxlen=1000)

    def __repr__(self) -> str:
        return f"NetconfServer(name={self.name!r}, port={self.port}, username={self.username!r})"

    def start(self) -> int:
        """Listen on a free loopback port and return it."""
        if self._acceptor is not None:
            return self.port
        self._loop.start()
        try:
            self._loop.run(self._start())
        except BaseException:
            self.stop()
            raise
        return self.port

    async def _start(self) -> None:
        sock = bind_listener()
        self.port = int(sock.getsockname()[1])
        self._acceptor = await asyncssh.listen(
            sock=sock,
            server_factory=lambda: PasswordServer(
                self.username,
                self._password,
                session=lambda: _Session(self),
                binary=True,
                on_connect=self._conns.add,
                on_disconnect=self._conns.discard,
            ),
            server_host_keys=[lab_host_key()],
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
        )

    def stop(self) -> None:
        """Close the listener and every session; stop the loop thread if we own it."""
        if self._acceptor is not None and self._loop.running:
            self._loop.run(self._stop())
        self._acceptor = None
        if self.port:
            release_port(self.port)
        if self._own_loop:
            self._loop.stop()

    async def _stop(self) -> None:
        assert self._acceptor is not None
        if self._confirm_timer is not None:
            self._confirm_timer.cancel()
            self._confirm_timer = None
        self._acceptor.close()
        for conn in list(self._conns):
            conn.abort()
        await self._acceptor.wait_closed()

    def running_xml(self) -> str:
        """The running datastore as XML text (for tests and debugging)."""

        async def _dump() -> str:
            return str(etree.tostring(self.datastores.running, pretty_print=True).decode())

        return self._loop.run(_dump())

    def confirmed_commit_pending(self) -> bool:
        """True while a confirmed commit waits for its confirming commit (for tests)."""

        async def _pending() -> bool:
            return self.datastores.pending is not None

        return self._loop.run(_pending())

    def rollbacks(self) -> list[str]:
        """Why each confirmed commit so far was undone ("cancel-commit", "timeout", "session-end")."""

        async def _copy() -> list[str]:
            return list(self.datastores.rollbacks)

        return self._loop.run(_copy())

    def _commit(self, op: etree._Element, session_id: int) -> None:
        """``<commit>``: plain, confirmed (the timer is armed here), or confirming."""
        confirmed = _child(op, "confirmed") is not None
        persist = _child(op, "persist")
        persist_id = _child(op, "persist-id")
        if (confirmed or persist is not None or persist_id is not None) and self.confirmed_commit is None:
            raise RpcError("operation-not-supported", "confirmed commit is not supported (no :confirmed-commit)")
        if (persist is not None or persist_id is not None) and self.confirmed_commit == "1.0":
            bad = "persist" if persist is not None else "persist-id"
            raise RpcError("unknown-element", f"<{bad}> needs :confirmed-commit:1.1", error_type="protocol",
                           info={"bad-element": bad})
        timeout = DEFAULT_CONFIRM_TIMEOUT
        text = _param_text(op, "confirm-timeout", "")
        if text:
            if not confirmed:
                raise RpcError("invalid-value", "<confirm-timeout> needs <confirmed/>", error_type="protocol",
                               info={"bad-element": "confirm-timeout"})
            if not text.isdigit() or int(text) < 1:
                raise RpcError("invalid-value", f"confirm-timeout {text!r} is not a positive number of seconds",
                               error_type="protocol", info={"bad-element": "confirm-timeout"})
            timeout = int(text)
        pending = self.datastores.commit(
            session_id,
            confirmed=confirmed,
            timeout_s=timeout,
            persist=(persist.text or "").strip() if persist is not None else None,
            persist_id=(persist_id.text or "").strip() if persist_id is not None else None,
        )
        if self._confirm_timer is not None:
            self._confirm_timer.cancel()
            self._confirm_timer = None
        if pending is not None:
            generation = pending.generation
            self._confirm_timer = asyncio.get_running_loop().call_later(
                timeout, self.datastores.expire, generation
            )

    def _dispatch(self, session: _Session, op: etree._Element) -> etree._Element:
        """Run one operation (on the loop thread) and return its ``<rpc-reply>``."""
        ds, name, sid = self.datastores, etree.QName(op).localname, session.session_id
        if op.tag != f"{{{BASE_NS}}}{name}":
            raise RpcError("operation-not-supported", f"unknown operation {op.tag}", error_type="protocol")
        holder = _child(op, "target") if _child(op, "target") is not None else _child(op, "source")
        store = str(etree.QName(holder[0]).localname) if holder is not None and len(holder) else ""
        self.rpc_log.append((sid, name, store, _child(op, "filter") is not None))
        reply = _el("rpc-reply")
        if name in ("get", "get-config"):
            filt = _child(op, "filter")
            if filt is not None and filt.get("type", "subtree") != "subtree":
                raise RpcError("operation-not-supported", "only subtree filters are supported (no :xpath)")
            if name == "get":
                source = copy.deepcopy(ds.running)
                source.extend(state_data(self.name))
            else:
                source = ds.get(_datastore_name(op, "source"))
            data = subtree_filter(source, filt)
            reply.append(data)
            return reply
        if name == "edit-config":
            target_name = _datastore_name(op, "target")
            target = ds.get(target_name)
            ds.check_writable(target_name, sid)
            config = _child(op, "config")
            if config is None:
                raise RpcError(
                    "missing-element",
                    "<config> is required (no :url support)",
                    error_type="protocol",
                    info={"bad-element": "config"},
                )
            default = _param_text(op, "default-operation", "merge")
            if default not in ("merge", "replace", "none"):
                raise RpcError(
                    "invalid-value",
                    f"default-operation {default!r} must be merge, replace or none",
                    error_type="protocol",
                )
            error_option = _param_text(op, "error-option", "stop-on-error")
            if error_option not in ("stop-on-error", "continue-on-error", "rollback-on-error"):
                raise RpcError("invalid-value", f"error-option {error_option!r} is not known", error_type="protocol")
            # Edit a copy and swap it in. On an error, rollback-on-error leaves the datastore as
            # it was; stop-on-error (the default) keeps what was edited before the bad element,
            # as RFC 6241 7.2 allows and real servers do.
            edited = copy.deepcopy(target)
            try:
                edit(edited, config, default)
            except RpcError:
                if error_option != "rollback-on-error":
                    ds.set(target_name, edited, sid)
                raise
            ds.set(target_name, edited, sid)
        elif name == "copy-config":
            target_name = _datastore_name(op, "target")
            ds.get(target_name)
            ds.check_writable(target_name, sid)
            src_holder = _child(op, "source")
            inline = _child(src_holder, "config") if src_holder is not None else None
            if inline is not None:
                new = _el("data")
                edit(new, inline, "replace")
            else:
                new = copy.deepcopy(ds.get(_datastore_name(op, "source")))
            ds.set(target_name, new)
        elif name == "lock":
            ds.lock(_datastore_name(op, "target"), sid)
        elif name == "unlock":
            ds.unlock(_datastore_name(op, "target"), sid)
        elif name == "commit":
            self._commit(op, sid)
        elif name == "cancel-commit":
            if self.confirmed_commit != "1.1":
                raise RpcError("operation-not-supported", "<cancel-commit> needs :confirmed-commit:1.1",
                               error_type="protocol")
            persist_id = _child(op, "persist-id")
            ds.cancel_commit(sid, (persist_id.text or "").strip() if persist_id is not None else None)
        elif name == "discard-changes":
            ds.discard()
        elif name == "validate":
            source_name = _datastore_name(op, "source")
            if source_name != "config":  # inline <config> parsed already: nothing more to check
                ds.get(source_name)
        elif name == "close-session":
            ds.release(sid)  # now, not when the channel has finished closing: the reply says "done"
        elif name == "kill-session":
            target_text = _param_text(op, "session-id", "")
            target_id = int(target_text) if target_text.isdigit() else 0
            victim = self._sessions.get(target_id)
            if victim is None or target_id == sid:
                raise RpcError("invalid-value", f"no other session with id {target_id}", error_type="protocol")
            ds.release(target_id)
            victim.close()
        else:
            raise RpcError("operation-not-supported", f"operation <{name}> is not supported", error_type="protocol")
        reply.append(_el("ok"))
        return reply
