"""The lab: a chosen mix of loopback endpoints, started and stopped together, with an inventory.

Example::

    with Lab(ios=2, eos=1, junos=1, sim=10, netconf=1, http=1, directory="lab") as lab:
        for host in lab.hosts:
            print(host.name, host.kind, host.platform, host.port)
        # lab/settings.yaml, hosts.yaml, groups.yaml, defaults.yaml are ready for genja-prefect

Host names: fakenos devices ``ios1``, ``eos1``, ``junos1``, ``nxos1``, ``asa1``; simulated
devices ``sim-ios1``, ``sim-eos1``, ``sim-nxos1``; ``netconf1``; ``api1``.
"""

from __future__ import annotations

import os
from pathlib import Path

from genja_prefect.lab._loop import LoopThread
from genja_prefect.lab._service import LabService
from genja_prefect.lab.fakenos_devices import FakeNOSFleet
from genja_prefect.lab.http_server import RestconfServer
from genja_prefect.lab.lab_inventory import LabHost, write_inventory
from genja_prefect.lab.netconf_server import NetconfServer
from genja_prefect.lab.simulator import Simulator


class Lab(LabService):
    """Start fakenos devices, simulated devices, NETCONF and RESTCONF servers on 127.0.0.1.

    Counts default to zero. ``directory``, when given, receives the inventory on :meth:`start`.
    Everything started is stopped by :meth:`stop`, which also runs when :meth:`start` fails
    half-way and when the ``with`` block raises.
    """

    def __init__(
        self,
        *,
        ios: int = 0,
        eos: int = 0,
        junos: int = 0,
        nxos: int = 0,
        asa: int = 0,
        sim: int = 0,
        sim_eos: int = 0,
        sim_nxos: int = 0,
        netconf: int = 0,
        http: int = 0,
        username: str = "admin",
        password: str = "admin",
        directory: str | os.PathLike[str] | None = None,
        worker_count: int = 20,
    ) -> None:
        counts = {
            "ios": ios,
            "eos": eos,
            "junos": junos,
            "nxos": nxos,
            "asa": asa,
            "sim": sim,
            "sim_eos": sim_eos,
            "sim_nxos": sim_nxos,
            "netconf": netconf,
            "http": http,
        }
        negative = {k: v for k, v in counts.items() if v < 0}
        if negative:
            raise ValueError(f"device counts must be >= 0, got {negative}")
        self.counts = counts
        self.username = username
        self._password = password
        self.directory = Path(directory) if directory is not None else None
        self.worker_count = worker_count
        self.fakenos = FakeNOSFleet.from_counts(
            ios=ios, eos=eos, junos=junos, nxos=nxos, asa=asa, username=username, password=password
        )
        self._loop = LoopThread("genja-lab")
        self.simulator = Simulator.from_counts(
            ios=sim, eos=sim_eos, nxos=sim_nxos, username=username, password=password, loop=self._loop
        )
        self.netconf_servers = [
            NetconfServer(f"netconf{i}", username=username, password=password, loop=self._loop)
            for i in range(1, netconf + 1)
        ]
        self.http_servers = [
            RestconfServer(f"api{i}", username=username, password=password) for i in range(1, http + 1)
        ]
        self.hosts: list[LabHost] = []
        self._started = False

    def __repr__(self) -> str:
        wanted = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v)
        return f"Lab({wanted}, username={self.username!r}, running={self._started})"

    @property
    def password(self) -> str:
        """The lab's login password (also in ``defaults.yaml``)."""
        return self._password

    def start(self) -> list[LabHost]:
        """Start everything, write the inventory if a directory was given, return the hosts."""
        if self._started:
            return self.hosts
        self._started = True
        try:
            hosts = [LabHost(d.name, d.platform, "fakenos", d.port) for d in self.fakenos.start()]
            if self.simulator.devices or self.netconf_servers:
                self._loop.start()
            hosts += [LabHost(d.name, d.platform, "sim", d.port) for d in self.simulator.start()]
            hosts += [LabHost(s.name, "netconf", "netconf", s.start()) for s in self.netconf_servers]
            hosts += [LabHost(s.name, "restconf", "restconf", s.start()) for s in self.http_servers]
            self.hosts = hosts
            if self.directory is not None:
                self.write_inventory(self.directory)
        except BaseException:
            self.stop()
            raise
        return self.hosts

    def write_inventory(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write ``hosts.yaml``, ``groups.yaml``, ``defaults.yaml``, ``settings.yaml``."""
        return write_inventory(
            directory, self.hosts, username=self.username, password=self._password, worker_count=self.worker_count
        )

    def stop(self) -> None:
        """Stop everything that was started (idempotent; every part is attempted)."""
        errors: list[BaseException] = []
        for stop in (
            *(s.stop for s in self.http_servers),
            *(s.stop for s in self.netconf_servers),
            self.simulator.stop,
            self._loop.stop,
            self.fakenos.stop,
        ):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest; re-raised below
                errors.append(exc)
        self.hosts = []
        self._started = False
        if errors:
            raise errors[0]

    def host(self, name: str) -> LabHost:
        """The running host called ``name``."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no lab host {name!r}; running: {[h.name for h in self.hosts]}")

    def by_kind(self, kind: str) -> list[LabHost]:
        """Running hosts of one kind: ``fakenos``, ``sim``, ``netconf`` or ``restconf``."""
        return [h for h in self.hosts if h.kind == kind]
