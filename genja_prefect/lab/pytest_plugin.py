"""pytest fixtures for the loopback lab. Enable with
``pytest_plugins = ["genja_prefect.lab.pytest_plugin"]`` in a ``conftest.py``.

- ``lab`` (session scope): 1 ios, 1 eos, 1 junos fakenos device; simulated ``sim-ios1``,
  ``sim-ios2``, ``sim-eos1``; ``netconf1``; ``api1``. Its inventory is in ``lab.directory``.
- ``sim_lab`` (function scope): a factory for labs of simulated devices,
  ``sim_lab(ios=200, eos=0, **lab_kwargs) -> Lab`` (``sim_nxos=1`` adds ``sim-nxos1``), each
  with its own inventory directory.
- ``lab_password``: the password both fixtures use.

Tests using either fixture get the ``lab`` marker. Everything a fixture started is stopped at
teardown, whether the tests passed or not. Example::

    def test_show_version(lab):
        host = lab.host("sim-ios1")
        ...  # connect to 127.0.0.1:host.port as lab.username / lab.password
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from genja_prefect.lab.lab import Lab

LAB_PASSWORD = "genja-lab-pw"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use the lab fixtures with ``lab`` (``-m "not lab"`` skips them)."""
    for item in items:
        if {"lab", "sim_lab"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_password() -> str:
    """The password of the lab fixtures' devices (user ``admin``)."""
    return LAB_PASSWORD


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_password: str) -> Iterator[Lab]:
    """A small lab for the whole test session (see the module docstring)."""
    directory = tmp_path_factory.mktemp("genja-lab")
    with Lab(
        ios=1,
        eos=1,
        junos=1,
        sim=2,
        sim_eos=1,
        netconf=1,
        http=1,
        username="admin",
        password=lab_password,
        directory=directory,
    ) as running:
        yield running


@pytest.fixture
def sim_lab(tmp_path_factory: pytest.TempPathFactory, lab_password: str) -> Iterator[Callable[..., Lab]]:
    """Factory: ``sim_lab(ios=N, eos=M, **Lab kwargs)`` starts a lab of simulated devices."""
    started: list[Lab] = []

    def _make(ios: int = 10, eos: int = 0, **kwargs: Any) -> Lab:
        kwargs.setdefault("password", lab_password)
        kwargs.setdefault("directory", tmp_path_factory.mktemp("genja-sim-lab"))
        new = Lab(sim=ios, sim_eos=eos, **kwargs)
        started.append(new)  # before start(): a half-started lab is stopped too
        new.start()
        return new

    try:
        yield _make
    finally:
        errors = []
        for running in reversed(started):
            try:
                running.stop()
            except Exception as exc:  # stop the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]
