"""The NETCONF server through ncclient, plus base:1.0 framing by hand and the pure parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import asyncssh
import pytest
from lxml import etree
from ncclient import manager
from ncclient.manager import Manager
from ncclient.operations import RPCError

from genja_prefect.lab.lab import Lab
from genja_prefect.lab.netconf_datastore import BASE_NS, IF_NS, RpcError, edit, initial_config, subtree_filter
from genja_prefect.lab.netconf_framing import Framer, FramingError
from genja_prefect.lab.netconf_server import NetconfServer

NC = f'xmlns:nc="{BASE_NS}"'
IFACES_FILTER = f'<interfaces xmlns="{IF_NS}"/>'


def _config(interfaces: str) -> str:
    return f'<config xmlns="{BASE_NS}" {NC}><interfaces xmlns="{IF_NS}">{interfaces}</interfaces></config>'


def _names(data_xml: str) -> list[str]:
    root = etree.fromstring(data_xml.encode())
    return [e.text or "" for e in root.iter(f"{{{IF_NS}}}name")]


@pytest.fixture
def server(lab: Lab) -> Iterator[NetconfServer]:
    """A fresh NETCONF device per test (the session lab's loop, its own datastore)."""
    with NetconfServer("netconf-test", username="admin", password=lab.password, loop=lab._loop) as srv:
        yield srv


def _connect(port: int, password: str) -> Manager:
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username="admin",
        password=password,
        hostkey_verify=False,
        device_params={"name": "default"},
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )


def test_lab_netconf_edit_config_get_config_round_trip(lab: Lab) -> None:
    host = lab.host("netconf1")
    with _connect(host.port, lab.password) as m:
        assert "urn:ietf:params:netconf:capability:candidate:1.0" in m.server_capabilities
        reply = m.edit_config(
            target="running",
            config=_config("<interface><name>eth42</name><description>from ncclient</description></interface>"),
        )
        assert reply.ok
        data = m.get_config(
            "running",
            filter=("subtree", f'<interfaces xmlns="{IF_NS}"><interface><name>eth42</name></interface></interfaces>'),
        ).data_xml
    assert _names(data) == ["eth42"]
    assert "from ncclient" in data


def test_candidate_commit_and_discard(server: NetconfServer) -> None:
    with _connect(server.port, server._password) as m:
        m.lock("candidate")
        m.edit_config(target="candidate", config=_config("<interface><name>eth8</name></interface>"))
        assert "eth8" in _names(m.get_config("candidate", filter=("subtree", IFACES_FILTER)).data_xml)
        assert "eth8" not in _names(m.get_config("running", filter=("subtree", IFACES_FILTER)).data_xml)
        m.commit()
        assert "eth8" in _names(m.get_config("running", filter=("subtree", IFACES_FILTER)).data_xml)
        m.edit_config(target="candidate", config=_config("<interface><name>eth9</name></interface>"))
        m.discard_changes()
        assert "eth9" not in _names(m.get_config("candidate", filter=("subtree", IFACES_FILTER)).data_xml)
        m.unlock("candidate")


def test_replace_delete_and_rpc_errors(server: NetconfServer) -> None:
    with _connect(server.port, server._password) as m:
        m.edit_config(
            target="running",
            config=_config('<interface nc:operation="replace"><name>eth0</name><enabled>false</enabled></interface>'),
        )
        eth0 = m.get_config(
            "running",
            filter=("subtree", f'<interfaces xmlns="{IF_NS}"><interface><name>eth0</name></interface></interfaces>'),
        ).data_xml
        assert "uplink" not in eth0 and "false" in eth0
        m.edit_config(
            target="running", config=_config('<interface nc:operation="delete"><name>eth1</name></interface>')
        )
        assert _names(m.get_config("running", filter=("subtree", IFACES_FILTER)).data_xml) == ["eth0", "lo0"]
        with pytest.raises(RPCError) as missing:
            m.edit_config(
                target="running", config=_config('<interface nc:operation="delete"><name>nope</name></interface>')
            )
        assert missing.value.tag == "data-missing"
        with pytest.raises(RPCError) as unsupported:
            m.dispatch(etree.fromstring('<get-schema xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"/>'))
        assert unsupported.value.tag == "operation-not-supported"


def test_locks_between_sessions_and_release_on_close(server: NetconfServer) -> None:
    first = _connect(server.port, server._password)
    try:
        with _connect(server.port, server._password) as second:
            first.lock("running")
            with pytest.raises(RPCError) as denied:
                second.lock("running")
            assert denied.value.tag == "lock-denied"
            with pytest.raises(RPCError) as in_use:
                second.edit_config(target="running", config=_config("<interface><name>x</name></interface>"))
            assert in_use.value.tag == "in-use"
            first.close_session()
            second.lock("running")  # the closed session's lock is gone
            second.unlock("running")
    finally:
        if first.connected:
            first.close_session()


