"""The NetBox inventory plugin (pynetbox) against a loopback NetBox API stand-in serving
NetBox 4.x's payload shapes (genja_prefect.lab.netbox_api): pagination, threaded fetch, filters,
platform mapping, groups, data, skipped devices, token handling and errors.

pynetbox talks HTTP through requests, which respx (httpx only) cannot intercept: the API is
served for real on 127.0.0.1 instead, recorded-payload style.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import genja_prefect as genja_lib
from genja_prefect import PluginManager
from genja_prefect.errors import InventoryError
from genja_prefect.lab.netbox_api import NetBoxApi, netbox_device
from genja_prefect_netbox import NetBoxInventoryPlugin

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def fleet() -> list[dict[str, Any]]:
    return [
        netbox_device(1, "core1", platform="cisco-ios-xe", site="dc1", role="core", tenant="acme",
                      tags=["managed", "edge"], address="10.0.0.1/24", serial="9ABC",
                      custom_fields={"ssh_port": 2222, "maintenance": False},
                      config_context={"ntp": ["192.0.2.123"]}),
        netbox_device(2, "leaf1", platform="arista-eos", site="dc2", role="leaf", tags=["managed"],
                      address="2001:db8::2/64", manufacturer="arista", model="dcs-7050sx"),
        netbox_device(3, "noip1", platform="cisco-ios", site="dc1", address=None),
        netbox_device(4, "odd1", platform="frobos", site="dc1", address="10.0.0.4/32"),
        netbox_device(5, "plain1", platform=None, site="dc2", role="oob", status="planned", address="10.0.0.5/24"),
    ]


@pytest.fixture
def netbox() -> Iterator[NetBoxApi]:
    with NetBoxApi(fleet(), token=TOKEN) as api:
        yield api


def write_settings(tmp_path: Path, url: str, **options: Any) -> Path:
    settings = {"inventory": {"plugin": "NetBoxInventoryPlugin", "options": {"url": url, **options}},
                "prefect": {"enabled": False}}
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def load(url: str, **options: Any) -> Any:
    return NetBoxInventoryPlugin().load({"url": url, **options}, Path("."))


def test_registered_through_the_entry_point_like_a_third_party() -> None:
    plugins = PluginManager().plugins("inventory")
    assert isinstance(plugins["NetBoxInventoryPlugin"], NetBoxInventoryPlugin)


def test_devices_become_hosts(netbox: NetBoxApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NETBOX_TOKEN", TOKEN)
    settings = write_settings(tmp_path, netbox.url, token={"env": "NETBOX_TOKEN"})
    with caplog.at_level(logging.WARNING, logger="genja_prefect_netbox"):
        genja = genja_lib.Genja.from_settings_file(settings)
    assert genja.host_ids() == ["core1", "leaf1", "odd1", "plain1"]
    core = genja.inventory.host_view("core1")
    assert (core.hostname, core.platform) == ("10.0.0.1", "iosxe")  # prefix length stripped, slug mapped
    assert set(core.groups) == {"site__dc1", "role__core", "tenant__acme", "tag__managed", "tag__edge"}
    assert core.data["custom_fields"] == {"ssh_port": 2222, "maintenance": False}
    assert core.data["config_context"] == {"ntp": ["192.0.2.123"]}
    assert (core.data["site"], core.data["role"], core.data["tenant"], core.data["status"]) == ("dc1", "core", "acme", "active")
    assert (core.data["serial"], core.data["manufacturer"], core.data["netbox_id"]) == ("9ABC", "cisco", 1)
    leaf = genja.inventory.host_view("leaf1")
    assert (leaf.hostname, leaf.platform) == ("2001:db8::2", "eos")
    assert genja.inventory.host_view("plain1").platform is None
    # the generated groups filter like any group
    assert genja.filter(groups__contains="site__dc2").host_ids() == ["leaf1", "plain1"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("1 NetBox device(s) without a primary IP skipped: noip1" in m for m in messages)
    assert any("NetBox platform 'frobos' of odd1 is not a known platform: kept as 'frobos'" in m for m in messages)
    assert genja.inventory.host_view("odd1").platform == "frobos"
    assert TOKEN not in caplog.text


def test_unknown_platform_can_be_mapped(netbox: NetBoxApi) -> None:
    inventory = load(netbox.url, token=TOKEN, platform_map={"frobos": "junos"})
    assert inventory.host_view("odd1").platform == "junos"


def test_missing_primary_ip_can_use_the_name(netbox: NetBoxApi) -> None:
    inventory = load(netbox.url, token=TOKEN, missing_primary_ip="use_name")
    assert inventory.host_view("noip1").hostname == "noip1"


def test_filters_are_sent_to_netbox(netbox: NetBoxApi) -> None:
    inventory = load(netbox.url, token=TOKEN, filters={"site": ["dc1"], "tag": "managed", "status": "active"})
    assert sorted(inventory.host_ids()) == ["core1"]
    path, query = netbox.requests[-1]
    assert path == "/api/dcim/devices/"
    assert (query["site"], query["tag"], query["status"]) == (["dc1"], ["managed"], ["active"])


def test_config_context_can_be_left_out(netbox: NetBoxApi) -> None:
    inventory = load(netbox.url, token=TOKEN, config_context=False)
    assert "config_context" not in inventory.host_view("core1").data
    assert netbox.requests[-1][1]["exclude"] == ["config_context"]


def test_pagination_fetches_every_page_in_threads() -> None:
    devices = [netbox_device(i, f"r{i:04d}", address=f"10.{i // 250}.{i % 250}.1/24") for i in range(1, 2502)]
    seen_threads: set[int] = set()
    with NetBoxApi(devices, token=TOKEN) as api:
        original = api._server.page if api._server else None  # noqa: SLF001 - count the server's page threads
        assert original is not None

        def page(query: dict[str, list[str]]) -> dict[str, Any]:
            seen_threads.add(threading.get_ident())
            return original(query)

        api._server.page = page  # type: ignore[union-attr,method-assign]  # noqa: SLF001
        inventory = load(api.url, token=TOKEN, page_size=200, threads=4)
        offsets = sorted(int(q.get("offset", ["0"])[0]) for p, q in api.requests if p == "/api/dcim/devices/")
    assert len(inventory) == 2501
    assert list(inventory.host_ids())[:3] == ["r0001", "r0002", "r0003"]  # NetBox's order, whatever the threads
    assert offsets == list(range(0, 2501, 200))  # 13 pages of 200, each fetched once
    assert len(seen_threads) > 1  # pages were served concurrently


def test_serial_fetch_follows_next_links() -> None:
    devices = [netbox_device(i, f"r{i}", address=f"10.0.{i}.1/24") for i in range(1, 8)]
    with NetBoxApi(devices, token=TOKEN) as api:
        inventory = load(api.url, token=TOKEN, page_size=3, threads=1)
        pages = [q for p, q in api.requests if p == "/api/dcim/devices/"]
    assert sorted(inventory.host_ids()) == sorted(f"r{i}" for i in range(1, 8))
    assert len(pages) == 3


def test_wrong_token_is_a_clear_error_without_the_token(netbox: NetBoxApi) -> None:
    with pytest.raises(InventoryError) as raised:
        load(netbox.url, token="not-the-token-4711")
    message = str(raised.value)
    assert f"NetBox at {netbox.url} refused the API token (HTTP 403: Invalid token)" in message
    assert "inventory.options.token" in message and "not-the-token-4711" not in message


def test_token_from_an_unset_environment_variable(netbox: NetBoxApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETBOX_TOKEN_MISSING", raising=False)
    with pytest.raises(InventoryError, match="NETBOX_TOKEN_MISSING.*not set"):
        load(netbox.url, token={"env": "NETBOX_TOKEN_MISSING"})


def test_unreachable_netbox(netbox: NetBoxApi) -> None:
    url = netbox.url
    netbox.stop()
    with pytest.raises(InventoryError, match=f"could not reach NetBox at {url}: ConnectionError"):
        load(url, token=TOKEN, timeout=5)


def test_bad_options_name_the_key(netbox: NetBoxApi) -> None:
    with pytest.raises(InventoryError, match=r"inventory.options.filter.*unknown option"):
        load(netbox.url, filter={"site": "dc1"})
    with pytest.raises(InventoryError, match=r"inventory.options.url.*http:// or https://"):
        load("netbox.example.com")
    with pytest.raises(InventoryError, match=r"inventory.options.group_by.*unknown group_by \['rack'\]"):
        load(netbox.url, group_by=["rack"])


def test_credentials_and_group_settings_from_files(netbox: NetBoxApi, tmp_path: Path) -> None:
    (tmp_path / "defaults.yaml").write_text("username: admin\npassword: {env: DEVICE_PASSWORD}\n")
    (tmp_path / "groups.yaml").write_text("site__dc1:\n  port: 2222\n  data: {region: emea}\n")
    inventory = NetBoxInventoryPlugin().load(
        {"url": netbox.url, "token": TOKEN, "defaults_file": "defaults.yaml", "groups_file": "groups.yaml"}, tmp_path
    )
    core = inventory.host_view("core1")
    assert (core.username, core.port, core.data["region"]) == ("admin", 2222, "emea")
    assert inventory.groups["site__dc1"].data == {"site": "dc1", "region": "emea"}
    params = inventory.connection_params("core1", "scrapli")
    assert params.password is not None and params.password.reference == "env:DEVICE_PASSWORD"
