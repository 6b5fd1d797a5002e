"""Secret hygiene: a full job with a unique password, then a search for it everywhere a user or
an operator could see it.

The password (uuid-based, so any hit is ours) reaches the devices three ways -- a literal in
the inventory (host, defaults and ``connection_options``), ``{"env": NAME}`` and
``{"prefect_secret": NAME}`` (a Prefect Secret block on the temporary API) -- and a second
unique password is the wrong one of three hosts, so the authentication error paths of
scrapli, ncclient/paramiko and httpx run too; one host refuses the connection. The job runs
with Prefect on: from Python, from ``genja_prefect.cli.main`` (``--json`` and the table), from
``python -m genja_prefect.cli.main`` and the ``genja-prefect`` console script, the last two with
every Python logger at DEBUG on stderr; the libraries' loggers also go to the Prefect API.

Searched: Python logs at DEBUG (every logger: genja_prefect, scrapli, ncclient, paramiko,
asyncssh, httpx, prefect...), the result trees (normalized, raw, repr, pickle), CLI output,
the command line and environment of scrapli's ssh children, the Prefect API (logs, flow runs
and task runs with names, parameters, tags and state messages, artifacts), and the raw bytes
of the Prefect server's SQLite database and its WAL.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import genja_prefect
from genja_prefect.cli.main import main as cli_main
from genja_prefect.lab.lab import Lab

from . import prefect_api as api

GOOD = f"gpw{uuid.uuid4().hex}"
WRONG = f"gwr{uuid.uuid4().hex}"
SECRETS = (GOOD, WRONG)
ENV_NAME = "GENJA_REL_SECRET_PW"
TASKS = Path(__file__).with_name("secret_tasks.py")
LIBRARY_LOGGERS = ("genja_prefect", "genja_prefect_scrapli", "genja_prefect_ncclient", "genja_prefect_restconf",
                   "genja_rel", "scrapli", "ncclient", "paramiko", "asyncssh", "httpx", "httpcore", "prefect",
                   "prefect.extra", "prefect._internal")
EXPECTED = {
    "sim-ios1": ("passed", None), "sim-ios2": ("passed", None), "sim-eos1": ("passed", None),
    "netconf1": ("passed", None), "api1": ("passed", None),
    "sim-ios3": ("failed", "authentication"), "nc-wrong": ("failed", "authentication"),
    "api-wrong": ("failed", "authentication"), "refused": ("failed", "connection"),
}

pytestmark = [
    pytest.mark.usefixtures("prefect_api"),
    # libscrapli also logs from its own threads, outside any run context: Prefect's API handler
    # warns about each such record instead of sending it (it is still in the Python logs).
    pytest.mark.filterwarnings("ignore:Logger .* attempted to send logs to the API without a flow run id"),
]


def hits(text: str | bytes, where: str) -> list[str]:
    """``where`` for each secret found in ``text``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
    return [f"{where}: {'good' if s == GOOD else 'wrong'} password" for s in SECRETS if s.encode() in data]


@pytest.fixture(scope="module")
def secret_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(sim=3, sim_eos=1, netconf=1, http=1, password=GOOD) as lab:
        yield lab


def write_inventory(lab: Lab, directory: Path, block_name: str, closed_port: int, flow_name: str) -> Path:
    def ssh(name: str, password: Any) -> dict[str, Any]:
        host = lab.host(name)
        return {"hostname": "127.0.0.1", "port": host.port, "platform": host.platform, "password": password,
                "data": {"plugin": "scrapli"},
                "connection_options": {"scrapli": {"extras": {"auth_strict_key": False}}}}

    def netconf(password: Any = None) -> dict[str, Any]:
        options: dict[str, Any] = {"port": lab.host("netconf1").port, "platform": "default",
                                   "extras": {"hostkey_verify": False}}
        if password is not None:
            options["password"] = password
        return {"hostname": "127.0.0.1", "platform": "netconf", "data": {"plugin": "ncclient"},
                "connection_options": {"ncclient": options}}

    def restconf(password: str) -> dict[str, Any]:
        return {"hostname": "127.0.0.1", "platform": "restconf", "data": {"plugin": "restconf"},
                "connection_options": {"restconf": {"port": lab.host("api1").port, "password": password,
                                                    "extras": {"scheme": "http"}}}}

    hosts = {
        "sim-ios1": ssh("sim-ios1", GOOD),                           # literal on the host
        "sim-ios2": ssh("sim-ios2", {"env": ENV_NAME}),              # from the environment
        "sim-eos1": ssh("sim-eos1", {"prefect_secret": block_name}),  # from a Prefect Secret block
        "sim-ios3": ssh("sim-ios3", WRONG),                          # wrong: scrapli auth failure
        "netconf1": netconf(),                                       # literal inherited from defaults
        "nc-wrong": netconf(WRONG),                                  # wrong: paramiko auth failure
        "api1": restconf(GOOD),                                      # literal in connection_options
        "api-wrong": restconf(WRONG),                                # wrong: HTTP 401
        "refused": {**ssh("sim-ios1", GOOD), "port": closed_port},  # nobody listens
    }
    files = {
        "hosts.yaml": hosts,
        "defaults.yaml": {"username": "admin", "password": GOOD},
        "groups.yaml": {},
        "settings.yaml": {
            "inventory": {"plugin": "FileInventoryPlugin",
                          "options": {"hosts_file": "hosts.yaml", "groups_file": "groups.yaml",
                                      "defaults_file": "defaults.yaml"}},
            "runner": {"plugin": "threaded", "worker_count": 4, "max_connection_attempts": 2,
                       "connection_backoff_ms": 10},
            "prefect": {"flow_name": flow_name},
        },
    }
    for name, document in files.items():
        (directory / name).write_text(yaml.safe_dump(document, sort_keys=False))
    return directory / "settings.yaml"


