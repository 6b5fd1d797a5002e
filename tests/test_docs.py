"""The Python examples in README.md and docs/*.md run (in order, one namespace per page).

A block whose first line is `# needs: lab` runs in a folder where `.genja-lab/` holds the
test lab's inventory; other blocks run in an empty folder. Docs pages written by other
issues (flows, deployments, reliability) are included once they exist.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks(page: str) -> list[str]:
    return BLOCK.findall((ROOT / page).read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)])
def test_page_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    code = blocks(page)
    monkeypatch.chdir(tmp_path)
    if any(b.lstrip().startswith("# needs: lab") for b in code) or ".genja-lab/" in "".join(code):
        lab = request.getfixturevalue("lab")
        (tmp_path / ".genja-lab").symlink_to(lab.directory)
    if any("run_task" in b or "@flow" in b or "flows import" in b for b in code):
        request.getfixturevalue("prefect_api")
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(page).stem}"}
    for index, source in enumerate(code):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(source, f"{page}[block {index + 1}]", "exec"), namespace)  # noqa: S102
