"""Installs that explain themselves.

- Every third-party module a package imports is declared by the extra that package belongs to
  (or the base dependencies): a library that only arrives with another one (lxml through
  ncclient) breaks the day that one drops it.
- A real ``pip install`` of the base package in a fresh venv: the Python API and a custom task
  work; a ready-made job says which extra to install, in one line.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

#: source path (file or folder) -> the extra its imports are covered by ("" = base install).
#: The most specific path wins.
OWNERS: dict[str, str] = {
    "genja_prefect": "",
    "genja_prefect/lab": "lab",
    "genja_prefect/prefect/dask.py": "dask",  # the dask runner: its entry point loads only with [dask]
    "genja_prefect/lab/pytest_plugin.py": "test",  # a pytest plugin: loaded only by pytest
    "plugins/genja_prefect_scrapli": "devices",
    "plugins/genja_prefect_ncclient": "devices",
    "plugins/genja_prefect_restconf": "",
    "plugins/genja_prefect_netbox": "netbox",
    "flows/genja_prefect_flows": "devices",
}
FIRST_PARTY = re.compile(r"^genja_prefect(_\w+)?$")
#: Modules imported inside a function that runs only when an extra's feature is configured
#: (settings.prefect.task_runner: dask): declared by that extra instead.
LAZY_EXTRA = {"prefect_dask": "dask"}
#: Modules a declared distribution pins exactly and exposes as its own API: declaring them again
#: could only conflict with that pin.
PROVIDED_BY = {"pydantic_core": "pydantic"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalize(re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0])


def declared(extra: str) -> set[str]:
    """Distributions declared by the base dependencies plus ``extra`` (and extras it includes)."""
    names = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    pending, seen = [extra] if extra else [], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for requirement in PYPROJECT["project"]["optional-dependencies"][current]:
            included = re.fullmatch(r"genja-prefect\[([\w,-]+)\]", requirement.strip())
            if included:
                pending += included.group(1).split(",")
            else:
                names.add(_requirement_name(requirement))
    return names


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True for an import inside ``try: ... except ImportError`` (an optional import)."""
    current = parents.get(node)
    while current is not None:
        if isinstance(current, ast.Try):
            for handler in current.handlers:
                names = ast.unparse(handler.type) if handler.type is not None else ""
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        current = parents.get(current)
    return False


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports, optional imports excluded."""
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if not _guarded(node, parents):
            found.update(name.split(".")[0] for name in names)
    return found


def owner(path: Path) -> str | None:
    relative = path.relative_to(ROOT).as_posix()
    matches = [key for key in OWNERS if relative == key or relative.startswith(key + "/")]
    return OWNERS[max(matches, key=len)] if matches else None


def test_every_import_is_declared_by_its_extra() -> None:
    distributions = packages_distributions()
    problems = []
    for top in ("genja_prefect", "plugins", "flows"):
        for path in sorted((ROOT / top).rglob("*.py")):
            extra = owner(path)
            if extra is None or "tests" in path.parts:
                continue
            allowed = declared(extra)
            for module in sorted(imported_modules(path)):
                if module in sys.stdlib_module_names or FIRST_PARTY.match(module) or module == "__future__":
                    continue
                if module in LAZY_EXTRA:
                    allowed_here = declared(LAZY_EXTRA[module])
                elif module in PROVIDED_BY:
                    module = PROVIDED_BY[module]
                    allowed_here = allowed
                else:
                    allowed_here = allowed
                dists = {_normalize(d) for d in distributions.get(module, [])}
                if not dists:
                    problems.append(f"{path.relative_to(ROOT)}: imports {module!r}, which no installed distribution provides")
                elif not dists & allowed_here:
                    where = f"[{extra}]" if extra else "the base dependencies"
                    problems.append(
                        f"{path.relative_to(ROOT)}: imports {module!r} ({', '.join(sorted(dists))}), not declared in {where}"
                    )
    assert problems == [], "\n".join(problems)


# -- a real install of the base package ---------------------------------------------------------
CUSTOM_TASK = textwrap.dedent(
    """
    import genja_prefect as genja_lib
    from genja_prefect.task import TaskSuccessResult, task

    @task(name="greet")
    class Greet:
        def start(self, task, host, context):
            return TaskSuccessResult(result=f"hello {host.id} ({host.platform})")

    genja = genja_lib.Genja.from_hosts(
        {"r1": {"hostname": "192.0.2.1", "platform": "ios"}, "r2": {"hostname": "192.0.2.2", "platform": "eos"}},
        settings={"prefect": {"enabled": False}},
    )
    results = genja.run_task(Greet)
    assert results.failed_hosts == [], results.to_json()
    print(results["r1"].result, "|", results["r2"].result)
    try:
        import scrapli
    except ImportError:
        print("no scrapli")
    """
)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with ``pip install <this project>`` (no extras), from pip's cache and the
    local wheel folders where possible: a real resolver run, not ``--no-deps``."""
    where = tmp_path_factory.mktemp("base-install")
    # No pip inside: this process's pip installs into it (`pip --python`, pip >= 22.3). The
    # venv's own pip would be the one Python bundles (23.2 for 3.11): ensurepip and its slower
    # install took twice the CPU of the whole install with a current pip.
    venv.EnvBuilder(with_pip=False, clear=True).create(where / "venv")
    python = where / "venv" / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}
    env.pop("PYTHONPATH", None)
    # A copy of the sources (the build leaves build/ and egg-info behind), installed
    # non-editable, as `pip install genja-prefect` gives it to a user, in at most 10 minutes
    # (--no-compile: byte-compiling ~100 packages is most of the CPU and proves nothing here).
    source = where / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", ".genja-lab", ".*_cache", "bench", "tests"
    ))
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile", str(source)],
        check=True, env=env, timeout=600, cwd=where, capture_output=True, text=True,
    )
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PYTHONPATH"))}
    env["PREFECT_HOME"] = str(cwd / ".prefect")
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