def check_tree(tree: dict[str, Any]) -> None:
    got = {h: (r["status"], r.get("kind")) for h, r in tree["hosts"].items()}
    assert got == EXPECTED, got


class DebugLogs(logging.Handler):
    """Every record of every logger, formatted with its traceback, at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:  # noqa: BLE001 - a record that cannot format is itself evidence
            self.lines.append(f"unformattable record {record.name}: {exc!r} {record.msg!r} {record.args!r}")


@pytest.fixture
def debug_logs() -> Iterator[DebugLogs]:
    """All loggers at DEBUG into one handler (root and the ones that do not propagate), and
    the libraries' loggers also to the Prefect API (INFO and up), for the duration of the test."""
    from prefect.logging.handlers import APILogHandler

    handler, to_api = DebugLogs(), APILogHandler()
    # INFO and up to the API: DEBUG from libscrapli is thousands of records per session, more
    # than the temporary SQLite server takes while it records the runs (it answers 503).
    to_api.setLevel(logging.INFO)
    saved: list[tuple[logging.Logger, int]] = []
    names = ("", *LIBRARY_LOGGERS)
    for name in names:
        log = logging.getLogger(name)
        saved.append((log, log.level))
        log.setLevel(logging.DEBUG)
        if name == "" or not log.propagate:
            log.addHandler(handler)
        if name.startswith(("genja", "scrapli", "ncclient", "paramiko")):
            log.addHandler(to_api)
    try:
        yield handler
    finally:
        for log, level in saved:
            log.setLevel(level)
            log.removeHandler(handler)
            log.removeHandler(to_api)


def console_script() -> str:
    found = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or shutil.which("genja-prefect")
    assert found, "the genja-prefect console script is not installed"
    return found


