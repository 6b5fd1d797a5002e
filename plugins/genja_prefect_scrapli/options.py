"""The scrapli plugin's settings: platform -> definition mapping and ``extras`` validation.

Inventory example (every key optional)::

    router1:
      hostname: 192.0.2.10
      platform: ios
      connection_options:
        scrapli:
          port: 22
          extras:
            definition: cisco_iosxe        # scrapli definition; default from the platform
            transport: bin                 # bin (OpenSSH, scrapli's default) or ssh2 (libssh2)
            timeout_open: 15               # s: TCP connect + SSH auth + on-open commands
            timeout_ops: 30                # s: each command / config operation
            known_hosts_file: ~/.ssh/known_hosts
            auth_strict_key: true          # default: true when known_hosts_file is set
            private_key_file: ~/.ssh/id_ed25519
            auth_secondary: {env: ENABLE_SECRET}   # the enable secret, like a password:
                                           # a literal, {env: NAME} or {prefect_secret: block}
            config_mode: configuration     # the definition's mode used by send_config
            failed_when_contains: ["Unknown command"]   # extra error markers

scrapli 2026 (libscrapli) has a single *operation timeout*, applied per operation; there is no
separate socket or transport timeout any more. The names Nornir and scrapli 1.x users have in
their inventories are accepted and mapped: ``timeout_socket`` -> ``timeout_open`` and
``timeout_transport`` -> ``timeout_ops``.

The enable secret is a secret from the moment the inventory is read: extras keys named like a
secret (``auth_secondary``, ``*_secret``, ``*_password``, ``*_token``, ...) become
:class:`genja_prefect.secrets.Secret` values, masked wherever connection parameters are
printed. ``auth_secondary_env: NAME`` (the environment variable holding it) is still accepted.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from genja_prefect.connection import parse_extras as validate_extras
from genja_prefect.secrets import Secret

#: Inventory platform -> scrapli definition name (``extras.definition`` overrides it).
PLATFORM_DEFINITIONS: dict[str, str] = {
    "ios": "cisco_iosxe",
    "iosxe": "cisco_iosxe",
    "eos": "arista_eos",
    "junos": "juniper_junos",
    "nxos": "cisco_nxos",
    "iosxr": "cisco_iosxr",
}

DEFAULT_TIMEOUT_OPEN = 15.0
DEFAULT_TIMEOUT_OPS = 30.0


class ScrapliExtras(BaseModel):
    """``connection_options.scrapli.extras``; unknown keys are an error (a typo is not ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: str | None = None
    transport: Literal["bin", "ssh2"] = "bin"
    timeout_open: float | None = Field(default=None, gt=0)
    timeout_socket: float | None = Field(default=None, gt=0)
    timeout_ops: float | None = Field(default=None, gt=0)
    timeout_transport: float | None = Field(default=None, gt=0)
    known_hosts_file: str | None = None
    auth_strict_key: bool | None = None
    private_key_file: str | None = None
    auth_secondary: Secret | None = None
    auth_secondary_env: str | None = None
    config_mode: str = "configuration"
    failed_when_contains: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_enable_secret(self) -> ScrapliExtras:
        if self.auth_secondary is not None and self.auth_secondary_env is not None:
            raise ValueError("give auth_secondary or auth_secondary_env, not both")
        return self

    @model_validator(mode="after")
    def _one_name_per_timeout(self) -> ScrapliExtras:
        for new, old in (("timeout_open", "timeout_socket"), ("timeout_ops", "timeout_transport")):
            if getattr(self, new) is not None and getattr(self, old) is not None:
                raise ValueError(f"give {new} or its scrapli 1.x name {old}, not both")
        return self

    @property
    def open_timeout_s(self) -> float:
        """Seconds for the whole open (TCP, SSH, authentication, on-open commands)."""
        return self.timeout_open or self.timeout_socket or DEFAULT_TIMEOUT_OPEN

    @property
    def ops_timeout_s(self) -> float:
        """Seconds for each command or configuration operation."""
        return self.timeout_ops or self.timeout_transport or DEFAULT_TIMEOUT_OPS

    @property
    def strict_key(self) -> bool:
        """Verify the host key: on when a known_hosts file is configured, unless opted out."""
        if self.auth_strict_key is not None:
            return self.auth_strict_key
        return self.known_hosts_file is not None

    def known_hosts_path(self) -> str | None:
        """The known_hosts file with ``~`` expanded."""
        return os.path.expanduser(self.known_hosts_file) if self.known_hosts_file else None


def enable_secret(extras: ScrapliExtras) -> str | None:
    """The enable secret: ``auth_secondary`` (a secret like a password), or the environment
    variable ``auth_secondary_env`` names."""
    if extras.auth_secondary is not None:
        return extras.auth_secondary.get_secret_value()
    if extras.auth_secondary_env is None:
        return None
    value = os.environ.get(extras.auth_secondary_env)
    if value is None:
        raise ValueError(
            f"key 'auth_secondary_env': environment variable {extras.auth_secondary_env!r} is not set"
        )
    return value


def parse_extras(extras: dict[str, Any]) -> ScrapliExtras:
    """Validate ``extras``; raises ``ValueError`` naming every bad key."""
    return validate_extras(ScrapliExtras, extras)


def definition_for(platform: str | None, extras: ScrapliExtras) -> str:
    """The scrapli definition for a host: ``extras.definition``, else the platform's."""
    if extras.definition:
        return extras.definition
    if platform in PLATFORM_DEFINITIONS:
        return PLATFORM_DEFINITIONS[platform]  # type: ignore[index]
    known = ", ".join(f"{p} -> {d}" for p, d in PLATFORM_DEFINITIONS.items())
    raise ValueError(
        f"platform {platform!r} has no scrapli definition mapping ({known}); "
        f"set connection_options.scrapli.extras.definition"
    )
