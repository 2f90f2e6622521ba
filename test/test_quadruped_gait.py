"""Quadruped locomotion (vla_controller.locomotion): leg IK against pinocchio, gait clock and
foothold conventions as pure units; then in headless MuJoCo (SimWorld, sim time, no ROS) the
trot walks, turns, survives lateral pushes, and sits down and stands up.

The controller sees only what the controller node will have: joint positions/velocities, the
base orientation (/imu) and the base twist in the base frame (/odom's child frame).

Pushes (a force on the base's centre of mass through `xfrc_applied`, `SimWorld.set_base_wrench`):
standing, 140 N for 0.1 s = 14 N s (joint PD alone falls at ~15 N s; with stepping the robot
survived up to 17 N s when this was written); trotting at 0.4 m/s, 150 N for 0.1 s = 15 N s.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import math  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402
import pytest  # noqa: E402

from vla_bringup.profile import load_profile  # noqa: E402
from vla_controller.locomotion.gait import (  # noqa: E402
    GaitSchedule,
    raibert_foothold,
    swing_foot,
    trot_phase_offsets,
)
from vla_controller.locomotion.leg_kinematics import legs_from_urdf  # noqa: E402
from vla_controller.locomotion.quadruped import (  # noqa: E402
    LocomotionParams,
    QuadrupedLocomotion,
    QuadrupedState,
    roll_pitch,
)
from vla_sim.scene import Scene  # noqa: E402
from vla_sim.world import SimWorld  # noqa: E402

MAX_TILT_DEG = 30.0       # "upright" while walking
MIN_BASE_HEIGHT_M = 0.2   # the trunk stays well off the floor (standing: 0.30 m)


@pytest.fixture(scope="module")
def profile():
    return load_profile("quadruped")


@pytest.fixture(scope="module")
def legs(profile):
    return legs_from_urdf(profile["urdf"], profile["legs"])


# ----------------------------------------------------------------- pure units

def test_leg_ik_round_trip_against_pinocchio_fk(profile, legs):
    """FK and Jacobian agree with pinocchio on the URDF; IK recovers the joint angles of any
    pose with the foot below the hip, across the joint ranges."""
    model = pin.buildModelFromUrdf(profile["urdf"])
    data = model.createData()
    rng = np.random.default_rng(3)
    checked = 0
    for name, leg in legs.items():
        frame = model.getFrameId(profile["legs"][name]["foot_frame"])
        idx = [model.idx_qs[model.getJointId(j)] for j in leg.joint_names]
        vidx = [model.idx_vs[model.getJointId(j)] for j in leg.joint_names]
        for _ in range(150):
            q_leg = rng.uniform(leg.lower_rad, leg.upper_rad)
            q = pin.neutral(model)
            q[idx] = q_leg
            pin.computeJointJacobians(model, data, q)
            pin.framesForwardKinematics(model, data, q)
            foot = data.oMf[frame].translation.copy()
            assert leg.forward(q_leg) == pytest.approx(foot, abs=1e-9)
            jac = pin.getFrameJacobian(model, data, frame, pin.LOCAL_WORLD_ALIGNED)[:3, vidx]
            assert np.allclose(leg.jacobian(q_leg), jac, atol=1e-9)
            below_hip = (foot - leg.hip_origin_base_m) @ [0.0, -math.sin(q_leg[0]),
                                                          math.cos(q_leg[0])] < -0.03
            if below_hip:  # the IK's branch: feet hang below their hips
                q_ik, exact = leg.inverse(foot)
                assert exact
                assert q_ik == pytest.approx(q_leg, abs=1e-7)
                checked += 1
    assert checked > 200


def test_leg_ik_out_of_reach_is_flagged_and_stays_in_limits(legs):
    leg = legs["fl"]
    for target in ([0.9, 0.5, -0.2], [0.185, 0.14, -0.02], [0.185, 0.14, -2.0]):
        q, exact = leg.inverse(np.array(target))
        assert not exact
        assert np.all(np.isfinite(q))
        assert np.all(q >= leg.lower_rad) and np.all(q <= leg.upper_rad)
    with pytest.raises(ValueError, match="finite"):
        leg.inverse(np.array([np.nan, 0.0, -0.3]))


def test_leg_geometry_must_be_a_hip_thigh_calf_chain(profile):
    """The analytic leg refuses a URDF chain it does not fit (here: the arm's)."""
    arm = load_profile("arm")
    bad = {"x": {"joints": arm["arm_joints"][:3], "foot_frame": arm["tool_frame"]}}
    with pytest.raises(ValueError):
        legs_from_urdf(arm["urdf"], bad)


def test_trot_clock_pairs_diagonals_and_stops_with_all_feet_down(legs):
    feet = np.array([leg.nominal_foot_base_m() for leg in legs.values()])
    offsets = trot_phase_offsets(feet, list(legs))
    assert offsets["fl"] == offsets["rr"] != offsets["fr"] == offsets["rl"]
    gait = GaitSchedule(0.4, 0.5, offsets)
    assert not any(gait.leg_phase(leg)[0] for leg in legs)  # stopped: all down
    dt = 0.002
    swing_ticks = dict.fromkeys(legs, 0)
    for _ in range(400):  # two cycles
        gait.advance(dt, keep_running=True)
        state = {leg: gait.leg_phase(leg)[0] for leg in legs}
        assert state["fl"] == state["rr"] and state["fr"] == state["rl"]
        assert state["fl"] != state["fr"]  # duty 0.5: one pair up at any time
        for leg, up in state.items():
            swing_ticks[leg] += up
    for ticks in swing_ticks.values():
        assert ticks == pytest.approx(200, abs=2)  # half the time in the air
    gait.advance(0.05, keep_running=False)  # mid-swing: runs on to the touch-down
    for _ in range(200):
        gait.advance(dt, keep_running=False)
    assert not gait.running
    assert not any(gait.leg_phase(leg)[0] for leg in legs)
    stopped_at = gait.phase
    gait.advance(dt, keep_running=True)
    assert gait.running and gait.phase > stopped_at - 1e-9
    with pytest.raises(ValueError):
        GaitSchedule(0.4, 0.3, offsets)  # a duty below 0.5 has no foot down at times


def test_foothold_sign_conventions():
    nominal = np.array([0.19, 0.14, -0.28])  # front-left
    zero = np.zeros(3)

    def foothold(v_cmd=zero, yaw_rate=0.0, v_meas=None, height_m=0.0):
        v_meas = v_cmd if v_meas is None else v_meas
        return raibert_foothold(nominal, np.asarray(v_cmd, float), yaw_rate,
                                np.asarray(v_meas, float), 0.2, 0.1, 0.12, height_m)

    assert foothold() == pytest.approx(nominal[:2])
    fwd = foothold([0.5, 0.0, 0.0])
    assert fwd[0] == pytest.approx(nominal[0] + 0.5 * 0.2 / 2) and fwd[1] == nominal[1]
    assert foothold([0.0, 0.3, 0.0])[1] > nominal[1]  # walking left: land further left
    assert foothold([-0.5, 0.0, 0.0])[0] < nominal[0]
    turned = foothold(yaw_rate=1.0)  # turning left (CCW): land rotated CCW
    assert nominal[0] * turned[1] - nominal[1] * turned[0] > 0
    assert np.hypot(*turned) == pytest.approx(np.hypot(*nominal[:2]))
    # faster than commanded: step further ahead to brake (Raibert)
    assert foothold([0.3, 0, 0], v_meas=[0.5, 0, 0])[0] > foothold([0.3, 0, 0])[0]
    # curving left at speed: land further right (outwards), so the ground pushes inwards
    curve = ([0.5, 0.0, 0.0], 1.0)
    assert foothold(*curve, height_m=0.3)[1] < foothold(*curve)[1]
    assert foothold(*curve, height_m=0.3)[1] - foothold(*curve)[1] == pytest.approx(
        -0.3 / 9.81 * 0.5 * 1.0)
    far = foothold([5.0, 5.0, 0.0])  # capped
    assert np.hypot(*(far - nominal[:2])) == pytest.approx(0.12)


def test_swing_foot_lifts_lands_and_matches_the_ground_speed():
    start, end = np.array([0.1, 0.14, -0.28]), np.array([0.25, 0.14, -0.28])
    at_liftoff, at_touchdown = np.array([-0.4, 0.03, 0.0]), np.array([-0.4, -0.05, 0.0])

    def swing(progress):
        return swing_foot(start, end, progress, 0.2, 0.07, at_liftoff, at_touchdown)

    (p0, v0), (p1, v1), (mid, _) = swing(0.0), swing(1.0), swing(0.5)
    assert p0 == pytest.approx(start) and p1 == pytest.approx(end)
    assert v0[:2] == pytest.approx(at_liftoff[:2]) and v1[:2] == pytest.approx(at_touchdown[:2])
    assert v0[2] == pytest.approx(0.0) and v1[2] == pytest.approx(0.0)
    assert mid[2] == pytest.approx(-0.28 + 0.07)
    eps = 1e-5  # velocity is the derivative of position
    for progress in (0.1, 0.3, 0.8):
        numeric = (swing(progress + eps)[0] - swing(progress - eps)[0]) / (2 * eps * 0.2)
        assert numeric == pytest.approx(swing(progress)[1], abs=1e-4)


def _standing_state(loco: QuadrupedLocomotion, profile) -> QuadrupedState:
    q = np.array([profile["default_joint_positions"][n] for n in loco.joint_names])
    return QuadrupedState(q, np.zeros(12), np.array([1.0, 0, 0, 0]), np.zeros(3), np.zeros(3))


def test_bad_input_is_rejected_without_changing_state(profile):
    loco, twin = QuadrupedLocomotion(profile), QuadrupedLocomotion(profile)
    good = _standing_state(loco, profile)
    first = loco.update(good, (0.0, 0.0, 0.0), 0.002)
    assert np.all(np.isfinite(first.positions_rad))
    twin.update(good, (0.0, 0.0, 0.0), 0.002)
    bad_cases = [
        (good, (math.nan, 0.0, 0.0), 0.002),
        (good, (0.1, 0.0), 0.002),
        (good, (0.1, 0.0, 0.0), 0.0),
        (good, (0.1, 0.0, 0.0), math.inf),
        (QuadrupedState(np.full(12, np.nan), *list(vars(good).values())[1:]), (0, 0, 0),
         0.002),
        (QuadrupedState(good.joint_positions_rad, good.joint_velocities_rad_s,
                        np.zeros(4), np.zeros(3), np.zeros(3)), (0, 0, 0), 0.002),
    ]
    for state, cmd, dt in bad_cases:
        with pytest.raises(ValueError):
            loco.update(state, cmd, dt)
    again = loco.update(good, (0.0, 0.0, 0.0), 0.002)  # as if the bad calls never came
    assert again.positions_rad == pytest.approx(
        twin.update(good, (0.0, 0.0, 0.0), 0.002).positions_rad, abs=1e-12)
    with pytest.raises(ValueError, match="posture"):
        loco.set_posture("dance")
    no_section = {k: v for k, v in profile.items() if k != "locomotion"}
    with pytest.raises(ValueError, match="locomotion"):
        QuadrupedLocomotion(no_section)
    broken = dict(profile, locomotion=dict(profile["locomotion"], gait_period_s=-1.0))
    with pytest.raises(ValueError, match="gait_period_s"):
        LocomotionParams.from_profile(broken)


def test_commands_beyond_the_profile_limits_are_clamped(profile):
    loco = QuadrupedLocomotion(profile)
    state = _standing_state(loco, profile)
    for _ in range(1500):  # 3 s: stand up to height, then ramp the command
        loco.update(state, (50.0, -50.0, 0.0), 0.002)
    limits = loco.params.max_velocity
    assert loco.status.cmd_twist == pytest.approx([limits[0], -limits[1], 0.0])
    for _ in range(1500):  # and turning: the speed drops to keep |v| |w| under the cap
        loco.update(state, (50.0, -50.0, 50.0), 0.002)
    vx, vy, yaw_rate = loco.status.cmd_twist
    assert yaw_rate == pytest.approx(limits[2])
    assert math.hypot(vx, vy) * yaw_rate == pytest.approx(
        loco.params.max_turn_acceleration_m_s2)
    assert vx / vy == pytest.approx(-limits[0] / limits[1])  # same direction


def test_velocity_feedforward_is_the_derivative_of_the_position_targets(profile):
    """q_dot sent = d(q)/dt of the kinematic targets (the position targets without the weight
    feed-forward torque / kp), via the leg Jacobians, in swing and in stance."""
    loco = QuadrupedLocomotion(profile)
    kp = profile["gains"]["legs"]["kp"]
    standing = _standing_state(loco, profile)
    # the body moving as commanded: no tracking error, so footholds hold still in a swing
    state = QuadrupedState(standing.joint_positions_rad, np.zeros(12), standing.base_quat_wxyz,
                           np.array([0.4, 0.1, 0.0]), np.array([0.0, 0.0, 0.3]))
    dt = 0.002
    for _ in range(500):  # stand up to height, start trotting
        loco.update(state, (0.4, 0.1, 0.3), dt)
    assert loco.status.walking
    outs, swinging = [], []
    for _ in range(200):
        outs.append(loco.update(state, (0.4, 0.1, 0.3), dt))
        swinging.append([loco.gait.leg_phase(leg)[0] for leg in loco.leg_names])
    kinematic = [o.positions_rad - o.torques_nm / kp for o in outs]
    compared = 0
    for k in range(1, len(outs) - 1):
        if not swinging[k - 1] == swinging[k] == swinging[k + 1]:
            continue  # lift-off / touch-down: the acceleration jumps, a difference quotient lies
        compared += 1
        numeric = (kinematic[k + 1] - kinematic[k - 1]) / (2 * dt)
        assert outs[k].velocities_rad_s == pytest.approx(
            numeric, abs=0.05 + 0.02 * np.abs(numeric).max()), k
    assert compared > 150
    assert np.abs(np.array([o.velocities_rad_s for o in outs])).max() > 1.0  # it moves


def test_a_fallen_robot_stops_stepping(profile):
    loco = QuadrupedLocomotion(profile)
    standing = _standing_state(loco, profile)
    on_its_side = QuadrupedState(standing.joint_positions_rad, np.zeros(12),
                                 np.array([math.cos(0.7), math.sin(0.7), 0.0, 0.0]),
                                 np.zeros(3), np.zeros(3))  # rolled 80 deg
    for _ in range(600):
        out = loco.update(on_its_side, (0.5, 0.0, 0.0), 0.002)
        assert not loco.status.walking
    assert loco.status.fallen
    assert not np.any(out.torques_nm)  # no weight push into a floor that is not there


# ----------------------------------------------------------------- in MuJoCo

def _odom_imu_state(world: SimWorld) -> QuadrupedState:
    """What /joint_states, /imu and /odom carry: base twist in the base frame."""
    _, quat = world.robot_base_pose()
    lin_world, ang_world = world.robot_base_velocity()
    rot = pin.Quaternion(*quat).toRotationMatrix()  # pinocchio's ctor takes w, x, y, z
    return QuadrupedState(world.joint_positions(), world.joint_velocities(), quat,
                          rot.T @ lin_world, rot.T @ ang_world)


def _yaw(quat_wxyz: np.ndarray) -> float:
    w, x, y, z = quat_wxyz
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


@dataclass
class Run:
    time_s: list = field(default_factory=list)
    position_m: list = field(default_factory=list)
    tilt_deg: list = field(default_factory=list)
    yaw_rad: list = field(default_factory=list)
    quat_wxyz: list = field(default_factory=list)
    velocity_base_m_s: list = field(default_factory=list)
    cmd: list = field(default_factory=list)
    tick_cpu_s: list = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in vars(self).items()}


