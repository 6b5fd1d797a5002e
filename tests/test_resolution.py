"""Connection plugin resolution, exactly as the plugin-resolution page describes it."""

from __future__ import annotations

import logging
from typing import Protocol

import pytest

import genja_prefect as genja_lib
from genja_prefect.connection import (
    AmbiguousPluginError,
    ConnectionBase,
    ConnectionPluginBase,
    NotImplementedForThisPlatform,
    PluginNotFoundError,
    register_connection_plugin,
)
from genja_prefect.resolution import resolve_connection_plugin
from genja_prefect.task import TaskSuccessResult, task


class SendsConfig(Protocol):
    def send_config(self, lines: list[str]) -> str: ...


class GetsFacts(Protocol):
    def get_facts(self) -> dict: ...  # type: ignore[type-arg]


class Conn(ConnectionBase):
    def __init__(self, key):  # type: ignore[no-untyped-def]
        self.key, self.alive = key, False

    def open(self, params):  # type: ignore[no-untyped-def]
        self.alive = True

    def close(self):  # type: ignore[no-untyped-def]
        self.alive = False
        return self.key

    def is_alive(self):  # type: ignore[no-untyped-def]
        return self.alive

    def send_config(self, lines):  # type: ignore[no-untyped-def]
        return "ok"


def make(name, **spec):  # type: ignore[no-untyped-def]
    cls = type(f"P_{name}", (ConnectionPluginBase,), {"name": name, "create": lambda self, key: Conn(key), "__module__": "userlib"})
    return register_connection_plugin(**spec)(cls)()


@pytest.fixture
def pm() -> genja_lib.PluginManager:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(make("scrapli", platforms=["ios", "eos"], connection_type="ssh", connection_library="scrapli",
                            capabilities=[SendsConfig, GetsFacts]))
    pm.register_plugin(make("netmiko", platforms=["ios"], connection_type="ssh", connection_library="netmiko",
                            capabilities=[SendsConfig], default_for_connection_type=True))
    pm.register_plugin(make("ncclient", platforms=["ios", "junos"], connection_type="netconf", connection_library="ncclient",
                            default_for_platform=True))
    return pm


def name_of(plugin) -> str:  # type: ignore[no-untyped-def]
    return plugin.name


def test_filters_by_platform_type_library(pm: genja_lib.PluginManager) -> None:
    assert name_of(resolve_connection_plugin("eos", plugin_manager=pm)) == "scrapli"
    assert name_of(resolve_connection_plugin("junos", plugin_manager=pm)) == "ncclient"
    assert name_of(resolve_connection_plugin("ios", "ssh", "netmiko", plugin_manager=pm)) == "netmiko"
    assert name_of(resolve_connection_plugin("ios", "netconf", plugin_manager=pm)) == "ncclient"


def test_not_found_lists_what_exists(pm: genja_lib.PluginManager) -> None:
    with pytest.raises(PluginNotFoundError, match=r"platform='nxos'.*registered connection plugins: ncclient"):
        resolve_connection_plugin("nxos", plugin_manager=pm)
    with pytest.raises(PluginNotFoundError, match="connection_library='paramiko'"):
        resolve_connection_plugin("ios", "ssh", "paramiko", plugin_manager=pm)


def test_ambiguity_lists_candidates_capabilities_and_suggestions(pm: genja_lib.PluginManager) -> None:
    with pytest.raises(AmbiguousPluginError) as info:
        resolve_connection_plugin("ios", "ssh", plugin_manager=pm)
    text = str(info.value)
    assert "netmiko (library=netmiko, capabilities: SendsConfig)" in text
    assert "scrapli (library=scrapli, capabilities: SendsConfig, GetsFacts)" in text
    assert "Specify connection_library explicitly." in text
    assert "Register a default with @register_connection_plugin(default_for_connection_type=True)." in text


def test_defaults_only_with_fallback(pm: genja_lib.PluginManager) -> None:
    assert name_of(resolve_connection_plugin("ios", "ssh", fallback_to_default=True, plugin_manager=pm)) == "netmiko"
    # no connection_type: the (platform, type) default is not consulted; platform default is ncclient
    assert name_of(resolve_connection_plugin("ios", fallback_to_default=True, plugin_manager=pm)) == "ncclient"


def test_capabilities_prefer_full_match(pm: genja_lib.PluginManager) -> None:
    assert name_of(resolve_connection_plugin("ios", "ssh", capabilities=[GetsFacts], plugin_manager=pm)) == "scrapli"
    # both implement SendsConfig fully -> ambiguous unless a default decides
    with pytest.raises(AmbiguousPluginError):
        resolve_connection_plugin("ios", "ssh", capabilities=[SendsConfig], plugin_manager=pm)
    assert name_of(resolve_connection_plugin("ios", "ssh", capabilities=[SendsConfig], fallback_to_default=True, plugin_manager=pm)) == "netmiko"


def test_best_match_fallback_and_tie() -> None:
    class Other(Protocol):
        def other(self) -> None: ...

    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(make("a", platforms=["ios"], capabilities=[SendsConfig]))
    pm.register_plugin(make("b", platforms=["ios"], capabilities=[SendsConfig, GetsFacts]))
    # nobody has Other; b scores 2 of 3, a 1 of 3 -> b
    assert name_of(resolve_connection_plugin("ios", capabilities=[SendsConfig, GetsFacts, Other], plugin_manager=pm)) == "b"
    pm.register_plugin(make("c", platforms=["ios"], capabilities=[SendsConfig, GetsFacts], default_for_platform=True))
    # tie on best score: defaults are not consulted
    with pytest.raises(AmbiguousPluginError, match="tie on capability score 2"):
        resolve_connection_plugin("ios", capabilities=[SendsConfig, GetsFacts, Other], fallback_to_default=True, plugin_manager=pm)


def test_task_level_criteria_and_capability_proxy(pm: genja_lib.PluginManager, caplog: pytest.LogCaptureFixture) -> None:
    seen = {}

    @task(name="facts", connection_type="ssh", capabilities=[GetsFacts])
    class Facts:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            conn = context.connection()
            seen[host.id] = type(conn).__name__
            assert conn.send_config(["x"]) == "ok"
            with pytest.raises(NotImplementedForThisPlatform, match="get_facts"):
                conn.get_facts()
            nc = context.get_connection(connection_type="netconf")
            seen[host.id + "-nc"] = nc.key.plugin_name
            return TaskSuccessResult()

    genja = genja_lib.Genja.from_hosts(
        {"r1": {"platform": "ios"}, "r2": {"platform": "eos"}},
        settings={"prefect": {"enabled": False}},
        plugin_manager=pm,
    )
    with caplog.at_level(logging.WARNING):
        res = genja.run_task(Facts)
    assert res.passed_hosts == ["r1"] or set(res.passed_hosts) == {"r1"}
    # eos has no netconf plugin: a classified failure, not a crash
    assert res.failed_hosts == ["r2"]
    assert "no connection plugin matches" in res["r2"].message
    assert seen["r1"] == "CapabilityProxy" and seen["r1-nc"] == "ncclient"
    assert "lacks get_facts()" in caplog.text
