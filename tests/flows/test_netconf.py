"""NETCONF get-config / edit-config against the lab's NETCONF server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect_flows import NetconfEditConfig, NetconfGetConfig, NetconfXmlError

IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
SYS = "urn:ietf:params:xml:ns:yang:ietf-system"


@pytest.fixture
def netconf_lab(sim_lab: Callable[..., Any]) -> Any:
    """A NETCONF device of its own per test (edits change its datastores)."""
    return sim_lab(ios=0, netconf=1)


@pytest.fixture
def netconf(netconf_lab: Any, plain_runtime: Callable[..., genja_lib.Genja]) -> genja_lib.Genja:
    return plain_runtime(str(Path(netconf_lab.directory) / "settings.yaml"), platform="netconf")


def _other_session(lab: Any) -> Any:
    """A second NETCONF session to netconf1, as another tool or engineer would have."""
    from ncclient import manager

    return manager.connect(host="127.0.0.1", port=lab.host("netconf1").port, username="admin",
                           password=lab._password, hostkey_verify=False, look_for_keys=False,
                           allow_agent=False, device_params={"name": "default"}, timeout=10)


def test_get_config_with_and_without_subtree_filter(netconf: genja_lib.Genja) -> None:
    full = netconf.run_task(NetconfGetConfig())["netconf1"]
    assert full.status == "passed", full
    assert "<name>eth0</name>" in full.result["xml"] and "<hostname>netconf1</hostname>" in full.result["xml"]
    only_system = netconf.run_task(NetconfGetConfig(filter=f'<system xmlns="{SYS}"/>'))["netconf1"]
    assert "<hostname>netconf1</hostname>" in only_system.result["xml"]
    assert "eth0" not in only_system.result["xml"]


def test_edit_config_uses_candidate_and_commit(netconf: genja_lib.Genja) -> None:
    config = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><description>to-core</description></interface></interfaces>'
    edit = netconf.run_task(NetconfEditConfig(config))["netconf1"]
    assert edit.status == "passed", edit
    assert edit.result["target"] == "candidate" and edit.changed
    assert "+" in edit.diff and "to-core" in edit.diff
    running = netconf.run_task(NetconfGetConfig(filter=f'<interfaces xmlns="{IF}"/>'))["netconf1"]
    assert "<description>to-core</description>" in running.result["xml"]
    again = netconf.run_task(NetconfEditConfig(config))["netconf1"]
    assert not again.changed and again.diff is None


def test_edit_config_on_running(netconf: genja_lib.Genja) -> None:
    config = f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><system xmlns="{SYS}"><hostname>nc-new</hostname></system></config>'
    edit = netconf.run_task(NetconfEditConfig(config, target="running"))["netconf1"]
    assert edit.result["target"] == "running" and edit.changed and "nc-new" in edit.diff


def test_failed_edit_discards_and_unlocks(netconf: genja_lib.Genja) -> None:
    bad = f'<interfaces xmlns="{IF}"><interface xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>nope9</name></interface></interfaces>'
    failed = netconf.run_task(NetconfEditConfig(bad))["netconf1"]
    assert failed.status == "failed" and failed.kind.value == "command"
    assert "edit-config on candidate rejected by netconf1" in failed.message and "does not exist" in failed.message
    # the lock was released and the candidate is clean: the next edit works
    good = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><description>ok</description></interface></interfaces>'
    assert netconf.run_task(NetconfEditConfig(good))["netconf1"].status == "passed"


def test_bad_xml_is_rejected_before_any_host() -> None:
    with pytest.raises(NetconfXmlError, match="config is not well-formed"):
        NetconfEditConfig("<interfaces><interface>")
    with pytest.raises(NetconfXmlError, match="filter"):
        NetconfGetConfig(filter="<system")


def test_edit_config_takes_xml_or_the_path_of_a_file_holding_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `prefect deployment run --param config=edit.xml` passes the file name as a plain string
    # (an XML value with double quotes is refused by that option as bad JSON).
    from genja_prefect_flows.netconf import config_text

    xml = f'<interfaces xmlns="{IF}"><interface><name>eth1</name></interface></interfaces>'
    (tmp_path / "edit.xml").write_text(xml + "\n")
    monkeypatch.chdir(tmp_path)
    assert config_text(xml) == xml
    assert config_text("edit.xml") == xml + "\n"
    assert config_text(str(tmp_path / "edit.xml")) == xml + "\n"
    with pytest.raises(NetconfXmlError, match=r"config: neither XML \(starting with '<'\) nor a file: 'missing.xml'"):
        config_text("missing.xml")


def test_failure_names_error_tag_path_and_bad_element_without_a_traceback(netconf: genja_lib.Genja) -> None:
    config = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><mtux>9000</mtux></interface></interfaces>'
    failed = netconf.run_task(NetconfEditConfig(config))["netconf1"]
    assert failed.status == "failed" and failed.kind.value == "command"
    assert "unknown-element" in failed.message and "bad-element mtux" in failed.message
    assert "path /interfaces/interface[name='eth1']/mtux" in failed.message and "\n" not in failed.message
    (error,) = failed.details["errors"]
    assert error["tag"] == "unknown-element" and error["info"] == {"bad-element": "mtux"}
    assert error["path"] == "/interfaces/interface[name='eth1']/mtux"
    assert "traceback" not in failed.details and failed.details["step"] == "edit-config"


def test_a_dirty_candidate_is_a_clear_failure_and_discard_changes_first_clears_it(
    netconf_lab: Any, netconf: genja_lib.Genja
) -> None:
    config = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><description>mine</description></interface></interfaces>'
    with _other_session(netconf_lab) as other:
        other.edit_config(target="candidate", config=(
            f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces xmlns="{IF}">'
            "<interface><name>eth7</name></interface></interfaces></config>"))
        failed = netconf.run_task(NetconfEditConfig(config))["netconf1"]
        assert failed.status == "failed" and failed.details["step"] == "lock"
        assert "lock-denied" in failed.message and "discard_changes_first=True" in failed.message
        assert "\n" not in failed.message and "Traceback" not in str(failed.details)
        done = netconf.run_task(NetconfEditConfig(config, discard_changes_first=True))["netconf1"]
        assert done.status == "passed" and done.result["discarded_first"] and done.changed
    running = netconf_lab.netconf_servers[0].running_xml()
    assert "<description>mine</description>" in running and "eth7" not in running  # theirs was dropped


def test_lock_comes_before_reading_and_reads_only_the_edited_subtree(netconf_lab: Any, netconf: genja_lib.Genja) -> None:
    server = netconf_lab.netconf_servers[0]
    server.rpc_log.clear()
    config = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><description>to-core</description></interface></interfaces>'
    edit = netconf.run_task(NetconfEditConfig(config))["netconf1"]
    assert edit.status == "passed" and edit.result["error_option"] == "rollback-on-error"
    ops = [(op, store, filtered) for _, op, store, filtered in server.rpc_log]
    assert ops == [
        ("lock", "candidate", False),
        ("get-config", "running", True),
        ("edit-config", "candidate", False),
        ("commit", "", False),
        ("get-config", "running", True),
        ("unlock", "candidate", False),
        ("close-session", "", False),  # the run's connection closes at its end
    ]
    assert edit.result["filter"] == f'<interfaces xmlns="{IF}"><interface><name>eth1</name></interface></interfaces>'
    assert "to-core" in edit.diff and "eth0" not in edit.diff and "hostname" not in edit.diff


def test_rollback_on_error_by_default_leaves_running_untouched(netconf_lab: Any, netconf: genja_lib.Genja) -> None:
    server = netconf_lab.netconf_servers[0]
    partial = (
        f'<interfaces xmlns="{IF}" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
        "<interface><name>eth1</name><description>half</description></interface>"
        '<interface nc:operation="delete"><name>nope9</name></interface></interfaces>'
    )
    failed = netconf.run_task(NetconfEditConfig(partial, target="running"))["netconf1"]
    assert failed.status == "failed" and "data-missing" in failed.message
    assert "half" not in server.running_xml()
    # the server's default, stop-on-error, would have kept the first half: the option matters
    netconf.run_task(NetconfEditConfig(partial, target="running", error_option="stop-on-error"))
    assert "<description>half</description>" in server.running_xml()
    with pytest.raises(ValueError, match="error_option must be one of"):
        NetconfEditConfig(partial, error_option="ignore")


def test_edit_filter_selects_what_the_config_touches() -> None:
    from genja_prefect_flows.netconf import edit_filter

    assert edit_filter(f'<system xmlns="{SYS}"><hostname>r9</hostname><contact>noc</contact></system>') == (
        f'<system xmlns="{SYS}"><hostname/><contact/></system>'
    )
    two = edit_filter(
        f'<interfaces xmlns="{IF}" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">'
        '<interface><name>eth1</name><description>a</description></interface>'
        '<interface nc:operation="delete"><name>eth9</name></interface></interfaces>'
    )
    assert two == (f'<interfaces xmlns="{IF}"><interface><name>eth1</name></interface>'
                   "<interface><name>eth9</name></interface></interfaces>")
    # several top-level elements: one filter node each
    both = edit_filter(f'<system xmlns="{SYS}"><hostname>x</hostname></system><interfaces xmlns="{IF}"/>')
    assert both == f'<system xmlns="{SYS}"><hostname/></system><interfaces xmlns="{IF}"/>'
    assert NetconfEditConfig(f'<system xmlns="{SYS}"><hostname>x</hostname></system>',
                             default_operation="replace").filter is None  # replace reads everything


# -- confirmed commit: check in a new session, then confirm or roll back ----------------------

DESC = f'<interfaces xmlns="{IF}"><interface><name>eth1</name><description>to-core</description></interface></interfaces>'


def _server_alone(lab: Any, directory: Path, confirmed_commit: str | None) -> Any:
    """A NETCONF server announcing another :confirmed-commit version, with an inventory of its own."""
    from genja_prefect.lab.lab_inventory import LabHost, write_inventory
    from genja_prefect.lab.netconf_server import NetconfServer

    server = NetconfServer("netconf1", username="admin", password=lab.password, confirmed_commit=confirmed_commit)
    port = server.start()
    write_inventory(directory, [LabHost("netconf1", "netconf", "netconf", port)], username="admin", password=lab.password)
    return server


def test_confirmed_commit_is_checked_in_a_new_session_then_confirmed(netconf_lab: Any, netconf: genja_lib.Genja) -> None:
    server = netconf_lab.netconf_servers[0]
    server.rpc_log.clear()
    edit = netconf.run_task(NetconfEditConfig(DESC, confirmed=True, confirm_timeout=300,
                                              check_xpath="//if:interface[if:name='eth1']/if:enabled = 'true'",
                                              check_namespaces={"if": IF}))["netconf1"]
    assert edit.status == "passed", edit
    assert edit.changed and "to-core" in edit.diff
    assert edit.result["confirmed"] is True and edit.result["confirmed_commit"] == "1.1"
    assert edit.result["verified_in"] == "new session" and edit.result["rolled_back"] is False
    assert edit.result["checks"] == ["edit in effect", "check_xpath"]
    assert "commit confirmed, checked in a new session, confirmed" in edit.summary
    assert not server.confirmed_commit_pending() and server.rollbacks() == []
    assert "<description>to-core</description>" in server.running_xml()
    log = list(server.rpc_log)
    editor = log[0][0]
    ops = [(sid == editor, op) for sid, op, _, _ in log]
    # the commit is confirmed by the editing session after another session read it back
    assert ops[:4] == [(True, "lock"), (True, "get-config"), (True, "edit-config"), (True, "commit")]
    assert (False, "get-config") in ops and (False, "get") in ops and (False, "close-session") in ops
    assert ops.index((False, "get")) < ops.index((True, "commit"), 4)


def test_failed_check_cancels_the_commit_and_the_running_config_is_the_one_before(
    netconf_lab: Any, netconf: genja_lib.Genja
) -> None:
    server = netconf_lab.netconf_servers[0]
    before = server.running_xml()
    checked: list[str] = []

    def eth1_must_be_down(xml: str) -> str | None:
        checked.append(xml)
        return None if "<enabled>false</enabled>" in xml else "eth1 is still enabled"

    edit = netconf.run_task(NetconfEditConfig(DESC, confirmed=True, check=eth1_must_be_down))["netconf1"]
    assert edit.status == "failed" and edit.kind.value == "validation"
    assert edit.details["rolled_back"] is True and edit.details["rollback"] == "cancel-commit"
    assert edit.details["problems"] == ["check eth1_must_be_down: eth1 is still enabled"]
    assert "rolled back (cancel-commit): the running config is the one before the change" in edit.message
    assert "Traceback" not in edit.message
    assert "<description>to-core</description>" in checked[0]  # the check saw the change in effect
    assert server.running_xml() == before and server.rollbacks() == ["cancel-commit"]
    # lock released, nothing pending: a plain edit goes through
    assert netconf.run_task(NetconfEditConfig(DESC))["netconf1"].status == "passed"


def test_a_1_0_server_undoes_the_commit_itself_when_the_timeout_passes(
    lab: Any, tmp_path: Path, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    server = _server_alone(lab, tmp_path, "1.0")
    try:
        before = server.running_xml()
        genja = plain_runtime(str(tmp_path / "settings.yaml"))
        edit = genja.run_task(NetconfEditConfig(DESC, confirmed=True, confirm_timeout=1,
                                                check_xpath="count(//*[local-name()='interface']) > 10"))["netconf1"]
        assert edit.status == "failed" and edit.details["confirmed_commit"] == "1.0"
        assert edit.details["rollback"] == "confirm-timeout" and edit.details["rolled_back"] is True
        assert "does not hold" in edit.message and "the server's 1 s confirm timeout" in edit.message
        assert server.running_xml() == before and server.rollbacks() == ["timeout"]
    finally:
        server.stop()


def test_confirmed_needs_the_servers_confirmed_commit(lab: Any, tmp_path: Path,
                                                      plain_runtime: Callable[..., genja_lib.Genja]) -> None:
    server = _server_alone(lab, tmp_path, None)
    try:
        genja = plain_runtime(str(tmp_path / "settings.yaml"))
        edit = genja.run_task(NetconfEditConfig(DESC, confirmed=True))["netconf1"]
        assert edit.status == "failed" and edit.kind.value == "validation"
        assert "does not announce :confirmed-commit; nothing was sent" in edit.message
        assert [op for _, op, _, _ in server.rpc_log if op not in ("close-session",)] == []
    finally:
        server.stop()


def test_a_change_not_in_effect_fails_the_builtin_check() -> None:
    from genja_prefect_flows.netconf import config_element
    from genja_prefect_flows.netconf_verify import intent_problems

    nc = 'xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0"'
    config = config_element(
        f'<interfaces xmlns="{IF}" {nc}><interface><name>eth1</name><description>to-core</description>'
        f'<enabled/></interface><interface nc:operation="delete"><name>eth9</name></interface></interfaces>'
        f'<system xmlns="{SYS}"><authentication><user><name>ops</name><password>S3cret!</password></user>'
        "</authentication></system>"
    )
    running = (
        f'<data xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><interfaces xmlns="{IF}">'
        "<interface><name>eth1</name><description>old</description></interface>"
        "<interface><name>eth9</name></interface></interfaces>"
        f'<system xmlns="{SYS}"><authentication><user><name>ops</name><password>other</password></user>'
        "</authentication></system></data>"
    )
    problems = intent_problems(config, running)
    assert problems == [
        "/interfaces/interface[name='eth1']/description is 'old', the edit set 'to-core'",
        "/interfaces/interface[name='eth1']/enabled is missing",
        "/interfaces/interface[name='eth9'] is still there (the edit deletes it)",
        "/system/authentication/user[name='ops']/password does not have the value the edit set",
    ]
    assert not any("S3cret" in p or "other" in p for p in problems)
    assert intent_problems(config_element(DESC), running.replace(">old<", ">to-core<"), "merge") == []


def test_confirmed_commit_options_are_checked_before_any_host() -> None:
    from genja_prefect_flows.common import FlowParameterError

    with pytest.raises(FlowParameterError, match="confirmed=True commits the candidate"):
        NetconfEditConfig(DESC, confirmed=True, target="running")
    with pytest.raises(FlowParameterError, match="add confirmed=True"):
        NetconfEditConfig(DESC, check_xpath="//x")
    with pytest.raises(FlowParameterError, match="confirm_timeout must be a whole number"):
        NetconfEditConfig(DESC, confirmed=True, confirm_timeout=0)
    with pytest.raises(FlowParameterError, match="check_xpath: not a usable XPath"):
        NetconfEditConfig(DESC, confirmed=True, check_xpath="//if:interface[")
    with pytest.raises(FlowParameterError, match="give prefixes in check_namespaces"):
        NetconfEditConfig(DESC, confirmed=True, check_xpath="//if:interface")
    with pytest.raises(NetconfXmlError, match="check_filter is not well-formed"):
        NetconfEditConfig(DESC, confirmed=True, check_filter="<a>")
