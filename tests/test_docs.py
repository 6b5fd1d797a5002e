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
    starts_own_lab = "Lab(" in "".join(code)  # docs/flows.md writes its own .genja-lab/
    if not starts_own_lab and (any(b.lstrip().startswith("# needs: lab") for b in code) or ".genja-lab/" in "".join(code)):
        lab = request.getfixturevalue("lab")
        (tmp_path / ".genja-lab").symlink_to(lab.directory)
    if any("run_task" in b or "@flow" in b or "flows import" in b for b in code):
        request.getfixturevalue("prefect_api")
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(page).stem}"}
    try:
        for index, source in enumerate(code):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(source, f"{page}[block {index + 1}]", "exec"), namespace)  # noqa: S102
    finally:
        started = namespace.get("lab")
        if starts_own_lab and hasattr(started, "stop"):
            started.stop()


# -- command lines ---------------------------------------------------------------------------
#
# Every line of a ```bash/```console/```sh block in README.md and docs/*.md is a command a
# reader may type. Lines starting with `genja-prefect` (or `$ genja-prefect`) run against the
# test lab (`.genja-lab/` in the working directory) and the test Prefect API and must exit 0,
# or with the code a `# doc-test: exit N` comment states. Any other line must carry
# `# doc-test: skip (reason)`: installs, servers, commands that change the user's Prefect
# profile. A console block's lines without `$ ` are the output shown, not commands.

SHELL_BLOCK = re.compile(r"```(bash|console|sh)\n(.*?)```", re.S)
MARKER = re.compile(r"#\s*doc-test:\s*(skip|exit\s+(\d+))\s*(.*)$")


def command_lines(page: str) -> list[str]:
    """Every command line of the page's shell blocks (continuations joined, markers kept)."""
    found = []
    for kind, body in SHELL_BLOCK.findall((ROOT / page).read_text()):
        lines = body.splitlines()
        joined: list[str] = []
        for line in lines:  # join backslash continuations
            if joined and joined[-1].endswith("\\"):
                joined[-1] = joined[-1][:-1] + " " + line.strip()
            else:
                joined.append(line)
        for line in joined:
            text = line.strip()
            if kind == "console":
                if not text.startswith("$ "):
                    continue
                text = text[2:]
            if not text or text.startswith("#"):
                continue
            found.append(text)
    return found


CLI_CASES = [(page, line) for page in PAGES for line in command_lines(page)]


def test_every_non_genja_command_is_marked() -> None:
    unmarked = [f"{page}: {line}" for page, line in CLI_CASES
                if not line.startswith("genja-prefect ") and not MARKER.search(line)]
    assert unmarked == [], "add '# doc-test: skip (reason)' to: " + "; ".join(unmarked)
    for page, line in CLI_CASES:
        match = MARKER.search(line)
        if match and match.group(1) == "skip":
            assert match.group(3).strip(" ()-—"), f"{page}: a skip marker needs a reason: {line}"


@pytest.mark.parametrize(("page", "line"), [c for c in CLI_CASES if c[1].startswith("genja-prefect ")],
                         ids=lambda value: value if len(value) < 60 else value[:57] + "...")
def test_cli_line_runs(page: str, line: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    import os
    import shlex
    import shutil
    import subprocess
    import sys

    match = MARKER.search(line)
    if match and match.group(1) == "skip":
        pytest.skip(f"{page}: {match.group(3).strip(' ()')}")
    expected = int(match.group(2)) if match and match.group(2) else 0
    command = shlex.split(line[: match.start()] if match else line)
    lab = request.getfixturevalue("lab")
    (tmp_path / ".genja-lab").symlink_to(lab.directory)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if "--no-prefect" not in command and command[1] in ("run", "rerun", "demo"):
        env["PREFECT_API_URL"] = request.getfixturevalue("prefect_api")
    exe = shutil.which("genja-prefect", path=str(Path(sys.executable).parent)) or "genja-prefect"
    out = subprocess.run([exe, *command[1:]], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == expected, f"{page}: `{line}` exited {out.returncode}\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
