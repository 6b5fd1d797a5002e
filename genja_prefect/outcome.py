"""Whether a run (or one root task) counts as failed: the ``prefect.fail_on`` policy.

A run always returns its full result tree; the policy decides what Prefect shows -- a root
task's subflow and the run's flow run end ``Failed`` when it says so -- and what a ready-made
job called from Python raises (:class:`HostsFailedError`, which carries the tree).

Example::

    policy = FailPolicy.parse("percent:10")
    outcome = policy.judge(total=50, failed_hosts=["r3", "r7"])
    outcome.failed      # False: 4 % of the hosts failed
    outcome.message     # '2 of 50 hosts failed: r3, r7'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genja_prefect.errors import GenjaError

#: How many failed host ids a state message names before "and N more".
NAMED_HOSTS = 10


@dataclass(frozen=True)
class Outcome:
    """A verdict: ``failed`` per the policy and a one-line ``message`` with the failed hosts."""

    failed: bool
    message: str


@dataclass(frozen=True)
class FailPolicy:
    """``any`` | ``all`` | ``percent:N`` (more than N % of the hosts failed)."""

    kind: str
    percent: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "FailPolicy":
        value = text.strip().lower()
        if value in ("any", "all"):
            return cls(value)
        if value.startswith("percent:"):
            try:
                percent = float(value.split(":", 1)[1])
            except ValueError:
                percent = -1.0
            if 0 <= percent <= 100:
                return cls("percent", percent)
        raise ValueError(f"'{text}' is not a fail_on policy: use any, all or percent:N with N from 0 to 100")

    def judge(self, total: int, failed_hosts: Sequence[str], what: str = "hosts") -> Outcome:
        """The verdict for ``total`` hosts of which ``failed_hosts`` failed."""
        failed = len(failed_hosts)
        if self.kind == "any":
            bad = failed > 0
        elif self.kind == "all":
            bad = total > 0 and failed == total
        else:
            bad = total > 0 and failed * 100.0 > self.percent * total
        return Outcome(bad, failure_message(total, failed_hosts, what))


def failure_message(total: int, failed_hosts: Sequence[str], what: str = "hosts") -> str:
    """``3 of 12 hosts failed: r1, r2, r3`` (sorted; the first 10 named, then ``and N more``)."""
    if not failed_hosts:
        return f"{total} {what}, none failed"
    ordered = sorted(failed_hosts)
    named = ", ".join(ordered[:NAMED_HOSTS])
    more = len(failed_hosts) - NAMED_HOSTS
    tail = f" and {more} more" if more > 0 else ""
    return f"{len(failed_hosts)} of {total} {what} failed: {named}{tail}"


class HostsFailedError(GenjaError):
    """A ready-made job's hosts failed past the ``prefect.fail_on`` policy.

    Raised when a job's flow is called from Python; ``tree`` is the job's full result tree
    (the same as a passing run returns), so nothing is lost.
    """

    def __init__(self, message: str, tree: Any = None) -> None:
        super().__init__(message)
        self.tree = tree

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.tree))
