"""Every Python example of the reference pages runs with `genja` replaced by `genja_prefect`
(and nothing else changed), and does what its page says.

The examples live verbatim in tests/reference_examples/; each page's examples run in order in
one namespace, in a folder holding the settings.yaml the pages assume.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).parent / "reference_examples"
_MODULE = re.compile(r"(?<=\bimport )genja\b|(?<=\bfrom )genja\b")


def as_genja_prefect(source: str) -> str:
    """Replace the module name `genja` by `genja_prefect` in imports; nothing else."""
    return _MODULE.sub("genja_prefect", source)


def run_page(page: str, namespace: dict[str, Any]) -> dict[str, str]:
    """Exec a page's examples in order; returns what each printed."""
    printed: dict[str, str] = {}
    files = sorted(EXAMPLES.glob(f"{page}_*.py"))
    assert files, page
    for file in files:
        source = file.read_text()
        assert "genja_prefect" not in source  # stored exactly as the page has it
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(as_genja_prefect(source), str(file), "exec"), namespace)  # noqa: S102
        printed[file.stem] = out.getvalue()
    return printed


@pytest.fixture
def lab_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> Path:
    (tmp_path / "hosts.yaml").write_text(
        "router1:\n  hostname: 10.0.0.1\n  platform: ios\n  groups: [core]\n"
        "router2:\n  hostname: 10.0.0.2\n  platform: eos\n"
    )
    (tmp_path / "groups.yaml").write_text("core:\n  data: {site: lab}\n")
    (tmp_path / "defaults.yaml").write_text("username: admin\npassword: {env: REFERENCE_PW}\n")
    (tmp_path / "settings.yaml").write_text(
        "inventory:\n  plugin: FileInventoryPlugin\n"
        "  options: {hosts_file: hosts.yaml, groups_file: groups.yaml, defaults_file: defaults.yaml}\n"
        "runner:\n  plugin: threaded\n  worker_count: 10\n  max_task_depth: 10\n  max_connection_attempts: 3\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REFERENCE_PW", "ref-secret-pw")
    return tmp_path


def test_tasks_page(lab_folder: Path) -> None:
    import genja_prefect as genja_lib
    from genja_prefect.task import task

    ns: dict[str, Any] = {}
    printed = run_page("tasks", ns)
    shown = json.loads(printed["tasks_05_run"])
    assert shown["task_name"] == "collect_facts"
    # the page's fields, plus the host's timing (genja-prefect, issue 16: "fields such as")
    timing = {k: shown["hosts"]["router1"].pop(k) for k in ("started_at", "finished_at", "duration_ms")}
    assert timing["duration_ms"] >= 0 and timing["started_at"] <= timing["finished_at"]
    assert shown["hosts"]["router1"] == {
        "status": "passed",
        "summary": "collected facts from 10.0.0.1",
        "metadata": {"hostname": "10.0.0.1", "platform": "ios", "facts_collected": True},
    }
    assert printed["tasks_06_inspect"].strip() == "passed=2 failed=0 skipped=0"
    assert ns["raw"]["hosts"]["router2"]["Passed"]["summary"] == "collected facts from 10.0.0.2"
    assert ns["data"]["hosts"]["router2"]["status"] == "passed"
    assert (ns["failed"].kind.value, ns["skipped"].reason) == ("connection", "unsupported_platform")
    assert "ref-secret-pw" not in "".join(printed.values())

    genja = ns["genja"]
    # sub-tasks run after their parent on the same host
    deploy = genja.run_task(ns["DeployConfig"], max_depth=1)
    assert deploy.sub_tasks["validate_config"]["router1"].summary == "validated 10.0.0.1"
    # options are task metadata
    backup = genja.run_task(ns["BackupConfig"])
    assert backup["router2"].summary == "backup path is /tmp/configs"
    # the runtime-context fragment is a usable task body
    probe = task(name="probe")(type("Probe", (), {"start": ns["start"]}))
    assert genja.run_task(probe).host_summary().passed == 2

    # the async variant gets its connection from the context (async plugin of the connections page)
    conn_ns: dict[str, Any] = {}
    run_page("connections", conn_ns)
    plugins = genja_lib.PluginManager()
    plugins.register_plugin(conn_ns["AsyncSshPlugin"]())
    with_ssh = genja_lib.Genja.from_settings_file("settings.yaml", plugin_manager=plugins)
    facts_async = task(name="collect_facts_async", connection_plugin_name="ssh")(ns["CollectFactsAsync"])
    res = with_ssh.run_task(facts_async)
    assert res["router1"].metadata["show_version"] == "ran show version"


def test_runners_page(lab_folder: Path) -> None:
    import genja_prefect as genja_lib

    ns: dict[str, Any] = {}
    ns.update({"CollectFacts": _collect_facts()})
    printed = run_page("runners", ns)
    assert ns["genja"].settings.runner.plugin == "serial"
    assert ns["genja"].settings.runner.worker_count == 10  # with_runner keeps the other settings
    assert ns["results"].host_summary().passed == 2
    assert printed["runners_03_empty"] == ""
    # the registered custom runners run the first host only
    plugins = ns["plugins"]
    plugins.register_plugin(ns["AsyncFirstHostOnlyRunner"]())
    genja = genja_lib.Genja.from_settings_file("settings.yaml", plugin_manager=plugins)
    for name in ("first_host_only", "async_first_host_only"):
        res = genja.with_runner(name).run_task(ns["CollectFacts"])
        assert list(res.hosts) == ["router1"], name
    # nothing selected: still a result object, and the page's check prints
    none = genja.filter(platform="junos")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(as_genja_prefect((EXAMPLES / "runners_03_empty.py").read_text()), {"genja": none})  # noqa: S102
    assert out.getvalue().strip() == "no hosts selected"
    empty = none.run_task(ns["CollectFacts"])
    assert empty.task_name == "collect_facts" and empty.hosts == {}


def test_connections_page(lab_folder: Path) -> None:
    import genja_prefect as genja_lib
    from genja_prefect.task import task

    ns: dict[str, Any] = {}
    run_page("connections", ns)
    plugins = ns["plugins"]
    assert ("ssh", "connection") in plugins.plugin_names_and_groups()
    show = task(name="show_version", connection_plugin_name="ssh")(type("ShowVersion", (), {"start": ns["start"]}))
    genja = genja_lib.Genja.from_settings_file("settings.yaml", plugin_manager=plugins)
    res = genja.run_task(show)
    assert res["router1"].summary == "connected to 10.0.0.1"
    assert res["router2"].metadata == {"show_version": "ran show version"}
    # the elided BackupConfig example names the plugin
    from genja_prefect.definition import TaskDefinition

    assert ns["BackupConfig"].__genja_task__.connection_plugin_name == "ssh"
    with pytest.raises(genja_lib.TaskDefinitionError):
        TaskDefinition(ns["BackupConfig"])


def _collect_facts() -> Any:
    ns: dict[str, Any] = {}
    exec(as_genja_prefect((EXAMPLES / "tasks_01_define.py").read_text()), ns)  # noqa: S102
    return ns["CollectFacts"]
