"""NETCONF datastores as XML trees: subtree filtering, edit-config, locks, candidate/commit.

No I/O; :mod:`genja_prefect.lab.netconf_server` feeds it parsed RPCs. Without YANG schemas,
list entries are told apart by a key-like first leaf (``name``, ``id``, ``key``, ...):
``<interface><name>eth0</name>...`` matches the existing interface whose ``name`` is ``eth0``,
which is how the common IETF models are keyed; any other element is a container, matched by
its tag alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
OPERATION = f"{{{BASE_NS}}}operation"
KEY_LEAVES = frozenset({"name", "id", "key", "index", "vlan-id", "sequence-id", "prefix"})
EDIT_OPERATIONS = frozenset({"merge", "replace", "create", "delete", "remove", "none"})

IF_NS = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
SYS_NS = "urn:ietf:params:xml:ns:yang:ietf-system"


class RpcError(Exception):
    """An error to report in an ``<rpc-error>`` (RFC 6241 appendix A); ``path`` is the
    ``<error-path>`` (an XPath to the offending node, as netconfd and Junos send it)."""

    def __init__(
        self,
        tag: str,
        message: str,
        *,
        error_type: str = "application",
        info: dict[str, str] | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.tag = tag
        self.error_type = error_type
        self.message = message
        self.info = info or {}
        self.path = path


#: What the lab knows of the models it serves: (namespace, element) -> the child elements a
#: real server's YANG allows. An element of a known parent that is not listed is rejected with
#: ``unknown-element`` (error-path and bad-element set), as netconfd does; children of
#: elements not listed here are accepted as they come.
SCHEMA: dict[tuple[str, str], frozenset[str]] = {
    (IF_NS, "interfaces"): frozenset({"interface"}),
    (IF_NS, "interface"): frozenset(
        {"name", "description", "type", "enabled", "link-up-down-trap-enable", "ipv4", "ipv6", "mtu"}
    ),
    (SYS_NS, "system"): frozenset(
        {"hostname", "contact", "location", "clock", "ntp", "dns-resolver", "authentication", "radius"}
    ),
}


def initial_config(hostname: str) -> etree._Element:
    """The lab device's starting configuration (a ``<data>`` element)."""
    data = etree.Element(f"{{{BASE_NS}}}data", nsmap={None: BASE_NS})
    interfaces = etree.SubElement(data, f"{{{IF_NS}}}interfaces", nsmap={None: IF_NS})
    for name, description in (("eth0", "uplink"), ("eth1", ""), ("lo0", "loopback")):
        interface = etree.SubElement(interfaces, f"{{{IF_NS}}}interface")
        etree.SubElement(interface, f"{{{IF_NS}}}name").text = name
        if description:
            etree.SubElement(interface, f"{{{IF_NS}}}description").text = description
        etree.SubElement(interface, f"{{{IF_NS}}}enabled").text = "true"
    system = etree.SubElement(data, f"{{{SYS_NS}}}system", nsmap={None: SYS_NS})
    etree.SubElement(system, f"{{{SYS_NS}}}hostname").text = hostname
    return data


def state_data(hostname: str) -> list[etree._Element]:
    """Operational data that ``<get>`` adds to the running config."""
    state = etree.Element(f"{{{SYS_NS}}}system-state", nsmap={None: SYS_NS})
    platform = etree.SubElement(state, f"{{{SYS_NS}}}platform")
    for tag, text in (("os-name", "genja-lab"), ("os-release", "1.0"), ("machine", hostname)):
        etree.SubElement(platform, f"{{{SYS_NS}}}{tag}").text = text
    return [state]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _same_tag(filter_tag: str, data_tag: str) -> bool:
    # A filter element without a namespace matches by local name (lenient, like many servers).
    return filter_tag == data_tag or ("}" not in filter_tag and _local(data_tag) == filter_tag)


def _text(element: etree._Element) -> str:
    return (element.text or "").strip()


def _is_leaf(element: etree._Element) -> bool:
    return len(element) == 0


def subtree_filter(data: etree._Element, filter_el: etree._Element | None) -> etree._Element:
    """A copy of ``data`` (a ``<data>`` element) keeping what the RFC 6241 subtree filter selects.

    ``None`` or an empty filter selects everything.
    """
    if filter_el is None:
        return copy.deepcopy(data)
    result = etree.Element(data.tag, nsmap=data.nsmap)
    for f in filter_el:
        if not isinstance(f.tag, str):
            continue  # comments
        for d in data:
            if _same_tag(f.tag, d.tag):
                kept = _prune(d, f)
                if kept is not None:
                    result.append(kept)
    return result


