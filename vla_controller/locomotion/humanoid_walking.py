"""Humanoid walking from a commanded twist: footsteps -> ZMP reference -> LIPM preview control
(CoM) -> pelvis and sole poses -> analytic leg IK -> joint position + velocity targets.

Balance model: the linear inverted pendulum with Kajita's ZMP preview control
(humanoid_preview.py) plans a CoM whose ZMP stays on the planned support (in single support a
little inside the sole centre, which keeps the sway and sideways steps inside the soles). The plan
is executed kinematically by the joint position servos (the profile's stiff leg gains), which is
sound only while the body moves as planned relative to the feet; what makes that hold:
- support torques fed forward: the joint torques that carry the planned pose against gravity and
  give its CoM the planned acceleration, with the weight split between the feet as the planned ZMP
  says, sent as a position offset tau / kp (the servos would otherwise lag by it);
- torso tilt measured by the IMU leaned against in the pelvis orientation the IK aims for;
- optionally, the leg servos stiffened in software from /joint_states (`servo_gain`; only with
  joint states at the control rate, it destabilises on 100 Hz ones).
The speed is closed through the footsteps: the integral of the measured velocity error (/odom
twist, averaged over a stride) is added to the twist the steps are planned for.
Standing is walking with a zero command. Sitting (posture "sit", when the profile has a
`locomotion.sit` section) is a balanced squat: the pelvis lowered by `pelvis_drop_m` and pitched
forward by `torso_lean_rad` (which keeps the ankles off their dorsiflexion limit), on a min-jerk
ramp over `transition_s`, the feet where they stand and the CoM kept over the midpoint of the
soles by the same preview plan as standing; no steps are taken while sitting or on the way (a
walk command is ignored until the robot has stood up again, as the quadruped does).
A push is taken by the ankle strategy: the stiff legs keep the body rigid over the feet, which
recovers while the capture point stays inside the support polygon (documented limit in
test_humanoid_walking.py); there is no capture stepping.

Frames: the plan lives in a "walk frame" fixed to the floor where the walker started (its
origin under the pelvis, its yaw the IMU's); nothing is compared with absolute odometry, so its
drift does not matter. The commanded twist is (vx, vy in the robot's heading frame, yaw rate),
what /cmd_vel carries. The state is what the node has: joint positions/velocities in
`joint_names` order, /imu orientation and rate, /odom twist in base axes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pinocchio as pin

from vla_controller.locomotion.humanoid_footsteps import (
    Footstep,
    StepParams,
    ZmpSegment,
    lateral_sign,
    other_side,
    plan_footsteps_for,
    ramped_twists,
    rot2,
    sample_zmp,
    squared_up,
    swing_foot,
    wrap_angle,
)
from vla_controller.locomotion.humanoid_leg_ik import LegGeometry, leg_ik
from vla_controller.locomotion.humanoid_preview import (
    GRAVITY_M_S2,
    PreviewController,
    preview_gains,
)

# one state and one target type for every legged robot, so the node treats them alike
from vla_controller.locomotion.quadruped import JointTargets
from vla_controller.locomotion.quadruped import QuadrupedState as LeggedState
from vla_controller.trajectory import min_jerk

POSTURE_DEPTH = {"stand": 0.0, "sit": 1.0}  # 0: walking height, upright; 1: the profile's squat


@dataclass(frozen=True)
class SitConfig:
    """The profile's `locomotion.sit:` section: the low rest posture."""

    pelvis_drop_m: float   # below pelvis_height_m
    torso_lean_rad: float  # pelvis pitched forward (positive: nose down)
    transition_s: float    # stand <-> sit, the whole way


