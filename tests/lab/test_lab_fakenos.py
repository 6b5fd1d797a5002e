"""fakenos devices answer scrapli on every lab platform; ports are ours alone; stop is clean."""

from __future__ import annotations

import socket

import paramiko
import pytest
from fakenos.core.nos import Nos
from fakenos.plugins.servers.ssh_server_paramiko import ParamikoSshServer
from fakenos.plugins.shell.cmd_shell import CMDShell
from scrapli import AuthOptions, Cli

from genja_prefect.lab import fakenos_devices
from genja_prefect.lab._fakenos_server import LabParamikoSshServer
from genja_prefect.lab.fakenos_devices import FakeNOSFleet
from genja_prefect.lab.lab import Lab

EXPECTED_VERSION_TEXT = {"ios1": "Cisco IOS XE Software", "eos1": "Software image version", "junos1": "JUNOS"}


@pytest.mark.parametrize("name", ["ios1", "eos1", "junos1"])
def test_scrapli_show_version_on_fakenos_device(lab: Lab, name: str) -> None:
    device = lab.fakenos.by_name()[name]
    with Cli(
        "127.0.0.1",
        port=device.port,
        definition_file_or_name=device.scrapli_definition,
        auth_options=AuthOptions(username=lab.username, password=lab.password),
    ) as conn:
        result = conn.send_input("show version")
    assert not result.failed
    assert EXPECTED_VERSION_TEXT[name] in result.result


def test_lab_server_sets_the_attributes_fakenos_sets() -> None:
    nos = Nos(name="x", commands={}, initial_prompt="x>")
    kwargs = dict(shell=CMDShell, nos=nos, nos_inventory_config={}, port=1, username="u", password="p")
    assert set(vars(LabParamikoSshServer(**kwargs))) == set(vars(ParamikoSshServer(**kwargs)))


def test_wrong_password_is_rejected() -> None:
    with FakeNOSFleet.from_counts(ios=1, username="admin", password="right") as fleet:
        device = fleet.devices[0]
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(
                "127.0.0.1",
                port=device.port,
                username="admin",
                password="wrong",
                look_for_keys=False,
                allow_agent=False,
                timeout=10,
            )
        client.close()


def test_taken_port_moves_the_device_to_a_free_one(monkeypatch: pytest.MonkeyPatch) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real_allocate = fakenos_devices.allocate_port
    handed = iter([taken])
    monkeypatch.setattr(fakenos_devices, "allocate_port", lambda: next(handed, None) or real_allocate())
    try:
        with FakeNOSFleet.from_counts(eos=1) as fleet:
            assert fleet.devices[0].port != taken
            banner = _ssh_banner(fleet.devices[0].port)
            assert banner.startswith(b"SSH-2.0-")
    finally:
        squatter.close()


def test_stop_frees_every_port() -> None:
    fleet = FakeNOSFleet.from_counts(ios=2, junos=1)
    ports = [d.port for d in fleet.start()]
    fleet.stop()
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises if a listener survived


def test_unknown_platform_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown fakenos lab platform"):
        FakeNOSFleet([("x1", "routeros")])


def _ssh_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        data = conn.recv(64)
        conn.sendall(b"SSH-2.0-test\r\n")
        return data


def test_host_key_is_parsed_once() -> None:
    from genja_prefect.lab._fakenos_server import shared_host_key

    assert shared_host_key() is shared_host_key()
    assert isinstance(shared_host_key(), paramiko.RSAKey)
