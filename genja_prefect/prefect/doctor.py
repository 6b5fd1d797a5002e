"""``genja-prefect doctor``: is the Prefect server a user's jobs run on able to run them?

Checks, in order, each one line (``OK``, ``WARN`` or ``FAIL``, what was checked, what was found
and, on a problem, what to do):

- ``api``: the API answers at the URL the CLI and workers use (``--api-url`` or
  ``PREFECT_API_URL``), and the server's Prefect version.
- ``schedule``: every deployment with an active schedule has upcoming runs created by the
  server's scheduler. None means the scheduler service is off or failing (SQLAlchemy 2.1 made
  prefect 3.8.8's scheduler fail on every loop), and the schedule never fires.
- ``late``: no scheduled run waits past its start time (nobody is picking them up).
- ``pool``: every work pool a deployment uses has a live (ONLINE) worker.
- ``versions``: prefect, SQLAlchemy and fastapi installed here are within the versions
  genja-prefect is known to work with (its own requirements, see pyproject.toml).

The API is read with plain HTTP requests (no Prefect client start-up), so the command is quick
and its errors are one line. Example::

    from genja_prefect.prefect.doctor import run_checks

    for check in run_checks("http://127.0.0.1:4200/api"):
        print(check.line())
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

import httpx

__all__ = ["Check", "KNOWN_GOOD", "configured_api_url", "render", "run_checks", "version_checks"]

Status = Literal["OK", "WARN", "FAIL"]
#: Packages whose versions decide whether prefect 3.8.8's server works (see pyproject.toml).
KNOWN_GOOD = ("prefect", "sqlalchemy", "fastapi")
#: A deployment (re)created less than this long ago may not have its scheduled runs yet: the
#: scheduler's "recent deployments" loop runs every 5 s, its main loop every 60 s.
SCHEDULE_GRACE_S = 120.0
#: A scheduled run this far past its start time is late: no worker took it.
LATE_AFTER_S = 300.0
_PAGE = 200


@dataclass(frozen=True)
class Check:
    """One finding: ``status``, the ``name`` of the check, ``detail`` and, on a problem, ``hint``."""

    status: Status
    name: str
    detail: str
    hint: str | None = None

    def line(self) -> str:
        """``STATUS  name      detail (-> hint)`` on one line."""
        text = f"{self.status:<5} {self.name:<9} {self.detail}"
        return f"{text} -> {self.hint}" if self.hint else text


def configured_api_url() -> str | None:
    """The API URL Prefect's CLI and workers use here (PREFECT_API_URL, env or profile)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).rstrip("/") if url else None