def _prune(data: etree._Element, filt: etree._Element) -> etree._Element | None:
    """Apply filter node ``filt`` to the matching data node ``data``; None if not selected."""
    fchildren = [f for f in filt if isinstance(f.tag, str)]
    if not fchildren:
        if _text(filt) and _text(filt) != _text(data):
            return None
        return copy.deepcopy(data)  # selection node
    content = [f for f in fchildren if _is_leaf(f) and _text(f)]
    for f in content:
        if not any(_same_tag(f.tag, d.tag) and _text(d) == _text(f) for d in data):
            return None
    out = etree.Element(data.tag, attrib=dict(data.attrib), nsmap=data.nsmap)
    others = [f for f in fchildren if f not in content]
    if not others:
        out.extend(copy.deepcopy(d) for d in data)
        return out
    for d in data:
        if any(_same_tag(f.tag, d.tag) for f in content):
            out.append(copy.deepcopy(d))
            continue
        # Several filter nodes may name the same element (two list entries by key): the
        # data node is kept by the first that selects it.
        for f in others:
            if _same_tag(f.tag, d.tag):
                kept = _prune(d, f)
                if kept is not None:
                    out.append(kept)
                    break
    if not content and len(out) == 0:
        return None
    return out


def _find(parent: etree._Element, cfg: etree._Element) -> etree._Element | None:
    """The existing child of ``parent`` that ``cfg`` refers to (list entries by their key leaf)."""
    first = next((c for c in cfg if isinstance(c.tag, str)), None)
    key = first if first is not None and _is_leaf(first) and _local(first.tag) in KEY_LEAVES else None
    for child in parent:
        if child.tag != cfg.tag:
            continue
        if key is None:
            return child
        if any(c.tag == key.tag and _text(c) == _text(key) for c in child):
            return child
    return None


def _clean_copy(cfg: etree._Element) -> etree._Element:
    new = copy.deepcopy(cfg)
    for element in new.iter():
        if isinstance(element.tag, str) and OPERATION in element.attrib:
            del element.attrib[OPERATION]
    etree.cleanup_namespaces(new)  # drop the now unused xmlns:nc declarations
    return new


def edit(target: etree._Element, config: etree._Element, default_operation: str) -> None:
    """Apply an edit-config ``<config>`` to ``target`` in place (raises :class:`RpcError`).

    Edits are made in document order, so on an error the elements before the bad one are
    already changed in ``target`` (the caller decides whether to keep that: stop-on-error, or
    not: rollback-on-error).
    """
    check_schema(config)
    if default_operation == "replace":
        for child in list(target):
            target.remove(child)
        target.extend(_clean_copy(c) for c in config if isinstance(c.tag, str))
        return
    _edit(target, config, default_operation, "")


def check_schema(config: etree._Element, path: str = "") -> None:
    """Reject elements the lab's models (:data:`SCHEMA`) do not have, with error-path and
    bad-element like a real server."""
    for cfg in config:
        if not isinstance(cfg.tag, str):
            continue
        here = _path_step(path, cfg)
        allowed = SCHEMA.get((etree.QName(cfg).namespace or "", _local(cfg.tag)))
        if allowed is not None:
            for child in cfg:
                if isinstance(child.tag, str) and _local(child.tag) not in allowed:
                    raise RpcError(
                        "unknown-element",
                        f"unknown element {_local(child.tag)!r} in {_local(cfg.tag)}",
                        info={"bad-element": _local(child.tag)},
                        path=f"{here}/{_local(child.tag)}",
                    )
        check_schema(cfg, here)


def _path_step(path: str, cfg: etree._Element) -> str:
    """``path`` extended by ``cfg`` as an XPath step, list entries with their key:
    ``/interfaces/interface[name='eth1']``."""
    first = next((c for c in cfg if isinstance(c.tag, str)), None)
    step = _local(cfg.tag)
    if first is not None and _is_leaf(first) and _local(first.tag) in KEY_LEAVES and _text(first):
        step += f"[{_local(first.tag)}='{_text(first)}']"
    return f"{path}/{step}"


