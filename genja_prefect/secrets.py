"""Secrets: passwords and tokens that must never be shown.

A secret is read into a :class:`Secret` the moment it is parsed. Its ``repr``/``str`` are masked
and its JSON form is ``"***"``; only :meth:`Secret.get_secret_value` returns the real value.
Inventory values may be a literal, ``{"env": "NAME"}`` (an environment variable read when the
connection is opened), or ``{"prefect_secret": "block-name"}`` (a Prefect Secret block).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from genja_prefect.errors import SecretResolutionError

MASK = "***"

#: ``connection_options.<plugin>.extras`` keys whose values are secrets (an enable secret, an
#: API token, a key passphrase): they become :class:`Secret` when the inventory is read.
SECRET_KEY_SUFFIXES = ("secret", "password", "passphrase", "token", "api_key", "auth_secondary")


def is_secret_key(key: str) -> bool:
    """Whether an ``extras`` key names a secret (e.g. ``auth_secondary``, ``enable_secret``)."""
    return key.lower().endswith(SECRET_KEY_SUFFIXES)


def masked(extras: dict[str, Any]) -> dict[str, Any]:
    """``extras`` for display or JSON: every :class:`Secret` value shown as ``***``."""
    return {key: MASK if isinstance(value, Secret) else value for key, value in extras.items()}


def secret_extras(extras: dict[str, Any]) -> dict[str, Any]:
    """``extras`` with every secret-named value parsed into a :class:`Secret`.

    Raises ``ValueError`` naming the key when such a value is not a string, ``{"env": ...}``
    or ``{"prefect_secret": ...}``.
    """
    out = dict(extras)
    for key, value in extras.items():
        if value is not None and is_secret_key(str(key)):
            try:
                out[key] = Secret.parse(value)
            except ValueError as exc:
                raise ValueError(f"extras key '{key}' is a secret: {exc}") from None
    return out


class Secret:
    """A secret value or a reference to one. Never reveals itself in repr, str or JSON."""

    __slots__ = ("_value", "_env", "_prefect_secret")

    def __init__(
        self,
        value: str | None = None,
        *,
        env: str | None = None,
        prefect_secret: str | None = None,
    ) -> None:
        given = [x is not None for x in (value, env, prefect_secret)]
        if sum(given) != 1:
            raise ValueError("a secret is exactly one of a literal, {'env': NAME} or {'prefect_secret': NAME}")
        self._value = value
        self._env = env
        self._prefect_secret = prefect_secret

    @classmethod
    def parse(cls, raw: Any) -> "Secret":
        """Build a secret from inventory input: a string/number, ``{"env": N}`` or ``{"prefect_secret": N}``."""
        if isinstance(raw, Secret):
            return raw
        if hasattr(raw, "get_secret_value"):  # pydantic SecretStr
            return cls(raw.get_secret_value())
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return cls(str(raw))
        if isinstance(raw, dict) and len(raw) == 1:
            (kind, name), = raw.items()
            if kind == "env" and isinstance(name, str) and name:
                return cls(env=name)
            if kind == "prefect_secret" and isinstance(name, str) and name:
                return cls(prefect_secret=name)
        raise ValueError(
            "expected a string, {'env': 'VAR_NAME'} or {'prefect_secret': 'block-name'}"
        )

    @property
    def reference(self) -> str | None:
        """A printable description of where the secret comes from (never the value)."""
        if self._env is not None:
            return f"env:{self._env}"
        if self._prefect_secret is not None:
            return f"prefect_secret:{self._prefect_secret}"
        return None

    def get_secret_value(self) -> str:
        """Return the real value, reading the environment or Prefect Secret block if needed."""
        if self._value is not None:
            return self._value
        if self._env is not None:
            try:
                return os.environ[self._env]
            except KeyError:
                raise SecretResolutionError(
                    f"environment variable '{self._env}' named by a password is not set"
                ) from None
        return _read_prefect_secret(self._prefect_secret or "")

    def __repr__(self) -> str:
        ref = self.reference
        return f"Secret({ref!r})" if ref else f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self._value, self._env, self._prefect_secret) == (
            other._value,
            other._env,
            other._prefect_secret,
        )

    def __hash__(self) -> int:
        return hash((self._value, self._env, self._prefect_secret))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling keeps the value: a Dask worker needs it to open a connection. It never
        # reaches logs or results because nothing formats a Secret other than as MASK.
        return (_rebuild, (self._value, self._env, self._prefect_secret))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda s: MASK, when_used="always"
            ),
        )


def _rebuild(value: str | None, env: str | None, prefect_secret: str | None) -> Secret:
    return Secret(value, env=env, prefect_secret=prefect_secret)


#: Where a ``{prefect_secret: NAME}`` reference is read: "module:function" taking the name.
#: The Prefect adapter provides the default; the core imports it only when such a secret is used.
_SECRET_SOURCES: dict[str, str] = {"prefect_secret": "genja_prefect.prefect.secret_blocks:read_secret_block"}


def register_secret_source(kind: str, reader: str) -> None:
    """Read references of ``kind`` with ``reader`` ("module:function", called with the name)."""
    _SECRET_SOURCES[kind] = reader


def _read_prefect_secret(name: str) -> str:
    import importlib

    module_name, _, attr = _SECRET_SOURCES["prefect_secret"].partition(":")
    reader = getattr(importlib.import_module(module_name), attr)
    value: str = reader(name)
    return value