def _auth_headers() -> dict[str, str]:
    # The same credentials Prefect's own client would send; never printed.
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    auth_string = getattr(api, "auth_string", None)
    if auth_string is not None:
        import base64

        token = base64.b64encode(auth_string.get_secret_value().encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if api.key is not None:
        return {"Authorization": f"Bearer {api.key.get_secret_value()}"}
    return {}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class _Api:
    def __init__(self, url: str, timeout: float) -> None:
        self.client = httpx.Client(base_url=url, timeout=timeout, headers=_auth_headers())

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        # Every filter field is sent: prefect 3.8.8's server rejects the nulls its client sends.
        response = self.client.post(path, json=body)
        response.raise_for_status()
        return response.json()


def run_checks(api_url: str | None = None, *, timeout: float = 10.0,
               schedule_grace_s: float = SCHEDULE_GRACE_S) -> Iterator[Check]:
    """Run every check against the API at ``api_url`` (default: :func:`configured_api_url`),
    yielding each finding as it is made. Stops after the ``api`` check when the API does not
    answer."""
    url = (api_url or configured_api_url() or "").rstrip("/")
    if not url:
        yield Check("FAIL", "api", "no Prefect API configured (PREFECT_API_URL is not set)",
                    "set PREFECT_API_URL=http://HOST:PORT/api (the server's address) or pass --api-url")
        return
    api = _Api(url, timeout)
    try:
        try:
            api.get("/health")
            version = str(api.get("/admin/version"))
        except httpx.HTTPError as exc:
            yield Check("FAIL", "api", f"{url} not reachable: {_reason(exc)}",
                        "start the server (prefect server start) or point PREFECT_API_URL at it")
            return
        try:
            local = metadata.version("prefect")
        except metadata.PackageNotFoundError:
            local = "not installed"
        if version == local:
            yield Check("OK", "api", f"{url} answers, Prefect server {version}")
        else:
            yield Check("WARN", "api", f"{url} answers, Prefect server {version}, prefect here {local}",
                        "use the same Prefect version on the server, the workers and here")
        try:
            yield from _schedule_checks(api, schedule_grace_s)
        except httpx.HTTPError as exc:
            yield Check("FAIL", "api", f"{url} failed while reading deployments and runs: {_reason(exc)}")
    finally:
        api.client.close()
    yield from version_checks()


def _schedule_checks(api: _Api, grace_s: float) -> Iterator[Check]:
    deployments: list[dict[str, Any]] = api.post("/deployments/filter", {"limit": _PAGE, "offset": 0})
    flows = {f["id"]: f["name"] for f in api.post("/flows/filter", {"limit": _PAGE, "offset": 0})}
    now = _now()
    scheduled = [d for d in deployments
                 if not d.get("paused") and any(s.get("active") for s in d.get("schedules") or [])]
    if not deployments:
        yield Check("OK", "schedule", "no deployments on this server yet")
    elif not scheduled:
        yield Check("OK", "schedule", f"{len(deployments)} deployment(s), none with an active schedule")
    for deployment in scheduled:
        name = f"{flows.get(deployment['flow_id'], '?')}/{deployment['name']}"
        upcoming = [r for r in api.post("/flow_runs/filter", {
            "flow_runs": {
                "deployment_id": {"any_": [deployment["id"]]},
                "state": {"type": {"any_": ["SCHEDULED"]}},
                "expected_start_time": {"after_": now.isoformat()},
            },
            "sort": "EXPECTED_START_TIME_ASC", "limit": 20, "offset": 0,
        }) if r.get("auto_scheduled")]
        if upcoming:
            first = upcoming[0]["expected_start_time"]
            yield Check("OK", "schedule", f"{name}: {len(upcoming)} upcoming scheduled run(s), next {first}")
            continue
        updated = _parse_time(deployment.get("updated")) or now
        if (now - updated).total_seconds() < grace_s:
            yield Check("WARN", "schedule", f"{name}: no scheduled run yet (deployed {int((now - updated).total_seconds())} s ago)",
                        "the scheduler creates them within a minute: run `genja-prefect doctor` again")
        else:
            yield Check("FAIL", "schedule", f"{name}: active schedule but no upcoming scheduled run: "
                        "the server's scheduler is off or failing",
                        "check the server log for scheduler errors; SQLAlchemy 2.1 breaks it "
                        "(pip install 'sqlalchemy>=2.0.35,<2.1'); PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED "
                        "must not be false; restart `prefect server start`")
    late_before = (now - dt.timedelta(seconds=LATE_AFTER_S)).isoformat()
    late = api.post("/flow_runs/count", {"flow_runs": {
        "state": {"type": {"any_": ["SCHEDULED"]}}, "expected_start_time": {"before_": late_before}}})
    if late:
        yield Check("WARN", "late", f"{late} scheduled run(s) waiting over {int(LATE_AFTER_S)} s past their start time",
                    "no worker picked them up: start one on their work pool (prefect worker start --pool NAME)")
    yield from _pool_checks(api, deployments)


def _pool_checks(api: _Api, deployments: list[dict[str, Any]]) -> Iterator[Check]:
    pools = {p["name"]: p for p in api.post("/work_pools/filter", {"limit": _PAGE, "offset": 0})}
    used = sorted({d["work_pool_name"] for d in deployments if d.get("work_pool_name")})
    for name in used or sorted(pools):
        pool = pools.get(name)
        if pool is None:
            yield Check("FAIL", "pool", f"{name}: used by a deployment but does not exist",
                        f"prefect work-pool create {name} --type process")
            continue
        if pool.get("type", "").endswith(":push") or pool.get("type") == "prefect:managed":
            yield Check("OK", "pool", f"{name} ({pool['type']}): runs without a worker")
            continue
        workers = api.post(f"/work_pools/{name}/workers/filter", {"limit": _PAGE, "offset": 0})
        online = sorted(w["name"] for w in workers if w.get("status") == "ONLINE")
        if pool.get("is_paused"):
            yield Check("FAIL", "pool", f"{name}: paused, no run is handed to a worker",
                        f"prefect work-pool resume {name}")
        elif online:
            yield Check("OK", "pool", f"{name}: {len(online)} live worker(s): {', '.join(online)}")
        else:
            yield Check("FAIL", "pool", f"{name}: no live worker, runs wait for one",
                        f"prefect worker start --pool {name} (on the machine that reaches the devices)")
    if not used and not pools:
        yield Check("WARN", "pool", "no work pool on this server",
                    "prefect work-pool create genja-pool --type process")


def version_checks() -> Iterator[Check]:
    """prefect, SQLAlchemy and fastapi installed here against genja-prefect's requirements."""
    from packaging.requirements import Requirement

    try:
        requires = metadata.requires("genja-prefect") or []
    except metadata.PackageNotFoundError:
        return
    wanted: dict[str, Requirement] = {}
    for text in requires:
        parsed = Requirement(text)
        if parsed.marker is None and parsed.name.lower() in KNOWN_GOOD:
            wanted[parsed.name.lower()] = parsed
    found: list[str] = []
    problems: list[str] = []
    for name in KNOWN_GOOD:
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} not installed")
            continue
        requirement = wanted.get(name)
        if requirement is not None and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{name} {installed} (known to work: {requirement.specifier})")
        else:
            found.append(f"{name} {installed}")
    if problems:
        pins = " ".join(f"'{wanted[n.split()[0]]}'" for n in problems if n.split()[0] in wanted)
        yield Check("FAIL", "versions", "; ".join(problems) + " installed here",
                    f"pip install {pins} (and restart the server and workers)")
    else:
        yield Check("OK", "versions", ", ".join(found) + " (known to work)")


def render(checks: list[Check]) -> str:
    """The findings, one per line, and a last line that sums them up (not after a lone
    finding: an API that does not answer is said in one line)."""
    if len(checks) == 1:
        return checks[0].line()
    failed = sum(c.status == "FAIL" for c in checks)
    warned = sum(c.status == "WARN" for c in checks)
    summary = ("all good" if not failed and not warned
               else f"{failed} problem(s), {warned} warning(s)")
    return "\n".join([*(c.line() for c in checks), summary])
