"""genja_prefect.prefect.blocks: the GenjaInventory and DeviceCredentials blocks, registered
through the ``prefect.collections`` entry point, saved on a real (temporary) Prefect API,
and used by a ready-made flow in place of a settings path."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from genja_prefect.errors import InventoryError
from genja_prefect.lab.netbox_api import NetBoxApi, netbox_device
from genja_prefect.prefect.blocks import DeviceCredentials, GenjaInventory, NetBoxSource, inventory_block_name

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def test_the_collection_entry_point_names_the_blocks_module() -> None:
    [entry] = [e for e in entry_points(group="prefect.collections") if e.name == "genja_prefect"]
    module = entry.load()
    assert module.GenjaInventory is GenjaInventory and module.DeviceCredentials is DeviceCredentials


def test_prefect_loads_the_blocks_with_its_collections() -> None:
    from prefect.blocks.core import Block
    from prefect.plugins import load_prefect_collections
    from prefect.utilities.dispatch import get_registry_for_type

    load_prefect_collections()
    registry = get_registry_for_type(Block) or {}
    assert registry["genja-inventory"] is GenjaInventory
    assert registry["genja-device-credentials"] is DeviceCredentials


def test_block_name_in_place_of_a_settings_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert inventory_block_name("genja-inventory/lab") == "lab"
    assert inventory_block_name("lab/settings.yaml") is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "genja-inventory").mkdir()
    (tmp_path / "genja-inventory" / "lab").write_text("{}")
    assert inventory_block_name("genja-inventory/lab") is None  # a file of that name wins


def test_credentials_are_the_inventorys_defaults_and_stay_masked() -> None:
    block = GenjaInventory(
        hosts={"r1": {"hostname": "192.0.2.1", "platform": "ios"},
               "r2": {"hostname": "192.0.2.2", "platform": "eos", "username": "other"}},
        settings={"prefect": {"enabled": False}, "runner": {"worker_count": 3}},
        credentials=DeviceCredentials(username="admin", password="pw-Secret-1", enable_secret="en-Secret-2"),
    )
    genja = block.runtime()
    assert genja.settings.runner.worker_count == 3
    r1 = genja.inventory.connection_params("r1", "scrapli")
    assert (r1.username, r1.password_value(), r1.extras["auth_secondary"].get_secret_value()) == (
        "admin", "pw-Secret-1", "en-Secret-2",
    )
    assert genja.inventory.connection_params("r2", "scrapli").username == "other"  # the host's own wins
    assert "pw-Secret-1" not in repr(block) + repr(r1) and "en-Secret-2" not in repr(block) + repr(r1)


def test_bad_block_content_names_the_key() -> None:
    with pytest.raises(InventoryError, match=r"block genja-inventory/<unsaved>.*settings.inventory"):
        GenjaInventory(settings={"inventory": {"plugin": "FileInventoryPlugin"}}).runtime()
    with pytest.raises(InventoryError, match="host 'r1'.*prot"):
        GenjaInventory(hosts={"r1": {"prot": 22}}).runtime()


def test_netbox_source() -> None:
    devices = [netbox_device(1, "core1", platform="cisco-ios-xe", address="10.0.0.1/24"),
               netbox_device(2, "leaf1", platform="arista-eos", site="dc2", address="10.0.0.2/24")]
    with NetBoxApi(devices, token=TOKEN) as api:
        block = GenjaInventory(
            netbox=NetBoxSource(url=api.url, token=TOKEN, filters={"site": "dc2"}),
            groups={"site__dc2": {"port": 2222}},
            credentials=DeviceCredentials(username="admin", password="pw"),
            settings={"prefect": {"enabled": False}},
        )
        genja = block.runtime()
    assert genja.host_ids() == ["leaf1"]
    leaf = genja.inventory.connection_params("leaf1", "scrapli")
    assert (leaf.hostname, leaf.port, leaf.platform, leaf.username, leaf.password_value()) == (
        "10.0.0.2", 2222, "eos", "admin", "pw",
    )


# -- on a Prefect API ---------------------------------------------------------------------------
def test_prefect_block_register_shows_them_in_the_catalogue(prefect_api: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    out = subprocess.run(
        [sys.executable, "-m", "prefect", "block", "register", "-m", "genja_prefect.prefect.blocks"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for slug, name in (("genja-inventory", "Genja Inventory"), ("genja-device-credentials", "Genja Device Credentials")):
        block_type = httpx.get(f"{prefect_api}/block_types/slug/{slug}", timeout=30).json()
        assert block_type["name"] == name


def test_saved_blocks_keep_secrets_masked_and_run_a_flow(
    prefect_api: str, lab: Any, lab_password: str
) -> None:
    from genja_prefect_flows import collect_facts

    name = f"lab-{uuid.uuid4().hex[:8]}"
    directory = Path(lab.directory)
    hosts = yaml.safe_load((directory / "hosts.yaml").read_text())
    groups = yaml.safe_load((directory / "groups.yaml").read_text())
    DeviceCredentials(username="admin", password=lab_password).save(f"{name}-creds", overwrite=True)
    GenjaInventory(
        hosts=hosts, groups=groups, settings={"runner": {"worker_count": 4}},
        credentials=DeviceCredentials.load(f"{name}-creds"),
    ).save(name, overwrite=True)

    document = httpx.post(f"{prefect_api}/block_documents/filter", json={"limit": 200}, timeout=30).json()
    stored = next(d for d in document if d["name"] == f"{name}-creds")
    assert stored["data"]["password"] != lab_password and lab_password not in str(document)

    tree = collect_facts(settings=f"genja-inventory/{name}", filter={"platform": "eos"})
    assert tree["hosts"]["sim-eos1"]["status"] == "passed", tree["hosts"]["sim-eos1"]
    assert tree["hosts"]["sim-eos1"]["result"]["serial"] == "SN-sim-eos1"


def test_an_unknown_block_is_a_parameter_error(prefect_api: str) -> None:
    from genja_prefect_flows import FlowParameterError, collect_facts

    with pytest.raises(FlowParameterError, match="no GenjaInventory block named 'nope-404'"):
        collect_facts(settings="genja-inventory/nope-404")
