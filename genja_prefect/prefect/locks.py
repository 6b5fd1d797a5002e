"""Device locks through Prefect's concurrency limits.

A host's task run holds a slot of every Prefect concurrency limit that matches it, the way
Prefect's own task engine does for task runs: the tag limits of its tags (``prefect
concurrency-limit create platform:iosxr 1`` creates ``tag:platform:iosxr``), and with
``prefect.device_lock: true`` a one-slot limit per device, ``genja-device:<host id>``, so two
runs never work on the same device at once (two deployments pushing to one router). Slots are
taken before the host's work starts -- the task run shows ``AwaitingConcurrencySlot`` while it
waits -- and released when it ends, under a lease the server expires if the process dies.

What limits exist is read once per run; a host no limit matches costs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from genja_prefect.prefect.naming import host_tags
from genja_prefect.task import Host

logger = logging.getLogger(__name__)

#: The one-slot limit of a device under ``prefect.device_lock``.
DEVICE_LOCK_PREFIX = "genja-device:"
#: How long a held slot lives without renewal (renewed at 75 % by Prefect's lease thread).
LEASE_SECONDS = 60.0


def device_lock_name(host_id: str) -> str:
    return f"{DEVICE_LOCK_PREFIX}{host_id}"


def limit_names(client: Any) -> set[str]:
    """The names of the server's active concurrency limits (raises what the client raises)."""
    names: set[str] = set()
    offset = 0
    while True:
        response = client.request("POST", "/v2/concurrency_limits/filter", json={"limit": 200, "offset": offset})
        response.raise_for_status()
        page = response.json()
        names.update(str(item["name"]) for item in page if item.get("active", True))
        if len(page) < 200:
            return names
        offset += 200


def _create_lock(client: Any, name: str) -> None:
    response = client.request("POST", "/v2/concurrency_limits/", json={"name": name, "limit": 1})
    if response.status_code != 409:  # 409: another run created it just now
        response.raise_for_status()


class HostLocks:
    """The concurrency limits each host of a run must hold a slot of."""

    def __init__(self, tag_limits: set[str], device_lock: bool) -> None:
        self.tag_limits = tag_limits
        self.device_lock = device_lock

    @classmethod
    def for_run(
        cls, client: Any, hosts: Iterable[Host], device_lock: bool, existing: set[str] | None = None
    ) -> "HostLocks":
        """Read the server's limits once (unless ``existing`` was read already); with
        ``device_lock`` create missing device limits."""
        try:
            if existing is None:
                existing = limit_names(client)
        except Exception as exc:  # noqa: BLE001 - no limits readable: run without them, loudly
            logger.warning("could not read Prefect's concurrency limits (%s): hosts run without them", exc)
            return cls(set(), False)
        tag_limits = {name[len("tag:"):] for name in existing if name.startswith("tag:")}
        if device_lock:
            for host in hosts:
                name = device_lock_name(host.id)
                if name not in existing:
                    _create_lock(client, name)
        return cls(tag_limits, device_lock)

    def names_for(self, host: Host) -> list[str]:
        """The limits ``host`` must hold a slot of (often none)."""
        names = [f"tag:{tag}" for tag in host_tags(host) if tag in self.tag_limits] if self.tag_limits else []
        if self.device_lock:
            names.append(device_lock_name(host.id))
        return names

    @staticmethod
    @contextmanager
    def hold(names: list[str], task_run_id: UUID) -> Iterator[None]:
        """Hold one slot of each of ``names`` for the task run (blocks until they are free)."""
        from prefect.client.schemas.objects import ConcurrencyLeaseHolder
        from prefect.concurrency.sync import concurrency

        holder = ConcurrencyLeaseHolder(type="task_run", id=task_run_id)
        with concurrency(names, occupy=1, lease_duration=LEASE_SECONDS, holder=holder, strict=False):
            yield
