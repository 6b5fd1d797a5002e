"""The approval gate of ``deploy_config(approve=True)``: pause the flow run for a person's
decision on the reviewed diffs, through Prefect's ``pause_flow_run(wait_for_input=...)``.

The flow run shows as Paused in the Prefect UI with a form (approve, comment); resuming it
there, or through the API (``prefect.flow_runs.resume_flow_run(flow_run_id,
run_input={"approve": True, "comment": "ok"})``), lets the flow go on. What is applied after an
approval is exactly what was reviewed: each host's planned lines are fingerprinted in the dry
run (an HMAC under a key that lives only in the flow run's memory, so the fingerprint tells
nothing about the lines) and compared again before sending. Example::

    from genja_prefect_flows.approval import review_digest

    key = new_review_key()
    review_digest(key, ["ntp server 192.0.2.1"])   # 64 hex digits
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from prefect.input import RunInput
from pydantic import Field

__all__ = ["ApprovalTimeout", "DeployApproval", "ask_approval", "new_review_key", "review_digest"]


class DeployApproval(RunInput):
    """The decision on a paused ``deploy_config`` run (the form in the Prefect UI)."""

    approve: bool = Field(description="Apply exactly the reviewed lines (false: reject, nothing is sent)")
    comment: str = Field(default="", description="Why; recorded in the run's result and artifact")


class ApprovalTimeout(Exception):
    """Nobody decided within the approval timeout."""


def new_review_key() -> bytes:
    """A fresh key for one review (never stored, never logged)."""
    return secrets.token_bytes(32)


def review_digest(key: bytes, lines: Sequence[str]) -> str:
    """The fingerprint of one host's planned lines under ``key``."""
    return hmac.new(key, "\n".join(lines).encode("utf-8"), hashlib.sha256).hexdigest()


def ask_approval(description: str, timeout: int, poll_interval: int) -> DeployApproval:
    """Pause the current flow run until someone resumes it with a :class:`DeployApproval`.

    Raises :class:`ApprovalTimeout` when ``timeout`` seconds pass first.
    """
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    form = DeployApproval.with_initial_data(description=description, approve=False)
    try:
        decision = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=poll_interval, key="genja-approval")
    except FlowPauseTimeout:
        raise ApprovalTimeout(f"no decision within {timeout} s") from None
    if not isinstance(decision, DeployApproval):
        raise ApprovalTimeout("the run was resumed without a decision")
    return decision
