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
def netconf(sim_lab: Callable[..., Any], plain_runtime: Callable[..., genja_lib.Genja]) -> genja_lib.Genja:
    """A NETCONF device of its own per test (edits change its datastores)."""
    lab = sim_lab(ios=0, netconf=1)
    return plain_runtime(str(Path(lab.directory) / "settings.yaml"), platform="netconf")


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
