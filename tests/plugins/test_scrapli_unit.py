"""scrapli plugin: registration, resolution against a second SSH plugin, extras, classification.

No network here: these run in milliseconds.
"""

from __future__ import annotations

import pytest

from genja_prefect import PluginManager
from genja_prefect.connection import (
    AmbiguousPluginError,
    ConnectionBase,
    ConnectionKey,
    ConnectionOpenError,
    ConnectionPluginBase,
    ResolvedConnectionParams,
    register_connection_plugin,
)
from genja_prefect.resolution import resolve_connection_plugin
from genja_prefect.results import TaskFailureKind
from genja_prefect.secrets import Secret
from genja_prefect.task import TaskSuccessResult, task
from genja_prefect_scrapli import CliCommands, CliConfig, ScrapliPlugin, classify_open_failure
from genja_prefect_scrapli.options import definition_for, parse_extras

from .conftest import make_genja


class _FakeSsh(ConnectionBase):
    def __init__(self, key: ConnectionKey) -> None:
        self.key = key

    def open(self, params: ResolvedConnectionParams) -> None:
        pass

    def close(self) -> ConnectionKey:
        return self.key

    def is_alive(self) -> bool:
        return True

    def execute_command(self, command: str) -> str:
        return f"fake: {command}"


def fake_ssh_plugin(default: bool = False) -> ConnectionPluginBase:
    """A third-party SSH plugin for ios, like a netmiko plugin would be."""

    @register_connection_plugin(
        platforms=["ios"], connection_type="ssh", connection_library="netmiko",
        default_for_connection_type=default,
    )
    class NetmikoLike(ConnectionPluginBase):
        name = "netmiko"

        def create(self, key: ConnectionKey) -> _FakeSsh:
            return _FakeSsh(key)

    NetmikoLike.__module__ = "acme_netmiko"  # a user plugin, not a genja_prefect_* one
    return NetmikoLike()


def test_installed_through_the_entry_point(plugin_manager: PluginManager) -> None:
    plugin = plugin_manager.get("connection", "scrapli")
    assert isinstance(plugin, ScrapliPlugin)
    assert plugin_manager.default_for("eos", "ssh") == "scrapli"
    for platform in ("ios", "iosxe", "eos", "junos", "nxos", "iosxr"):
        assert resolve_connection_plugin(platform, "ssh", plugin_manager=plugin_manager) is plugin


def test_second_ssh_plugin_for_ios_makes_plain_resolution_ambiguous(plugin_manager: PluginManager) -> None:
    plugin_manager.register_plugin(fake_ssh_plugin())
    with pytest.raises(AmbiguousPluginError) as err:
        resolve_connection_plugin("ios", "ssh", plugin_manager=plugin_manager)
    assert "scrapli" in str(err.value) and "netmiko" in str(err.value)
    # The library decides ...
    assert resolve_connection_plugin("ios", "ssh", "netmiko", plugin_manager=plugin_manager).name == "netmiko"
    assert resolve_connection_plugin("ios", "ssh", "scrapli", plugin_manager=plugin_manager).name == "scrapli"
    # ... or the (platform, ssh) default, scrapli's, once the caller opts in.
    assert resolve_connection_plugin("ios", "ssh", fallback_to_default=True, plugin_manager=plugin_manager).name == "scrapli"
    # eos has only scrapli: no ambiguity there.
    assert resolve_connection_plugin("eos", "ssh", plugin_manager=plugin_manager).name == "scrapli"


def test_a_capability_only_scrapli_declares_decides(plugin_manager: PluginManager) -> None:
    plugin_manager.register_plugin(fake_ssh_plugin())
    chosen = resolve_connection_plugin("ios", "ssh", capabilities=[CliConfig], plugin_manager=plugin_manager)
    assert chosen.name == "scrapli"


