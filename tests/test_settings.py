"""settings.yaml: sections, defaults, environment overrides and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from genja_prefect.errors import SettingsError
from genja_prefect.settings import RunnerConfig, Settings


def test_defaults_match_the_runners_page() -> None:
    s = Settings.from_dict({}, env={})
    assert s.runner.plugin == "threaded"
    assert s.runner.options == {}
    assert s.runner.worker_count is None
    assert s.runner.max_task_depth == 10
    assert s.runner.max_connection_attempts == 3
    assert s.inventory.plugin == "FileInventoryPlugin"
    assert s.core.raise_on_error is False


def test_yaml_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text(
        "runner:\n  plugin: threaded\n  worker_count: 10\n  max_task_depth: 10\n  max_connection_attempts: 3\n"
    )
    (tmp_path / "settings.json").write_text('{"runner": {"plugin": "serial"}, "logging": {"level": "DEBUG"}}')
    assert Settings.from_file(tmp_path / "settings.yaml", env={}).runner.worker_count == 10
    j = Settings.from_file(tmp_path / "settings.json", env={})
    assert (j.runner.plugin, j.logging.level) == ("serial", "DEBUG")
    assert j.base_dir == tmp_path.resolve()


def test_env_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("runner:\n  worker_count: 10\n")
    env = {
        "GENJA_PREFECT_RUNNER__WORKER_COUNT": "50",
        "GENJA_PREFECT_RUNNER__RETRY__ALLOW": "true",
        "GENJA_PREFECT_PREFECT__ENABLED": "false",
        "UNRELATED": "x",
    }
    s = Settings.from_file(tmp_path / "settings.yaml", env=env)
    assert s.runner.worker_count == 50
    assert s.runner.retry.allow is True
    assert s.prefect.enabled is False


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("runner:\n  workers: 3\n", r"settings.yaml \(line 2\): key 'runner.workers': unknown key"),
        ("runner:\n  worker_count: many\n", r"line 2.*runner.worker_count.*integer"),
        ("runnr:\n  plugin: serial\n", r"line 1.*key 'runnr': unknown key"),
        ("runner: [\n", r"settings.yaml.*invalid YAML"),
        ("runner:\n  max_task_depth: -1\n", r"runner.max_task_depth"),
    ],
)
def test_bad_settings_name_file_key_line(tmp_path: Path, text: str, pattern: str) -> None:
    (tmp_path / "settings.yaml").write_text(text)
    with pytest.raises(SettingsError, match=pattern):
        Settings.from_file(tmp_path / "settings.yaml", env={})


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="GENJA_PREFECT_RUNNER__WORKER_COUNT"):
        Settings.from_dict({}, env={"GENJA_PREFECT_RUNNER__WORKER_COUNT": "lots"})
    with pytest.raises(SettingsError, match="must look like"):
        Settings.from_dict({}, env={"GENJA_PREFECT_RUNNER": "x"})


@pytest.mark.parametrize(
    ("configured", "hosts", "expected"),
    [(None, 1000, None), (20, 1000, 20), (20, 5, 5), (0, 5, 1), (-3, 5, 1), (20, 0, 1)],
)
def test_effective_worker_count(configured: int | None, hosts: int, expected: int | None) -> None:
    import os

    cfg = RunnerConfig(worker_count=configured)
    want = expected if expected is not None else max(1, min(os.cpu_count() or 1, hosts))
    assert cfg.effective_worker_count(hosts) == want