def test_no_secret_anywhere(
    secret_lab: Lab, tmp_path: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], debug_logs: DebugLogs,
) -> None:
    from prefect.blocks.system import Secret as SecretBlock
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL

    suffix = uuid.uuid4().hex[:8]
    block_name, flow_name = f"genja-rel-pw-{suffix}", f"genja-rel-secrets-{suffix}"
    SecretBlock(value=GOOD).save(block_name, overwrite=True)
    monkeypatch.setenv(ENV_NAME, GOOD)
    settings = write_inventory(secret_lab, tmp_path, block_name, closed_port, flow_name)
    found: list[str] = []
    # the search finds what it looks for: both passwords are in the inventory files
    inventory_text = "".join(p.read_text() for p in tmp_path.glob("*.yaml"))
    assert len(hits(inventory_text, "inventory")) == 2

    # 1. Python API, Prefect on, every logger at DEBUG
    genja = genja_prefect.Genja.from_settings_file(settings).with_run_parameters(job="secret-scan")
    results = genja.run_task(genja_prefect.TaskDefinition.coerce(_collect()))
    check_tree(results.to_dict())
    for host_id in ("sim-ios1", "sim-ios2", "sim-eos1"):
        checked = results[host_id].result
        assert checked["children_checked"] >= 1 and checked["children_carrying_secret"] == 0, (host_id, checked)
    found += hits(results.to_json(), "result JSON (normalized)")
    found += hits(results.to_json(raw=True), "result JSON (raw)")
    found += hits(repr(results) + repr(results.to_dict()), "result repr")
    found += hits(pickle.dumps(results), "pickled results")
    found += hits(repr(genja.inventory.connection_params("sim-ios1", "scrapli")), "connection params repr")

    # 2. the CLI in this process: --json, the summary table, the inventory views
    target = f"{TASKS}:Collect"
    assert cli_main(["run", target, "--settings", str(settings), "--json"]) == 1
    out, err = capsys.readouterr()
    check_tree(json.loads(out))
    found += hits(out + err, "CLI --json output")
    assert cli_main(["run", target, "--settings", str(settings)]) == 1
    out, err = capsys.readouterr()
    assert "sim-ios3" in out + err
    found += hits(out + err, "CLI table output")
    for host_id in ("sim-ios1", "sim-ios2", "sim-eos1", "netconf1", "api1"):
        assert cli_main(["inventory", "show", host_id, "--settings", str(settings)]) == 0
    assert cli_main(["inventory", "list", "--settings", str(settings)]) == 0
    out, err = capsys.readouterr()
    assert "***" in out
    found += hits(out + err, "CLI inventory output")

    # 3. the CLI in child processes, with every logger at DEBUG on stderr (INFO and up to the API)
    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()), PREFECT_LOGGING_LEVEL="DEBUG",
               PREFECT_LOGGING_ROOT_LEVEL="DEBUG", PREFECT_LOGGING_HANDLERS_API_LEVEL="INFO",
               PREFECT_LOGGING_EXTRA_LOGGERS="genja_prefect,genja_prefect_scrapli,genja_prefect_ncclient,"
                                             "genja_prefect_restconf,genja_rel,scrapli,ncclient,paramiko")
    for command in ([sys.executable, "-m", "genja_prefect.cli.main", "run", target, "--settings", str(settings), "--json"],
                    [console_script(), "run", target, "--settings", str(settings)]):
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr[-3000:]
        if "--json" in command:
            check_tree(json.loads(proc.stdout))
        assert "DEBUG" in proc.stderr  # the libraries' debug logs were on
        found += hits(proc.stdout, f"{Path(command[0]).name} stdout") + hits(proc.stderr, f"{Path(command[0]).name} stderr")

    # 4. Python logs of this process (1 and 2)
    assert any(" scrapli" in line and line.startswith("DEBUG") for line in debug_logs.lines)
    assert any(" ncclient.transport" in line for line in debug_logs.lines)  # paramiko logs there
    found += hits("\n".join(debug_logs.lines), "Python logs (DEBUG)")

    # 5. the Prefect API: five flow runs of this job (1 + 2 + 2 above), with everything recorded
    jobs = 5
    runs = api.wait_until(lambda: api.flow_runs(flow_name),
                          lambda items: len(items) == jobs and all(map(api.final, items)))
    assert len(runs) == jobs and all(map(api.final, runs)), runs
    subflows = [s for run in runs for s in api.flow_runs(parent=run["id"])]
    assert len(subflows) == jobs
    task_runs = api.wait_until(lambda: api.task_runs([s["id"] for s in subflows]),
                               lambda items: len([r for r in items if api.final(r)]) >= jobs * len(EXPECTED))
    assert len(task_runs) == jobs * len(EXPECTED)
    assert any("failed (authentication)" in (r["state"]["message"] or "") for r in task_runs)
    logs = _settled(api.all_logs)
    assert any(log["name"].startswith(("scrapli", "paramiko", "genja")) for log in logs)  # library logs went there
    found += hits(json.dumps(logs), "Prefect logs (API)")
    found += hits(json.dumps(api.all_flow_runs()), "Prefect flow runs (API: names, parameters, states)")
    found += hits(json.dumps(api.all_task_runs()), "Prefect task runs (API: names, tags, states)")
    artifacts = api.all_artifacts()
    assert len(api.artifacts_of([s["id"] for s in subflows])) >= jobs
    found += hits(json.dumps(artifacts), "Prefect artifacts (API)")

    # 6. the Prefect server's own database, byte for byte
    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    assert url.startswith("sqlite"), url
    database = Path(url.split("///", 1)[1])
    files = [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()]
    assert database in files and database.stat().st_size > 0
    # the job is in there (so the search below is not of a stale file)
    assert any(flow_name.encode() in p.read_bytes() for p in files)
    for path in files:
        found += hits(path.read_bytes(), f"Prefect database file {path.name}")

    assert found == [], found


