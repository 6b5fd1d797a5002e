"""NetBox inventory load time for 10,000 devices against a recorded API on loopback.

The API is the lab's NetBox stand-in (genja_prefect.lab.netbox_api: NetBox 4.x payloads,
offset pagination, 1,000 devices a page). Scenarios: pages one after the other or 4 at once,
with no server delay (the client's own cost) and with 0.25 s per page (a real NetBox spends
roughly that on a page of 1,000 devices with config contexts). The anchor is plain pynetbox
(``list(nb.dcim.devices.all())``, Record objects, same threading), what a script without this
plugin would do before building any inventory.

    python -m bench.netbox_inventory [--devices 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pynetbox

from genja_prefect.lab.netbox_api import NetBoxApi, netbox_device
from genja_prefect_netbox import NetBoxInventoryPlugin

TOKEN = "0123456789abcdef0123456789abcdef01234567"
PLATFORMS = ("cisco-ios", "cisco-ios-xe", "arista-eos", "juniper-junos", "cisco-nx-os")


def devices(count: int) -> list[dict[str, Any]]:
    return [
        netbox_device(
            i, f"dev{i:05d}", platform=PLATFORMS[i % len(PLATFORMS)], site=f"site{i % 40:02d}",
            role=("core", "leaf", "spine", "edge")[i % 4], tenant=("acme", None)[i % 2],
            tags=["managed"] + (["pci"] if i % 10 == 0 else []),
            address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}/24", serial=f"SN{i:08d}",
            custom_fields={"ssh_port": 22, "maintenance": i % 50 == 0},
            config_context={"ntp": ["192.0.2.123"], "syslog": ["192.0.2.10"], "snmp": {"location": f"site{i % 40}"}},
        )
        for i in range(1, count + 1)
    ]


def best(repeat: int, fn: Any) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    fleet = devices(args.devices)
    print(f"| server delay per page | threads | hosts | genja-prefect s | plain pynetbox s | ratio |")
    print("|---|---|---|---|---|---|")
    for delay in (0.0, 0.25):
        with NetBoxApi(fleet, token=TOKEN, delay_s=delay) as api:
            for threads in (1, 4):
                options = {"url": api.url, "token": TOKEN, "threads": threads, "page_size": 1000}
                ours, inventory = best(args.repeat, lambda: NetBoxInventoryPlugin().load(options, Path(".")))

                def plain() -> int:
                    nb = pynetbox.api(api.url, token=TOKEN, threading=threads > 1, max_workers=threads)
                    try:
                        return len(list(nb.dcim.devices.all(limit=1000)))
                    finally:
                        nb.http_session.close()

                anchor, count = best(args.repeat, plain)
                assert len(inventory) == count == args.devices, (len(inventory), count)
                print(f"| {delay:g} s | {threads} | {len(inventory):,} | {ours:.3f} | {anchor:.3f} | {ours / anchor:.2f}x |")


if __name__ == "__main__":
    main()
