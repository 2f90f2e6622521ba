"""Humanoid walking: LIPM preview gains, leg IK, footsteps (pure units) and the walker in MuJoCo
(SimWorld, headless, sim time, no ROS): walks forward, turns, stops, takes a lateral push.

Push documented here (and in docs/BENCHMARKS.md): standing, 180 N on the pelvis for 0.1 s, an
18 N s impulse on the 37.8 kg robot (0.48 m/s). Measured while writing this: 200 N x 0.1 s
(20 N s) is survived, 220 N x 0.1 s (22 N s) is not: its capture point (0.58 m/s / omega
3.8 rad/s = 0.155 m) lies beyond the outer sole edge (0.14 m), which the ankle strategy alone
cannot pull back. Joint PD holding the stance alone falls at 16 N s (test_legged_models.py).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402
import pytest  # noqa: E402
from scipy.spatial import ConvexHull  # noqa: E402

from vla_bringup.profile import load_profile  # noqa: E402
from vla_controller.locomotion.humanoid_footsteps import (  # noqa: E402
    Footstep,
    StepParams,
    plan_footsteps,
    ramped_twists,
    swing_foot,
    wrap_angle,
)
from vla_controller.locomotion.humanoid_leg_ik import LegGeometry, leg_ik  # noqa: E402
from vla_controller.locomotion.humanoid_preview import (  # noqa: E402
    PreviewController,
    preview_gains,
)
from vla_controller.locomotion.humanoid_walking import (  # noqa: E402
    HumanoidWalking,
    LeggedState,
    WalkingConfig,
)
from vla_sim.scene import load_scene  # noqa: E402
from vla_sim.world import SimWorld  # noqa: E402
from vla_skills.base import Pose2D  # noqa: E402
from vla_skills.legged import WalkLimits, walk_command  # noqa: E402

MIN_PELVIS_Z_M = 0.55  # standing/walking pelvis is at ~0.70 m; below this it is falling
MAX_TILT_DEG = 20.0
PUSH_N, PUSH_S = 180.0, 0.1


@pytest.fixture(scope="module")
def profile():
    return load_profile("humanoid")


@pytest.fixture(scope="module")
def pin_model(profile):
    return pin.buildModelFromUrdf(profile["urdf"], pin.JointModelFreeFlyer())


# ----- pure units -----------------------------------------------------------------------------
def test_preview_zmp_tracks_a_step_and_anticipates_it():
    gains = preview_gains(0.7, 0.01, 1.6)
    ctrl = PreviewController(gains)
    n = gains.n_preview
    steps = 500
    ref = np.zeros((steps + n + 1, 2))
    ref[200:] = [0.1, -0.05]  # the ZMP reference jumps at step 200 (t = 2 s)
    com, zmp = [], []
    for k in range(steps):
        ctrl.step(ref[k:k + n + 1])
        com.append(ctrl.state[0].copy())
        zmp.append(ctrl.zmp_xy.copy())
    com, zmp = np.array(com), np.array(zmp)
    # preview: the CoM starts moving well before the reference does
    assert abs(com[180, 0]) > 1e-3
    # integral action: in steady state the ZMP (and the resting CoM) sit on the reference
    assert zmp[-1] == pytest.approx([0.1, -0.05], abs=1e-4)
    assert com[-1] == pytest.approx([0.1, -0.05], abs=1e-4)
    # between two preview steps the interpolation is continuous with the step
    assert ctrl.interpolate(gains.dt_s)[0] == pytest.approx(ctrl.state[0], abs=1e-12)


def test_preview_rejects_a_bad_reference():
    gains = preview_gains(0.7, 0.01, 0.5)
    ctrl = PreviewController(gains)
    with pytest.raises(ValueError):
        ctrl.step(np.zeros((3, 2)))
    bad = np.zeros((gains.n_preview + 1, 2))
    bad[3, 0] = np.nan
    with pytest.raises(ValueError):
        ctrl.step(bad)
    with pytest.raises(ValueError):
        preview_gains(-0.7, 0.01, 1.0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_leg_ik_round_trip_against_pinocchio_fk(profile, pin_model, side):
    names = profile["joint_groups"][f"{side}_leg"]
    sole = profile["contact_frames"][0 if side == "left" else 1]
    leg = LegGeometry.from_model(pin_model, names, sole)
    data = pin_model.createData()
    rng = np.random.default_rng(3)
    for _ in range(50):
        q = pin.randomConfiguration(pin_model)
        q[:3] = rng.uniform(-1, 1, 3)
        q_leg = rng.uniform(leg.lower_rad, leg.upper_rad)
        q_leg[3] = rng.uniform(0.05, leg.upper_rad[3])  # a bent knee: the IK's branch
        for name, value in zip(names, q_leg, strict=True):
            q[pin_model.idx_qs[pin_model.getJointId(name)]] = value
        pin.framesForwardKinematics(pin_model, data, q)
        pelvis = data.oMf[pin_model.getFrameId(profile["base_frame"])]
        target = data.oMf[pin_model.getFrameId(sole)].copy()
        solution, ok = leg_ik(leg, pelvis.rotation, pelvis.translation, target.rotation,
                              target.translation)
        assert ok
        assert solution == pytest.approx(q_leg, abs=1e-7)
        for name, value in zip(names, solution, strict=True):
            q[pin_model.idx_qs[pin_model.getJointId(name)]] = value
        pin.framesForwardKinematics(pin_model, data, q)
        reached = data.oMf[pin_model.getFrameId(sole)]
        assert np.linalg.norm(pin.log6(target.actInv(reached)).vector) < 1e-7


def test_leg_ik_out_of_reach_stretches_within_limits(profile, pin_model):
    leg = LegGeometry.from_model(pin_model, profile["joint_groups"]["left_leg"], "left_sole")
    q, ok = leg_ik(leg, np.eye(3), np.array([0.0, 0.0, 0.8]), np.eye(3),
                   np.array([0.0, 0.09, -0.5]))  # 1.2 m below the hip: the leg is 0.65 m
    assert not ok
    assert np.all(q >= leg.lower_rad) and np.all(q <= leg.upper_rad)
    assert q[3] == pytest.approx(0.0, abs=0.06)  # knee straight


def test_leg_geometry_refuses_a_chain_it_cannot_solve(pin_model):
    arm = ["left_shoulder_pitch_joint", "left_shoulder_roll_joint", "left_shoulder_yaw_joint",
           "left_elbow_joint", "right_shoulder_pitch_joint", "right_elbow_joint"]
    with pytest.raises(ValueError):
        LegGeometry.from_model(pin_model, arm, "left_hand")


def _params(profile) -> StepParams:
    return WalkingConfig.from_profile(profile).steps


def _in_frame(stance: Footstep, step: Footstep) -> tuple[np.ndarray, float]:
    c, s = math.cos(stance.yaw_world_rad), math.sin(stance.yaw_world_rad)
    d = step.xy_world_m - stance.xy_world_m
    return np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]]), wrap_angle(
        step.yaw_world_rad - stance.yaw_world_rad)


def test_footsteps_for_a_turn(profile):
    params = _params(profile)
    stance = Footstep("right", np.array([0.0, -params.foot_spacing_m / 2]), 0.0)
    wz = 0.4
    steps = plan_footsteps(stance, (0.0, 0.0, wz), 8, params)
    assert [s.side for s in steps] == ["left", "right"] * 4
    previous = stance
    for step in steps:
        rel_xy, rel_yaw = _in_frame(previous, step)
        # each landing turns by the commanded rate x the step period, on its own side
        assert rel_yaw == pytest.approx(wz * params.step_period_s, abs=1e-9)
        sign = 1.0 if step.side == "left" else -1.0
        assert sign * rel_xy[1] >= params.min_foot_gap_m - 1e-9
        previous = step
    assert wrap_angle(steps[-1].yaw_world_rad) == pytest.approx(
        wrap_angle(8 * wz * params.step_period_s), abs=1e-9)
    # turning in place: the feet stay around where they were
    centre = (steps[-1].xy_world_m + steps[-2].xy_world_m) / 2
    assert np.linalg.norm(centre) < 0.05


def test_footsteps_forward_and_sideways(profile):
    params = _params(profile)
    stance = Footstep("left", np.array([0.0, params.foot_spacing_m / 2]), 0.0)
    vx = 0.3
    steps = plan_footsteps(stance, (vx, 0.0, 0.0), 6, params)
    # the same foot moves 2 vx T per stride; the feet keep their spacing
    assert steps[2].xy_world_m[0] - steps[0].xy_world_m[0] == pytest.approx(
        2 * vx * params.step_period_s)
    assert abs(steps[1].xy_world_m[1] - steps[0].xy_world_m[1]) == pytest.approx(
        params.foot_spacing_m)
    # a fast sideways command never lands a foot on (or across) the other one
    previous = stance
    for step in plan_footsteps(stance, (0.0, -1.0, 0.0), 6, params):
        rel_xy, _ = _in_frame(previous, step)
        sign = 1.0 if step.side == "left" else -1.0
        assert sign * rel_xy[1] >= params.min_foot_gap_m - 1e-9
        previous = step


def test_swing_foot_lifts_and_lands_softly(profile):
    start = Footstep("left", np.array([0.0, 0.09]), 0.0)
    end = Footstep("left", np.array([0.3, 0.1]), 0.2)
    xyz0, yaw0, v0, _ = swing_foot(start, end, 0.0, 0.4, 0.05)
    xyz1, yaw1, v1, _ = swing_foot(start, end, 1.0, 0.4, 0.05)
    mid, _, _, _ = swing_foot(start, end, 0.5, 0.4, 0.05)
    assert xyz0 == pytest.approx([0.0, 0.09, 0.0]) and yaw0 == pytest.approx(0.0)
    assert xyz1 == pytest.approx([0.3, 0.1, 0.0]) and yaw1 == pytest.approx(0.2)
    assert v0 == pytest.approx(np.zeros(3)) and v1 == pytest.approx(np.zeros(3))
    assert mid[2] == pytest.approx(0.05)


def test_bad_config_and_commands_are_refused(profile):
    broken = {k: v for k, v in profile.items() if k != "locomotion"}
    with pytest.raises(ValueError, match="locomotion"):
        HumanoidWalking(broken)
    walker = HumanoidWalking(profile)
    n = len(walker.joint_names)
    good = LeggedState(np.zeros(n), np.zeros(n), np.array([1.0, 0, 0, 0]), np.zeros(3),
                       np.zeros(3))
    for bad in (LeggedState(np.full(n, np.nan), *list(vars(good).values())[1:]),
                LeggedState(np.zeros(n - 1), *list(vars(good).values())[1:]),
                LeggedState(np.zeros(n), np.zeros(n), np.zeros(4), np.zeros(3), np.zeros(3))):
        with pytest.raises(ValueError):
            walker.update(bad, (0.0, 0.0, 0.0), 0.002)
    with pytest.raises(ValueError):
        walker.update(good, (0.0, 0.0, 0.0), float("inf"))
    with pytest.raises(ValueError):
        walker.clamp_twist([0.1, float("nan"), 0.0])
    with pytest.raises(ValueError):
        walker.clamp_twist([0.1, 0.0])
    vx_max, _, vy_max, wz_max = walker.config.max_velocity
    assert walker.clamp_twist([9.0, -9.0, 9.0]) == pytest.approx([vx_max, -vy_max, wz_max])


def _sole_corners(foot: Footstep, sole_size_m) -> np.ndarray:
    half_l, half_w = sole_size_m[0] / 2, sole_size_m[1] / 2
    c, s = math.cos(foot.yaw_world_rad), math.sin(foot.yaw_world_rad)
    local = np.array([[half_l, half_w], [half_l, -half_w], [-half_l, -half_w], [-half_l, half_w]])
    return foot.xy_world_m + local @ np.array([[c, s], [-s, c]])


PLAN_ZMP_TOLERANCE_M = 0.025  # measured worst 19 mm (sideways); 0.3-0.46 m before the start
                              # hold, the step-by-step acceleration and r_jerk 1e-4


@pytest.mark.parametrize("cmd", [(0.4, 0.0, 0.0), (0.0, 0.15, 0.0), (0.2, 0.0, 0.5),
                                 (-0.2, 0.0, -0.5)])
def test_planned_zmp_stays_on_the_support_polygon(profile, cmd):
    """The plan alone (no physics): fed its own joint targets as the measured state, the walker
    starts, walks and stops, and the ZMP of its CoM plan stays on the soles on the ground (the
    convex hull of both in double support) to within the preview's tracking error."""
    profile = {**profile, "locomotion": {**profile["locomotion"], "stabilizer": {
        **profile["locomotion"]["stabilizer"], "velocity_gain": 0.0}}}  # nothing is measured
    walker = HumanoidWalking(profile)
    n = len(walker.joint_names)
    q = np.array([profile["default_joint_positions"][name] for name in walker.joint_names])
    dt_s = 1.0 / float(profile["control_rate_hz"])
    worst_m, steps = -np.inf, 0
    for k in range(round(8.0 / dt_s)):
        twist = cmd if 0.5 <= k * dt_s < 5.5 else (0.0, 0.0, 0.0)
        state = LeggedState(q, np.zeros(n), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))
        q = walker.update(state, twist, dt_s).positions_rad
        corners = np.vstack([_sole_corners(f, profile["sole_size_m"])
                             for f in walker.planted_feet()])
        steps += len(corners) == 4
        # signed distance outside (> 0) or inside (< 0) the hull, from its facet equations
        facets = ConvexHull(corners).equations
        worst_m = max(worst_m, float(np.max(facets[:, :2] @ walker.preview.zmp_xy
                                            + facets[:, 2])))
    assert worst_m < PLAN_ZMP_TOLERANCE_M, f"planned ZMP {worst_m * 1000:.0f} mm off the soles"
    assert steps > 0 and not walker.walking  # it did step, and it stopped


