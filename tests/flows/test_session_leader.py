"""A flow run started as a session leader (as Prefect's process worker starts it) can use scrapli."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests import server_template

CODE = """
import os, sys
import genja_prefect as genja_lib
from genja_prefect_flows import CollectFacts
assert os.getsid(0) == os.getpid(), "expected to run as a session leader"
# plain Genja, no flows helper: the scrapli plugin's open() is what must cope
genja = genja_lib.Genja.from_settings_file(sys.argv[1]).filter(name="sim-eos1").with_settings(prefect={"enabled": False})
result = genja.run_task(CollectFacts())["sim-eos1"]
print(result.status, result.result["serial"] if result.status == "passed" else result.message)
"""


def test_session_leader_without_terminal_keeps_its_scrapli_sessions(lab: Any) -> None:
    # Without the plugin's pin_controlling_terminal() this process dies of SIGHUP (returncode -1) after
    # "authenticate: open failed" from libscrapli.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(server_template.seed_home(Path(lab.directory) / "prefect-home").parent)
    done = subprocess.run(
        [sys.executable, "-c", CODE, str(Path(lab.directory) / "settings.yaml")],
        env=env, capture_output=True, text=True, timeout=120, start_new_session=True,
        stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "passed SN-sim-eos1"
