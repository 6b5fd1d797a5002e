"""The two automations docs/prefect.md describes, on a real ``prefect server start``:

1. "notify when any device fails in the nightly backup": an automation on the event
   ``genja.host.failed`` related to the flow ``backup-configs`` sends a notification through a
   webhook block -- to a loopback HTTP server the test runs;
2. "when a device's config changed, collect its facts": the deployment trigger of
   ``collect-facts-on-change`` in deployments/prefect.yaml creates a ``collect_facts`` run for
   exactly that device when a backup emits ``genja.host.changed``.

The backups run in this process against the server (PREFECT_API_URL), on the lab's simulated
devices plus one dead device. Everything started here is stopped here.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.flows.prefect_server import prefect_server, wait_for

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server collecting the JSON bodies posted to it."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            try:
                received.append(json.loads(body or b"{}"))
            except ValueError:
                received.append({"raw": body.decode(errors="replace")})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _with_dead_device(settings: str, tmp_path: Path, port: int) -> str:
    source = Path(settings).parent
    target = tmp_path / "inventory"
    shutil.copytree(source, target)
    hosts = yaml.safe_load((target / "hosts.yaml").read_text())
    hosts["dead1"] = {"hostname": "127.0.0.1", "port": port, "platform": "ios", "groups": ["lab_ssh"]}
    (target / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    return str(target / "settings.yaml")


@pytest.mark.prefect_server
@pytest.mark.timeout(600)
def test_notify_on_failed_device_and_collect_facts_on_changed_config(
    sim_lab: Callable[..., Any], tmp_path: Path, closed_port: int
) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from genja_prefect.outcome import HostsFailedError
    from genja_prefect_flows import backup_configs, deploy_config

    lab = sim_lab(ios=1, eos=1)
    settings = _with_dead_device(str(Path(lab.directory) / "settings.yaml"), tmp_path, closed_port)
    with prefect_server(tmp_path / "prefect-home") as server, webhook_receiver() as (hook_url, received):
        server.create_process_pool("genja-pool")
        server.deploy(PREFECT_YAML, "collect-facts-on-change", cwd=REPO)
        deployment = server.get("/deployments/name/collect-facts/collect-facts-on-change")

        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            block_id = CustomWebhookNotificationBlock(
                name="genja-failures", url=hook_url, json_data={"text": "{{body}}"}
            ).save("genja-failures", overwrite=True)
            server.post(
                "/automations/",
                {
                    "name": "genja: a device failed in the nightly backup",
                    "trigger": {
                        "type": "event",
                        "expect": ["genja.host.failed"],
                        "match": {"prefect.resource.id": "genja.host.*"},
                        "match_related": {"prefect.resource.role": "flow", "prefect.resource.name": "backup-configs"},
                        "posture": "Reactive",
                        "threshold": 1,
                        "within": 0,
                    },
                    "actions": [
                        {
                            "type": "send-notification",
                            "block_document_id": str(block_id),
                            "subject": "backup failed",
                            "body": "{{ event.resource['genja.host.id'] }}: {{ event.payload.message }}",
                        }
                    ],
                },
            )
            params = {"settings": settings, "filter": {"groups__contains": "lab_ssh"}, "backup_dir": str(tmp_path / "b")}
            with pytest.raises(HostsFailedError):  # dead1 is down: a red run
                backup_configs(**params)
            # a change made outside any backup, then the next backup sees it
            deploy_config(settings=settings, template="ntp server 192.0.2.77", filter={"name": "sim-ios1"}, apply=True)
            with pytest.raises(HostsFailedError):
                backup_configs(**params)

        # 1. the notification arrived, naming the dead device (once per failing backup)
        wait_for(lambda: any("dead1" in json.dumps(r) for r in received), 120, lambda: f"no notification: {received}")
        assert not any("sim-ios1" in json.dumps(r) for r in received)

        # 2. a collect_facts run for exactly the changed device was created by the trigger
        def triggered() -> list[dict[str, Any]]:
            return [
                r
                for r in server.post(
                    "/flow_runs/filter",
                    {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}, "limit": 20, "offset": 0},
                )
            ]

        wait_for(lambda: triggered(), 120, "no flow run created by the collect-facts-on-change trigger")
        runs = triggered()
        assert [r["parameters"]["filter"] for r in runs] == [{"name": "sim-ios1"}], runs