def test_a_user_default_replaces_scraplis_default(plugin_manager: PluginManager) -> None:
    plugin_manager.register_plugin(fake_ssh_plugin(default=True))
    chosen = resolve_connection_plugin("ios", "ssh", fallback_to_default=True, plugin_manager=plugin_manager)
    assert chosen.name == "netmiko"
    # Platforms the user plugin does not serve keep scrapli as their default.
    assert plugin_manager.default_for("eos", "ssh") == "scrapli"


def test_ambiguity_is_a_validation_failure_of_that_host_only(plugin_manager: PluginManager) -> None:
    plugin_manager.register_plugin(fake_ssh_plugin())

    @task(name="show_version", connection_type="ssh")
    class ShowVersion:
        def start(self, task, host, context):  # type: ignore[no-untyped-def]
            return TaskSuccessResult(result=context.connection().execute_command("show version"))

    @task(name="show_version_netmiko", connection_type="ssh", connection_library="netmiko")
    class ShowVersionNetmiko(ShowVersion):
        pass

    genja = make_genja({"r1": {"hostname": "127.0.0.1", "platform": "ios"}}, plugin_manager)
    result = genja.run_task(ShowVersion)["r1"]
    assert result.status == "failed" and result.kind == TaskFailureKind.VALIDATION
    assert "connection_library" in result.message  # says what to do
    result = genja.run_task(ShowVersionNetmiko)["r1"]
    assert result.status == "passed" and result.result == "fake: show version"


def test_capabilities_are_protocols_the_connection_satisfies() -> None:
    conn = ScrapliPlugin().create(ConnectionKey("r1", "scrapli"))
    assert isinstance(conn, CliCommands) and isinstance(conn, CliConfig)
    assert conn.is_alive() is False  # not opened yet
    assert conn.close() == ConnectionKey("r1", "scrapli")  # closing an unopened one is harmless


@pytest.mark.parametrize(
    ("platform", "definition"),
    [("ios", "cisco_iosxe"), ("iosxe", "cisco_iosxe"), ("eos", "arista_eos"), ("junos", "juniper_junos"),
     ("nxos", "cisco_nxos"), ("iosxr", "cisco_iosxr")],
)
def test_platform_maps_to_a_scrapli_definition(platform: str, definition: str) -> None:
    assert definition_for(platform, parse_extras({})) == definition


def test_extras_override_the_definition_and_keep_timeout_names_apart() -> None:
    extras = parse_extras({"definition": "cisco_nxos", "timeout_socket": 5, "timeout_transport": 7})
    assert definition_for("ios", extras) == "cisco_nxos"
    assert (extras.open_timeout_s, extras.ops_timeout_s) == (5, 7)
    with pytest.raises(ValueError, match="timeout_open or its scrapli 1.x name timeout_socket"):
        parse_extras({"timeout_open": 1, "timeout_socket": 2})
    with pytest.raises(ValueError, match="has no scrapli definition"):
        definition_for("vyos", parse_extras({}))


def test_host_key_checking_is_strict_once_a_known_hosts_file_is_configured() -> None:
    assert parse_extras({}).strict_key is False
    assert parse_extras({"known_hosts_file": "~/.ssh/known_hosts"}).strict_key is True
    assert parse_extras({"known_hosts_file": "kh", "auth_strict_key": False}).strict_key is False
    assert parse_extras({"auth_strict_key": True}).strict_key is True


def test_a_typo_in_extras_fails_open_as_validation_naming_host_and_key() -> None:
    conn = ScrapliPlugin().create(ConnectionKey("r1", "scrapli"))
    params = ResolvedConnectionParams(
        host_id="r1", hostname="192.0.2.1", port=2222, platform="ios", username="u",
        password=Secret("Hunter2-secret"), extras={"timout_ops": 5},
    )
    with pytest.raises(ConnectionOpenError) as err:
        conn.open(params)
    assert err.value.kind == TaskFailureKind.VALIDATION and err.value.retryable is False
    text = str(err.value)
    assert "'r1'" in text and "192.0.2.1:2222" in text and "timout_ops" in text
    assert "Hunter2-secret" not in text