def test_twist_ramps_step_by_step():
    twists = ramped_twists((0.0, 0.0, 0.0), (0.4, -0.1, 0.5), (0.2, 0.2, 0.3), 3)
    assert np.allclose(twists, [[0.2, -0.1, 0.3], [0.4, -0.1, 0.5], [0.4, -0.1, 0.5]])


# ----- in MuJoCo ------------------------------------------------------------------------------
def _state(world: SimWorld) -> LeggedState:
    """What the controller node gets: /joint_states, /imu, /odom's twist (in base axes)."""
    linear_world, _ = world.robot_base_velocity()
    quat, gyro, _ = world.imu()
    R = pin.Quaternion(*quat).toRotationMatrix()  # wxyz constructor
    return LeggedState(world.joint_positions(), world.joint_velocities(), quat,
                       R.T @ linear_world, gyro)


def _tilt_deg(quat_wxyz: np.ndarray) -> float:
    w, x, y, _ = quat_wxyz / np.linalg.norm(quat_wxyz)
    return math.degrees(math.acos(np.clip(1 - 2 * (x * x + y * y), -1.0, 1.0)))


def _yaw(quat_wxyz: np.ndarray) -> float:
    w, x, y, z = quat_wxyz
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


class _Run:
    """Closed loop at the profile's control rate: state -> walker -> targets -> physics. The
    walker sees the state only as often as the sim node publishes /joint_states (the profile's
    joint_state_rate_hz, 100 Hz against a 500 Hz loop), held in between, as in the stack."""

    def __init__(self, profile) -> None:
        self.world = SimWorld(profile, load_scene(profile["default_scene"]))
        self.walker = HumanoidWalking(profile)
        self.dt_s = 1.0 / float(profile["control_rate_hz"])
        self.physics_steps = max(1, round(self.dt_s / self.world.physics_dt_s))
        self.state_every = max(1, round(float(profile["control_rate_hz"])
                                        / float(profile["joint_state_rate_hz"])))
        self._held: LeggedState | None = None
        self.min_z_m, self.max_tilt_deg, self.cpu_s, self.ticks = math.inf, 0.0, 0.0, 0
        self.unwrapped_yaw = 0.0

    def run(self, duration_s: float, cmd=(0.0, 0.0, 0.0), push_n: float = 0.0) -> None:
        for _ in range(round(duration_s / self.dt_s)):
            state = self._observe()
            if self._held is None or self.ticks % self.state_every == 0:
                self._held = state
            state = self._held
            t0 = time.process_time()
            targets = self.walker.update(state, cmd, self.dt_s)
            self.cpu_s += time.process_time() - t0
            self.ticks += 1
            self.world.set_joint_targets(targets.names, targets.positions_rad,
                                         targets.velocities_rad_s)
            self.world.set_base_wrench([0.0, push_n, 0.0])
            self.world.step(self.physics_steps)
        self.world.set_base_wrench([0.0, 0.0, 0.0])
        self._observe()

    def _observe(self) -> LeggedState:
        state = _state(self.world)
        self.min_z_m = min(self.min_z_m, float(self.world.robot_base_pose()[0][2]))
        self.max_tilt_deg = max(self.max_tilt_deg, _tilt_deg(state.base_quat_wxyz))
        yaw = _yaw(state.base_quat_wxyz)
        self.unwrapped_yaw += wrap_angle(yaw - wrap_angle(self.unwrapped_yaw))
        return state

    def assert_upright(self) -> None:
        assert self.min_z_m > MIN_PELVIS_Z_M, f"pelvis fell to {self.min_z_m:.3f} m"
        assert self.max_tilt_deg < MAX_TILT_DEG, f"tilted {self.max_tilt_deg:.1f} deg"

    @property
    def base_xy(self) -> np.ndarray:
        return self.world.robot_base_pose()[0][:2]