class Driver:
    """Runs the controller at the profile's rate against the sim, in sim time."""

    def __init__(self, profile: dict) -> None:
        # an open floor: the field's objects are not what these tests are about
        self.world = SimWorld(profile, Scene(robot=profile["name"], objects=()))
        self.loco = QuadrupedLocomotion(profile)
        assert list(self.loco.joint_names) == self.world.joint_names
        self.dt_s = 1.0 / float(profile["control_rate_hz"])
        self.substeps = max(1, round(self.dt_s / self.world.physics_dt_s))
        self.log = Run()
        self.push: tuple[float, float, float] | None = None  # (start s, duration s, force N y)
        self.sensing_period_s = 0.0  # > 0: the state refreshes only this often (held between)
        self._state: QuadrupedState | None = None
        self._state_t_s = -math.inf

    def run(self, duration_s: float, cmd=(0.0, 0.0, 0.0)) -> None:
        end = self.world.time_s + duration_s
        while self.world.time_s < end - 1e-9:
            if self.world.time_s - self._state_t_s >= self.sensing_period_s - 1e-9:
                self._state, self._state_t_s = _odom_imu_state(self.world), self.world.time_s
            state = self._state
            start = time.process_time()
            targets = self.loco.update(state, cmd, self.dt_s)
            self.log.tick_cpu_s.append(time.process_time() - start)
            self.world.set_joint_targets(targets.names, targets.positions_rad,
                                         targets.velocities_rad_s)
            t = self.world.time_s
            pushing = self.push is not None and self.push[0] <= t < self.push[0] + self.push[1]
            self.world.set_base_wrench([0.0, self.push[2] if pushing else 0.0, 0.0])
            self.world.step(self.substeps)
            pos, quat = self.world.robot_base_pose()
            roll, pitch = roll_pitch(quat)
            self.log.time_s.append(self.world.time_s)
            self.log.position_m.append(pos)
            self.log.tilt_deg.append(
                math.degrees(math.acos(min(1.0, math.cos(roll) * math.cos(pitch)))))
            self.log.yaw_rad.append(_yaw(quat))
            self.log.quat_wxyz.append(quat)
            self.log.velocity_base_m_s.append(_odom_imu_state(self.world)
                                              .base_linear_velocity_base_m_s)
            self.log.cmd.append(np.asarray(cmd, float))

    def assert_upright(self) -> None:
        log = self.log.arrays()
        worst = int(np.argmax(log["tilt_deg"]))
        assert log["tilt_deg"][worst] < MAX_TILT_DEG, (
            f"tilted {log['tilt_deg'][worst]:.1f} deg at t={log['time_s'][worst]:.2f} s")
        assert log["position_m"][:, 2].min() > MIN_BASE_HEIGHT_M
        holds, detail = self.world.check_goal("upright(robot)")
        assert holds, detail

    def close(self) -> None:
        self.world.close()


