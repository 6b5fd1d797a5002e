"""``with`` support shared by the lab's servers: ``start()`` on enter, ``stop()`` on exit."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class LabService:
    """A lab server or fleet: ``with X(...) as x:`` starts it and always stops it, also on error."""

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