def test_walks_forward_two_metres_and_stops(profile):
    sim = _Run(profile)
    vx = 0.3
    sim.run(1.0)  # settle to the walking height
    sim.run(2.0, (vx, 0.0, 0.0))  # start-up
    x0, t_steady = sim.base_xy[0], 6.0
    sim.run(t_steady, (vx, 0.0, 0.0))
    speed = (sim.base_xy[0] - x0) / t_steady  # over whole strides: the sway averages out
    sim.run(3.0)  # stop
    x, y = sim.base_xy
    print(f"\nhumanoid walk: commanded {vx} m/s, achieved {speed:.3f} m/s "
          f"(tracking error {abs(speed - vx):.3f} m/s), {x:.2f} m forward, lateral drift "
          f"{y:+.3f} m, max tilt {sim.max_tilt_deg:.1f} deg, "
          f"CPU {1e3 * sim.cpu_s / sim.ticks:.3f} ms/tick")
    sim.assert_upright()
    assert x >= 2.0
    assert abs(speed - vx) < 0.2 * vx
    assert abs(y) < 0.3 and abs(sim.unwrapped_yaw) < math.radians(15)
    assert not sim.walker.walking  # it stopped, feet side by side
    feet = sim.walker.feet()
    assert np.linalg.norm(feet["left"].xy_world_m - feet["right"].xy_world_m) == pytest.approx(
        sim.walker.config.steps.foot_spacing_m, abs=0.01)


