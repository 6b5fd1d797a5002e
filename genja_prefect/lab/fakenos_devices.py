"""fakenos simulated SSH devices on loopback ports.

fakenos 1.2.1 with scrapli 2026.x (libscrapli), checked by opening each fakenos platform with
the matching scrapli definition and sending a command the model knows (all 24 platforms that
have a scrapli definition were tried):

=====================  ======================  =====================================
fakenos platform       scrapli definition      result
=====================  ======================  =====================================
cisco_ios              cisco_iosxe             works (genja platform ``ios``)
arista_eos             arista_eos              works (``eos``; the only model with a
                                               config mode)
juniper_junos          juniper_junos           works (``junos``)
cisco_nxos             cisco_nxos              works (``nxos``)
cisco_asa              cisco_asa               works (``asa``)
alcatel_aos            alcatel_aos             works
huawei_smartax         huawei_smartax          works
ipinfusion_ocnos       ipinfusion_ocnos        works
ruckus_fastiron        ruckus_fastiron         works
brocade_fastiron       ruckus_fastiron         works
eltex                  eltex_esr               works
dell_force10           dell_emc                works
cisco_xr, cisco_ftd,   cisco_iosxr, ...        fail: "enterMode: failed determining
hp_comware,                                    prompt" (the fakenos prompts do not
huawei_vrp, panos,                             match the definitions' patterns)
edgeswitch, vyos,
sros, cisco_s300,
fortinet, dlink_ds
mikrotik_routeros      mikrotik_routeros       fails: authentication times out
=====================  ======================  =====================================

scrapli's on-open ``term width 512`` / ``term len 0`` are unknown to the fakenos models; they
answer "% Invalid input" and scrapli carries on (on-open inputs are not checked). The
``enable`` of the models asks no password, which scrapli accepts after a logged retry.

Timing on 2 cores: a scrapli open takes ~0.7 s and ``show version`` ~0.2 s (fakenos echoes
with a 10 ms sleep per character). Starting devices is dominated by two per-device costs that
this module pays once per process instead: parsing the platform's YAML model (0.1-0.3 s) and
the RSA host key (~75 ms); see :mod:`genja_prefect.lab._fakenos_server`.
"""

from __future__ import annotations

import errno
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fakenos import FakeNOS
from fakenos.core.host import Host as FakeNOSHost
from fakenos.core.nos import Nos
from fakenos.plugins.nos import nos_plugins

from genja_prefect.lab._fakenos_server import LabParamikoSshServer, shared_host_key
from genja_prefect.lab._service import LabService
from genja_prefect.lab.errors import LabStartError
from genja_prefect.lab.ports import LOOPBACK, allocate_port, release_port

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FakeNOSPlatform:
    """How a genja platform name maps onto fakenos and scrapli."""

    fakenos: str
    scrapli: str


#: Genja platform name -> fakenos model and scrapli definition (all checked with scrapli).
FAKENOS_PLATFORMS: dict[str, FakeNOSPlatform] = {
    "ios": FakeNOSPlatform("cisco_ios", "cisco_iosxe"),
    "eos": FakeNOSPlatform("arista_eos", "arista_eos"),
    "junos": FakeNOSPlatform("juniper_junos", "juniper_junos"),
    "nxos": FakeNOSPlatform("cisco_nxos", "cisco_nxos"),
    "asa": FakeNOSPlatform("cisco_asa", "cisco_asa"),
}


@dataclass(frozen=True)
class FakeNOSDevice:
    """One running fakenos device."""

    name: str
    platform: str
    port: int
    fakenos_platform: str
    scrapli_definition: str
    host: str = LOOPBACK


_nos_lock = threading.Lock()
_nos_cache: dict[str, Nos] = {}


def _shared_nos(fakenos_platform: str) -> Nos:
    """The platform's NOS model, loaded once per process.

    Safe to share: fakenos deep-copies the command table for every session, and the model's
    device object only renders read-only templates.
    """
    with _nos_lock:
        nos = _nos_cache.get(fakenos_platform)
        if nos is None:
            nos = Nos(filename=nos_plugins[fakenos_platform])
            _nos_cache[fakenos_platform] = nos
        return nos