# Messages libscrapli 2026.10.14 gave in this lab (bin = OpenSSH, ssh2 = libssh2).
@pytest.mark.parametrize(
    ("message", "kind", "retryable"),
    [
        ("Session: session.Session authenticate: open failed, error: 'permission denied'", "authentication", False),
        ("Session: session.Session authenticate: password prompt  seen multiple times, assuming authentication failed",
         "authentication", False),
        ("Session: session.Session authenticate: open failed, error: 'host key verification failed'",
         "authentication", False),
        ("Transport: ssh2.Transport initKnownHost: known host check mismatch", "authentication", False),
        ("Session: session.Session authenticate: open failed, error: 'connection refused'", "connection", True),
        ("Session: session.Session authenticate: open failed, error: 'connection timed out'", "timeout", True),
        ("TimeoutExceeded: session.Session readTimeout: operation timeout exceeded", "timeout", True),
        ("Session: session.Session authenticate: open failed, error: 'could not resolve hostname'", "connection", False),
        ("EOF: ", "connection", True),
        ("something new", "connection", True),
    ],
)
def test_open_failures_are_classified(message: str, kind: str, retryable: bool) -> None:
    from scrapli.exceptions import OperationException

    got_kind, got_retryable, _ = classify_open_failure(OperationException(message))
    assert (got_kind.value, got_retryable) == (kind, retryable)


def test_enable_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from genja_prefect_scrapli.options import enable_secret

    monkeypatch.delenv("GENJA_TEST_ENABLE", raising=False)
    extras = parse_extras({"auth_secondary_env": "GENJA_TEST_ENABLE"})
    with pytest.raises(ValueError, match="'GENJA_TEST_ENABLE' is not set"):
        enable_secret(extras)
    monkeypatch.setenv("GENJA_TEST_ENABLE", "en-secret")
    assert enable_secret(extras) == "en-secret"
    assert enable_secret(parse_extras({})) is None
    assert "en-secret" not in repr(extras)


def test_enable_secret_from_the_inventory_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from genja_prefect.inventory import Inventory
    from genja_prefect_scrapli.options import enable_secret

    monkeypatch.setenv("GENJA_TEST_ENABLE", "en-env")
    for raw, expected in (("en-literal", "en-literal"), ({"env": "GENJA_TEST_ENABLE"}, "en-env")):
        inv = Inventory.from_dict({"r1": {"connection_options": {"scrapli": {"extras": {"auth_secondary": raw}}}}})
        extras = parse_extras(inv.connection_params("r1", "scrapli").extras)
        assert enable_secret(extras) == expected
        assert "en-" not in repr(extras)
    with pytest.raises(ValueError, match="auth_secondary or auth_secondary_env, not both"):
        parse_extras({"auth_secondary": "x", "auth_secondary_env": "GENJA_TEST_ENABLE"})


def test_strict_checking_never_silently_turns_off() -> None:
    from genja_prefect_scrapli.plugin import _transport_options

    ssh2 = _transport_options(parse_extras({"transport": "ssh2", "auth_strict_key": True}))
    assert ssh2.known_hosts_path and ssh2.known_hosts_path.endswith("/.ssh/known_hosts")
    assert _transport_options(parse_extras({"transport": "ssh2"})).known_hosts_path is None
    binary = _transport_options(parse_extras({"known_hosts_file": "/tmp/kh"}))
    assert (binary.known_hosts_path, binary.enable_strict_key) == ("/tmp/kh", True)


def test_poll_wait_replaces_scraplis_select_wait_and_can_be_undone() -> None:
    import scrapli.cli
    import scrapli.helper

    from genja_prefect_scrapli import pollwait

    was_installed = pollwait.installed()
    try:
        pollwait.uninstall()
        assert scrapli.cli.wait_for_available_operation_result is scrapli.helper.wait_for_available_operation_result
        assert pollwait.install() and pollwait.install()  # idempotent
        assert scrapli.cli.wait_for_available_operation_result is pollwait.wait_for_available_operation_result
    finally:
        if not was_installed:
            pollwait.uninstall()
