"""The asyncssh simulator through real clients: scrapli (cisco_iosxe, arista_eos, cisco_nxos) and asyncssh."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import asyncssh
import pytest
from scrapli import AuthOptions, Cli
from scrapli.exceptions import OperationException
from scrapli.session import Options as SessionOptions

from genja_prefect.lab.lab import Lab
from genja_prefect.lab.simulator import SimDevice, Simulator


def _cli(lab: Lab | Simulator, device: SimDevice, password: str, timeout_s: float = 10.0) -> Cli:
    return Cli(
        "127.0.0.1",
        port=device.port,
        definition_file_or_name=device.scrapli_definition,
        auth_options=AuthOptions(username="admin", password=password),
        session_options=SessionOptions(operation_timeout_ns=int(timeout_s * 1e9)),
    )


@pytest.mark.parametrize(("name", "expected"), [("sim-ios1", "Cisco IOS XE Software"), ("sim-eos1", "Arista vEOS")])
def test_scrapli_opens_and_runs_show_version(lab: Lab, name: str, expected: str) -> None:
    device = lab.simulator.device(name)
    with _cli(lab, device, lab.password) as conn:
        result = conn.send_input("show version")
        bad = conn.send_input("show nonsense")
    assert not result.failed
    assert expected in result.result
    assert bad.failed  # "% Invalid input" is one of scrapli's failure indicators


@pytest.mark.parametrize("name", ["sim-ios2", "sim-eos1"])
def test_scrapli_configuration_shows_up_in_running_config(lab: Lab, name: str) -> None:
    device = lab.simulator.device(name)
    with _cli(lab, device, lab.password) as conn:
        conn.send_inputs(["interface Loopback42", "description set by scrapli"], requested_mode="configuration")
        running = conn.send_input("show running-config | section Loopback42").result
    assert "interface Loopback42" in running
    assert "description set by scrapli" in running
    # the device keeps it for the next session too
    assert "description set by scrapli" in lab.simulator.running_config(name)


def test_scrapli_cisco_nxos_opens_configures_and_rolls_back(sim_lab: Callable[..., Lab]) -> None:
    lab = sim_lab(ios=0, sim_nxos=1)
    device = lab.simulator.device("sim-nxos1")
    assert device.scrapli_definition == "cisco_nxos"
    with _cli(lab, device, lab.password) as conn:
        assert "NX-OS" in conn.send_input("show version").result
        assert conn.send_input("show nonsense").failed  # "% Invalid command at" is a failure indicator
        before = conn.send_input("show running-config").result
        assert conn.send_input("checkpoint before-change").result.endswith("Done")
        conn.send_inputs(["interface Ethernet1/2", "description set by scrapli"], requested_mode="configuration")
        assert "description set by scrapli" in lab.simulator.running_config("sim-nxos1")
        rolled = conn.send_input("rollback running-config checkpoint before-change")
        assert "Rollback completed successfully." in rolled.result
        assert conn.send_input("show running-config").result == before


def test_exec_channel_runs_one_command(lab: Lab) -> None:
    device = lab.simulator.device("sim-ios1")

    async def run() -> str:
        async with asyncssh.connect(
            "127.0.0.1", device.port, username="admin", password=lab.password, known_hosts=None
        ) as conn:
            result = await conn.run("show clock", check=True)
            return str(result.stdout)

    assert "UTC" in asyncio.run(run())


def test_many_devices_answer(sim_lab: Callable[..., Lab]) -> None:
    lab = sim_lab(ios=300, eos=20)
    assert len(lab.hosts) == 320
    assert len({h.port for h in lab.hosts}) == 320
    for device in random.Random(7).sample(lab.simulator.devices, 3):
        with _cli(lab, device, lab.password) as conn:
            assert conn.get_prompt().result == f"{device.name}#"


def test_fail_auth_rejects_logins_until_switched_off(sim_lab: Callable[..., Lab]) -> None:
    lab = sim_lab(ios=1)
    device = lab.simulator.devices[0]
    device.fail_auth = True
    with pytest.raises(OperationException, match="authentication failed"):
        _cli(lab, device, lab.password).open()
    device.fail_auth = False
    with _cli(lab, device, lab.password) as conn:
        assert not conn.send_input("show clock").failed


def test_wrong_password_is_rejected(lab: Lab) -> None:
    with pytest.raises(OperationException, match="authentication failed"):
        _cli(lab, lab.simulator.device("sim-ios1"), "not-the-password").open()


def test_slow_device_misses_a_short_operation_timeout(sim_lab: Callable[..., Lab]) -> None:
    lab = sim_lab(ios=1)
    device = lab.simulator.devices[0]
    conn = _cli(lab, device, lab.password, timeout_s=0.5)
    conn.open()
    try:
        device.delay_s = 5.0  # far beyond the 0.5 s timeout: no race with a slow CI box
        with pytest.raises(OperationException, match=r"(?i)timeout"):
            conn.send_input("show clock")
    finally:
        device.delay_s = 0.0
        lab.simulator.drop_connections(device.name)


def test_drop_on_command_and_drop_connections(sim_lab: Callable[..., Lab]) -> None:
    lab = sim_lab(ios=2)
    first, second = lab.simulator.devices
    first.drop_on = "show version"
    with _cli(lab, first, lab.password) as conn:
        assert not conn.send_input("show clock").failed
        with pytest.raises(OperationException):
            conn.send_input("show version")
    with _cli(lab, second, lab.password) as conn:
        assert lab.simulator.drop_connections(second.name) == 1
        with pytest.raises(OperationException):
            conn.send_input("show clock")


def test_stop_closes_listeners(sim_lab: Callable[..., Lab]) -> None:
    lab = sim_lab(ios=3)
    ports = [h.port for h in lab.hosts]
    lab.stop()
    for port in ports:
        with pytest.raises(OSError):
            asyncio.run(asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2))
