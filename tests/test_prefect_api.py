"""genja_prefect.prefect.api: the Prefect API settings without importing Prefect (issue 15).

Each case runs in a fresh interpreter (the test process has Prefect imported, where the
module asks Prefect itself) and compares with what Prefect's own settings say.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RESOLVE = """
import json, sys
from genja_prefect.prefect import api
found = api.settings()
lazy = "prefect" not in sys.modules
with api.client(timeout=1.0) if found.url else open("/dev/null") as http:
    auth = http.headers.get("authorization") if found.url else None
from prefect.settings import get_current_settings
prefect = get_current_settings()
print(json.dumps({
    "lazy": lazy, "url": found.url, "home": str(found.home), "auth": auth, "repr": repr(found),
    "prefect_url": str(prefect.api.url or "").rstrip("/"), "prefect_home": str(prefect.home),
}))
"""


def resolve(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    out = subprocess.run(
        [sys.executable, "-c", RESOLVE], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**base, "PREFECT_HOME": str(tmp_path / "home"), **env},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_environment_is_read_without_importing_prefect(tmp_path: Path) -> None:
    found = resolve(tmp_path, {"PREFECT_API_URL": "http://127.0.0.1:4999/api/", "PREFECT_API_KEY": "pnu_secret-key"})
    assert found["lazy"] is True
    assert found["url"] == found["prefect_url"] == "http://127.0.0.1:4999/api"
    assert found["home"] == found["prefect_home"] == str(tmp_path / "home")
    assert found["auth"] == "Bearer pnu_secret-key"
    assert "pnu_secret-key" not in str(found["repr"])


def test_the_active_profile_is_read_as_prefect_reads_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "lab"\n'
        '[profiles.lab]\nPREFECT_API_URL = "http://127.0.0.1:4998/api"\nPREFECT_API_AUTH_STRING = "admin:pass"\n'
        '[profiles.other]\nPREFECT_API_URL = "http://127.0.0.1:4997/api"\n'
    )
    found = resolve(tmp_path, {})
    assert found["lazy"] is True
    assert found["url"] == found["prefect_url"] == "http://127.0.0.1:4998/api"
    assert found["auth"] == "Basic YWRtaW46cGFzcw=="  # base64 of admin:pass, as Prefect's client sends it
    # PREFECT_PROFILE picks another profile; the environment wins over the profile
    assert resolve(tmp_path, {"PREFECT_PROFILE": "other"})["url"] == "http://127.0.0.1:4997/api"
    assert resolve(tmp_path, {"PREFECT_API_URL": "http://127.0.0.1:4996/api"})["url"] == "http://127.0.0.1:4996/api"


def test_no_url_configured_is_ephemeral_mode(tmp_path: Path) -> None:
    found = resolve(tmp_path, {})
    assert found["lazy"] is True and found["url"] == found["prefect_url"] == ""


@pytest.mark.parametrize(
    "setup",
    [
        lambda p: (p / ".env").write_text("PREFECT_API_URL=http://127.0.0.1:4995/api\n"),
        lambda p: (p / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:4995/api"\n'),
        lambda p: (p / "pyproject.toml").write_text('[tool.prefect.api]\nurl = "http://127.0.0.1:4995/api"\n'),
    ],
    ids=[".env", "prefect.toml", "pyproject.toml"],
)
def test_other_prefect_setting_sources_are_left_to_prefect(tmp_path: Path, setup: object) -> None:
    setup(tmp_path)  # type: ignore[operator]
    found = resolve(tmp_path, {})
    assert found["lazy"] is False  # asked Prefect, which reads those files
    assert found["url"] == found["prefect_url"] == "http://127.0.0.1:4995/api"


def test_custom_headers_are_left_to_prefect(tmp_path: Path) -> None:
    found = resolve(
        tmp_path,
        {"PREFECT_API_URL": "http://127.0.0.1:4994/api", "PREFECT_CLIENT_CUSTOM_HEADERS": '{"X-Team": "net"}'},
    )
    assert found["lazy"] is False and found["url"] == "http://127.0.0.1:4994/api"