@dataclass(frozen=True)
class WalkingConfig:
    """The profile's `locomotion:` section, checked."""

    steps: StepParams
    start_shift_s: float
    start_delay_s: float
    zmp_inset_m: float
    pelvis_height_m: float
    pelvis_height_rate_m_s: float
    max_velocity: tuple[float, float, float, float]  # vx forward, vx backward, vy, wz
    max_acceleration: tuple[float, float]  # linear m/s^2, yaw rad/s^2
    preview_dt_s: float
    preview_horizon_s: float
    preview_q_zmp: float
    preview_r_jerk: float
    servo_gain: float
    tilt_gain: float
    velocity_gain: float
    max_velocity_correction: float
    sit: SitConfig | None = None  # None: this robot only stands

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> WalkingConfig:
        loco = profile.get("locomotion")
        if not isinstance(loco, Mapping):
            raise ValueError("the robot profile has no `locomotion:` section")
        try:
            steps = StepParams(
                float(loco["step_period_s"]), float(loco["double_support_s"]),
                float(loco["step_height_m"]), float(loco["foot_spacing_m"]),
                float(loco["min_foot_gap_m"]), float(loco["max_step_yaw_rad"]))
            vmax, prev, stab = loco["max_velocity"], loco["preview"], loco["stabilizer"]
            cfg = cls(
                steps, float(loco["start_shift_s"]), float(loco["start_delay_s"]),
                float(loco["zmp_inset_m"]),
                float(loco["pelvis_height_m"]),
                float(loco["pelvis_height_rate_m_s"]),
                (float(vmax["vx"]), float(vmax["vx_backward"]), float(vmax["vy"]),
                 float(vmax["wz"])),
                (float(loco["max_acceleration"]["linear"]),
                 float(loco["max_acceleration"]["angular"])),
                float(prev["dt_s"]), float(prev["horizon_s"]), float(prev["q_zmp"]),
                float(prev["r_jerk"]), float(stab["servo_gain"]), float(stab["tilt_gain"]),
                float(stab["velocity_gain"]), float(stab["max_velocity_correction"]),
                None if loco.get("sit") is None else SitConfig(
                    float(loco["sit"]["pelvis_drop_m"]), float(loco["sit"]["torso_lean_rad"]),
                    float(loco["sit"]["transition_s"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad `locomotion:` section: {exc!r}") from exc
        s = cfg.steps
        if not (0 < s.double_support_s < s.step_period_s and s.step_height_m > 0
                and 0 < s.min_foot_gap_m <= s.foot_spacing_m and s.max_step_yaw_rad > 0
                and cfg.start_shift_s > 0 and cfg.start_delay_s > 0 and cfg.pelvis_height_m > 0
                and 0 <= cfg.zmp_inset_m < s.foot_spacing_m / 2
                and cfg.pelvis_height_rate_m_s > 0 and min(cfg.max_velocity) >= 0
                and min(cfg.max_acceleration) > 0
                and 0 < cfg.preview_dt_s < cfg.preview_horizon_s
                and min(cfg.servo_gain, cfg.tilt_gain, cfg.velocity_gain,
                        cfg.max_velocity_correction) >= 0):
            raise ValueError(f"`locomotion:` values out of range: {cfg}")
        sit = cfg.sit
        if sit is not None and not (0 < sit.pelvis_drop_m < cfg.pelvis_height_m
                                    and 0 <= sit.torso_lean_rad < math.pi / 2
                                    and sit.transition_s > 0):
            raise ValueError(f"`locomotion.sit:` values out of range: {sit}")
        return cfg


def _quat_wxyz_to_matrix(quat_wxyz: np.ndarray) -> np.ndarray:
    quat = np.asarray(quat_wxyz, float)
    if quat.shape != (4,) or not np.all(np.isfinite(quat)) or np.linalg.norm(quat) < 1e-9:
        raise ValueError(f"base orientation must be a finite non-zero wxyz quaternion: {quat}")
    w, x, y, z = quat / np.linalg.norm(quat)
    return pin.Quaternion(w, x, y, z).toRotationMatrix()


def _rot_z(yaw_rad: float) -> np.ndarray:
    R = np.eye(3)
    R[:2, :2] = rot2(yaw_rad)
    return R


def _yaw_of(R: np.ndarray) -> float:
    return math.atan2(R[1, 0], R[0, 0])


class HumanoidWalking:
    """`update(state, cmd_twist, dt_s) -> JointTargets` at the control rate. The first update
    (or `reset`) takes the feet and CoM from the measured state."""

    LEGS = ("left", "right")
    RAMP_DONE_M_S = 0.05
    AVERAGE_SETTLED = 2.0  # velocity average windows of steady steps before integrating

    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.config = WalkingConfig.from_profile(profile)
        groups = profile["joint_groups"]
        self.joint_names: tuple[str, ...] = tuple(n for g in groups.values() for n in g)
        default = profile["default_joint_positions"]
        self._default_q = np.array([float(default[n]) for n in self.joint_names])
        self.model = pin.buildModelFromUrdf(str(profile["urdf"]), pin.JointModelFreeFlyer())
        self._data = self.model.createData()
        soles = dict(zip(self.LEGS, profile["contact_frames"], strict=True))
        self.legs = {side: LegGeometry.from_model(self.model, groups[f"{side}_leg"], soles[side])
                     for side in self.LEGS}
        self._sole_frames = {s: self.model.getFrameId(soles[s]) for s in self.LEGS}
        self._leg_index = {s: np.array([self.joint_names.index(n)
                                        for n in self.legs[s].joint_names]) for s in self.LEGS}
        self._all_leg_index = np.concatenate([self._leg_index[s] for s in self.LEGS])
        self._pin_q_index = np.array([self.model.joints[self.model.getJointId(n)].idx_q
                                      for n in self.joint_names])
        self._pin_v_index = np.array([self.model.joints[self.model.getJointId(n)].idx_v
                                      for n in self.joint_names]) - 6
        self.mass_kg = float(pin.computeTotalMass(self.model))
        # the joint servos' stiffness (N m/rad): a torque is fed forward as a position offset
        self._kp = np.array([float(profile["gains"][g]["kp"]) for g, names in groups.items()
                             for _ in names])
        com_height = self._com_height_when_walking()
        self.gains = preview_gains(com_height, self.config.preview_dt_s,
                                   self.config.preview_horizon_s, self.config.preview_q_zmp,
                                   self.config.preview_r_jerk)
        self.omega_rad_s = math.sqrt(GRAVITY_M_S2 / com_height)
        self.preview = PreviewController(self.gains)
        self.postures: tuple[str, ...] = ("stand",) if self.config.sit is None else \
            ("stand", "sit")
        if self.config.sit is not None:
            self._check_sit_pose()
        self._posture = "stand"
        self._started = False

    # ----- set-up -----
    def _pin_q(self, joint_q: np.ndarray, base_position: np.ndarray,
               base_rotation: np.ndarray) -> np.ndarray:
        q = pin.neutral(self.model)
        q[:3] = base_position
        q[3:7] = pin.Quaternion(base_rotation).coeffs()  # xyzw
        q[self._pin_q_index] = joint_q
        return q

    def _com_height_when_walking(self) -> float:
        """CoM height (LIPM z_c) with the pelvis at walking height, feet under the hips."""
        q = self._default_q.copy()
        z = self.config.pelvis_height_m
        for side in self.LEGS:
            leg = self.legs[side]
            sole = np.array([leg.hip_base_m[0], leg.hip_base_m[1], 0.0])
            q[self._leg_index[side]], ok = leg_ik(leg, np.eye(3), np.array([0.0, 0.0, z]),
                                                  np.eye(3), sole)
            if not ok:
                raise ValueError(f"pelvis_height_m {z} is out of the legs' reach")
        com = pin.centerOfMass(self.model, self._data, self._pin_q(q, np.zeros(3), np.eye(3)))
        return float(com[2] + z)

    def _check_sit_pose(self) -> None:
        """The squat must be within the legs' reach and joint limits (feet under the hips, the
        pelvis where the CoM is over them), or the profile is refused at start-up."""
        sit = self.config.sit
        z = self.config.pelvis_height_m - sit.pelvis_drop_m
        R_lean = _rot_y(sit.torso_lean_rad)
        q, pelvis = self._default_q.copy(), np.array([0.0, 0.0, z])
        for _ in range(4):  # the CoM offset depends on the legs' pose: a few rounds settle it
            pelvis[:2] = -self._com_offset(q, R_lean)[:2]
            ok = True
            for side in self.LEGS:
                leg = self.legs[side]
                q[self._leg_index[side]], ok_side = leg_ik(
                    leg, R_lean, pelvis, np.eye(3), np.array([0.0, leg.hip_base_m[1], 0.0]))
                ok = ok and ok_side
        if not ok:
            raise ValueError(f"locomotion.sit: a pelvis {z:.3f} m high pitched "
                             f"{sit.torso_lean_rad} rad is out of the legs' reach or limits "
                             "(less drop or more lean)")

    def reset(self, state: LeggedState) -> None:
        """Start from the measured state: feet where they are, CoM at rest where it is."""
        q = self._joint_vector(state.joint_positions_rad)
        R_base = _quat_wxyz_to_matrix(state.base_quat_wxyz)
        pin_q = self._pin_q(q, np.zeros(3), R_base)
        pin.framesForwardKinematics(self.model, self._data, pin_q)
        self._feet = {}
        for side in self.LEGS:
            M = self._data.oMf[self._sole_frames[side]]
            self._feet[side] = Footstep(side, M.translation[:2].copy(), _yaw_of(M.rotation))
        com = pin.centerOfMass(self.model, self._data, pin_q)
        self.preview.reset(com[:2])
        self._time_s = 0.0
        self._preview_time_s = 0.0
        self._walking = False
        self._stance = "left"
        self._swing_target: Footstep | None = None
        self._step_t0_s = 0.0
        self._step_ds_s = self.config.steps.double_support_s
        self._segments = [ZmpSegment(0.0, self.config.start_shift_s, com[:2].copy(),
                                     self._midpoint())]
        self._pelvis_z = -min(self._data.oMf[f].translation[2]
                              for f in self._sole_frames.values())
        self._q_prev = q.copy()
        self._depth = 0.0  # 0 standing .. 1 sitting (POSTURE_DEPTH)
        self._posture_ramp: tuple[float, float, float, float] | None = None  # t0, from, to, s
        self._com_offset_base = self._com_offset(q, np.eye(3))
        self._velocity_avg = np.zeros(2)
        self._step_twist = np.zeros(3)  # the twist the current step was planned for
        self._velocity_correction = np.zeros(2)
        self._steady_since_s = math.inf  # the steps' twist has been the command's since then
        self._started = True

    def _joint_vector(self, values: Sequence[float], what: str = "joint positions",
                      ) -> np.ndarray:
        q = np.asarray(values, dtype=float)
        if q.shape != (len(self.joint_names),) or not np.all(np.isfinite(q)):
            raise ValueError(f"{what} must be {len(self.joint_names)} finite numbers in "
                             f"joint_names order, got {values!r}")
        return q

    def _com_offset(self, joint_q: np.ndarray, R_pelvis_heading: np.ndarray) -> np.ndarray:
        """CoM relative to the pelvis, in the heading frame, for these joints and the pelvis
        rotated by R_pelvis_heading (its planned lean) at the origin."""
        return pin.centerOfMass(self.model, self._data,
                                self._pin_q(joint_q, np.zeros(3), R_pelvis_heading)).copy()

    def _midpoint(self) -> np.ndarray:
        return (self._feet["left"].xy_world_m + self._feet["right"].xy_world_m) / 2

    # ----- the plan -----
    def clamp_twist(self, cmd_twist: Sequence[float]) -> np.ndarray:
        """(vx, vy, wz) within the profile's limits; a non-finite command is refused."""
        cmd = np.asarray(cmd_twist, float)
        if cmd.shape != (3,) or not np.all(np.isfinite(cmd)):
            raise ValueError(f"cmd_twist must be 3 finite numbers (vx, vy, wz), got {cmd_twist}")
        vx_f, vx_b, vy, wz = self.config.max_velocity
        return np.array([min(max(cmd[0], -vx_b), vx_f), min(max(cmd[1], -vy), vy),
                         min(max(cmd[2], -wz), wz)])

    def _plan(self, cmd: np.ndarray, first_ds_s: float) -> None:
        """ZMP segments from now: the current step, then the planned ones, with the twist
        changing step by step as the acceleration limit lets it reach `cmd` (so the next
        step's plan agrees with this one unless the command changes). Enough steps to cover
        the preview horizon; for a zero command, until the robot has stopped, feet square."""
        steps = self.config.steps
        ss = steps.step_period_s - steps.double_support_s
        n = int(self.config.preview_horizon_s / steps.step_period_s) + 2
        twists = ramped_twists(self._step_twist, cmd, self._max_twist_change_per_step(), n)
        landings = [self._swing_target,
                    *plan_footsteps_for(self._swing_target, twists[:-1], steps)]
        t, p = self._time_s, sample_zmp(self._segments, np.array([self._time_s]))[0]
        segs = []
        support, other, ds = self._feet[self._stance], self._feet[other_side(self._stance)], \
            first_ds_s
        if first_ds_s > steps.double_support_s:  # starting: the ZMP stays while the
            hold_s = first_ds_s - self.config.start_shift_s  # preview sees the shift coming
            segs.append(ZmpSegment(t, hold_s, p, p))
            t, ds = t + hold_s, self.config.start_shift_s
        for landing, twist in zip(landings, [self._step_twist, *twists], strict=False):
            zmp = self._zmp_on(support)
            segs += [ZmpSegment(t, ds, p, zmp), ZmpSegment(t + ds, ss, zmp, zmp)]
            t, p, ds = t + ds + ss, zmp, steps.double_support_s
            other, support = support, landing
            if not np.any(twist != 0.0) and squared_up(other, support, steps):
                break
        mid = (support.xy_world_m + other.xy_world_m) / 2
        segs.append(ZmpSegment(t, self.config.start_shift_s, p, mid))
        self._segments = segs

    def _max_twist_change_per_step(self) -> np.ndarray:
        lin, ang = self.config.max_acceleration
        return np.array([lin, lin, ang]) * self.config.steps.step_period_s

    def _start_step(self, cmd: np.ndarray, first_ds_s: float) -> None:
        """Commit the next step: its twist one acceleration step closer to `cmd`."""
        self._step_twist = ramped_twists(self._step_twist, cmd,
                                         self._max_twist_change_per_step(), 1)[0]
        stance = self._feet[self._stance]
        self._swing_target = plan_footsteps_for(stance, [self._step_twist],
                                                self.config.steps)[0]
        self._step_t0_s = self._time_s
        self._step_ds_s = first_ds_s
        self._walking = True
        self._plan(cmd, first_ds_s)

    def _advance_steps(self, cmd: np.ndarray) -> None:
        steps = self.config.steps
        moving = bool(np.any(cmd != 0.0))
        if not self._walking:
            if moving:  # the first swing leg is the one on the side we head to
                self._stance = "right" if (cmd[1] > 0 or (cmd[1] == 0 and cmd[2] >= 0)) \
                    else "left"
                self._step_twist = np.zeros(3)
                first_ds_s = self.config.start_delay_s + self.config.start_shift_s
                self._steady_since_s = self._time_s + first_ds_s  # no steps before that
                self._start_step(cmd, first_ds_s)
            return
        step_end = self._step_t0_s + self._step_ds_s + steps.step_period_s \
            - steps.double_support_s
        if self._time_s < step_end:
            return
        swing = other_side(self._stance)
        self._feet[swing] = self._swing_target
        self._stance = swing
        if (not moving and not np.any(self._step_twist != 0.0)
                and squared_up(self._feet[other_side(swing)], self._feet[swing], steps)):
            self._walking = False
            self._swing_target = None
            mid = self._midpoint()
            p = sample_zmp(self._segments, np.array([self._time_s]))[0]
            self._segments = [ZmpSegment(self._time_s, self.config.start_shift_s, p, mid)]
            return
        self._start_step(cmd, steps.double_support_s)

    def _corrected_twist(self, cmd: np.ndarray, velocity_world_m_s: np.ndarray,
                         dt_s: float) -> np.ndarray:
        """The twist the footsteps are planned for: the command plus the integral of its
        tracking error (vx, vy in the heading frame). The real body ends each step a little
        ahead of the plan (the swing foot lands 1-4 cm long), 14 % too fast at 0.3 m/s
        without this. The measured velocity is averaged over about a step to remove the sway."""
        cfg = self.config
        v_heading = rot2(self._feet[self._stance].yaw_world_rad).T @ velocity_world_m_s[:2]
        alpha = dt_s / (cfg.steps.step_period_s * 2 + dt_s)
        self._velocity_avg += alpha * (v_heading - self._velocity_avg)
        if not (self._walking and np.any(cmd != 0.0)):
            self._velocity_correction[:] = 0.0
            return cmd
        corrected = self.clamp_twist([*(cmd[:2] + self._velocity_correction), cmd[2]])
        # integrate only once the steps have (nearly) reached the command, and the average has
        # seen that for AVERAGE_SETTLED x its window: while the body accelerates (or stands in
        # its start hold) it lags by design, and that error wound the integral up to its bound
        # at every start (the body then ran 40 % fast, then stalled: a 4-5 s speed cycle that
        # tipped the humanoid 4-6 deg, and over in the stack)
        if np.any(np.abs(self._step_twist - corrected)[:2] >= self.RAMP_DONE_M_S):
            self._steady_since_s = self._time_s
        elif (self._time_s - self._steady_since_s
              >= self.AVERAGE_SETTLED * cfg.steps.step_period_s * 2):
            self._velocity_correction += (cfg.velocity_gain * dt_s
                                          * (cmd[:2] - self._velocity_avg))
            bound = cfg.max_velocity_correction * np.abs(cmd[:2])
            self._velocity_correction = np.clip(self._velocity_correction, -bound, bound)
        return self.clamp_twist([*(cmd[:2] + self._velocity_correction), cmd[2]])

    def _zmp_on(self, foot: Footstep) -> np.ndarray:
        """The single-support ZMP reference: the sole centre moved towards the other foot.
        The CoM then swings less far out; with the ZMP on the centre, sideways steps and fast
        walking tipped over the soles' inner edges (measured: no vy was stable, 0.4 m/s fell)."""
        inward = -lateral_sign(foot.side) * self.config.zmp_inset_m
        return foot.xy_world_m + rot2(foot.yaw_world_rad) @ np.array([0.0, inward])

    def _feet_now(self) -> dict[str, tuple[np.ndarray, float, np.ndarray, float]]:
        """Per side: (sole xyz, yaw, linear velocity, yaw rate) at the current time."""
        out = {}
        steps = self.config.steps
        for side in self.LEGS:
            foot = self._feet[side]
            out[side] = (np.array([*foot.xy_world_m, 0.0]), foot.yaw_world_rad, np.zeros(3), 0.0)
        if self._walking:
            swing = other_side(self._stance)
            ss = steps.step_period_s - steps.double_support_s
            phase = (self._time_s - self._step_t0_s - self._step_ds_s) / ss
            if self._in_single_support():
                out[swing] = swing_foot(self._feet[swing], self._swing_target, phase, ss,
                                        steps.step_height_m)
        return out

    # ----- the loop -----
    def update(self, state: LeggedState, cmd_twist: Sequence[float],
               dt_s: float) -> JointTargets:
        """One control tick: joint targets for every joint of the robot (legs walking, the rest
        at the profile's default pose)."""
        if not (math.isfinite(dt_s) and 0.0 < dt_s <= 0.1):
            raise ValueError(f"dt_s must be in (0, 0.1] s, got {dt_s}")
        cmd = self.clamp_twist(cmd_twist)
        if not self._started:
            self.reset(state)
        q_meas = self._joint_vector(state.joint_positions_rad)
        dq_meas = self._joint_vector(state.joint_velocities_rad_s, "joint velocities")
        R_base = _quat_wxyz_to_matrix(state.base_quat_wxyz)
        v_base = np.asarray(state.base_linear_velocity_base_m_s, dtype=float)
        if v_base.shape != (3,) or not np.all(np.isfinite(v_base)):
            raise ValueError(f"base linear velocity must be 3 finite numbers, got {v_base!r}")
        self._time_s += dt_s
        if not (self._posture == "stand" and self._depth == 0.0 and self._posture_ramp is None):
            cmd = np.zeros(3)  # sitting or on the way: no steps (stand up first)
        self._advance_steps(self._corrected_twist(cmd, R_base @ v_base, dt_s))
        self._move_posture()
        self._run_preview()
        com_ref = self.preview.interpolate(self._time_s - (self._preview_time_s
                                                           - self.gains.dt_s))
        feet = self._feet_now()
        yaw = _mean_angle(feet["left"][1], feet["right"][1])
        R_yaw = _rot_z(yaw)
        sit = self.config.sit
        R_lean = np.eye(3) if sit is None else _rot_y(self._depth * sit.torso_lean_rad)
        tilt = _tilt_correction(R_base, R_lean, self.config.tilt_gain)
        R_pelvis = R_yaw @ tilt @ R_lean
        target_z = self.config.pelvis_height_m
        step_z = self.config.pelvis_height_rate_m_s * dt_s
        self._pelvis_z += min(max(target_z - self._pelvis_z, -step_z), step_z)
        pelvis = np.array([*com_ref[0], 0.0]) - R_yaw @ self._com_offset_base
        pelvis[2] = self._pelvis_z - (0.0 if sit is None else self._depth * sit.pelvis_drop_m)
        q = self._default_q.copy()
        for side in self.LEGS:
            xyz, foot_yaw, _, _ = feet[side]
            q[self._leg_index[side]], _ = leg_ik(self.legs[side], R_pelvis, pelvis,
                                                 _rot_z(foot_yaw), xyz)
        self._com_offset_base = self._com_offset(q, R_lean)
        velocity = (q - self._q_prev) / dt_s
        self._q_prev = q
        com_accel = np.array([*com_ref[2], 0.0])
        torques = self._support_torques(q, pelvis, R_pelvis, com_accel)
        q_cmd = q + torques / self._kp
        # legs: stiffen the servos in software, kp and kv both x (1 + gain)
        gain = self.config.servo_gain
        if gain > 0.0:
            legs = self._all_leg_index
            q_cmd[legs] += gain * (q[legs] - q_meas[legs])
            velocity = velocity.copy()
            velocity[legs] += gain * (velocity[legs] - dq_meas[legs])
        return JointTargets(self.joint_names, q_cmd, velocity, torques)

    def _support_torques(self, joint_q: np.ndarray, pelvis_m: np.ndarray, R_pelvis: np.ndarray,
                         com_accel_world: np.ndarray) -> np.ndarray:
        """Joint torques that carry the planned pose against gravity and accelerate its CoM as
        planned, the weight shared between the feet as the planned ZMP says. Position servos
        would otherwise lag by torque / kp (0.1 rad at the knees standing; far more when the
        whole body sways over one ankle)."""
        weights = self._support_weights()
        q = self._pin_q(joint_q, pelvis_m, R_pelvis)
        model, data = self.model, self._data
        gravity = pin.computeGeneralizedGravity(model, data, q).copy()
        # the base rows must also supply m * c_ddot (at the CoM), in base axes like the free flyer
        force_base = R_pelvis.T @ (self.mass_kg * com_accel_world)
        lever_base = R_pelvis.T @ (pin.centerOfMass(model, data, q) - pelvis_m)
        gravity[:3] += force_base
        gravity[3:6] += pin.skew(lever_base) @ force_base
        pin.computeJointJacobians(model, data, q)
        J = {s: pin.getFrameJacobian(model, data, self._sole_frames[s],
                                     pin.ReferenceFrame.LOCAL_WORLD_ALIGNED) for s in self.LEGS}
        # contact wrenches f (12) that balance the base rows, least squares weighted by share:
        # min sum |f_s|^2 / w_s  s.t.  sum J_s[:, :6]^T f_s = gravity[:6]
        A = np.hstack([J[s][:, :6].T for s in self.LEGS])
        W = np.repeat([weights[s] for s in self.LEGS], 6)
        AW = A * W
        f = W * (A.T @ np.linalg.solve(AW @ A.T + 1e-9 * np.eye(6), gravity[:6]))
        tau = gravity[6:] - sum(J[s][:, 6:].T @ f[6 * i:6 * i + 6]
                                for i, s in enumerate(self.LEGS))
        return tau[self._pin_v_index]

    def _support_weights(self) -> dict[str, float]:
        """Share of the weight on each foot: the planned ZMP between the feet; a swinging foot
        carries nothing."""
        if self._walking and self._in_single_support():
            return {self._stance: 1.0, other_side(self._stance): 0.0}
        zmp = self.preview.zmp_xy
        left, right = self._feet["left"].xy_world_m, self._feet["right"].xy_world_m
        span = left - right
        share = float(np.clip((zmp - right) @ span / max(span @ span, 1e-9), 0.0, 1.0))
        return {"left": share, "right": 1.0 - share}

    def _in_single_support(self) -> bool:
        return self._time_s - self._step_t0_s > self._step_ds_s

    def _run_preview(self) -> None:
        """Step the preview up to the current time."""
        g = self.gains
        while self._preview_time_s < self._time_s:
            times = self._preview_time_s + g.dt_s * np.arange(g.n_preview + 1)
            self.preview.step(sample_zmp(self._segments, times))
            self._preview_time_s += g.dt_s

    @property
    def walking(self) -> bool:
        return self._walking

    # ----- postures -----
    def set_posture(self, posture: str) -> None:
        """'stand' or 'sit' (if the profile has `locomotion.sit`). Sitting down waits for the
        walk to stop; a change asked for mid-way starts once the current one is complete."""
        if posture not in self.postures:
            raise ValueError(f"posture {posture!r} not available; this robot has "
                             f"{list(self.postures)}")
        self._posture = posture

    @property
    def posture(self) -> str:
        return self._posture

    @property
    def posture_reached(self) -> bool:
        return (self._started and not self._walking and self._posture_ramp is None
                and self._depth == POSTURE_DEPTH[self._posture])

    @property
    def pelvis_height_m(self) -> float:
        """The planned pelvis height above the soles now."""
        drop = 0.0 if self.config.sit is None else self._depth * self.config.sit.pelvis_drop_m
        return self._pelvis_z - drop

    def _move_posture(self) -> None:
        """Step the stand <-> sit ramp (min-jerk in the depth, so pelvis and lean start and
        stop without a jerk); start one once the feet are square and the goal differs."""
        target = POSTURE_DEPTH[self._posture]
        if self._posture_ramp is None:
            if self._walking or self._depth == target:
                return
            duration_s = self.config.sit.transition_s * abs(target - self._depth)
            self._posture_ramp = (self._time_s, self._depth, target, duration_s)
        t0, start, end, duration_s = self._posture_ramp
        s, _ = min_jerk((self._time_s - t0) / duration_s)
        self._depth = start + (end - start) * s
        if s >= 1.0:
            self._depth, self._posture_ramp = end, None

    def feet(self) -> dict[str, Footstep]:
        """Where each foot stands (the swinging one: where it took off)."""
        return dict(self._feet)

    def planted_feet(self) -> list[Footstep]:
        """The feet on the ground in the plan now: the support polygon's soles."""
        if self._walking and self._in_single_support():
            return [self._feet[self._stance]]
        return [self._feet[s] for s in self.LEGS]


def _mean_angle(a_rad: float, b_rad: float) -> float:
    return wrap_angle(a_rad + wrap_angle(b_rad - a_rad) / 2)


def _rot_y(pitch_rad: float) -> np.ndarray:
    c, s = math.cos(pitch_rad), math.sin(pitch_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _tilt_correction(R_base_world: np.ndarray, R_planned_heading: np.ndarray,
                     gain: float) -> np.ndarray:
    """Pelvis rotation (in its heading frame) that leans against the measured roll/pitch beyond
    the planned one (R_planned_heading: the pelvis in its heading frame, e.g. a squat's lean).
    The tilt is read in the base's own measured heading, so a yaw difference between the plan
    and the IMU (feet slipping in yaw) cannot turn a roll into a pitch."""
    if gain == 0.0:
        return np.eye(3)
    R_local = _rot_z(_yaw_of(R_base_world)).T @ R_base_world @ R_planned_heading.T
    tilt_vec = pin.log3(R_local)
    tilt_vec[2] = 0.0
    return pin.exp3(-gain * tilt_vec)
