"""The controller's safety layer on the real arm model: clamps, NaN rejection, workspace box,
e-stop latch, joint-state watchdog and the loop's pacing under clock jumps (pure, no ROS)."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vla_controller import WholeBodyController
from vla_controller.safety import (
    ESTOPPED,
    NO_JOINT_STATES,
    STALE,
    CommandSafety,
    HoldMode,
    RateMeter,
    TickPacer,
    WorkspaceBox,
)
from vla_controller.tasks import tool_down_pose

REPO = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((REPO / "config/robots/arm.yaml").read_text())
WBC_PARAMS = yaml.safe_load((REPO / "config/stacks/arm.yaml").read_text())["wbc_controller"][
    "ros__parameters"
]
DT_S = 1.0 / PROFILE["control_rate_hz"]
HOME = np.array(PROFILE["home_joint_positions"])
BOX = WorkspaceBox.from_bounds(WBC_PARAMS["workspace_min_base_m"],
                               WBC_PARAMS["workspace_max_base_m"])


def make(robot, **kwargs) -> CommandSafety:
    kwargs.setdefault("workspace", BOX)
    return CommandSafety(robot, DT_S, tool_frame="tool0", **kwargs)


def test_position_limits_clamp_every_joint(robot):
    safety = make(robot, workspace=None)
    start = robot.clip_to_limits(robot.position_upper - 1e-3)
    out = safety.filter(robot.position_upper + 1.0, start)
    assert np.all(out.q <= robot.position_upper)
    assert "clamped to position limits" in out.reasons
    out = safety.filter(robot.position_lower - 5.0, out.q)
    assert np.all(out.q >= robot.position_lower)


@pytest.mark.parametrize("speed_scale", [1.0, 0.25])
def test_step_is_limited_to_scaled_velocity_limits(robot, speed_scale):
    safety = make(robot, speed_scale=speed_scale, workspace=None)
    target = HOME + 0.5  # far: many ticks away
    q, path = HOME, [HOME]
    for _ in range(400):
        q = safety.filter(target, q).q
        path.append(q)
    steps = np.abs(np.diff(np.array(path), axis=0))
    limit = speed_scale * robot.velocity_limit * DT_S
    assert np.all(steps <= limit + 1e-12)
    assert np.allclose(steps[0], limit)  # the first tick moves at the limit, no more
    assert np.allclose(q, robot.clip_to_limits(target))  # and it gets there


def test_a_late_tick_may_step_as_far_as_the_time_it_stands_for(robot):
    safety = make(robot, workspace=None)
    target = HOME + 0.5
    limit = robot.velocity_limit * DT_S
    late = safety.filter(target, HOME, tick_dt_s=3 * DT_S).q  # a gait tick three periods late
    assert np.allclose(np.abs(late - HOME), 3 * limit)
    on_time = safety.filter(target, late, tick_dt_s=0.5 * DT_S).q  # never below the nominal
    assert np.allclose(np.abs(on_time - late), limit)


@pytest.mark.parametrize("bad", [
    [np.nan] * 7, [0.0, np.inf, 0, 0, 0, 0, 0], [-np.inf] * 7, [0.0] * 6, [0.0] * 8, [], None,
    "seven", [[0.0] * 7],
])
def test_non_finite_or_malformed_commands_hold_the_last_safe_one(robot, bad):
    safety = make(robot)
    first = safety.filter(HOME + 0.001, HOME).q
    out = safety.filter(bad, HOME)
    assert out.reasons and out.reasons[0].startswith("rejected")
    assert np.array_equal(out.q, first)
    assert safety.rejected_count == 1


def test_workspace_targets_outside_the_box_are_rejected(robot):
    safety = make(robot)
    safety.check_target_position([0.5, 0.0, 0.2])  # the table workspace: fine
    for bad in ([0.5, 0.0, -0.05], [1.2, 0.0, 0.3], [0.5, 0.9, 0.3], [np.nan, 0, 0.2], [0.5, 0.2]):
        with pytest.raises(ValueError):
            safety.check_target_position(bad)


def test_a_step_leaving_the_box_is_held_and_moving_back_in_is_allowed(robot):
    box = WorkspaceBox.from_bounds([0.2, -0.5, 0.45], [0.8, 0.5, 0.9])  # home tool z = 0.51
    safety = make(robot, workspace=box)
    wbc = WholeBodyController(robot, "tool0", DT_S)
    wbc.update(HOME)
    wbc.set_frame_target("tool", "tool0", tool_down_pose([0.40, 0.0, 0.30]))
    q = HOME
    rejected = 0
    for _ in range(600):
        out = safety.filter(wbc.update(q)[0], q)
        rejected += any("workspace" in r for r in out.reasons)
        q = out.q
    tool_z = robot.frame_pose_base(q, "tool0").translation[2]
    assert rejected > 0 and 0.45 - 1e-4 <= tool_z < 0.46  # stopped at the floor of the box
    assert safety.tool_outside_m(q) <= safety.workspace_tolerance_m
    # started outside (an arm switched on anywhere): steps back toward the box pass
    outside = make(robot, workspace=WorkspaceBox.from_bounds([0.2, -0.5, 0.6], [0.8, 0.5, 0.9]))
    wbc = WholeBodyController(robot, "tool0", DT_S)
    wbc.update(HOME)
    wbc.set_frame_target("tool", "tool0", tool_down_pose([0.40, 0.0, 0.70]))
    q = HOME
    for _ in range(800):
        out = outside.filter(wbc.update(q)[0], q)
        assert not any("workspace" in r for r in out.reasons)
        q = out.q
    assert outside.tool_outside_m(q) == 0.0
    print(f"\nRELIABILITY workspace: {rejected} of 600 steps leaving the box held; tool stopped "
          f"at z={tool_z:.4f} m (box floor 0.45); 800 steps back in from outside, 0 held")


@settings(max_examples=150, deadline=None)
@given(arrays(np.float64, 7, elements=st.floats(allow_nan=True, allow_infinity=True,
                                                   width=64)),
       st.floats(0.05, 1.0))
def test_any_candidate_gives_a_finite_bounded_step_in_limits(robot, candidate, speed_scale):
    safety = make(robot, speed_scale=speed_scale)
    last = safety.filter(HOME, HOME).q
    out = safety.filter(candidate, HOME)
    assert np.all(np.isfinite(out.q)) and robot.within_limits(out.q)
    assert np.all(np.abs(out.q - last) <= speed_scale * robot.velocity_limit * DT_S + 1e-12)
    assert safety.tool_outside_m(out.q) <= safety.tool_outside_m(last) + 1e-9


def test_estop_latches_the_held_command_until_reset(robot):
    safety = make(robot)
    q = HOME
    for _ in range(5):
        q = safety.filter(q + 0.004, q).q
    assert safety.hold_reason(0.0) == NO_JOINT_STATES
    safety.joint_state_received(0.0)
    assert safety.hold_reason(0.1) is None
    assert safety.estop("test") is True and safety.estop("again") is False
    assert safety.hold_reason(0.1) == ESTOPPED
    held = safety.held_command(q + 0.3)
    assert np.array_equal(held, q)  # the last command sent, not where the arm is pushed to
    for _ in range(20):  # new commands while stopped change nothing
        assert np.array_equal(safety.filter(q + 0.1, q + 0.2).q, held)
        assert np.array_equal(safety.held_command(q + 0.2), held)
    assert safety.reset() is True and safety.reset() is False
    assert safety.hold_reason(0.1) is None
    after = safety.filter(held + 1.0, held).q  # released: moves again, from the held command
    assert np.all(np.abs(after - held) <= robot.velocity_limit * DT_S + 1e-12)
    assert not np.array_equal(after, held)


def test_estop_before_any_command_holds_the_measured_position(robot):
    safety = make(robot)
    assert safety.held_command(None) is None
    safety.estop()
    measured = HOME + 0.01
    held = safety.held_command(measured)
    assert np.array_equal(held, measured)
    assert np.array_equal(safety.held_command(measured + 0.2), measured)


def test_watchdog_holds_on_stale_joint_states_and_resumes_when_fresh(robot):
    safety = make(robot, joint_state_timeout_s=0.5)
    safety.joint_state_received(10.0)
    assert safety.hold_reason(10.4) is None
    assert safety.hold_reason(10.6) == STALE
    safety.joint_state_received(10.7)
    assert safety.hold_reason(10.8) is None


@pytest.mark.parametrize("kwargs", [
    {"speed_scale": 0.0}, {"speed_scale": 1.5}, {"speed_scale": np.nan},
    {"joint_state_timeout_s": 0.0}, {"tool_frame": "no_such_frame"},
])
def test_bad_configuration_is_refused(robot, kwargs):
    kwargs = {"tool_frame": "tool0", **kwargs}
    with pytest.raises(ValueError):
        CommandSafety(robot, DT_S, workspace=BOX, **kwargs)
    with pytest.raises(ValueError):
        WorkspaceBox.from_bounds([0, 0, 0], [1, 1, np.nan])
    with pytest.raises(ValueError):
        WorkspaceBox.from_bounds([0, 0, 1], [1, 1, 0])


# --- the loop's pacing (vla_controller.node runs TickPacer on ROS time) ------------------------
PERIOD_NS = int(DT_S * 1e9)


def run_pacer(pacer: TickPacer, start_ns: int, duration_ns: int, dt_ns: int) -> int:
    """Advance a clock by dt_ns per call (sleeps are skipped); count ticks run."""
    ticks, now = 0, start_ns
    while now < start_ns + duration_ns:
        if pacer.step(now) == 0.0:
            ticks += 1
        else:
            now += dt_ns
    return ticks


def test_pacer_runs_one_tick_per_period():
    pacer = TickPacer(DT_S)
    assert run_pacer(pacer, 0, 10**9, 10**6) == pytest.approx(250, abs=1)
    assert pacer.resyncs == 0


@pytest.mark.parametrize("jump_s", [-100.0, -0.5, -0.02, 5.0, 3600.0])
def test_pacer_survives_clock_jumps_without_stalling_or_bursting(jump_s):
    pacer = TickPacer(DT_S)
    run_pacer(pacer, 10**12, 10**9, 10**6)
    jumped = 10**12 + 10**9 + int(jump_s * 1e9)
    assert pacer.step(jumped) == 0.0  # runs at once after the jump: not wedged
    assert pacer.resyncs == 1
    # afterwards: the normal rate, no burst of missed ticks
    assert run_pacer(pacer, jumped + 1, 10**9, 10**6) == pytest.approx(250, abs=2)


def test_pacer_catches_up_a_short_lag_but_not_a_long_one():
    pacer = TickPacer(DT_S, max_lag_s=1.0)
    pacer.step(0)
    ticks = 0
    while pacer.step(int(0.1e9)) == 0.0:  # 100 ms late: 25 ticks to catch up, then wait
        ticks += 1
    assert ticks == 25 and pacer.resyncs == 0


def test_pacer_without_catch_up_runs_one_tick_for_the_whole_gap():
    """A gait's pacing: a loop that wakes 100 ms late runs one tick standing for those 100 ms
    (the plan advances with the physics' clock), not 25 ticks in a burst."""
    pacer = TickPacer(DT_S, catch_up=False)
    assert pacer.step(0) == 0.0 and pacer.tick_dt_s == pytest.approx(DT_S)
    late_ns = int(0.1e9) + 10**6  # between two period boundaries
    assert pacer.step(late_ns) == 0.0
    assert pacer.tick_dt_s == pytest.approx(0.101)
    assert pacer.late_ticks == 1
    next_boundary_ns = 26 * PERIOD_NS  # the first boundary after now: the grid is kept
    assert pacer.step(late_ns) == pytest.approx((next_boundary_ns - late_ns) * 1e-9)
    assert pacer.step(next_boundary_ns) == 0.0
    assert pacer.tick_dt_s == pytest.approx((next_boundary_ns - late_ns) * 1e-9)
    # on time again: one period per tick, as with catch-up
    assert run_pacer(pacer, next_boundary_ns + 1, 10**9, 10**6) == pytest.approx(250, abs=1)
    assert pacer.tick_dt_s == pytest.approx(DT_S) and pacer.late_ticks == 1


def test_rate_meter_and_hold_mode_transitions():
    meter = RateMeter(window_s=1.0)
    for k in range(251):
        meter.tick(k * 0.004)  # 250 ticks per second of wall time
    assert meter.rate_hz == pytest.approx(250.0)
    mode = HoldMode()
    assert mode.change(None) is None
    assert mode.change(STALE) == ("warning", STALE)
    assert mode.change(STALE) is None
    assert mode.change(None) == ("info", f"{STALE!r} over: control resumed")
    assert mode.change(ESTOPPED) is None and mode.current == ESTOPPED  # logged at the latch