def _edit(parent: etree._Element, cfg_parent: etree._Element, inherited: str, path: str) -> None:
    for cfg in cfg_parent:
        if not isinstance(cfg.tag, str):
            continue
        here = _path_step(path, cfg)
        op = cfg.get(OPERATION, inherited)
        if op not in EDIT_OPERATIONS:
            raise RpcError(
                "bad-attribute",
                f"unknown operation {op!r}",
                error_type="protocol",
                info={"bad-attribute": "operation", "bad-element": _local(cfg.tag)},
                path=here,
            )
        match = _find(parent, cfg)
        if op in ("delete", "remove"):
            if match is None:
                if op == "delete":
                    raise RpcError(
                        "data-missing",
                        f"cannot delete {_local(cfg.tag)}: it does not exist",
                        info={"bad-element": _local(cfg.tag)},
                        path=here,
                    )
                continue
            parent.remove(match)
        elif op == "create" and match is not None:
            raise RpcError(
                "data-exists",
                f"cannot create {_local(cfg.tag)}: it already exists",
                info={"bad-element": _local(cfg.tag)},
                path=here,
            )
        elif op in ("create", "replace"):
            new = _clean_copy(cfg)
            if match is None:
                parent.append(new)
            else:
                parent.replace(match, new)
        elif _is_leaf(cfg):
            if op == "merge":
                if match is None:
                    parent.append(_clean_copy(cfg))
                else:
                    match.text = cfg.text
        else:  # merge or none into a container or list entry
            created = match is None
            if match is None:
                attrib = {k: v for k, v in cfg.attrib.items() if k != OPERATION}
                own_ns = etree.QName(cfg).namespace
                nsmap = {prefix: uri for prefix, uri in cfg.nsmap.items() if uri == own_ns}
                match = etree.SubElement(parent, cfg.tag, attrib=attrib, nsmap=nsmap)
            _edit(match, cfg, op, here)
            if created and len(match) == 0 and op == "none":
                parent.remove(match)


@dataclass
class PendingCommit:
    """A confirmed commit waiting for its confirming commit (RFC 6241 section 8.4)."""

    #: the session that issued it: only it may confirm, unless ``persist`` was given
    session_id: int
    #: the running config before the first confirmed commit: what a cancel or timeout restores
    restore: etree._Element
    #: the ``<persist>`` token (1.1): the commit then survives its session, and any session
    #: confirms or cancels it with ``<persist-id>``
    persist: str | None
    timeout_s: int
    #: bumped by every confirmed commit: a timer armed for an older one does nothing
    generation: int