@pytest.fixture
def driver(profile):
    d = Driver(profile)
    yield d
    d.close()


def test_trots_3m_forward_tracking_the_commanded_speed(driver):
    speed = 0.5
    driver.run(0.5)  # settle to the standing height
    x0 = driver.world.robot_base_pose()[0][0]
    driver.run(7.5, (speed, 0.0, 0.0))
    driver.run(1.0)  # stop
    driver.assert_upright()
    log = driver.log.arrays()
    pos = log["position_m"]
    assert pos[-1, 0] - x0 >= 3.0
    assert abs(pos[-1, 1]) < 0.3  # roughly straight
    assert abs(log["yaw_rad"][-1]) < math.radians(10)
    # steady state: after the ramp (0.5 s) and the integral's settling
    t = log["time_s"]
    steady = (t > 3.0) & (t < 8.0)
    v = log["velocity_base_m_s"][steady, :2]
    err_instant = float(np.mean(np.linalg.norm(log["cmd"][steady, :2] - v, axis=1)))
    span = t[steady][-1] - t[steady][0]
    mean_speed = (pos[steady][-1, 0] - pos[steady][0, 0]) / span
    cpu_us = 1e6 * np.array(log["tick_cpu_s"])
    print(f"\ntrot {speed} m/s: mean speed {mean_speed:.3f} m/s, mean |v_cmd - v| "
          f"{err_instant:.3f} m/s (instantaneous, includes the stride's sway), max tilt "
          f"{log['tilt_deg'].max():.1f} deg; controller tick CPU median "
          f"{np.median(cpu_us):.0f} us, p99 {np.percentile(cpu_us, 99):.0f} us")
    assert abs(mean_speed - speed) < 0.05
    assert err_instant < 0.1
    # standing still again at the end
    assert not driver.loco.status.walking
    last = t > t[-1] - 0.3
    assert np.linalg.norm(pos[last][-1, :2] - pos[last][0, :2]) < 0.015


