"""The package is fully typed: ``mypy --strict`` passes on genja_prefect (py.typed is shipped).

Settings (third-party libraries without type information, temporary exclusions) live in
``[tool.mypy]`` of pyproject.toml, so this runs the same command a developer types.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_the_package() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]' installs it)")
    # mypy keeps its cache in REPO_ROOT/.mypy_cache (git-ignored): a cold run takes ~10 s,
    # a warm one ~1 s.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "genja_prefect"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mypy --strict genja_prefect failed:\n{proc.stdout}{proc.stderr}"