def _collect() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("genja_rel_secret_tasks", TASKS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Collect


def _settled(read: Any, quiet: float = 1.5, timeout: float = 60) -> list[dict[str, Any]]:
    """Read until two reads ``quiet`` seconds apart agree (log batches arrive late)."""
    deadline = time.monotonic() + timeout
    previous = read()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        current = read()
        if len(current) == len(previous):
            return current
        previous = current
    return previous


DEVICE_SECRETS = {name: f"{name}{uuid.uuid4().hex}"
                  for name in ("gdsuser", "gdscomm", "gdstacacs", "gdsnetconf", "gdsradius")}


def device_hits(text: str | bytes, where: str) -> list[str]:
    """``where`` for each device-config secret (what a template puts on a device) in ``text``."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", errors="replace")
    return [f"{where}: {name}" for name, value in DEVICE_SECRETS.items() if value.encode() in data]


def test_no_device_config_secret_in_flow_results_artifacts_logs_or_events(
    secret_lab: Lab, tmp_path: Path, debug_logs: DebugLogs
) -> None:
    """deploy_config (dry run and apply), backup_configs (with a diff) and a NETCONF edit put
    secrets into device configs; their diffs, lines, results, artifacts, logs and events show
    them masked. The backup files themselves keep the device's text (they are the backup)."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, PREFECT_SERVER_DATABASE_CONNECTION_URL

    from genja_prefect_flows import NetconfEditConfig, backup_configs, deploy_config, netconf_edit_config, netconf_get_config

    suffix = uuid.uuid4().hex[:8]
    hosts = {
        name: {"hostname": "127.0.0.1", "port": secret_lab.host(name).port, "platform": secret_lab.host(name).platform,
               "data": {"plugin": "scrapli"}, "connection_options": {"scrapli": {"extras": {"auth_strict_key": False}}}}
        for name in ("sim-ios2", "sim-eos1")
    }
    hosts["netconf1"] = {"hostname": "127.0.0.1", "platform": "netconf", "data": {"plugin": "ncclient"},
                         "connection_options": {"ncclient": {"port": secret_lab.host("netconf1").port,
                                                             "platform": "default", "extras": {"hostkey_verify": False}}}}
    files = {
        "hosts.yaml": hosts,
        "defaults.yaml": {"username": "admin", "password": GOOD},
        "groups.yaml": {},
        "settings.yaml": {
            "inventory": {"plugin": "FileInventoryPlugin",
                          "options": {"hosts_file": "hosts.yaml", "groups_file": "groups.yaml",
                                      "defaults_file": "defaults.yaml"}},
            "runner": {"plugin": "threaded", "worker_count": 2},
            "prefect": {"flow_name": f"genja-rel-device-secrets-{suffix}"},
        },
    }
    for name, document in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(document, sort_keys=False))
    settings = str(tmp_path / "settings.yaml")
    # The secrets live in the template file (as a vault lookup would put them): flow parameters
    # are recorded by Prefect as given, so a template path, not its text, is the parameter.
    template = tmp_path / "aaa.j2"
    template.write_text(
        f"username ops privilege 15 secret 0 {DEVICE_SECRETS['gdsuser']}\n"
        f"snmp-server community {DEVICE_SECRETS['gdscomm']} RO\n"
        f"tacacs-server key 7 {DEVICE_SECRETS['gdstacacs']}\n"
    )
    ssh = {"data__plugin": "scrapli"}
    trees: list[Any] = []
    trees.append(backup_configs(settings=settings, filter=ssh, backup_dir=str(tmp_path / "backups")))
    dry = deploy_config(settings=settings, template=str(template), filter=ssh)
    assert all(e["status"] == "passed" and e["diff"] for e in dry["hosts"].values()), dry
    assert "secret 0 <removed>" in dry["hosts"]["sim-ios2"]["diff"]
    applied = deploy_config(settings=settings, template=str(template), filter=ssh, apply=True)
    assert all(e["changed"] for e in applied["hosts"].values()), applied
    assert {e["status"] for e in applied["sub_tasks"]["verify_config"]["hosts"].values()} == {"passed"}
    after = backup_configs(settings=settings, filter=ssh, backup_dir=str(tmp_path / "backups"))
    assert all(e["changed"] and e["diff"] for e in after["hosts"].values()), after
    # the backups are the device's text; only what is reported is masked
    assert device_hits((tmp_path / "backups" / "sim-ios2.cfg").read_text(), "backup file")
    trees += [dry, applied, after]

    # an approval: the review artifact and the pause's input form (its description is the
    # review) are stored by Prefect. (The decision's comment is stored as the person typed it.)
    approval_template = tmp_path / "radius.j2"
    approval_template.write_text(f"radius-server key 7 {DEVICE_SECRETS['gdsradius']}\n")
    approved = _approve_in_background(settings, str(approval_template), ssh, comment="CAB-7 approved")
    assert approved["approval"]["approved"] and all(e["changed"] for e in approved["hosts"].values()), approved
    trees.append(approved)

    genja = genja_prefect.Genja.from_settings_file(settings).filter(platform="netconf")
    edit = genja.run_task(NetconfEditConfig(
        '<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><authentication><user><name>ops</name>'
        f"<password>{DEVICE_SECRETS['gdsnetconf']}</password></user></authentication></system>"))
    assert edit["netconf1"].changed and "<password>***</password>" in edit["netconf1"].diff
    trees.append(edit.to_dict())
    # a confirmed commit whose check fails: the check's message quotes what it read (the
    # password included), the problems and the rollback note are reported masked
    changed_password = tmp_path / "password.xml"
    changed_password.write_text(
        '<system xmlns="urn:ietf:params:xml:ns:yang:ietf-system"><authentication><user><name>ops</name>'
        f"<password>{DEVICE_SECRETS['gdsnetconf']}-2</password></user></authentication></system>")
    rolled = genja.run_task(NetconfEditConfig(changed_password.read_text(), confirmed=True,
                                              check=lambda xml: f"not what I wanted: {xml}"))["netconf1"]
    assert rolled.details["rolled_back"] is True and "<password>***</password>" in rolled.message, rolled
    trees.append(rolled.to_dict())
    # and through the flow (the config as a file path: flow parameters are stored as given)
    confirmed = netconf_edit_config(settings=settings, config=str(changed_password), filter={"platform": "netconf"},
                                    confirmed=True, check_xpath="//*[local-name()='user']")
    assert confirmed["hosts"]["netconf1"]["changed"], confirmed
    trees.append(confirmed)
    trees.append(netconf_get_config(settings=settings, filter={"platform": "netconf"}))

    found = device_hits(json.dumps(trees), "flow results")
    if os.environ.get("GENJA_REL_DUMP"):  # where a hit is, when one is
        Path(os.environ["GENJA_REL_DUMP"]).write_text(json.dumps(trees, indent=1) + "\n".join(debug_logs.lines))
    found += device_hits("\n".join(debug_logs.lines), "Python logs (DEBUG)")
    found += device_hits(json.dumps(_settled(api.all_logs)), "Prefect logs (API)")
    found += device_hits(json.dumps(api.all_flow_runs()), "Prefect flow runs (API)")
    found += device_hits(json.dumps(api.all_task_runs()), "Prefect task runs (API)")
    artifacts = api.all_artifacts()
    assert any(a.get("key") == "genja-deploy" for a in artifacts) and any(a.get("key") == "genja-backups" for a in artifacts)
    found += device_hits(json.dumps(artifacts), "Prefect artifacts (API)")
    # events and everything else the server stored, byte for byte
    database = Path(str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split("///", 1)[1])
    for path in (database, Path(f"{database}-wal")):
        if path.exists():
            found += device_hits(path.read_bytes(), f"Prefect database file {path.name}")
    storage = Path(str(PREFECT_LOCAL_STORAGE_PATH.value()))
    for path in storage.rglob("*") if storage.exists() else ():
        if path.is_file():
            found += device_hits(path.read_bytes(), f"persisted result {path.name}")
    assert found == [], found


def _approve_in_background(settings: str, template: str, selection: dict[str, str], comment: str) -> Any:
    """Run deploy_config(approve=True) in a thread, approve it through Prefect's API, return its tree."""
    import threading

    from prefect.flow_runs import resume_flow_run

    from genja_prefect_flows import deploy_config

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["tree"] = deploy_config(settings=settings, template=template, filter=selection, approve=True,
                                        approval_poll_seconds=1)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    run_id = None
    while run_id is None and time.monotonic() < deadline and thread.is_alive():
        runs = api.post("/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}},
                                              "limit": 50, "offset": 0})
        run_id = next((r["id"] for r in runs if r["parameters"].get("template") == template), None)
        if run_id is None:
            time.sleep(0.5)
    assert run_id is not None, box.get("error") or "the approval run never paused"
    resume_flow_run(run_id, run_input={"approve": True, "comment": comment})
    thread.join(timeout=240)
    assert not thread.is_alive(), "the approved run did not finish"
    if "error" in box:
        raise box["error"]
    return box["tree"]
