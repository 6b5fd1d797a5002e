"""Result objects and the result tree: the normalized and raw shapes of the tasks page."""

from __future__ import annotations

import json
import pickle

import pytest

from genja_prefect.results import TaskResults
from genja_prefect.task import TaskFailureKind, TaskFailureResult, TaskSkipResult, TaskSuccessResult


def tree() -> TaskResults:
    root = TaskResults("deploy_config")
    root.hosts["r1"] = TaskSuccessResult(summary="deployed", changed=True, diff="+ntp server 1.1.1.1")
    root.hosts["r2"] = TaskFailureResult(message="connection failed", kind=TaskFailureKind.CONNECTION, retryable=True)
    root.hosts["r3"] = TaskSkipResult(reason="unsupported_platform", message="host platform is not supported")
    child = root.sub_task("validate_config")
    child.hosts["r1"] = TaskSuccessResult(summary="validated")
    child.hosts["r3"] = TaskFailureResult(message="bad", kind="validation")
    return root


def test_reference_normalized_and_raw_shapes() -> None:
    r = TaskResults("collect_facts")
    r.hosts["router1"] = TaskSuccessResult(summary="collected facts from 10.0.0.1", metadata={"platform": "ios"})
    assert r.to_dict() == {
        "task_name": "collect_facts",
        "hosts": {"router1": {"status": "passed", "summary": "collected facts from 10.0.0.1", "metadata": {"platform": "ios"}}},
        "sub_tasks": {},
    }
    assert r.to_dict(raw=True) == {
        "task_name": "collect_facts",
        "hosts": {"router1": {"Passed": {"summary": "collected facts from 10.0.0.1", "metadata": {"platform": "ios"}}}},
        "sub_tasks": {},
    }
    assert json.loads(r.to_json(pretty=True)) == r.to_dict()
    assert "\n" in r.to_json(pretty=True) and "\n" not in r.to_json()


def test_failure_and_skip_fields() -> None:
    d = tree().to_dict()
    assert d["hosts"]["r2"] == {"status": "failed", "message": "connection failed", "kind": "connection", "retryable": True}
    assert d["hosts"]["r3"] == {"status": "skipped", "reason": "unsupported_platform", "message": "host platform is not supported"}
    assert d["hosts"]["r1"]["changed"] is True and d["hosts"]["r1"]["diff"].startswith("+ntp")
    raw = tree().to_dict(raw=True)
    assert list(raw["hosts"]["r2"]) == ["Failed"] and list(raw["hosts"]["r3"]) == ["Skipped"]
    assert raw["sub_tasks"]["validate_config"]["hosts"]["r3"]["Failed"]["kind"] == "validation"


def test_summaries_and_status_lists() -> None:
    t = tree()
    assert str(t.host_summary()) == "passed=1 failed=1 skipped=1"
    assert t.passed_hosts == ["r1"] and t.failed_hosts == ["r2"] and t.skipped_hosts == ["r3"]
    s = t.task_summary()
    assert (s.tasks, s.hosts.passed, s.hosts.failed, s.hosts.skipped) == (2, 2, 2, 1)
    assert t.failed


def test_merge_and_pickle_roundtrip() -> None:
    a = TaskResults("deploy_config")
    a.hosts["r9"] = TaskSuccessResult()
    a.merge(tree())
    assert set(a.hosts) == {"r1", "r2", "r3", "r9"}
    assert set(a.sub_tasks["validate_config"].hosts) == {"r1", "r3"}
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(TaskResults("other"))


def test_kind_must_be_known() -> None:
    with pytest.raises(ValueError):
        TaskFailureResult(message="x", kind="weird")
    assert [k.value for k in TaskFailureKind] == [
        "connection", "authentication", "validation", "timeout", "command", "unsupported", "internal", "external",
    ]


def test_non_json_payload_is_stringified() -> None:
    r = TaskResults("t")
    r.hosts["h"] = TaskSuccessResult(result={"when": object()})
    assert json.loads(r.to_json())["hosts"]["h"]["result"]["when"].startswith("<object")
