"""Prefect Secret blocks as a source of secret values (``password: {prefect_secret: NAME}``).

:mod:`genja_prefect.secrets` knows secret *references*; this is the one place that turns a
block name into a value through Prefect's API. It is looked up by name through
:func:`genja_prefect.secrets.register_secret_source`, so the core never imports Prefect.
"""

from __future__ import annotations

from typing import Any, cast

from genja_prefect.errors import SecretResolutionError


def read_secret_block(name: str) -> str:
    """The string held by the Prefect Secret block ``name``."""
    from prefect.blocks.system import Secret as SecretBlock

    try:
        # async_dispatch types load() as "block or coroutine" and hides its _sync keyword;
        # with _sync=True it always runs the synchronous implementation and returns the block.
        block = cast("SecretBlock[Any]", SecretBlock.load(name, _sync=True))  # type: ignore[call-arg]
        value = block.get()
    except ValueError as exc:
        raise SecretResolutionError(f"Prefect Secret block '{name}' could not be loaded: {type(exc).__name__}") from None
    if not isinstance(value, str):
        raise SecretResolutionError(f"Prefect Secret block '{name}' does not hold a string")
    return value