def test_get_adds_state_data(server: NetconfServer) -> None:
    with _connect(server.port, server._password) as m:
        data = m.get(filter=("subtree", '<system-state xmlns="urn:ietf:params:xml:ns:yang:ietf-system"/>')).data_xml
    assert "<os-name>genja-lab</os-name>" in data


def test_base_10_client_gets_end_of_message_framing(server: NetconfServer) -> None:
    hello = (
        f'<hello xmlns="{BASE_NS}"><capabilities><capability>urn:ietf:params:netconf:base:1.0'
        "</capability></capabilities></hello>]]>]]>"
    )
    rpc = f'<rpc message-id="7" xmlns="{BASE_NS}"><get-config><source><running/></source></get-config></rpc>]]>]]>'

    async def talk() -> bytes:
        async with asyncssh.connect(
            "127.0.0.1", server.port, username="admin", password=server._password, known_hosts=None
        ) as conn:
            writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
            await reader.readuntil(b"]]>]]>")  # server hello
            writer.write(hello.encode() + rpc.encode())
            reply = await reader.readuntil(b"]]>]]>")
            writer.close()
            return bytes(reply)

    reply = asyncio.run(asyncio.wait_for(talk(), 20))
    root = etree.fromstring(reply[: -len(b"]]>]]>")])
    assert root.get("message-id") == "7"
    assert "eth0" in _names(etree.tostring(root).decode())


def test_framer_chunked_messages_split_anywhere() -> None:
    framer = Framer()
    framer.chunked = True
    wire = b"\n#5\nhello\n#6\n world\n##\n" + framer.frame(b"second")
    for i in range(len(wire)):
        framer.feed(wire[i : i + 1])
    assert framer.next_message() == b"hello world"
    assert framer.next_message() == b"second"
    assert framer.next_message() is None
    framer.feed(b"garbage")
    with pytest.raises(FramingError):
        framer.next_message()


def test_subtree_filter_content_match_and_selection() -> None:
    data = initial_config("r1")
    filt = etree.fromstring(
        f'<filter><interfaces xmlns="{IF_NS}"><interface><name>lo0</name><description/>'
        "</interface></interfaces></filter>"
    )
    result = subtree_filter(data, filt)
    assert [e.text for e in result.iter(f"{{{IF_NS}}}name")] == ["lo0"]
    assert [e.text for e in result.iter(f"{{{IF_NS}}}description")] == ["loopback"]
    assert not list(result.iter(f"{{{IF_NS}}}enabled"))


def test_create_on_existing_entry_is_data_exists() -> None:
    data = initial_config("r1")
    config = etree.fromstring(_config('<interface nc:operation="create"><name>eth0</name></interface>'))
    with pytest.raises(RpcError) as error:
        edit(data, config, "merge")
    assert error.value.tag == "data-exists"


def test_unknown_element_reply_has_error_path_and_bad_element(server: NetconfServer) -> None:
    with _connect(server.port, server._password) as m:
        with pytest.raises(RPCError) as caught:
            m.edit_config(target="running", config=_config("<interface><name>eth1</name><mtux>9000</mtux></interface>"))
    err = caught.value
    assert err.tag == "unknown-element"
    assert err.path == "/interfaces/interface[name='eth1']/mtux"
    assert "<bad-element>mtux</bad-element>" in err.info


def test_a_candidate_dirtied_by_another_session_cannot_be_locked_until_discarded(server: NetconfServer) -> None:
    with _connect(server.port, server._password) as first, _connect(server.port, server._password) as second:
        first.edit_config(target="candidate", config=_config("<interface><name>eth5</name></interface>"))
        with pytest.raises(RPCError) as caught:
            second.lock("candidate")
        assert caught.value.tag == "lock-denied" and "uncommitted changes" in caught.value.message
        second.discard_changes()
        second.lock("candidate")
        second.unlock("candidate")


def test_stop_on_error_keeps_the_edits_before_the_error_and_rollback_on_error_does_not(server: NetconfServer) -> None:
    partial = _config(
        "<interface><name>eth1</name><description>half</description></interface>"
        '<interface nc:operation="delete"><name>nope9</name></interface>'
    )
    with _connect(server.port, server._password) as m:
        assert "urn:ietf:params:netconf:capability:rollback-on-error:1.0" in m.server_capabilities
        with pytest.raises(RPCError, match="does not exist"):
            m.edit_config(target="running", config=partial, error_option="rollback-on-error")
        assert "half" not in server.running_xml()
        with pytest.raises(RPCError) as caught:
            m.edit_config(target="running", config=partial)  # stop-on-error, the default
        assert caught.value.path == "/interfaces/interface[name='nope9']"
        assert "<description>half</description>" in server.running_xml()


def test_subtree_filter_with_two_entries_of_one_list() -> None:
    data = initial_config("r1")
    filt = etree.fromstring(
        f'<filter xmlns="{BASE_NS}"><interfaces xmlns="{IF_NS}"><interface><name>eth0</name></interface>'
        f"<interface><name>lo0</name></interface></interfaces></filter>"
    )
    assert _names(etree.tostring(subtree_filter(data, filt)).decode()) == ["eth0", "lo0"]


