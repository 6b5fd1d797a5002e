"""Fixtures of the flow tests: the lab's inventory as a settings path, and runtimes without Prefect.

The lab fixtures (``lab``, ``sim_lab``) and ``prefect_api`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect.errors import PluginError
from genja_prefect.plugins import default_plugin_manager

@pytest.fixture(scope="session", autouse=True)
def _connection_plugins() -> None:
    """Use the real scrapli/ncclient plugins; stand-ins only where one is not installed."""
    from tests.flows.fallback_plugins import FallbackNcclientPlugin, FallbackScrapliPlugin

    manager = default_plugin_manager()
    for plugin in (FallbackScrapliPlugin(), FallbackNcclientPlugin()):
        try:
            manager.get("connection", plugin.name)
        except PluginError:
            manager.register_plugin(plugin)


@pytest.fixture
def lab_settings(lab: Any) -> str:
    """The session lab's settings.yaml path."""
    return str(Path(lab.directory) / "settings.yaml")


@pytest.fixture
def plain_runtime() -> Callable[..., genja_lib.Genja]:
    """``plain_runtime(settings_path, **filter)``: a runtime that runs without Prefect."""

    def make(settings: str, **criteria: Any) -> genja_lib.Genja:
        genja = genja_lib.Genja.from_settings_file(settings).with_settings(prefect={"enabled": False})
        return genja.filter(**criteria) if criteria else genja

    return make


@pytest.fixture
def cleanups() -> Iterator[ExitStack]:
    """An ExitStack closed after the test, passed or failed (last registered, first run)."""
    with ExitStack() as stack:
        yield stack