def test_trots_on_state_at_the_joint_state_rate(driver, profile):
    """In the ROS stack the 500 Hz loop sees /joint_states, /odom and /imu at the sim's
    publishing rate (the profile's joint_state_rate_hz), held in between."""
    driver.sensing_period_s = 1.0 / float(profile["joint_state_rate_hz"])
    driver.run(0.5)
    driver.run(4.0, (0.5, 0.0, 0.3))
    driver.run(1.0)
    driver.assert_upright()
    assert np.linalg.norm(driver.world.robot_base_pose()[0][:2]) > 1.5


def test_climbs_a_slope_with_the_trunk_level(driver):
    """A 10 deg ramp (the floor plane tilted, uphill towards +x): the IMU leveling keeps the
    trunk level with gravity rather than with the ground, and the trot climbs it."""
    slope_rad = math.radians(10.0)
    world = driver.world
    floor = world.model.geom("floor").id
    world.model.geom_quat[floor] = [math.cos(slope_rad / 2), 0.0, -math.sin(slope_rad / 2), 0.0]
    mujoco.mj_setConst(world.model, world.data)  # the floor is static: re-derive its pose
    world.reset()
    driver.run(1.5)
    z0 = world.robot_base_pose()[0][2]
    driver.run(5.0, (0.4, 0.0, 0.0))
    driver.assert_upright()
    log = driver.log.arrays()
    steady = log["time_s"] > log["time_s"][-1] - 3.0
    pitch_deg = np.degrees([roll_pitch(q)[1] for q in log["quat_wxyz"][steady]])
    print(f"\n10 deg slope at 0.4 m/s: trunk pitch {pitch_deg.mean():+.1f} deg mean, "
          f"{np.abs(pitch_deg).max():.1f} deg max; climbed "
          f"{world.robot_base_pose()[0][2] - z0:.2f} m")
    assert abs(pitch_deg.mean()) < 1.5  # the ground is at 10 deg
    assert world.robot_base_pose()[0][2] - z0 > 0.25  # 1.5+ m up the ramp


