"""Captured device outputs in ``tests/flows/data`` (see its README)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def read_data(name: str) -> str:
    """The text of one captured output file."""
    return (DATA / name).read_text(encoding="utf-8")
