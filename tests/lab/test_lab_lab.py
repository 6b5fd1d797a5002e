"""Lab: the inventory it writes is genja-prefect's format, and it stops what it started."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import yaml

from genja_prefect.inventory import FileInventoryPlugin
from genja_prefect.lab import http_server
from genja_prefect.lab.lab import Lab
from genja_prefect.settings import Settings


def test_inventory_files_have_the_documented_shape(lab: Lab) -> None:
    assert lab.directory is not None
    hosts = yaml.safe_load((lab.directory / "hosts.yaml").read_text())
    assert set(hosts) == {"ios1", "eos1", "junos1", "sim-ios1", "sim-ios2", "sim-eos1", "netconf1", "api1"}
    assert hosts["ios1"] == {
        "hostname": "127.0.0.1",
        "port": lab.host("ios1").port,
        "platform": "ios",
        "groups": ["lab_ssh", "lab_fakenos"],
        "data": {"site": "lab", "lab_kind": "fakenos", "role": "access"},
        "connection_options": {"scrapli": {"extras": {"auth_strict_key": False}}},
    }
    assert hosts["netconf1"]["connection_options"]["ncclient"] == {
        "port": lab.host("netconf1").port,
        "platform": "default",
        "extras": {"hostkey_verify": False},
    }
    assert hosts["api1"]["connection_options"]["restconf"] == {
        "port": lab.host("api1").port,
        "extras": {"scheme": "http"},
    }
    defaults = lab.directory / "defaults.yaml"
    assert yaml.safe_load(defaults.read_text()) == {"username": "admin", "password": lab.password}
    assert stat.S_IMODE(defaults.stat().st_mode) == 0o600
    assert yaml.safe_load((lab.directory / "settings.yaml").read_text()) == {
        "inventory": {
            "plugin": "FileInventoryPlugin",
            "options": {"hosts_file": "hosts.yaml", "groups_file": "groups.yaml", "defaults_file": "defaults.yaml"},
        },
        "runner": {"plugin": "threaded", "worker_count": 20},
    }


def test_inventory_loads_with_genja_prefect(lab: Lab) -> None:
    assert lab.directory is not None
    settings = Settings.from_file(lab.directory / "settings.yaml")
    inventory = FileInventoryPlugin().load(settings.inventory.options, settings.base_dir)
    assert len(inventory) == len(lab.hosts)
    ssh = inventory.connection_params("sim-eos1", "scrapli")
    assert (ssh.hostname, ssh.port, ssh.username, ssh.platform) == (
        "127.0.0.1",
        lab.host("sim-eos1").port,
        "admin",
        "eos",
    )
    assert ssh.password is not None and ssh.password.get_secret_value() == lab.password
    nc = inventory.connection_params("netconf1", "ncclient")
    assert (nc.port, nc.platform) == (lab.host("netconf1").port, "default")


def test_every_lab_host_kind_and_port_is_listed(lab: Lab) -> None:
    kinds = {h.name: h.kind for h in lab.hosts}
    assert kinds["ios1"] == "fakenos" and kinds["sim-ios1"] == "sim"
    assert kinds["netconf1"] == "netconf" and kinds["api1"] == "restconf"
    assert len({h.port for h in lab.hosts}) == len(lab.hosts)
    assert "genja-lab-pw" not in repr(lab)


def test_failed_start_stops_what_already_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_start(self: http_server.RestconfServer) -> int:
        raise OSError("simulated bind failure")

    monkeypatch.setattr(http_server.RestconfServer, "start", broken_start)
    lab = Lab(ios=1, sim=2, netconf=1, http=1, directory=tmp_path)
    with pytest.raises(OSError, match="simulated bind failure"):
        lab.start()
    started_ports = [d.port for d in lab.simulator.devices] + [s.port for s in lab.netconf_servers]
    assert all(started_ports)
    for port in started_ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing listens any more
    assert not lab.fakenos.devices
    assert not (tmp_path / "hosts.yaml").exists()