# -- confirmed commit (RFC 6241 8.4) ---------------------------------------------------------


def _wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Wait for a state the server reaches by itself (its confirm timer), with a generous bound."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.05)


def _ifaces(m: Manager) -> list[str]:
    return _names(m.get_config("running", filter=("subtree", IFACES_FILTER)).data_xml)


def test_confirmed_commit_is_kept_by_a_confirming_commit(server: NetconfServer) -> None:
    with _connect(server.port, server._password) as m:
        assert ":confirmed-commit:1.1" in m.server_capabilities
        m.edit_config(target="candidate", config=_config("<interface><name>eth20</name></interface>"))
        m.commit(confirmed=True, timeout="300")
        assert "eth20" in _ifaces(m) and server.confirmed_commit_pending()
        m.commit()  # the confirming commit
        assert not server.confirmed_commit_pending()
    assert "eth20" in server.running_xml() and server.rollbacks() == []  # kept after the session ends


def test_cancel_commit_restores_the_running_config_before(server: NetconfServer) -> None:
    before = server.running_xml()
    with _connect(server.port, server._password) as m, _connect(server.port, server._password) as other:
        m.edit_config(target="candidate", config=_config("<interface><name>eth21</name></interface>"))
        m.commit(confirmed=True, timeout="300")
        # a follow-up confirmed commit keeps the first restore point
        m.edit_config(target="candidate", config=_config("<interface><name>eth22</name></interface>"))
        m.commit(confirmed=True, timeout="300")
        assert {"eth21", "eth22"} <= set(_ifaces(other))
        with pytest.raises(RPCError, match="only that session may confirm or cancel it"):
            other.cancel_commit()
        with pytest.raises(RPCError, match="only that session"):
            other.commit()
        m.cancel_commit()
        assert server.running_xml() == before and server.rollbacks() == ["cancel-commit"]
        with pytest.raises(RPCError, match="no confirmed commit is pending"):
            m.cancel_commit()


def test_confirm_timeout_passing_restores_the_running_config(server: NetconfServer) -> None:
    before = server.running_xml()
    with _connect(server.port, server._password) as m:
        m.edit_config(target="candidate", config=_config("<interface><name>eth23</name></interface>"))
        m.commit(confirmed=True, timeout="1")
        assert "eth23" in _ifaces(m)
        _wait_for(lambda: not server.confirmed_commit_pending(), "the confirm timeout undoes the commit")
        assert server.running_xml() == before and server.rollbacks() == ["timeout"]
        with pytest.raises(RPCError, match="no confirmed commit is pending"):
            m.cancel_commit()  # nothing left to cancel; a plain commit now is an ordinary one
        with pytest.raises(RPCError, match="not a positive number"):
            m.commit(confirmed=True, timeout="0")


def test_session_end_undoes_a_confirmed_commit_unless_persisted(server: NetconfServer) -> None:
    before = server.running_xml()
    with _connect(server.port, server._password) as m:
        m.edit_config(target="candidate", config=_config("<interface><name>eth24</name></interface>"))
        m.commit(confirmed=True, timeout="300")
    _wait_for(lambda: server.rollbacks() == ["session-end"], "the session's end undoes the commit")
    assert server.running_xml() == before
    with _connect(server.port, server._password) as m:
        m.edit_config(target="candidate", config=_config("<interface><name>eth25</name></interface>"))
        m.commit(confirmed=True, timeout="300", persist="token-1")
    assert server.confirmed_commit_pending() and "eth25" in server.running_xml()
    with _connect(server.port, server._password) as other:
        with pytest.raises(RPCError, match="persist-id"):
            other.commit()
        other.commit(persist_id="token-1")  # any session confirms a persisted one with its token
    assert not server.confirmed_commit_pending() and "eth25" in server.running_xml()


def test_confirmed_commit_1_0_has_no_cancel_and_none_refuses(lab: Lab) -> None:
    with NetconfServer("nc-10", username="admin", password=lab.password, loop=lab._loop,
                       confirmed_commit="1.0") as old, _connect(old.port, lab.password) as m:
        assert ":confirmed-commit:1.0" in m.server_capabilities and ":confirmed-commit:1.1" not in m.server_capabilities
        m.edit_config(target="candidate", config=_config("<interface><name>eth26</name></interface>"))
        m.commit(confirmed=True, timeout="300")
        with pytest.raises(RPCError, match="needs :confirmed-commit:1.1"):
            m.cancel_commit()
        m.commit()
        assert not old.confirmed_commit_pending()
    with NetconfServer("nc-none", username="admin", password=lab.password, loop=lab._loop,
                       confirmed_commit=None) as plain, _connect(plain.port, lab.password) as m:
        assert not any("confirmed-commit" in c for c in m.server_capabilities)
        with pytest.raises(RPCError, match="confirmed commit is not supported"):
            m.dispatch(etree.fromstring(f'<commit xmlns="{BASE_NS}"><confirmed/></commit>'))