def test_starting_to_walk_does_not_wind_the_velocity_integral_up(profile):
    """The integral of the velocity error waits until the steps have reached the command and
    its average has seen them: it used to wind up to its bound in the start hold (the body
    standing, the command not), so the body ran 40 % fast, then stalled at 0.05 m/s: a 4-5 s
    speed cycle that tipped the humanoid 4-6 deg, and over in the stack (kitchen-table walk)."""
    sim = _Run(profile)
    vx = 0.25
    sim.run(1.0)
    sim.run(2.0, (vx, 0.0, 0.0))  # the start hold and the first steps
    speeds = []
    for _ in range(6):  # whole strides (2 steps): the sway averages out
        x0 = sim.base_xy[0]
        sim.run(1.0, (vx, 0.0, 0.0))
        speeds.append(sim.base_xy[0] - x0)
    print(f"\nhumanoid start at {vx} m/s: speed per second {np.round(speeds, 3).tolist()}, "
          f"max tilt {sim.max_tilt_deg:.1f} deg")
    sim.assert_upright()
    assert max(speeds) < 1.25 * vx and min(speeds) > 0.75 * vx


def test_turns_in_place(profile):
    sim = _Run(profile)
    wz = 0.4
    sim.run(1.0)
    sim.run(6.0, (0.0, 0.0, wz))
    sim.run(2.0)
    turned = sim.unwrapped_yaw
    print(f"\nhumanoid turn: commanded {wz} rad/s for 6 s, turned {math.degrees(turned):.0f} deg, "
          f"drift {np.linalg.norm(sim.base_xy):.3f} m, max tilt {sim.max_tilt_deg:.1f} deg")
    sim.assert_upright()
    assert turned >= math.radians(90)
    assert np.linalg.norm(sim.base_xy) < 0.3