def test_turns_90_degrees_in_place(driver):
    driver.run(0.5)
    start_xy = driver.world.robot_base_pose()[0][:2]
    yaw0 = driver.log.yaw_rad[-1]
    driver.run(2.5, (0.0, 0.0, 0.8))
    driver.run(1.0)
    driver.assert_upright()
    turned = (driver.log.yaw_rad[-1] - yaw0) % (2 * math.pi)
    log = driver.log.arrays()
    t, yaw = log["time_s"], np.unwrap(log["yaw_rad"])
    steady = (t > 1.5) & (t < 3.0)  # after the command's ramp
    rate = (yaw[steady][-1] - yaw[steady][0]) / (t[steady][-1] - t[steady][0])
    print(f"\nturn at 0.8 rad/s for 2.5 s: turned {math.degrees(turned):.0f} deg, "
          f"steady rate {rate:.2f} rad/s, drifted "
          f"{np.linalg.norm(driver.world.robot_base_pose()[0][:2] - start_xy):.2f} m")
    assert turned >= math.radians(90)
    assert rate == pytest.approx(0.8, abs=0.15)
    assert np.linalg.norm(driver.world.robot_base_pose()[0][:2] - start_xy) < 0.3


def test_turns_while_walking(driver):
    driver.run(0.5)
    driver.run(4.0, (0.4, 0.0, 0.5))
    driver.run(1.0)
    driver.assert_upright()
    assert driver.log.yaw_rad[-1] >= math.radians(90)
    assert np.linalg.norm(driver.world.robot_base_pose()[0][:2]) > 0.8


