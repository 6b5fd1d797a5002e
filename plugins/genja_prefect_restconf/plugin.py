"""The RESTCONF connection plugin on httpx.

``RestconfPlugin`` is registered under the name ``restconf`` (entry point group
``genja_prefect.connection``), connection type ``restconf``, library ``httpx``. A connection
is one ``httpx.Client`` (keep-alive, basic auth from the inventory) per host. Inventory::

    router1:
      hostname: 192.0.2.10
      platform: iosxe
      connection_options:
        restconf:
          port: 443                  # default 443 for https, 80 for http
          extras:
            scheme: https            # default https
            verify: true             # false, or a CA bundle file
            timeout: 30              # s, per request
            base_path: /restconf     # the RESTCONF root (RFC 8040 section 3.1)
            probe: true              # GET the root on open, to fail early on bad credentials

Paths are relative to ``{base_path}/data`` (``ietf-system:system/hostname``), or absolute
when they start with ``base_path``. Example::

    @task(name="hostname", connection_plugin_name="restconf")
    class Hostname:
        def start(self, task, host, context):
            body = context.connection().get("ietf-system:system/hostname")
            return TaskSuccessResult(result=body["ietf-system:hostname"])
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from genja_prefect.connection import (
    CommandError,
    ConnectionBase,
    ConnectionKey,
    ConnectionOpenError,
    ConnectionPluginBase,
    ResolvedConnectionParams,
    invalid_extras,
    parse_extras,
    register_connection_plugin,
)
from genja_prefect.errors import GenjaError
from genja_prefect.results import TaskFailureKind
from genja_prefect_restconf.capabilities import RestconfData

logger = logging.getLogger("genja_prefect_restconf")

JSON_TYPE = "application/yang-data+json"
PLATFORMS = ("restconf", "ios", "iosxe", "eos", "nxos", "iosxr", "junos")


class RestconfExtras(BaseModel):
    """``connection_options.restconf.extras``; unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal["https", "http"] = "https"
    verify: bool | str = True
    timeout: float = Field(default=30.0, gt=0)
    base_path: str = "/restconf"
    probe: bool = True


class RestconfError(CommandError):
    """The server answered a request with an error status (4xx/5xx other than 401/403 on open)."""

    def __init__(self, message: str, *, status: int, output: str | None = None) -> None:
        super().__init__(message, output=output)
        self.status = status


class RestconfNotFoundError(RestconfError):
    """404: no resource at that path."""


class RestconfTimeoutError(GenjaError, TimeoutError):
    """A request got no answer within ``timeout`` seconds."""


class RestconfConnectionLostError(ConnectionOpenError):
    """The server could not be reached for a request (failure kind ``connection``)."""


