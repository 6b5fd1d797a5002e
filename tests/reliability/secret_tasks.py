"""The task the secret-hygiene test runs, from Python and from the CLI (``secret_tasks.py:Collect``).

It talks to each host over the plugin named in the host's ``data.plugin`` and, while its
session is open, also checks that no child process of this process (scrapli's ``ssh``) carries
the password in its command line or environment: the password is read from the environment
variable the test sets (``GENJA_REL_SECRET_PW``) and only compared, never output.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from genja_prefect.task import Host, TaskInfo, TaskRuntimeContext, TaskSuccessResult, task

logger = logging.getLogger("genja_rel.secret_tasks")


def children_carrying(secret: str, env_name: str) -> tuple[int, int]:
    """(children checked, children whose cmdline or environ contains ``secret``).

    The variable ``env_name`` itself is left out: the test puts the password there for
    ``{"env": NAME}`` and every child inherits it -- what is checked is that nothing else does.
    """
    me, checked, carrying = str(os.getpid()), 0, 0
    needle, own = secret.encode(), f"{env_name}=".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[1] != me:
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                blobs = [handle.read()]
            with open(f"/proc/{pid}/environ", "rb") as handle:
                blobs += [v for v in handle.read().split(b"\0") if not v.startswith(own)]
        except (OSError, IndexError):
            continue
        checked += 1
        carrying += any(needle in blob for blob in blobs)
    return checked, carrying


@task(name="collect_secretless")
class Collect:
    def start(self, task: TaskInfo, host: Host, context: TaskRuntimeContext) -> TaskSuccessResult:
        plugin = host.data["plugin"]
        conn = context.get_connection(plugin)
        output: Any
        if plugin == "scrapli":
            output = conn.execute_command("show version")
        elif plugin == "ncclient":
            output = conn.get_config(source="running")
        else:
            output = conn.get("ietf-system:system")
        checked, carrying = children_carrying(os.environ.get("GENJA_REL_SECRET_PW", "") or "\0", "GENJA_REL_SECRET_PW")
        logger.info("collected %d bytes from %s over %s", len(str(output)), host.id, plugin)
        return TaskSuccessResult(
            summary=f"{len(str(output))} bytes over {plugin}",
            result={"bytes": len(str(output)), "children_checked": checked, "children_carrying_secret": carrying},
        )