def test_walks_sideways_and_on_an_arc(profile):
    sim = _Run(profile)
    vy = 0.1
    sim.run(1.0)
    sim.run(5.0, (0.0, vy, 0.0))
    sim.run(2.0)
    x, y = sim.base_xy
    print(f"\nhumanoid sideways: commanded {vy} m/s for 5 s, moved {y:+.3f} m "
          f"(forward {x:+.3f} m), max tilt {sim.max_tilt_deg:.1f} deg")
    sim.assert_upright()
    assert y > 0.3 and abs(x) < 0.15
    yaw0 = sim.unwrapped_yaw
    sim.run(5.0, (0.3, 0.0, -0.3))  # walking and turning right at once, as walk_to does
    sim.run(2.0)
    sim.assert_upright()
    assert sim.unwrapped_yaw - yaw0 < -math.radians(60)
    assert sim.base_xy[0] - x > 0.5


def test_stays_upright_under_a_lateral_push(profile):
    sim = _Run(profile)
    sim.run(1.5)
    sim.run(PUSH_S, push_n=PUSH_N)
    sim.run(3.0)
    print(f"\nhumanoid push: {PUSH_N:.0f} N x {PUSH_S} s = {PUSH_N * PUSH_S:.0f} N s lateral, "
          f"max tilt {sim.max_tilt_deg:.1f} deg, min pelvis {sim.min_z_m:.3f} m")
    sim.assert_upright()
    assert _tilt_deg(sim.world.robot_base_pose()[1]) < 3.0  # and it came back


