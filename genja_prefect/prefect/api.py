"""How this process reaches Prefect's API: URL, credentials, home -- without importing Prefect
when nothing needs it.

``import prefect.settings`` costs about a second on a 2-core machine (2 s under load), and a
CLI run recording into a server named by ``PREFECT_API_URL`` needs nothing of Prefect but that
URL, its credentials and plain JSON over HTTP: the run's record, host task-run events, the
spool and the limit lookup all post JSON (:mod:`genja_prefect.prefect.record`). So:

- Prefect already imported (a Prefect flow run, a worker, the user's script, a test harness):
  Prefect's current settings, ``temporary_settings`` contexts included -- as before.
- Otherwise the environment and the active Prefect profile (``profiles.toml``), read the way
  Prefect reads them, as long as nothing else could configure Prefect: no ``.env``,
  ``prefect.toml`` or ``[tool.prefect]`` in ``pyproject.toml`` in the working directory, and
  no client setting this module does not apply itself (custom headers). When one is there, Prefect's own
  settings are read (and Prefect imported), so the answer is always Prefect's.

Example::

    from genja_prefect.prefect import api

    if api.api_url():
        with api.client(timeout=10.0) as http:
            http.get("/health").raise_for_status()
"""

from __future__ import annotations

import base64
import os
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ApiSettings",
    "api_url",
    "client",
    "import_prefect",
    "prefect_imported",
    "prefect_home",
    "profile_values",
    "settings",
]

#: Client settings of Prefect's that this module does not apply: when one is set, :func:`settings`
#: asks Prefect. (The others -- request timeout, HTTP/2, retries -- do not matter here: these
#: calls bypass Prefect's retries, see ``spool.post``.)
_NOT_APPLIED = ("PREFECT_CLIENT_CUSTOM_HEADERS",)


@dataclass(frozen=True)
class ApiSettings:
    """What a client of this process's Prefect API needs (``url`` empty: none configured)."""

    url: str
    home: Path
    key: str | None = None
    auth_string: str | None = None
    verify: bool | str = True

    def __repr__(self) -> str:  # never the key or the auth string
        return f"ApiSettings(url={self.url!r}, home={str(self.home)!r})"


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def profile_values() -> dict[str, str]:
    """The active Prefect profile's settings (``prefect config set ...``), read without Prefect."""
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    values = profiles.get("profiles", {}).get(active, {})
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def _other_sources() -> bool:
    """Whether a file in the working directory may configure Prefect (Prefect reads them)."""
    if Path(".env").is_file() or Path("prefect.toml").is_file():
        return True
    pyproject = Path("pyproject.toml")
    if not pyproject.is_file():
        return False
    import tomllib

    try:
        return "prefect" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, ValueError):
        return True  # unreadable here: let Prefect decide


def _without_prefect() -> ApiSettings | None:
    """The settings from the environment and profile, or ``None`` when only Prefect can tell."""
    if _other_sources():
        return None
    values = {**profile_values(), **{k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}}
    if any(values.get(name) for name in _NOT_APPLIED):
        return None
    verify: bool | str = True
    if _truthy(values.get("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "")):
        verify = False
    elif values.get("PREFECT_API_SSL_CERT_FILE"):
        verify = values["PREFECT_API_SSL_CERT_FILE"]
    home = os.environ.get("PREFECT_HOME") or values.get("PREFECT_HOME") or "~/.prefect"
    return ApiSettings(
        url=values.get("PREFECT_API_URL", "").rstrip("/"),
        home=Path(home).expanduser(),
        key=values.get("PREFECT_API_KEY") or None,
        auth_string=values.get("PREFECT_API_AUTH_STRING") or None,
        verify=verify,
    )


def _from_prefect() -> ApiSettings:
    from prefect.settings import get_current_settings

    current = get_current_settings()
    api = current.api
    verify: bool | str = True
    if api.tls_insecure_skip_verify:
        verify = False
    elif api.ssl_cert_file:
        verify = str(api.ssl_cert_file)
    return ApiSettings(
        url=str(api.url or "").rstrip("/"),
        home=Path(current.home).expanduser(),
        key=api.key.get_secret_value() if api.key else None,
        auth_string=api.auth_string.get_secret_value() if api.auth_string else None,
        verify=verify,
    )


def settings() -> ApiSettings:
    """This process's (and context's) Prefect API settings; see the module docstring."""
    if "prefect.settings" not in sys.modules:
        found = _without_prefect()
        if found is not None:
            return found
    return _from_prefect()


def api_url() -> str:
    """The Prefect API URL in use (``""``: none configured, i.e. Prefect's ephemeral mode)."""
    return settings().url


def prefect_home() -> Path:
    """Prefect's home folder (``PREFECT_HOME``, ``~/.prefect`` by default)."""
    return settings().home


def client(timeout: float) -> "httpx.Client":
    """A plain HTTP client of the configured API (base URL, credentials, TLS as Prefect would use).

    Raises ``RuntimeError`` when no API URL is configured: Prefect's own client would start
    its blocking in-process server then, which genja-prefect never wants.
    """
    import httpx

    current = settings()
    if not current.url:
        raise RuntimeError("no Prefect API URL in this context")
    headers: dict[str, Any] = {}
    # As Prefect's client does: an API key wins over a basic-auth string.
    if current.key:
        headers["Authorization"] = f"Bearer {current.key}"
    elif current.auth_string:
        headers["Authorization"] = "Basic " + base64.b64encode(current.auth_string.encode()).decode()
    verify: Any = current.verify
    if current.url.startswith("http:"):
        verify = False  # no TLS: spares loading the CA bundle (~30 ms per client)
    elif isinstance(verify, str):
        # a CA file: only worth loading for https (httpx wants an SSL context for it)
        verify = ssl.create_default_context(cafile=verify) if current.url.startswith("https:") else True
    return httpx.Client(base_url=current.url, headers=headers, timeout=timeout, verify=verify)


_IMPORT_LOCK = threading.Lock()


def prefect_imported() -> bool:
    """Whether Prefect is imported in this process (by anyone: the user's code, a flow run)."""
    context = sys.modules.get("prefect.context")
    return context is not None and hasattr(context, "TaskRunContext")


def import_prefect() -> None:
    """Import Prefect now, one thread at a time (for a host's log line to its task run).

    Host threads that first need Prefect at the same moment would import it concurrently,
    and Prefect's circular imports then fail in some of them ("partially initialized
    module"); the others wait here for the one doing it.
    """
    if prefect_imported():
        return
    with _IMPORT_LOCK:
        # prefect.main configures Prefect's logging (console format, API log handler) as an
        # import of Prefect's top-level API always did
        import prefect.main  # noqa: F401 - the import is the point
