"""The Python examples of docs/flows.md and docs/deployments.md run, in order, against the lab."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(name: str) -> list[str]:
    """The ```python blocks of a docs page, in order."""
    return _BLOCK.findall((DOCS / name).read_text(encoding="utf-8"))


def _run_blocks(blocks: list[str], namespace: dict[str, Any], source: str) -> None:
    for index, block in enumerate(blocks, 1):
        exec(compile(block, f"{source} (python block {index})", "exec"), namespace)  # noqa: S102


def test_flows_page_examples_run(prefect_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write .genja-lab/ in the working directory
    blocks = python_blocks("flows.md")
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {"__name__": "docs_flows"}
    try:
        _run_blocks(blocks, namespace, "docs/flows.md")
    finally:
        lab = namespace.get("lab")
        if lab is not None:
            lab.stop()
    out = capsys.readouterr().out
    for expected in ("SN-sim-eos1", "17.03.01a", "sim-ios1.cfg True", "unchanged since the last backup",
                     "+ntp server 192.0.2.99", "True passed", "['ntp server 192.0.2.100']", "candidate True",
                     "['-   description uplink', '+   description core-uplink']", "rolled back True"):
        assert expected in out, expected


def test_deployments_page_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks("deployments.md")
    assert blocks
    _run_blocks(blocks, {"__name__": "docs_deployments"}, "docs/deployments.md")  # not __main__: no serve()
    assert "collect-facts-hourly 0 * * * *" in capsys.readouterr().out


def test_deployments_page_names_what_prefect_yaml_declares() -> None:
    import yaml

    text = (DOCS / "deployments.md").read_text(encoding="utf-8")
    config = yaml.safe_load((DOCS.parent / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in config["deployments"]:
        assert f"`{deployment['name']}`" in text, deployment["name"]
    assert "prefect worker start --pool genja-pool" in text and "prefect deploy --prefect-file deployments/prefect.yaml --all" in text
