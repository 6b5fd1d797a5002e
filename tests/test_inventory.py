"""Inventory loading, inheritance, connection resolution and bad-input errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import genja_prefect as genja_lib
from genja_prefect.inventory import Inventory
from genja_prefect.errors import InventoryError

# The example of the connections reference page, as hosts / groups / defaults.
HOSTS = {
    "router1": {
        "hostname": "10.0.0.1",
        "platform": "ios",
        "username": "admin",
        "groups": ["core"],
        "connection_options": {
            "ssh": {"port": 22, "extras": {"device_type": "cisco_ios"}},
            "netconf": {"port": 830},
        },
    }
}
GROUPS = {"core": {"connection_options": {"ssh": {"username": "automation"}}}}
DEFAULTS = {"connection_options": {"ssh": {"extras": {"timeout": 30}}}}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_reference_connection_example_resolves() -> None:
    inv = Inventory.from_dict(HOSTS, GROUPS, DEFAULTS)
    ssh = inv.connection_params("router1", "ssh")
    assert (ssh.hostname, ssh.port, ssh.platform) == ("10.0.0.1", 22, "ios")
    # The host's own username is more specific than the group's ssh override.
    assert ssh.username == "admin"
    assert ssh.extras == {"device_type": "cisco_ios", "timeout": 30}
    netconf = inv.connection_params("router1", "netconf")
    assert (netconf.port, netconf.extras) == (830, {})


def test_precedence_order_across_groups_and_defaults() -> None:
    inv = Inventory.from_dict(
        {"r1": {"groups": ["edge", "core"], "connection_options": {"ssh": {"port": 2022}}}},
        {
            "edge": {"username": "edge-user", "groups": ["site"], "data": {"role": "edge"}},
            "core": {"connection_options": {"ssh": {"username": "core-ssh", "extras": {"a": 1}}}, "data": {"role": "core", "tier": 1}},
            "site": {"platform": "eos", "data": {"site": "fra"}},
        },
        {"hostname": "fallback", "port": 22, "platform": "ios", "data": {"site": "default", "x": 0},
         "connection_options": {"ssh": {"extras": {"a": 0, "b": 2}}}},
    )
    params = inv.connection_params("r1", "ssh")
    # edge (group) sets username before core's ssh option is reached: group order wins.
    assert params.username == "edge-user"
    assert params.port == 2022
    assert params.platform == "eos"  # from edge's parent group 'site', before defaults
    assert params.hostname == "fallback"
    assert params.extras == {"a": 1, "b": 2}
    assert inv.host_groups("r1") == ("edge", "site", "core")
    host = inv.host_view("r1")
    assert host.data == {"site": "fra", "x": 0, "role": "edge", "tier": 1}
    assert host.platform == "eos" and host.groups == ("edge", "site", "core")


def test_hostname_defaults_to_host_id() -> None:
    inv = Inventory.from_dict({"sw1": {}})
    assert inv.host_view("sw1").hostname == "sw1"
    assert inv.connection_params("sw1", "x").hostname == "sw1"


def test_password_is_secret_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_PW", "s3cr3t-env")
    inv = Inventory.from_dict(
        {"r1": {"password": "s3cr3t-literal"}, "r2": {"password": {"env": "LAB_PW"}}}
    )
    p1 = inv.connection_params("r1", "ssh")
    p2 = inv.connection_params("r2", "ssh")
    assert p1.password_value() == "s3cr3t-literal"
    assert p2.password_value() == "s3cr3t-env"
    for text in (repr(p1), str(p1), p1.model_dump_json(), repr(inv.hosts["r1"]), repr(p2)):
        assert "s3cr3t" not in text
    assert not hasattr(inv.host_view("r1"), "password")


def test_secret_named_extras_are_secrets_like_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_ENABLE", "en4ble-env")
    inv = Inventory.from_dict(
        {
            "r1": {
                "connection_options": {
                    "scrapli": {"extras": {"auth_secondary": "en4ble-literal", "definition": "cisco_iosxe"}},
                    "restconf": {"extras": {"api_token": {"env": "LAB_ENABLE"}, "verify": False}},
                }
            }
        }
    )
    scrapli = inv.connection_params("r1", "scrapli")
    restconf = inv.connection_params("r1", "restconf")
    assert scrapli.extras["auth_secondary"].get_secret_value() == "en4ble-literal"
    assert restconf.extras["api_token"].get_secret_value() == "en4ble-env"
    assert scrapli.extras["definition"] == "cisco_iosxe" and restconf.extras["verify"] is False
    for text in (repr(scrapli), scrapli.model_dump_json(), repr(restconf), repr(inv.hosts["r1"])):
        assert "en4ble" not in text


@pytest.mark.parametrize("yaml_value", ["[not, a, secret]", "{file: /etc/enable}"])
def test_a_bad_secret_in_extras_names_file_host_and_key(tmp_path: Path, yaml_value: str) -> None:
    (tmp_path / "hosts.yaml").write_text(
        f"r1:\n  connection_options:\n    scrapli:\n      extras:\n        auth_secondary: {yaml_value}\n"
    )
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: hosts.yaml}\n")
    with pytest.raises(InventoryError) as info:
        genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml")
    text = str(info.value)
    assert "hosts.yaml" in text and "host 'r1'" in text and "auth_secondary" in text and "is a secret" in text


def test_missing_env_password_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_PW", raising=False)
    inv = Inventory.from_dict({"r1": {"password": {"env": "NOPE_PW"}}})
    with pytest.raises(genja_lib.GenjaError, match="NOPE_PW"):
        inv.connection_params("r1", "ssh").password_value()


def test_files_load_through_settings(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", """
        r1:
          hostname: 10.0.0.1
          platform: ios
          groups: [core]
        r2:
          platform: eos
    """)
    write(tmp_path, "groups.yaml", "core:\n  data: {site: fra}\n")
    write(tmp_path, "defaults.yaml", "username: admin\n")
    write(tmp_path, "settings.yaml", """
        inventory:
          plugin: FileInventoryPlugin
          options: {hosts_file: hosts.yaml, groups_file: groups.yaml, defaults_file: defaults.yaml}
    """)
    genja = genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml")
    assert genja.host_ids() == ["r1", "r2"]
    assert genja.hosts()["r1"].data == {"site": "fra"}
    assert genja.hosts()["r2"].username == "admin"


@pytest.mark.parametrize(
    ("hosts_yaml", "expected"),
    [
        ("r1:\n  hostname: 10.0.0.1\n  prot: 22\n", [r"hosts.yaml \(line 3\)", "host 'r1'", "key 'prot'", "unknown key"]),
        ("r1:\n  port: twenty\n", [r"hosts.yaml \(line 2\)", "host 'r1'", "key 'port'", "integer"]),
        ("r1:\n  port: 70000\n", ["host 'r1'", "key 'port'", "less than or equal"]),
        ("r1:\n  groups: [nope]\n", [r"hosts.yaml \(line 2\)", "host 'r1'", "key 'groups'", "unknown group 'nope'"]),
        ("r1:\n  hostname: [unclosed\n", ["hosts.yaml", "line", "invalid YAML"]),
        ("r1:\n  connection_options:\n    ssh:\n      extra: {}\n", ["host 'r1'", "connection_options.ssh.extra", r"line 4"]),
        ("- just\n- a list\n", ["hosts.yaml", "expected a mapping"]),
    ],
)
def test_bad_hosts_file_errors_name_file_host_key(tmp_path: Path, hosts_yaml: str, expected: list[str]) -> None:
    (tmp_path / "hosts.yaml").write_text(hosts_yaml)
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: hosts.yaml}\n")
    with pytest.raises(InventoryError) as info:
        genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml")
    for pattern in expected:
        assert __import__("re").search(pattern, str(info.value)), (pattern, str(info.value))


def test_group_cycle_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("r1: {groups: [a]}\n")
    (tmp_path / "groups.yaml").write_text("a:\n  groups: [b]\nb:\n  groups: [c]\nc:\n  groups: [a]\n")
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: hosts.yaml, groups_file: groups.yaml}\n")
    with pytest.raises(InventoryError, match=r"groups.yaml.*group cycle: a -> b -> c -> a"):
        genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml")


def test_unknown_parent_group(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="group 'a'.*unknown parent group 'zz'"):
        Inventory.from_dict({}, {"a": {"groups": ["zz"]}})


def test_missing_hosts_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: missing.yaml}\n")
    with pytest.raises(InventoryError, match="missing.yaml: file not found"):
        genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml")


def test_bad_password_shape_does_not_echo_value() -> None:
    with pytest.raises(InventoryError) as info:
        Inventory.from_dict({"r1": {"password": {"vault": "hunter2-value"}}})
    assert "hunter2-value" not in str(info.value)
    assert "host 'r1'" in str(info.value) and "password" in str(info.value)


def test_from_inventory_structure_and_unknown_section() -> None:
    genja = genja_lib.Genja.from_inventory({"hosts": HOSTS, "groups": GROUPS, "defaults": DEFAULTS})
    assert genja.host_ids() == ["router1"]
    with pytest.raises(InventoryError, match="unknown inventory section"):
        genja_lib.Genja.from_inventory({"hosts": {}, "host_vars": {}})


def test_transform_function_by_import_path(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("r1: {platform: cisco_ios}\n")
    (tmp_path / "settings.yaml").write_text(
        "inventory:\n  options: {hosts_file: hosts.yaml}\n"
        "  transform_function: tests.transforms:normalize_platform\n"
        "  transform_function_options: {mapping: {cisco_ios: ios}}\n"
    )
    genja = genja_lib.Genja.from_settings_file(tmp_path / "settings.yaml")
    assert genja.hosts()["r1"].platform == "ios"
