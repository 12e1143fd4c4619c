"""The job execution state machine (rig/cloud/jobs/engine.py): the guide's worked example, each
refusal, and Hypothesis sequences of device and control-plane calls that must never reach a
state or transition the guide does not allow."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.cloud.jobs import engine
from rig.cloud.jobs.engine import Execution, JobsError

T0 = 1_476_214_216_981


def _new() -> Execution:
    return engine.queued("0023", "MyThing", 1, T0)


def _update(execution: Execution, body: dict[str, Any], now: int = T0 + 1) -> Execution:
    return engine.device_update(execution, engine.parse_update(body), now)


def test_guide_worked_example_versions_and_details() -> None:
    """Report Job Execution Status: expectedVersion "1" to IN_PROGRESS, then "2" to SUCCESS."""
    execution = _new()
    assert execution.state() == {"status": "QUEUED", "statusDetails": {}, "versionNumber": 1}
    started = _update(
        execution,
        {"status": "IN_PROGRESS", "statusDetails": {"progress": "50%"}, "expectedVersion": "1"},
        T0 + 10,
    )
    assert started.state() == {
        "status": "IN_PROGRESS",
        "statusDetails": {"progress": "50%"},
        "versionNumber": 2,
    }
    assert (started.queued_at, started.started_at, started.last_updated_at) == (
        T0,
        T0 + 10,
        T0 + 10,
    )
    done = _update(
        started,
        {"status": "SUCCESS", "statusDetails": {"progress": "100%"}, "expectedVersion": "2"},
        T0 + 20,
    )
    assert done.status == "SUCCEEDED"  # SUCCESS is an input alias only
    assert done.version_number == 3 and done.started_at == T0 + 10
    assert execution.status == "QUEUED"  # the engine never modifies what it is given


def test_status_details_unchanged_when_absent_replaced_when_given() -> None:
    first = _update(_new(), {"status": "IN_PROGRESS", "statusDetails": {"a": "1", "b": "2"}})
    assert _update(first, {"status": "IN_PROGRESS"}).status_details == {"a": "1", "b": "2"}
    assert _update(
        first, {"status": "IN_PROGRESS", "statusDetails": {"c": "3"}}
    ).status_details == {"c": "3"}


def test_terminal_state_is_final_with_the_execution_state() -> None:
    done = _update(_new(), {"status": "SUCCEEDED", "statusDetails": {"progress": "100%"}})
    with pytest.raises(JobsError) as caught:
        _update(done, {"status": "IN_PROGRESS"})
    assert caught.value.code == "InvalidStateTransition"
    assert caught.value.execution_state == {
        "status": "SUCCEEDED",
        "statusDetails": {"progress": "100%"},
        "versionNumber": 2,
    }


def test_update_of_an_execution_the_control_plane_ended() -> None:
    canceled = engine.cancel(_new(), T0 + 5)
    with pytest.raises(JobsError) as caught:
        _update(canceled, {"status": "IN_PROGRESS"})
    assert caught.value.code == "TerminalStateReached"
    assert caught.value.execution_state is None  # only for the two codes the guide names


def test_version_mismatch_carries_the_current_state() -> None:
    started = _update(_new(), {"status": "IN_PROGRESS"})
    with pytest.raises(JobsError) as caught:
        _update(started, {"status": "IN_PROGRESS", "expectedVersion": "1"})
    assert caught.value.code == "VersionMismatch"
    assert caught.value.execution_state is not None
    assert caught.value.execution_state["versionNumber"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": "CANCELED"},
        {"status": "QUEUED"},
        {"status": "TIMED_OUT"},
        {"status": "REMOVED"},
        {"status": "succeeded"},
        {"status": 3},
        {"status": "IN_PROGRESS", "statusDetails": {"bad key": "x"}},
        {"status": "IN_PROGRESS", "statusDetails": {"k": ""}},
        {"status": "IN_PROGRESS", "statusDetails": {"k": 1}},
        {"status": "IN_PROGRESS", "statusDetails": {"k": "a\nb"}},
        {"status": "IN_PROGRESS", "statusDetails": {"k": "x" * 1025}},
        {"status": "IN_PROGRESS", "statusDetails": {f"k{i}": "v" for i in range(11)}},
        {"status": "IN_PROGRESS", "statusDetails": []},
        {"status": "IN_PROGRESS", "expectedVersion": True},
        {"status": "IN_PROGRESS", "expectedVersion": "1.0"},
        {"status": "IN_PROGRESS", "expectedVersion": "-1"},
        [],
    ],
)
def test_invalid_requests(body: Any) -> None:
    with pytest.raises(JobsError) as caught:
        engine.parse_update(body)
    assert caught.value.code == "InvalidRequest"


def test_cancel_rules() -> None:
    started = _update(_new(), {"status": "IN_PROGRESS"})
    with pytest.raises(JobsError) as caught:
        engine.cancel(started, T0 + 2)
    assert caught.value.code == "InvalidStateTransition"
    forced = engine.cancel(started, T0 + 2, force=True, status_details={"why": "recall"})
    assert (forced.status, forced.force_canceled, forced.version_number) == ("CANCELED", True, 3)
    assert forced.status_details == {"why": "recall"}
    with pytest.raises(JobsError) as caught:
        engine.cancel(_new(), T0 + 2, expected_version=7)
    assert caught.value.code == "VersionMismatch"
    assert not engine.cancel(_new(), T0 + 2).force_canceled


def test_start_next_leaves_an_in_progress_execution_alone() -> None:
    started = engine.start(_new(), {"step": "1"}, T0 + 3)
    assert (started.status, started.version_number, started.started_at) == (
        "IN_PROGRESS",
        2,
        T0 + 3,
    )
    assert engine.start(started, {"step": "2"}, T0 + 4) is started


def test_snapshot_job_completes_when_every_execution_is_terminal() -> None:
    assert engine.job_status_after("IN_PROGRESS", "SNAPSHOT", ["SUCCEEDED", "QUEUED"]) == (
        "IN_PROGRESS"
    )
    assert engine.job_status_after("IN_PROGRESS", "SNAPSHOT", ["SUCCEEDED", "REJECTED"]) == (
        "COMPLETED"
    )
    assert engine.job_status_after("IN_PROGRESS", "CONTINUOUS", ["SUCCEEDED"]) == "IN_PROGRESS"
    assert engine.job_status_after("CANCELED", "SNAPSHOT", []) == "CANCELED"
    details = engine.process_details(["QUEUED", "QUEUED", "TIMED_OUT"])
    assert details["numberOfQueuedThings"] == 2 and details["numberOfTimedOutThings"] == 1
    assert sum(details.values()) == 3


# ---- properties ----------------------------------------------------------------------------

STATUS_INPUTS = st.sampled_from([*engine.STATUSES, "SUCCESS", "DONE"])
DEVICE_CALL = st.builds(
    lambda status, details, version: ("device", status, details, version),
    STATUS_INPUTS,
    st.none() | st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from(["1", "2"])),
    st.none() | st.integers(0, 8),
)
CONTROL_CALL = st.tuples(
    st.sampled_from(["cancel", "time_out", "remove", "start"]),
    st.booleans(),
    st.none() | st.integers(0, 8),
)
CALLS = st.lists(st.one_of(DEVICE_CALL, CONTROL_CALL), max_size=12)


def _call(execution: Execution, call: tuple[Any, ...], now: int) -> Execution:
    kind = call[0]
    if kind == "device":
        _, status, details, version = call
        body: dict[str, Any] = {"status": status}
        if details is not None:
            body["statusDetails"] = details
        if version is not None:
            body["expectedVersion"] = version
        return engine.device_update(execution, engine.parse_update(body), now)
    _, force, version = call
    if kind == "cancel":
        return engine.cancel(execution, now, force=force, expected_version=version)
    if kind == "time_out":
        return engine.time_out(execution, now)
    if kind == "remove":
        return engine.remove(execution, now)
    return engine.start(execution, None, now)


@settings(max_examples=300, deadline=None)
@given(CALLS)
def test_no_sequence_of_calls_leaves_the_guides_state_machine(calls: list[Any]) -> None:
    execution = _new()
    for step, call in enumerate(calls, start=1):
        before = execution
        try:
            execution = _call(execution, call, T0 + step)
        except JobsError as err:
            assert err.code in {
                "InvalidRequest",
                "InvalidStateTransition",
                "VersionMismatch",
                "TerminalStateReached",
            }
            assert execution is before  # refused: nothing changed
            continue
        assert execution.status in engine.STATUSES
        if execution is before:  # start-next on an IN_PROGRESS execution: no change
            continue
        # terminal states stay terminal: an accepted call never starts from one
        assert before.status not in engine.TERMINAL
        assert (before.status, execution.status) in engine.ALLOWED_TRANSITIONS
        if call[0] == "device":
            assert (before.status, execution.status) in engine.DEVICE_TRANSITIONS
        else:
            assert execution.status in {"IN_PROGRESS", "CANCELED", "TIMED_OUT", "REMOVED"}
        # versions increase by exactly one per accepted update
        assert execution.version_number == before.version_number + 1
        assert execution.last_updated_at == T0 + step
        assert execution.queued_at == T0
        if execution.status != "QUEUED":
            assert execution.started_at is not None or execution.status in {
                "CANCELED",
                "REMOVED",
            }


@settings(max_examples=100, deadline=None)
@given(CALLS, CALLS)
def test_once_terminal_every_call_is_refused(prefix: list[Any], after: list[Any]) -> None:
    execution = _new()
    for step, call in enumerate(prefix, start=1):
        try:
            execution = _call(execution, call, T0 + step)
        except JobsError:
            pass
    if execution.status not in engine.TERMINAL:
        execution = engine.cancel(execution, T0 + 100, force=True)
    final = execution
    for call in after:
        try:
            _call(execution, call, T0 + 200)
        except JobsError:
            continue
        pytest.fail(f"{call} changed a {final.status} execution")