def test_walks_sideways(driver):
    driver.run(0.5)
    driver.run(3.0, (0.0, 0.25, 0.0))
    driver.run(1.0)
    driver.assert_upright()
    pos = driver.world.robot_base_pose()[0]
    assert pos[1] > 0.5 and abs(pos[0]) < 0.15
    assert abs(driver.log.yaw_rad[-1]) < math.radians(10)


@pytest.mark.parametrize("speed, force_n", [(0.0, 140.0), (0.4, 150.0)],
                         ids=["standing", "trotting"])
def test_stays_upright_under_a_lateral_push(driver, speed, force_n):
    """Push the base sideways for 0.1 s (impulse force_n * 0.1 N s): standing, the robot
    steps to catch itself; trotting, the footholds take it. Afterwards it is level again."""
    driver.run(1.0, (speed, 0.0, 0.0))
    driver.push = (driver.world.time_s + 0.5, 0.1, force_n)
    driver.run(3.0, (speed, 0.0, 0.0))
    driver.assert_upright()
    log = driver.log.arrays()
    after = log["time_s"] > log["time_s"][-1] - 0.5
    print(f"\npush {force_n:.0f} N x 0.1 s at {speed} m/s: max tilt "
          f"{log['tilt_deg'].max():.1f} deg")
    assert log["tilt_deg"][after].max() < 8.0
    assert log["tilt_deg"].max() > 3.0  # the push did tip it