def test_walks_to_the_red_cone_with_the_skills_go_to_law(profile):
    """The default task at the algorithm level: walk_to's go-to law (turning and walking at
    once, the command changing every update) drives the walker; judged by the scene's goal."""
    sim = _Run(profile)
    settings = profile["skill_settings"]
    limits = WalkLimits(**settings["walk"])
    cone_xy = sim.world.object_pose("red_cone")[0][:2]
    # where walk_to stops: the cone's radius + the body's front + the clearance
    stop_m = (max(sim.world.scene_object("red_cone").size_m[:2]) / 2
              + settings["body_front_m"] + settings["clearance_m"])
    sim.run(1.0)
    for _ in range(400):  # 20 s at 20 Hz, the rate the skill server recomputes at
        position, quat = sim.world.robot_base_pose()
        cmd, remaining_m = walk_command(Pose2D(position[0], position[1], _yaw(quat)), cone_xy,
                                        stop_m, limits)
        if remaining_m < limits.arrive_tolerance_m:
            break
        sim.run(0.05, cmd)
    sim.run(2.0)
    holds, detail = sim.world.check_goal(profile["default_goal"])
    print(f"\nhumanoid walk_to red_cone: {detail}, max tilt {sim.max_tilt_deg:.1f} deg")
    sim.assert_upright()
    assert holds, detail


