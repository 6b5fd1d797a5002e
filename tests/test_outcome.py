"""The prefect.fail_on policy: parsing, verdicts, messages."""

from __future__ import annotations

import pickle

import pytest

from genja_prefect.errors import SettingsError
from genja_prefect.outcome import FailPolicy, HostsFailedError, failure_message
from genja_prefect.settings import Settings


@pytest.mark.parametrize(
    ("policy", "total", "failed", "expected"),
    [
        ("any", 10, 0, False),
        ("any", 10, 1, True),
        ("all", 10, 9, False),
        ("all", 10, 10, True),
        ("all", 0, 0, False),
        ("percent:10", 10, 1, False),  # exactly 10 % is not more than 10 %
        ("percent:10", 10, 2, True),
        ("percent:0", 10, 1, True),
        ("percent:100", 10, 10, False),
        ("percent:12.5", 8, 1, False),
        ("percent:12.5", 8, 2, True),
    ],
)
def test_verdicts(policy: str, total: int, failed: int, expected: bool) -> None:
    hosts = [f"r{i}" for i in range(failed)]
    assert FailPolicy.parse(policy).judge(total, hosts).failed is expected


def test_message_names_the_first_ten_failed_hosts_sorted() -> None:
    failed = [f"r{i:02d}" for i in range(13, 0, -1)]
    text = failure_message(50, failed)
    assert text == "13 of 50 hosts failed: r01, r02, r03, r04, r05, r06, r07, r08, r09, r10 and 3 more"
    assert failure_message(4, []) == "4 hosts, none failed"


@pytest.mark.parametrize("bad", ["some", "percent:", "percent:abc", "percent:101", "percent:-1"])
def test_bad_policies_are_one_clear_settings_error(bad: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_dict({"prefect": {"fail_on": bad}}, env={})
    text = str(err.value)
    assert "prefect.fail_on" in text and "any, all or percent:N" in text


def test_hosts_failed_error_carries_the_tree_and_pickles() -> None:
    err = HostsFailedError("1 of 2 hosts failed: r1", {"task_name": "t", "hosts": {}})
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == "1 of 2 hosts failed: r1" and again.tree == {"task_name": "t", "hosts": {}}