def test_stand_sit_stand_and_walk_again(driver, profile):
    p = driver.loco.params
    driver.run(0.5)
    driver.run(1.5, (0.5, 0.0, 0.0))
    driver.loco.set_posture("sit")  # while trotting: it slows to a stop, then lies down
    driver.run(p.posture_transition_s + 1.0, (0.5, 0.0, 0.0))  # the command is ignored
    sit_pos = driver.world.robot_base_pose()[0]
    assert sit_pos[2] == pytest.approx(p.sit_height_m, abs=0.02)
    assert driver.loco.status.posture_reached and not driver.loco.status.walking
    driver.run(1.0, (0.5, 0.0, 0.0))  # still ignored: it stays put
    assert np.linalg.norm(driver.world.robot_base_pose()[0][:2] - sit_pos[:2]) < 0.01
    driver.loco.set_posture("stand")
    driver.run(p.posture_transition_s + 0.5)
    assert driver.world.robot_base_pose()[0][2] == pytest.approx(p.body_height_m, abs=0.02)
    assert driver.loco.status.posture_reached
    x0 = driver.world.robot_base_pose()[0][0]
    driver.run(2.0, (0.3, 0.0, 0.0))
    assert driver.world.robot_base_pose()[0][0] - x0 > 0.3
    log = driver.log.arrays()
    assert log["tilt_deg"].max() < MAX_TILT_DEG
    holds, detail = driver.world.check_goal("upright(robot)")
    assert holds, detail


def test_stands_up_from_lying_with_the_feet_splayed(driver, profile):
    """Powered on lying down, feet wide of their stance points: it rises with the feet where
    they are, then steps each foot back under the body."""
    loco, world = driver.loco, driver.world
    lying_m = 0.11
    q = []
    for i, leg in enumerate(loco.leg_names):
        foot = loco.nominal_feet_base_m[i] * [1.2, 1.4, 0.0]
        foot[2] = loco.foot_radius_m - lying_m
        q_leg, exact = loco.legs[leg].inverse(foot)
        assert exact
        q.extend(q_leg)
    world.reset(q)
    world.set_robot_base_pose([0.0, 0.0, lying_m])
    world.step(250)  # settle on the floor, servos holding the lying pose
    driver.run(loco.params.posture_transition_s + 2.0)
    assert max(driver.log.tilt_deg) < MAX_TILT_DEG
    holds, detail = world.check_goal("upright(robot)")
    assert holds, detail
    assert loco.status.posture_reached and not loco.status.walking
    assert world.robot_base_pose()[0][2] == pytest.approx(loco.params.body_height_m, abs=0.015)
    q_now = world.joint_positions()
    for i, leg in enumerate(loco.leg_names):
        foot = loco.legs[leg].forward(q_now[3 * i:3 * i + 3])
        assert np.linalg.norm(foot[:2] - loco.nominal_feet_base_m[i, :2]) < 0.03, leg