def test_sits_down_holds_stands_up_and_walks_on(profile):
    """Posture "sit" (the profile's `locomotion.sit`: a squat): asked for while walking, the
    walker first stops, then lowers the pelvis by the configured drop over the transition time
    with the soles where they stand and the robot balanced; walk commands are ignored while it
    sits; it stands up again and walks on."""
    sit = profile["locomotion"]["sit"]
    sim = _Run(profile)
    world, walker = sim.world, sim.walker
    soles = [world.model.body(f).id for f in profile["contact_frames"]]
    sim.run(1.0)
    sim.run(1.5, (0.2, 0.0, 0.0))
    walker.set_posture("sit")  # mid-walk: stop first, then down
    assert not walker.posture_reached
    stand_z_m, elapsed_s = None, 0.0
    while not walker.posture_reached and elapsed_s < 10.0:
        if stand_z_m is None and not walker.walking:
            stand_z_m = world.robot_base_pose()[0][2]
            down_from_s = elapsed_s
        sim.run(0.05, (0.2, 0.0, 0.0))  # the walk command is still coming: ignored
        elapsed_s += 0.05
    assert walker.posture_reached and stand_z_m is not None
    sit_time_s = elapsed_s - down_from_s
    soles_sitting = np.array([world.data.xpos[b] for b in soles])
    base_sitting = world.robot_base_pose()[0].copy()
    sim.run(3.0, (0.3, 0.0, 0.3))  # hold: a walk command changes nothing
    drift_m = np.linalg.norm(np.array([world.data.xpos[b] for b in soles]) - soles_sitting,
                             axis=1)
    sit_z_m = world.robot_base_pose()[0][2]
    assert walker.posture == "sit" and not walker.walking
    assert np.all(drift_m < 0.003), drift_m
    assert np.linalg.norm(world.robot_base_pose()[0][:2] - base_sitting[:2]) < 0.01
    assert stand_z_m - sit_z_m == pytest.approx(sit["pelvis_drop_m"], abs=0.01)
    # balanced: the CoM over the middle of the soles, the trunk leaning as configured
    com_offset_m = np.linalg.norm(world.data.subtree_com[world.model.body("base_link").id][:2]
                                  - soles_sitting[:, :2].mean(axis=0))
    assert com_offset_m < 0.02
    assert _tilt_deg(world.robot_base_pose()[1]) == pytest.approx(
        math.degrees(sit["torso_lean_rad"]), abs=3.0)
    assert sit_time_s == pytest.approx(sit["transition_s"], abs=0.1)
    walker.set_posture("stand")
    sim.run(sit["transition_s"] + 0.1)
    assert walker.posture_reached
    assert world.robot_base_pose()[0][2] == pytest.approx(stand_z_m, abs=0.01)
    x0 = sim.base_xy[0]
    sim.run(3.0, (0.2, 0.0, 0.0))
    sim.run(1.5)
    print(f"\nhumanoid sit: pelvis {stand_z_m:.3f} -> {sit_z_m:.3f} m "
          f"(drop {stand_z_m - sit_z_m:.3f} m) in {sit_time_s:.2f} s, sole drift while sitting "
          f"{np.round(drift_m * 1e3, 2)} mm, CoM {com_offset_m * 1e3:.1f} mm "
          f"from the soles' middle; walked {sim.base_xy[0] - x0:.2f} m after")
    assert sim.base_xy[0] - x0 > 0.3
    assert sim.min_z_m > stand_z_m - sit["pelvis_drop_m"] - 0.02  # never fell
    assert sim.max_tilt_deg < math.degrees(sit["torso_lean_rad"]) + 5.0


def test_a_sit_pose_the_legs_cannot_take_is_refused(profile):
    loco = profile["locomotion"]
    deep = {**profile, "locomotion": {**loco, "sit": {**loco["sit"], "pelvis_drop_m": 0.4,
                                                        "torso_lean_rad": 0.0}}}
    with pytest.raises(ValueError, match="sit"):
        HumanoidWalking(deep)
    only_stand = {**profile, "locomotion": {k: v for k, v in loco.items() if k != "sit"}}
    walker = HumanoidWalking(only_stand)
    assert walker.postures == ("stand",)
    with pytest.raises(ValueError, match="not available"):
        walker.set_posture("sit")
