"""deploy_config against the device simulator (which keeps a running config) and fakenos."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import genja_prefect as genja_lib
from genja_prefect_flows import DeployConfig, TemplateNotFoundError
from genja_prefect_flows.common import run_command

TEMPLATE = """\
interface {{ 'Ethernet2' if host.platform == 'eos' else 'GigabitEthernet2' }}
  description {{ description }} ({{ data.site }})
ntp server {{ ntp }}
"""
VARIABLES = {"description": "to-core", "ntp": "192.0.2.99"}


@pytest.fixture
def sim(sim_lab: Callable[..., Any], plain_runtime: Callable[..., genja_lib.Genja]) -> genja_lib.Genja:
    """A fresh simulated ios + eos pair per test (deploys change their running config)."""
    lab = sim_lab(ios=1, eos=1)
    return plain_runtime(str(Path(lab.directory) / "settings.yaml"))


def _running(genja: genja_lib.Genja, host_id: str) -> str:
    from genja_prefect.task import task

    @task(name="show_run")
    class ShowRun:
        def start(self, task: Any, host: Any, context: Any) -> Any:
            from genja_prefect.results import TaskSuccessResult

            return TaskSuccessResult(result=run_command(context.get_connection("scrapli"), "show running-config"))

    return str(genja.filter(name=host_id).run_task(ShowRun())[host_id].result)


def test_dry_run_shows_the_diff_and_sends_nothing(sim: genja_lib.Genja, tmp_path: Path) -> None:
    path = tmp_path / "core.j2"
    path.write_text(TEMPLATE)
    before = {h: _running(sim, h) for h in ("sim-ios1", "sim-eos1")}
    results = sim.run_task(DeployConfig(str(path), variables=VARIABLES))
    eos = results["sim-eos1"]
    assert eos.status == "passed" and not eos.changed and eos.result["dry_run"]
    added = [line for line in eos.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert added == ["+   description to-core (lab)", "+ntp server 192.0.2.99"]
    assert "+ description to-core (lab)" in results["sim-ios1"].diff  # IOS indents by one
    assert results.sub_tasks["verify_config"]["sim-eos1"].reason == "dry_run"
    assert {h: _running(sim, h) for h in before} == before


def test_apply_changes_the_device_and_verify_passes(sim: genja_lib.Genja) -> None:
    results = sim.run_task(DeployConfig(TEMPLATE, variables=VARIABLES, apply=True))
    for host_id in ("sim-ios1", "sim-eos1"):
        assert results[host_id].changed and results[host_id].result["applied"], results[host_id]
        assert results.sub_tasks["verify_config"][host_id].status == "passed"
    running = _running(sim, "sim-eos1")
    assert "ntp server 192.0.2.99" in running and "   description to-core (lab)" in running
    # a second run finds nothing to do
    again = sim.run_task(DeployConfig(TEMPLATE, variables=VARIABLES, apply=True))
    assert not again["sim-eos1"].changed and again["sim-eos1"].diff is None
    assert again["sim-eos1"].summary.startswith("already in line")


def test_verify_fails_with_validation_when_a_line_does_not_stick(sim: genja_lib.Genja) -> None:
    # A second "ip address" replaces the first one on the device, so the first never shows up.
    candidate = "interface Ethernet2\n   ip address 10.9.9.1/24\n   ip address 10.9.9.2/24\n"
    results = sim.filter(name="sim-eos1").run_task(DeployConfig(candidate, apply=True))
    assert results["sim-eos1"].changed
    verify = results.sub_tasks["verify_config"]["sim-eos1"]
    assert verify.status == "failed" and verify.kind.value == "validation"
    assert verify.details["missing"] == ["interface Ethernet2 > ip address 10.9.9.1/24"]


def test_rejected_config_line_fails_with_kind_command(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    # fakenos arista_eos has a config mode but knows almost no config commands.
    results = plain_runtime(lab_settings, name="eos1").run_task(
        DeployConfig("ntp server 192.0.2.98\n", apply=True)
    )
    entry = results["eos1"]
    assert entry.status == "failed" and entry.kind.value == "command" and "Invalid input" in entry.message
    assert results.sub_tasks["verify_config"]["eos1"].reason == "parent_failed"


def test_per_host_template_errors_and_unsupported_platforms(
    lab_settings: str, plain_runtime: Callable[..., genja_lib.Genja]
) -> None:
    results = plain_runtime(lab_settings, name__in=["sim-ios1", "junos1"]).run_task(
        DeployConfig("ntp server {{ data.ntp_server }}\n")
    )
    failed = results["sim-ios1"]
    assert failed.status == "failed" and failed.kind.value == "validation"
    assert "host sim-ios1" in failed.message and "ntp_server" in failed.message
    assert results["junos1"].status == "skipped" and results["junos1"].reason == "unsupported_platform"


def test_missing_template_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateNotFoundError, match=str(tmp_path / "missing.j2")):
        DeployConfig(str(tmp_path / "missing.j2"))


def test_deploy_task_pickles_with_its_verify_step() -> None:
    import pickle

    task = pickle.loads(pickle.dumps(DeployConfig("ntp server 192.0.2.1", apply=True)))
    spec = type(task).__genja_task__
    assert task.apply and [type(s).__name__ for s in spec.sub_tasks] == ["VerifyConfig"]
    assert type(DeployConfig("x y", verify=False)).__genja_task__.sub_tasks == ()


def _changed(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_dry_run_lines_are_what_apply_sends_and_the_diff_is_what_the_device_ends_with(sim: genja_lib.Genja) -> None:
    from genja_prefect_flows.remediation import load

    eos = sim.filter(name="sim-eos1")
    candidate = "interface Ethernet1\n   description new-uplink\n   ip address 10.0.0.9/24\n"
    dry = eos.run_task(DeployConfig(candidate))["sim-eos1"]
    # the old single values show as removed, not kept beside the new ones
    assert _changed(dry.diff) == [
        "-   description uplink",
        "-   ip address 10.0.0.2/24",
        "+   description new-uplink",
        "+   ip address 10.0.0.9/24",
    ]
    assert dry.result["mode"] == "merge" and dry.result["rollback"][1:3] == ["  description uplink", "  ip address 10.0.0.2/24"]
    before = _running(sim, "sim-eos1")
    done = eos.run_task(DeployConfig(candidate, apply=True))
    assert done["sim-eos1"].result["lines"] == dry.result["lines"] and done["sim-eos1"].diff == dry.diff
    assert done.sub_tasks["verify_config"]["sim-eos1"].status == "passed"
    after = _running(sim, "sim-eos1")
    # what the diff promised is what the device now has: the "+" side of the diff, line for line
    promised = [line[1:] for line in dry.diff.splitlines()[2:] if not line.startswith(("-", "@@"))]
    assert all(line in after.splitlines() for line in promised)
    assert "description uplink" not in after and "10.0.0.2/24" not in after
    assert load("eos", after).dump_simple() != load("eos", before).dump_simple()


def test_replace_mode_makes_a_section_exactly_the_candidate(sim: genja_lib.Genja) -> None:
    ios = sim.filter(name="sim-ios1")
    candidate = "interface GigabitEthernet1\n description replaced\n"
    results = ios.run_task(DeployConfig(candidate, apply=True, mode="replace"))
    entry = results["sim-ios1"]
    assert entry.result["mode"] == "replace" and "  no ip address 10.0.0.1 255.255.255.0" in entry.result["lines"]
    assert results.sub_tasks["verify_config"]["sim-ios1"].status == "passed"
    running = _running(sim, "sim-ios1").splitlines()
    block = running[running.index("interface GigabitEthernet1") + 1]
    assert block == " description replaced" and "10.0.0.1 255.255.255.0" not in "\n".join(running)
    with pytest.raises(ValueError, match="mode: expected one of merge, replace"):
        DeployConfig(candidate, mode="overwrite")


def test_a_failing_check_rolls_back_to_the_running_config_before(sim: genja_lib.Genja) -> None:
    eos = sim.filter(name="sim-eos1")
    before = _running(sim, "sim-eos1")
    change = DeployConfig("ntp server 192.0.2.77\ninterface Ethernet1\n   description gone-wrong\n", apply=True,
                          rollback=True, check_command="show running-config | include ntp server",
                          check_regex=r"ntp server 192\.0\.2\.99")
    results = eos.run_task(change)
    assert results["sim-eos1"].changed and results["sim-eos1"].result["checkpoint"] == change.checkpoint
    verify = results.sub_tasks["verify_config"]["sim-eos1"]
    assert verify.status == "failed" and verify.kind.value == "validation"
    assert verify.details["rolled_back"] is True and "rolled back" in verify.message
    assert "does not match" in verify.message
    assert _running(sim, "sim-eos1") == before  # byte for byte, the size line included
    # the checkpoint file was removed after the restore
    again = eos.run_task(DeployConfig("ntp server 192.0.2.77\n", apply=True, rollback=True))
    assert again.sub_tasks["verify_config"]["sim-eos1"].status == "passed"


def test_a_line_that_does_not_stick_rolls_back_on_ios(sim: genja_lib.Genja) -> None:
    ios = sim.filter(name="sim-ios1")
    before = _running(sim, "sim-ios1")
    candidate = "interface GigabitEthernet2\n ip address 10.9.9.1 255.255.255.0\n ip address 10.9.9.2 255.255.255.0\n"
    results = ios.run_task(DeployConfig(candidate, apply=True, rollback=True))
    verify = results.sub_tasks["verify_config"]["sim-ios1"]
    assert verify.status == "failed" and verify.details["rolled_back"] is True
    assert verify.details["missing"] == ["interface GigabitEthernet2 > ip address 10.9.9.1 255.255.255.0"]
    assert _running(sim, "sim-ios1") == before


def test_a_passing_check_keeps_the_change_and_deletes_the_checkpoint(sim: genja_lib.Genja) -> None:
    from genja_prefect_flows.rollback import Checkpoint

    change = DeployConfig("ntp server 192.0.2.78\n", apply=True, rollback=True,
                          check_command="show running-config | include ntp", check_regex="192.0.2.78")
    results = sim.filter(name="sim-ios1").run_task(change)
    assert results.sub_tasks["verify_config"]["sim-ios1"].status == "passed"
    assert "ntp server 192.0.2.78" in _running(sim, "sim-ios1")
    show = Checkpoint.for_platform("ios", str(change.checkpoint)).show_command

    from genja_prefect.task import task

    @task(name="show_checkpoint")
    class ShowCheckpoint:
        def start(self, task: Any, host: Any, context: Any) -> Any:
            return run_command(context.get_connection("scrapli"), show)

    gone = sim.filter(name="sim-ios1").run_task(ShowCheckpoint())["sim-ios1"]
    assert gone.status == "failed" and "No such file" in gone.message


@pytest.fixture
def nxos(sim_lab: Callable[..., Any], plain_runtime: Callable[..., genja_lib.Genja]) -> tuple[Any, genja_lib.Genja]:
    """A fresh simulated NX-OS switch (sim-nxos1) and a runtime for it."""
    lab = sim_lab(ios=0, sim_nxos=1)
    return lab, plain_runtime(str(Path(lab.directory) / "settings.yaml"))


def test_nxos_failing_check_rolls_back_to_the_checkpoint(nxos: tuple[Any, genja_lib.Genja]) -> None:
    from genja_prefect_flows.rollback import Checkpoint

    lab, genja = nxos
    before = _running(genja, "sim-nxos1")
    change = DeployConfig("ntp server 192.0.2.77\ninterface Ethernet1/1\n  description gone-wrong\n", apply=True,
                          rollback=True, check_command="show running-config | include ntp server",
                          check_regex=r"ntp server 192\.0\.2\.99")
    results = genja.run_task(change)
    applied = results["sim-nxos1"]
    assert applied.status == "passed" and applied.changed
    name = Checkpoint.for_platform("nxos", str(change.checkpoint)).name
    assert applied.result["checkpoint"] == name and not name.endswith(".cfg")
    verify = results.sub_tasks["verify_config"]["sim-nxos1"]
    assert verify.status == "failed" and verify.kind.value == "validation"
    assert verify.details["rolled_back"] is True and "rolled back" in verify.message and "does not match" in verify.message
    assert _running(genja, "sim-nxos1") == before
    assert lab.simulator.checkpoint_names("sim-nxos1") == []  # deleted after the restore


def test_nxos_line_that_does_not_stick_rolls_back(nxos: tuple[Any, genja_lib.Genja]) -> None:
    lab, genja = nxos
    before = lab.simulator.running_config("sim-nxos1")
    candidate = "interface Ethernet1/2\n  ip address 10.9.9.1/24\n  ip address 10.9.9.2/24\n"
    verify = genja.run_task(DeployConfig(candidate, apply=True, rollback=True)).sub_tasks["verify_config"]["sim-nxos1"]
    assert verify.status == "failed" and verify.details["rolled_back"] is True
    assert verify.details["missing"] == ["interface Ethernet1/2 > ip address 10.9.9.1/24"]
    assert lab.simulator.running_config("sim-nxos1") == before


def test_nxos_good_verification_keeps_the_change_and_deletes_the_checkpoint(nxos: tuple[Any, genja_lib.Genja]) -> None:
    from genja_prefect.task import task
    from genja_prefect_flows.rollback import Checkpoint

    lab, genja = nxos
    change = DeployConfig("ntp server 192.0.2.78\n", apply=True, rollback=True,
                          check_command="show running-config | include ntp", check_regex="192.0.2.78")
    results = genja.run_task(change)
    verify = results.sub_tasks["verify_config"]["sim-nxos1"]
    assert verify.status == "passed" and verify.result["rolled_back"] is False
    assert "ntp server 192.0.2.78" in lab.simulator.running_config("sim-nxos1")
    assert lab.simulator.checkpoint_names("sim-nxos1") == []
    show = Checkpoint.for_platform("nxos", str(change.checkpoint)).show_command

    @task(name="show_checkpoint")
    class ShowCheckpoint:
        def start(self, task: Any, host: Any, context: Any) -> Any:
            return run_command(context.get_connection("scrapli"), show)

    gone = genja.run_task(ShowCheckpoint())["sim-nxos1"]
    assert gone.status == "failed" and "does not exist" in gone.message


def test_nxos_checkpoint_is_taken_before_sending_and_outlives_the_session(nxos: tuple[Any, genja_lib.Genja]) -> None:
    lab, genja = nxos
    change = DeployConfig("ntp server 192.0.2.79\n", apply=True, rollback=True, verify=False)
    name = genja.run_task(change)["sim-nxos1"].result["checkpoint"]
    assert lab.simulator.checkpoint_names("sim-nxos1") == [name]
    # the verification runs later, in another session (as deploy_config does): it finds and deletes it
    checked = genja.run_task(change.verifier_after_apply())["sim-nxos1"]
    assert checked.status == "passed" and lab.simulator.checkpoint_names("sim-nxos1") == []


def test_nxos_rollback_through_the_deploy_config_flow_verifies_in_a_fresh_session(
    nxos: tuple[Any, genja_lib.Genja], prefect_api: Any
) -> None:
    from genja_prefect_flows import deploy_config

    lab, _ = nxos
    before = lab.simulator.running_config("sim-nxos1")
    sessions = lab.simulator.accepted_count("sim-nxos1")
    state = deploy_config(settings=str(Path(lab.directory) / "settings.yaml"), template="ntp server 192.0.2.121\n",
                          apply=True, rollback=True, check_command="show running-config | include ntp",
                          check_regex="192.0.2.122", return_state=True)
    assert state.is_failed()  # rolled back: a red run
    tree = state.result(raise_on_failure=False).tree
    assert tree["hosts"]["sim-nxos1"]["result"]["checkpoint"].startswith("genja-")
    checked = tree["sub_tasks"]["verify_config"]["hosts"]["sim-nxos1"]
    assert checked["status"] == "failed" and checked["details"]["rolled_back"] is True
    assert lab.simulator.running_config("sim-nxos1") == before
    assert lab.simulator.accepted_count("sim-nxos1") - sessions == 2  # apply, then verify in its own session
    assert lab.simulator.checkpoint_names("sim-nxos1") == []


def test_rollback_options_are_checked_before_any_host() -> None:
    from genja_prefect_flows.rollback import Checkpoint

    with pytest.raises(ValueError, match="check_regex: give check_command too"):
        DeployConfig("ntp server 192.0.2.1", check_regex="x")
    with pytest.raises(ValueError, match="check_regex: not a regular expression"):
        DeployConfig("ntp server 192.0.2.1", check_command="show clock", check_regex="(")
    with pytest.raises(ValueError, match=r"rollback is implemented for platforms \['eos', 'ios', 'iosxe', 'nxos'\], "
                                         r"not 'iosxr'"):
        Checkpoint.for_platform("iosxr", "x.cfg")


def test_an_apply_sends_only_the_reviewed_lines(sim: genja_lib.Genja) -> None:
    from genja_prefect_flows.approval import new_review_key

    eos = sim.filter(name="sim-eos1")
    key = new_review_key()
    template = "interface Ethernet1\n   description reviewed\n"
    dry = eos.run_task(DeployConfig(template, mode="replace", review_key=key))["sim-eos1"]
    digest = dry.result["review_digest"]
    assert len(digest) == 64 and "description reviewed" not in digest
    # the device changes between review and apply: the plan is no longer the reviewed one
    eos.run_task(DeployConfig("interface Ethernet1\n   ip address 10.0.0.77/24\n", apply=True, verify=False))
    stale = eos.run_task(DeployConfig(template, mode="replace", apply=True, review_key=key,
                                      reviewed={"sim-eos1": digest}))["sim-eos1"]
    assert stale.status == "failed" and "not the reviewed one" in stale.message
    assert "description reviewed" not in _running(sim, "sim-eos1")
    fresh = eos.run_task(DeployConfig(template, mode="replace", review_key=key))["sim-eos1"].result["review_digest"]
    done = eos.run_task(DeployConfig(template, mode="replace", apply=True, verify=False, review_key=key,
                                     reviewed={"sim-eos1": fresh}))["sim-eos1"]
    assert done.changed and "   description reviewed" in _running(sim, "sim-eos1")
    unreviewed = sim.filter(name="sim-ios1").run_task(DeployConfig("ntp server 192.0.2.5\n", apply=True, review_key=key,
                                                                   reviewed={"sim-eos1": fresh}))["sim-ios1"]
    assert unreviewed.status == "skipped" and unreviewed.reason == "not_reviewed"