@dataclass
class FakeNOSFleet(LabService):
    """A set of fakenos SSH devices on 127.0.0.1; a context manager.

    ``devices`` pairs a device name (also its prompt) with a genja platform name from
    :data:`FAKENOS_PLATFORMS`. Example::

        with FakeNOSFleet.from_counts(ios=2, eos=1, username="admin", password="admin") as fleet:
            for device in fleet.devices:
                print(device.name, device.port)
    """

    specs: list[tuple[str, str]]
    username: str = "admin"
    password: str = field(default="admin", repr=False)
    start_workers: int = 8
    devices: list[FakeNOSDevice] = field(default_factory=list, init=False)
    _net: FakeNOS | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_counts(
        cls, *, ios: int = 0, eos: int = 0, junos: int = 0, nxos: int = 0, asa: int = 0, **kwargs: Any
    ) -> FakeNOSFleet:
        """Devices named ``<platform><n>`` (``ios1``, ``ios2``, ``eos1``, ...)."""
        counts = {"ios": ios, "eos": eos, "junos": junos, "nxos": nxos, "asa": asa}
        specs = [(f"{plat}{i}", plat) for plat, n in counts.items() for i in range(1, n + 1)]
        return cls(specs, **kwargs)

    def __post_init__(self) -> None:
        unknown = sorted({plat for _, plat in self.specs} - set(FAKENOS_PLATFORMS))
        if unknown:
            raise ValueError(f"unknown fakenos lab platform(s) {unknown}; choose from {sorted(FAKENOS_PLATFORMS)}")
        names = [name for name, _ in self.specs]
        if len(set(names)) != len(names):
            raise ValueError(f"device names must be unique: {names}")

    def start(self) -> list[FakeNOSDevice]:
        """Start every device (each listening when this returns) and return them.

        On any failure the devices already started are stopped before the error is raised.
        """
        if self._net is not None:
            return self.devices
        if not self.specs:
            return []
        inventory = {
            "hosts": {
                name: {
                    "username": self.username,
                    "password": self.password,
                    "port": allocate_port(),
                    "platform": FAKENOS_PLATFORMS[plat].fakenos,
                }
                for name, plat in self.specs
            }
        }
        net = FakeNOS(inventory=inventory)
        # Both tables are per-instance copies, so this changes nothing outside this fleet.
        net.servers_plugins["ParamikoSshServer"] = LabParamikoSshServer
        for fakenos_platform in {FAKENOS_PLATFORMS[plat].fakenos for _, plat in self.specs}:
            net.nos_plugins[fakenos_platform] = _shared_nos(fakenos_platform)
        shared_host_key()
        self._net = net
        try:
            workers = max(1, min(self.start_workers, len(net.hosts)))
            with ThreadPoolExecutor(workers, thread_name_prefix="fakenos-start") as pool:
                list(pool.map(_start_host, net.hosts.values()))
            self.devices = [
                FakeNOSDevice(
                    name=name,
                    platform=plat,
                    port=net.hosts[name].port,
                    fakenos_platform=FAKENOS_PLATFORMS[plat].fakenos,
                    scrapli_definition=FAKENOS_PLATFORMS[plat].scrapli,
                )
                for name, plat in self.specs
            ]
            # LabParamikoSshServer listens before start() returns: no probe connection needed.
            silent = [h.name for h in net.hosts.values() if not h.running]
            if silent:
                raise LabStartError(f"fakenos devices {silent} did not start")
        except BaseException:
            self.stop()
            raise
        return self.devices

    def stop(self) -> None:
        """Stop every device and release its port (idempotent, also after a failed start)."""
        net, self._net = self._net, None
        if net is None:
            return
        hosts = list(net.hosts.values())
        # Stopping a device with a live session waits up to ~1 s for fakenos's watchdog;
        # doing them side by side keeps a full stop near that one second.
        with ThreadPoolExecutor(max(1, min(64, len(hosts))), thread_name_prefix="fakenos-stop") as pool:
            list(pool.map(_stop_host, hosts))
        for host in hosts:
            release_port(host.port)
        self.devices = []

    def by_name(self) -> dict[str, FakeNOSDevice]:
        """Running devices keyed by name."""
        return {d.name: d for d in self.devices}


def _start_host(host: FakeNOSHost, attempts: int = 5) -> None:
    """Start one device; if its port was taken meanwhile, move it to a fresh port."""
    for attempt in range(attempts):
        try:
            host.start()
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                raise LabStartError(
                    f"fakenos device {host.name!r} could not listen on port {host.port}: {exc}"
                ) from exc
            log.info("port %s taken before fakenos device %s bound it; retrying", host.port, host.name)
            release_port(host.port)
            host.port = allocate_port()
            host.fakenos.allocated_ports.add(host.port)


def _stop_host(host: FakeNOSHost) -> None:
    host.stop()