# The install alone takes 1-6 minutes (about 100 packages from pip's cache; longer under load).
@pytest.mark.install
@pytest.mark.timeout(1200)
def test_base_install_runs_a_custom_task(base_venv: Path, tmp_path: Path) -> None:
    script = tmp_path / "custom.py"
    script.write_text(CUSTOM_TASK)
    out = _run(base_venv, str(script), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "hello r1 (ios) | hello r2 (eos)" in out.stdout
    assert "no scrapli" in out.stdout  # the device libraries really are absent
    assert "WARNING" not in out.stderr, out.stderr  # a missing extra is no warning on every run


@pytest.mark.install
@pytest.mark.timeout(1200)
def test_base_install_names_the_extra_a_job_needs(base_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("r1:\n  hostname: 192.0.2.1\n  platform: ios\n")
    (tmp_path / "settings.yaml").write_text("inventory:\n  options: {hosts_file: hosts.yaml}\n")
    cli = base_venv.parent / "genja-prefect"
    out = _run(base_venv, str(cli), "run", "collect_facts", "--settings", "settings.yaml", cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("error: install genja-prefect[devices] to run collect_facts"), out.stderr
    assert "Traceback" not in out.stderr and len(lines) == 2
    assert lines[1] == "hint: pip install 'genja-prefect[devices]'"
    unknown = _run(base_venv, str(cli), "run", "collect_fact", "--settings", "settings.yaml", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown job 'collect_fact' (ready-made jobs: backup_configs" in unknown.stderr
    # the NetBox inventory plugin without the netbox extra
    (tmp_path / "netbox.yaml").write_text(
        "inventory:\n  plugin: NetBoxInventoryPlugin\n  options: {url: 'http://127.0.0.1:9'}\n"
    )
    netbox = _run(base_venv, str(cli), "inventory", "list", "--settings", "netbox.yaml", cwd=tmp_path)
    assert netbox.returncode == 2, netbox.stdout + netbox.stderr
    assert "the NetBox inventory plugin needs the Python package 'pynetbox': install genja-prefect[netbox]" in (
        netbox.stderr.splitlines()[0]
    ), netbox.stderr
