"""PluginManager: registration, kinds, entry points, defaults and their conflicts."""

from __future__ import annotations

import pytest

import genja_prefect as genja_lib
from genja_prefect.connection import (
    ConnectionBase,
    ConnectionPluginBase,
    PluginRegistrationError,
    register_connection_plugin,
)
from genja_prefect.errors import PluginError, PluginKindError, PluginNotRegisteredError
from genja_prefect.processor import ProcessorPluginBase
from genja_prefect.runner import RunnerPluginBase


class Conn(ConnectionBase):
    def __init__(self, key):  # type: ignore[no-untyped-def]
        self.key = key


class Ssh(ConnectionPluginBase):
    name = "ssh"

    def create(self, key):  # type: ignore[no-untyped-def]
        return Conn(key)


class Audit(ProcessorPluginBase):
    name = "audit"


class Fancy(RunnerPluginBase):
    name = "fancy"


def test_register_list_and_deregister() -> None:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(Ssh())
    pm.register_plugin(Audit)  # a class is instantiated
    pm.register_plugin(Fancy())
    pm.register_plugin(lambda host, **kw: None, kind="transform", name="noop")
    pairs = pm.plugin_names_and_groups()
    assert ("ssh", "connection") in pairs and ("audit", "processor") in pairs
    assert ("fancy", "runner") in pairs and ("noop", "transform") in pairs
    assert ("threaded", "runner") in pairs and ("serial", "runner") in pairs
    assert ("FileInventoryPlugin", "inventory") in pairs
    assert "ssh" in pm.plugin_names()
    pm.deregister_plugin("ssh")
    assert "ssh" not in pm.plugin_names()
    with pytest.raises(PluginNotRegisteredError, match="unknown any plugin 'ssh'"):
        pm.deregister_plugin("ssh")


def test_unknown_and_wrong_kind_errors() -> None:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(Ssh())
    with pytest.raises(PluginNotRegisteredError, match="unknown runner plugin 'nope'.*serial, threaded"):
        pm.get("runner", "nope")
    with pytest.raises(PluginKindError, match="'ssh' is registered as a connection plugin, not as a runner"):
        pm.get("runner", "ssh")
    with pytest.raises(PluginError, match="cannot tell what kind"):
        pm.register_plugin(object())
    with pytest.raises(PluginError, match="has no name"):
        pm.register_plugin(type("Nameless", (ConnectionPluginBase,), {})())


def test_with_runner_rejects_unknown_and_wrong_kind() -> None:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(Ssh())
    g = genja_lib.Genja.from_hosts({"r1": {}}, plugin_manager=pm)
    assert g.with_runner("serial").settings.runner.plugin == "serial"
    with pytest.raises(PluginNotRegisteredError):
        g.with_runner("nope")
    with pytest.raises(PluginKindError):
        g.with_runner("ssh")


def test_with_runner_keeps_other_runner_settings() -> None:
    g = genja_lib.Genja.from_hosts({"r1": {}}, settings={"runner": {"worker_count": 7, "options": {"a": 1}}})
    s = g.with_runner("serial").settings.runner
    assert (s.plugin, s.worker_count, s.options) == ("serial", 7, {"a": 1})
    assert g.settings.runner.plugin == "threaded"


def test_entry_points_are_discovered() -> None:
    pm = genja_lib.PluginManager()
    names = dict(pm.plugin_names_and_groups())
    # first-party plugins are installed through entry points, like a third party's
    for name in ("scrapli", "ncclient", "restconf"):
        assert names.get(name) == "connection", (name, names)


def test_user_plugin_same_name_replaces_installed_one() -> None:
    pm = genja_lib.PluginManager()

    class MyScrapli(ConnectionPluginBase):
        name = "scrapli"

        def create(self, key):  # type: ignore[no-untyped-def]
            return Conn(key)

    pm.register_plugin(MyScrapli())
    assert isinstance(pm.get("connection", "scrapli"), MyScrapli)


def _plugin(name: str, module: str, **spec):  # type: ignore[no-untyped-def]
    cls = type(name.title(), (ConnectionPluginBase,), {"name": name, "create": lambda self, key: Conn(key), "__module__": module})
    return register_connection_plugin(**spec)(cls)()


def test_two_user_defaults_for_one_scope_conflict() -> None:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(_plugin("a", "userlib", platforms=["ios"], connection_type="ssh", default_for_platform=True))
    with pytest.raises(PluginRegistrationError, match="'a' and 'b' are both registered as the default for platform 'ios'"):
        pm.register_plugin(_plugin("b", "userlib", platforms=["ios"], connection_type="ssh", default_for_platform=True))


def test_user_default_replaces_builtin_and_builtin_never_replaces_user() -> None:
    pm = genja_lib.PluginManager(discover=False)
    pm.register_plugin(_plugin("sdk1", "genja_prefect_fake", platforms=["ios"], connection_type="ssh", default_for_connection_type=True))
    pm.register_plugin(_plugin("mine", "userlib", platforms=["ios"], connection_type="ssh", default_for_connection_type=True))
    assert pm.default_for("ios", "ssh") == "mine"
    pm.register_plugin(_plugin("sdk2", "genja_prefect_fake", platforms=["ios"], connection_type="ssh", default_for_connection_type=True))
    assert pm.default_for("ios", "ssh") == "mine"
    pm2 = genja_lib.PluginManager(discover=False)
    pm2.register_plugin(_plugin("sdk1", "genja_prefect_fake", platforms=["eos"], default_for_platform=True))
    with pytest.raises(PluginRegistrationError, match="both registered"):
        pm2.register_plugin(_plugin("sdk2", "genja_prefect_fake", platforms=["eos"], default_for_platform=True))


def test_decorator_rejects_non_plugins() -> None:
    with pytest.raises(PluginRegistrationError):
        register_connection_plugin(platforms=["ios"])(object)  # type: ignore[type-var]
    with pytest.raises(PluginRegistrationError, match="must be a list"):
        register_connection_plugin(platforms="ios")(Ssh)  # type: ignore[arg-type]


def test_concurrent_first_lookups_all_find_installed_plugins() -> None:
    import threading

    pm = genja_lib.PluginManager()
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def look() -> None:
        barrier.wait()
        try:
            for _ in range(10):
                pm.get("connection", "scrapli")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
