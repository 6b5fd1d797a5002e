"""Rollouts: a root task in waves -- canary hosts, then batches -- halted when too many fail.

Used by the run loop when ``runner.rollout`` is set (or the task's ``options["rollout"]``).
Each wave goes through the configured runner plugin like a whole root task would; hosts left
when the rollout halts are recorded as skipped with reason ``rollout_halted``.

Example (settings.yaml)::

    runner:
      rollout: {canary: 1, batch_percent: 25, max_fail_percent: 10}
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from genja_prefect.errors import SettingsError
from genja_prefect.results import TaskResults, TaskSkipResult
from genja_prefect.settings import RolloutConfig

if TYPE_CHECKING:
    from genja_prefect.definition import TaskDefinition
    from genja_prefect.task import Host

logger = logging.getLogger(__name__)

HALTED = "rollout_halted"


def rollout_of(task: "TaskDefinition", default: RolloutConfig | None) -> RolloutConfig | None:
    """The task's own ``options["rollout"]``, else the runner's setting."""
    own = task.info.options.get("rollout") if task.info.options else None
    if own is None:
        return default
    try:
        return RolloutConfig.model_validate(own)
    except ValueError as exc:
        raise SettingsError(f"task '{task.name}': options.rollout is invalid: {exc}", key="rollout") from None


def waves(host_ids: Sequence[str], config: RolloutConfig) -> list[list[str]]:
    """The hosts in rollout order: the canary wave, then batches of ``batch_percent`` %."""
    ids = list(host_ids)
    out: list[list[str]] = []
    canary = min(config.canary, len(ids))
    if canary:
        out.append(ids[:canary])
    size = max(1, math.ceil(len(ids) * config.batch_percent / 100))
    out.extend(ids[i : i + size] for i in range(canary, len(ids), size))
    return out


def run_rollout(
    task: "TaskDefinition",
    hosts: dict[str, "Host"],
    config: RolloutConfig,
    run_wave: Callable[[dict[str, "Host"]], TaskResults],
    skip_host: Callable[["Host", TaskSkipResult], TaskResults],
) -> TaskResults:
    """Run ``task`` wave by wave with ``run_wave``; halt past ``max_fail_percent``."""
    results = TaskResults(task.name)
    plan = waves(list(hosts), config)
    for index, wave in enumerate(plan):
        results.merge(run_wave({h: hosts[h] for h in wave}))
        done = len(results.hosts)
        failed = len(results.failed_hosts)
        if failed * 100.0 > config.max_fail_percent * done:
            rest = [h for later in plan[index + 1 :] for h in later]
            if rest:
                message = (
                    f"not run: the rollout halted after wave {index + 1} of {len(plan)} "
                    f"({failed} of {done} hosts failed, more than max_fail_percent {config.max_fail_percent:g} %)"
                )
                logger.warning("%s: %s; %d host(s) skipped", task.name, message, len(rest))
                for host_id in rest:
                    results.merge(skip_host(hosts[host_id], TaskSkipResult(reason=HALTED, message=message)))
            break
    return results