class Datastores:
    """running and candidate of one device, with their locks (session id or None).

    The candidate follows running until someone edits it; commit and discard-changes make it
    follow again. So an edit of running is visible in an unmodified candidate, as on most
    devices with ``:candidate``.

    Confirmed commits (``:confirmed-commit``, RFC 6241 section 8.4): :meth:`commit` with
    ``confirmed=True`` commits and remembers the running config before it
    (:attr:`pending`); a plain commit then confirms it, :meth:`cancel_commit`,
    :meth:`expire` (the server's timer) and the end of the issuing session (:meth:`release`,
    unless ``persist`` was given) restore it. The timer itself is the server's business.
    """

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.running: etree._Element = initial_config(hostname)
        self._candidate: etree._Element | None = None
        #: the session whose edit made the candidate differ from running (None: not dirty)
        self.candidate_dirtied_by: int | None = None
        self.locks: dict[str, int | None] = {"running": None, "candidate": None}
        #: the confirmed commit waiting for confirmation, if any
        self.pending: PendingCommit | None = None
        self._generation = 0
        #: why each confirmed commit was undone, oldest first ("cancel-commit", "timeout",
        #: "session-end"), for tests and debugging
        self.rollbacks: list[str] = []

    @property
    def candidate(self) -> etree._Element:
        """The candidate datastore (running itself while it has no changes of its own)."""
        return self.running if self._candidate is None else self._candidate

    def get(self, name: str) -> etree._Element:
        """The named datastore (``running`` or ``candidate``); do not modify it in place."""
        if name == "running":
            return self.running
        if name == "candidate":
            return self.candidate
        raise RpcError("invalid-value", f"unknown datastore {name!r}; use running or candidate", error_type="protocol")

    def set(self, name: str, data: etree._Element, session_id: int = 0) -> None:
        """Replace the named datastore's content (``session_id``: who did, for the candidate)."""
        self.get(name)
        if name == "running":
            self.running = data
        else:
            self._candidate = data
            if self.candidate_dirtied_by is None:
                self.candidate_dirtied_by = session_id

    def check_writable(self, name: str, session_id: int) -> None:
        """Raise ``in-use`` if another session holds the lock on ``name``."""
        owner = self.locks[name]
        if owner is not None and owner != session_id:
            raise RpcError("in-use", f"{name} is locked by session {owner}", info={"session-id": str(owner)})

    def lock(self, name: str, session_id: int) -> None:
        """Lock ``name`` for ``session_id`` (``lock-denied`` if someone holds it)."""
        self.get(name)
        owner = self.locks[name]
        if owner is not None:
            raise RpcError(
                "lock-denied",
                f"{name} is already locked by session {owner}",
                error_type="protocol",
                info={"session-id": str(owner)},
            )
        if name == "candidate" and self._candidate is not None:
            # RFC 6241 7.5: no lock on a candidate with uncommitted changes (netconfd and Junos
            # answer this way); session-id 0 when the session that made them is gone.
            raise RpcError(
                "lock-denied",
                f"candidate has uncommitted changes (made by session {self.candidate_dirtied_by or 0}); "
                "discard or commit them first",
                error_type="protocol",
                info={"session-id": str(self.candidate_dirtied_by or 0)},
            )
        self.locks[name] = session_id

    def unlock(self, name: str, session_id: int) -> None:
        """Release ``session_id``'s lock on ``name``."""
        self.get(name)
        if self.locks[name] != session_id:
            raise RpcError("operation-failed", f"{name} is not locked by this session", error_type="protocol")
        self.locks[name] = None

    def release(self, session_id: int) -> None:
        """Drop every lock ``session_id`` holds (its session ended); a locked candidate is
        discarded, as RFC 6241 section 8.3.5.2 asks. A confirmed commit this session issued
        without ``persist`` is undone (section 8.4.1)."""
        pending = self.pending
        if pending is not None and pending.session_id == session_id and pending.persist is None:
            self._restore("session-end")
        for name, owner in self.locks.items():
            if owner == session_id:
                self.locks[name] = None
                if name == "candidate":
                    self.discard()

    def commit(
        self,
        session_id: int,
        *,
        confirmed: bool = False,
        timeout_s: int = 600,
        persist: str | None = None,
        persist_id: str | None = None,
    ) -> PendingCommit | None:
        """candidate -> running. ``confirmed=True``: a confirmed commit, undone unless
        confirmed within ``timeout_s`` (returns the :class:`PendingCommit` for the server to
        time); a commit while one is pending is the confirming commit (or, confirmed again,
        a follow-up that restarts the timer and keeps the first restore point)."""
        self.check_writable("running", session_id)
        pending = self.pending
        if pending is not None:
            self._check_owner(pending, session_id, persist_id, "commit")
        elif persist_id is not None:
            raise RpcError("invalid-value", "no confirmed commit with a persist token is pending; drop <persist-id>",
                           error_type="protocol", info={"bad-element": "persist-id"})
        restore = pending.restore if pending is not None else self.running
        self.running = self.candidate
        self.discard()
        if not confirmed:
            self.pending = None
            return None
        self._generation += 1
        self.pending = PendingCommit(session_id, restore, persist, timeout_s, self._generation)
        return self.pending

    def cancel_commit(self, session_id: int, persist_id: str | None = None) -> None:
        """``<cancel-commit>``: undo the pending confirmed commit now."""
        pending = self.pending
        if pending is None:
            raise RpcError("operation-failed", "no confirmed commit is pending")
        self._check_owner(pending, session_id, persist_id, "cancel-commit")
        self._restore("cancel-commit")

    def expire(self, generation: int) -> bool:
        """The confirm timeout of confirmed commit ``generation`` passed: undo it if it is
        still the pending one. True when it was undone."""
        if self.pending is None or self.pending.generation != generation:
            return False
        self._restore("timeout")
        return True

    def _check_owner(self, pending: PendingCommit, session_id: int, persist_id: str | None, what: str) -> None:
        if pending.persist is not None:
            if persist_id != pending.persist:
                raise RpcError("invalid-value", f"{what}: the pending confirmed commit was made with <persist>; "
                               "give its token as <persist-id>", error_type="protocol",
                               info={"bad-element": "persist-id"})
        elif pending.session_id != session_id:
            raise RpcError("in-use", f"{what}: a confirmed commit of session {pending.session_id} is pending; "
                           "only that session may confirm or cancel it", info={"session-id": str(pending.session_id)})

    def _restore(self, why: str) -> None:
        assert self.pending is not None
        self.running = self.pending.restore
        self.pending = None
        self.discard()
        self.rollbacks.append(why)

    def discard(self) -> None:
        """Drop the candidate's changes."""
        self._candidate = None
        self.candidate_dirtied_by = None