class RestconfConnection(ConnectionBase):
    """An httpx client bound to one host's RESTCONF root; ``client`` is public."""

    def __init__(self, key: ConnectionKey) -> None:
        self.key = key
        self.client: httpx.Client | None = None
        self.extras = RestconfExtras()
        self._address = key.host_id

    def __repr__(self) -> str:
        return f"RestconfConnection({self.key}, {self._address}, {'open' if self.client else 'closed'})"

    # -- lifecycle ------------------------------------------------------------------------
    def open(self, params: ResolvedConnectionParams) -> None:
        """Build the client and, unless ``probe: false``, GET the RESTCONF root once."""
        where = f"RESTCONF connection to host '{params.host_id}'"
        try:
            extras = parse_extras(RestconfExtras, params.extras)
        except ValueError as exc:
            raise invalid_extras(where, "restconf", exc) from None
        port = params.port or (443 if extras.scheme == "https" else 80)
        self._address = f"{params.hostname}:{port}"
        where = f"{where} ({extras.scheme}://{self._address})"
        auth = None
        if params.username is not None:
            auth = httpx.BasicAuth(params.username, params.password_value() or "")
        client = httpx.Client(
            base_url=f"{extras.scheme}://{params.hostname}:{port}",
            auth=auth,
            verify=_verify(extras.verify),
            timeout=extras.timeout,
            headers={"Accept": JSON_TYPE},
        )
        if extras.probe:
            try:
                response = client.get(extras.base_path.rstrip("/") or "/")
            except Exception as exc:  # noqa: BLE001 - classified below
                client.close()
                kind, retryable, reason = _classify_transport(exc)
                raise ConnectionOpenError(
                    f"{where} failed: {reason} ({type(exc).__name__}: {exc})", kind=kind, retryable=retryable
                ) from exc
            if response.status_code in (401, 403):
                client.close()
                raise ConnectionOpenError(
                    f"{where} failed: authentication failed (HTTP {response.status_code} for "
                    f"user {params.username!r})",
                    kind=TaskFailureKind.AUTHENTICATION,
                    retryable=False,
                )
            if response.status_code >= 500:
                client.close()
                raise ConnectionOpenError(f"{where} failed: server error HTTP {response.status_code}")
            # Any other answer (200, or 404 from servers without a root resource) proves the
            # server is there and took the credentials.
        self.client, self.extras = client, extras

    def close(self) -> ConnectionKey:
        """Close the client and its keep-alive connections."""
        client, self.client = self.client, None
        if client is not None:
            client.close()
        return self.key

    def is_alive(self) -> bool:
        """HTTP has no session: alive until closed (a dead server fails the next request)."""
        return self.client is not None and not self.client.is_closed

    # -- RESTCONF operations --------------------------------------------------------------
    def get(self, path: str) -> Any:
        """GET ``path``; returns the decoded JSON (``None`` for an empty body)."""
        response = self._request("GET", path)
        return response.json() if response.content else None

    def put(self, path: str, data: Any) -> int:
        """PUT ``data`` (JSON-serializable) at ``path``; 201 created, 204 replaced."""
        return self._request("PUT", path, data).status_code

    def patch(self, path: str, data: Any) -> int:
        """PATCH (merge) ``data`` into ``path``; returns the status (204)."""
        return self._request("PATCH", path, data).status_code

    def delete(self, path: str) -> int:
        """DELETE ``path``; returns the status (204)."""
        return self._request("DELETE", path).status_code

    def execute_command(self, command: str) -> str:
        """GET ``command`` (a data path) and return the body as JSON text."""
        return json.dumps(self.get(command), indent=2)

    # -- helpers --------------------------------------------------------------------------
    def url(self, path: str) -> str:
        """The request path for a data path: ``{base_path}/data/{path}``."""
        base = self.extras.base_path.rstrip("/")
        if path.startswith(base + "/") or path == base:
            return path
        return f"{base}/data/{path.lstrip('/')}" if path.strip("/") else f"{base}/data"

    def _request(self, method: str, path: str, data: Any = None) -> httpx.Response:
        client = self.client
        if client is None:
            raise RestconfConnectionLostError(
                f"RESTCONF connection to host '{self.key.host_id}' is not open", retryable=True
            )
        url = self.url(path)
        what = f"{method} {url} on host '{self.key.host_id}' ({self._address})"
        kwargs: dict[str, Any] = {}
        if data is not None:
            kwargs["content"] = json.dumps(data).encode()
            kwargs["headers"] = {"Content-Type": JSON_TYPE}
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise RestconfTimeoutError(f"{what} timed out after {self.extras.timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise RestconfConnectionLostError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            detail = _error_message(response)
            error_class = RestconfNotFoundError if response.status_code == 404 else RestconfError
            raise error_class(
                f"{what} failed: HTTP {response.status_code}{': ' + detail if detail else ''}",
                status=response.status_code,
                output=response.text,
            )
        return response


@register_connection_plugin(
    platforms=PLATFORMS,
    connection_type="restconf",
    connection_library="httpx",
    capabilities=[RestconfData],
    default_for_connection_type=True,
)
class RestconfPlugin(ConnectionPluginBase):
    """Factory of :class:`RestconfConnection` instances (plugin name ``restconf``)."""

    name = "restconf"

    def create(self, key: ConnectionKey) -> RestconfConnection:
        """A new, unopened connection for one host."""
        return RestconfConnection(key)


def _verify(value: bool | str) -> bool | ssl.SSLContext:
    if isinstance(value, str):
        return ssl.create_default_context(cafile=os.path.expanduser(value))
    return value


def _classify_transport(exc: BaseException) -> tuple[TaskFailureKind, bool, str]:
    if isinstance(exc, httpx.TimeoutException):
        return TaskFailureKind.TIMEOUT, True, "timed out"
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc, ssl.SSLCertVerificationError):
        return TaskFailureKind.AUTHENTICATION, False, "TLS certificate verification failed"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return TaskFailureKind.CONNECTION, False, "host name does not resolve"
    if isinstance(exc, httpx.ConnectError):
        return TaskFailureKind.CONNECTION, True, "could not connect"
    return TaskFailureKind.CONNECTION, True, "request failed"


def _error_message(response: httpx.Response) -> str:
    """The ``error-message``s of an RFC 8040 ``ietf-restconf:errors`` body, if there is one."""
    try:
        body = response.json()
        errors = body["ietf-restconf:errors"]["error"]
        return "; ".join(
            f"{e.get('error-tag', '')}: {e.get('error-message', '')}".strip(": ") for e in errors
        )
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase
