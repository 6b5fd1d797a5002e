"""A transform function used by the inventory tests (importable as tests.transforms)."""

from typing import Any


def normalize_platform(host: Any, mapping: dict[str, str]) -> None:
    if host.platform in mapping:
        host.platform = mapping[host.platform]
