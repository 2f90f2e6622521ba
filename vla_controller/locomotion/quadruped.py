"""Quadruped locomotion: a trot driven by a body twist (what /cmd_vel carries), stand and sit.

`QuadrupedLocomotion.update(state, cmd_twist, dt_s)` turns the robot's state (joint positions and
velocities, base orientation from /imu, base twist from /odom) and a commanded twist
(vx, vy m/s in the base frame, yaw rate rad/s) into joint position targets plus velocity
feed-forward. How:

- Feet are planned in the base frame. Stance feet slide backwards under the body at the
  commanded twist, so position-servoed legs carry the body along at that twist; swing feet fly
  to a Raibert foothold (half a stance ahead of their nominal point, plus a correction for the
  measured velocity error, plus the centripetal offset a curve needs).
- Rolling feet and slip make the body's twist differ from the feet's: the integral of the
  stride-averaged twist error (from /odom and the gyro) is added to the stance feet's twist.
- Standing, a push that sets the body moving starts the trot; the footholds catch it.
- Feet kept in one plane parallel to the trunk level the trunk on flat ground; on top of that,
  the measured roll/pitch lengthen the legs on the low side (`attitude_gain`), and the
  integral of the tilt does it for as long as the tilt lasts (a slope: the trunk stays level
  with gravity, not with the ground).
- Position servos sag under load: the stance legs' share of the weight, as joint torques
  J^T f, is added to the position target as torque / kp (the servo's stiffness), so the legs
  hold the commanded height.
- Leg angles come from the closed-form leg IK on the URDF's geometry (leg_kinematics).

Every robot-specific number is in the profile's `locomotion:` section.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pinocchio as pin

from vla_controller.locomotion.gait import (
    GRAVITY_M_S2,
    GaitSchedule,
    raibert_foothold,
    swing_foot,
    trot_phase_offsets,
)
from vla_controller.locomotion.leg_kinematics import LegKinematics, legs_from_urdf

POSTURES = ("stand", "sit")
_CMD_EPS = 1e-3          # |cmd| below this (m/s, rad/s) counts as "stand still"
_HEIGHT_TOL_M = 1e-3     # posture height reached
_JACOBIAN_DAMPING = 1e-4  # damped least squares near a stretched leg ...
_SINGULAR_DET = 1e-5     # ... i.e. |det J| (m^3) below this (~1e-2 of a bent leg's)
_RESTEP_TOL_M = 0.02     # standing with a foot this far off its stance point: step to it
_PUSH_RECOVERY_SPEED_M_S = 0.15  # standing body moving faster than this: start stepping
_MAX_CORRECTION_FRACTION = 0.3  # of the command: the twist-error integral's bound ...
_CORRECTION_FLOOR_FRACTION = 0.05  # ... plus this much of max_velocity while moving
_LOAD_TRANSFER_S = 0.01  # time constant of the weight feed-forward between legs
_MAX_LEAN_RAD = 0.35     # the integral leveling copes with slopes up to ~20 deg
_LEAN_TILT_CAP_RAD = 0.1


@dataclass(frozen=True)
class LocomotionParams:
    """The profile's `locomotion:` section (see config/robots/quadruped.yaml)."""

    gait_period_s: float
    duty_factor: float
    step_height_m: float
    body_height_m: float
    sit_height_m: float
    stance_width_m: float
    stance_length_m: float
    max_velocity: tuple[float, float, float]       # vx m/s, vy m/s, yaw rate rad/s
    max_acceleration: tuple[float, float, float]   # m/s^2, m/s^2, rad/s^2
    max_turn_acceleration_m_s2: float               # |v| |yaw rate| cap
    velocity_feedback_s: float
    velocity_integral_gain: float
    max_foot_offset_m: float
    attitude_gain: float
    attitude_integral_gain: float
    posture_transition_s: float
    velocity_filter_s: float
    fall_tilt_deg: float
    weight_feedforward: bool = True

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> LocomotionParams:
        section = profile.get("locomotion")
        if not isinstance(section, dict):
            raise ValueError(f"profile {profile.get('name')!r} has no `locomotion:` section")
        names = [f.name for f in cls.__dataclass_fields__.values()]  # type: ignore[attr-defined]
        unknown = sorted(set(section) - set(names))
        missing = [n for n in names if n not in section and n != "weight_feedforward"]
        if unknown or missing:
            raise ValueError(f"locomotion section: unknown keys {unknown}, missing {missing}")
        values = dict(section)
        for key in ("max_velocity", "max_acceleration"):
            vec = tuple(float(v) for v in values[key])
            if len(vec) != 3 or not all(math.isfinite(v) and v > 0 for v in vec):
                raise ValueError(f"locomotion.{key} must be 3 positive numbers, got {vec}")
            values[key] = vec
        params = cls(**values)
        for name in ("gait_period_s", "step_height_m", "max_turn_acceleration_m_s2",
                     "body_height_m", "sit_height_m", "stance_width_m", "stance_length_m",
                     "max_foot_offset_m",
                     "posture_transition_s", "velocity_filter_s", "fall_tilt_deg"):
            value = getattr(params, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"locomotion.{name} must be a positive number, got {value!r}")
        if params.sit_height_m >= params.body_height_m:
            raise ValueError("locomotion.sit_height_m must be below body_height_m")
        return params


@dataclass(frozen=True)
class QuadrupedState:
    """What the controller node has: /joint_states, /imu orientation and rate, /odom twist."""

    joint_positions_rad: np.ndarray        # in QuadrupedLocomotion.joint_names order
    joint_velocities_rad_s: np.ndarray
    base_quat_wxyz: np.ndarray             # base orientation in the odom frame (/imu)
    base_linear_velocity_base_m_s: np.ndarray   # /odom twist.linear (child frame: base)
    base_angular_velocity_base_rad_s: np.ndarray  # /imu angular_velocity (base axes)


@dataclass(frozen=True)
class JointTargets:
    """Position targets (weight feed-forward folded in as torque / kp for position servos),
    velocity feed-forward, and the feed-forward torques themselves."""

    names: tuple[str, ...]
    positions_rad: np.ndarray
    velocities_rad_s: np.ndarray
    torques_nm: np.ndarray


@dataclass
class LocomotionStatus:
    posture: str                 # the requested posture
    posture_reached: bool
    walking: bool                # the gait clock runs
    fallen: bool
    cmd_twist: np.ndarray = field(default_factory=lambda: np.zeros(3))  # after limits/ramp
    feet_reachable: bool = True


def _finite_vector(value: Any, size: int, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    # a NaN or inf anywhere makes the sum non-finite (and is cheaper than isfinite().all())
    if arr.shape != (size,) or not math.isfinite(float(arr.sum())):
        raise ValueError(f"{what} must be {size} finite numbers, got {value!r}")
    return arr


def _joint_stiffness(profile: dict[str, Any], joint_names: Sequence[str]) -> np.ndarray:
    """Servo kp (N m/rad) per joint from the profile's per-group gains."""
    kp: dict[str, float] = {}
    for group, joints in profile.get("joint_groups", {}).items():
        gains = profile.get("gains", {}).get(group)
        if gains is not None:
            kp.update({j: float(gains["kp"]) for j in joints})
    missing = [j for j in joint_names if j not in kp or kp[j] <= 0]
    if missing:
        raise ValueError(f"profile gains give no positive kp for {missing}")
    return np.array([kp[j] for j in joint_names])


def _mass_and_com(urdf: str, profile: dict[str, Any]) -> tuple[float, np.ndarray]:
    """Total mass (kg) and the centre of mass in the base frame at the default pose."""
    model = pin.buildModelFromUrdf(urdf, pin.JointModelFreeFlyer())
    q = pin.neutral(model)
    for name, value in profile.get("default_joint_positions", {}).items():
        if model.existJointName(name):
            q[model.idx_qs[model.getJointId(name)]] = value
    com = pin.centerOfMass(model, model.createData(), q)
    return float(pin.computeTotalMass(model)), com


def roll_pitch(quat_wxyz: np.ndarray) -> tuple[float, float]:
    """Roll and pitch (rad, ROS convention: + pitch = nose down) of a wxyz quaternion."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    roll = math.atan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = math.asin(min(max(2.0 * (w * y - z * x), -1.0), 1.0))
    return roll, pitch


class QuadrupedLocomotion:
    """Trot / stand / sit for a 4-legged profile. `update` from one thread (the control loop);
    `set_posture` only swaps a string, so another thread (a ROS callback) may call it."""

    def __init__(self, profile: dict[str, Any]) -> None:
        self.params = LocomotionParams.from_profile(profile)
        legs = profile.get("legs")
        if not isinstance(legs, dict) or len(legs) != 4:
            raise ValueError("profile `legs:` must name 4 legs (joints, foot_frame)")
        self.legs: dict[str, LegKinematics] = legs_from_urdf(profile["urdf"], legs)
        self.leg_names = list(legs)
        self.joint_names: tuple[str, ...] = tuple(
            j for leg in self.leg_names for j in self.legs[leg].joint_names)
        self._kp = _joint_stiffness(profile, self.joint_names)
        self.mass_kg, com_base = _mass_and_com(profile["urdf"], profile)
        self.foot_radius_m = float(profile.get("foot_radius_m", 0.0))
        p = self.params
        # nominal stance points: the stance rectangle, centred under the centre of mass
        self.nominal_feet_base_m = np.zeros((4, 3))
        for i, leg in enumerate(self.leg_names):
            under_hip = self.legs[leg].nominal_foot_base_m()
            self.nominal_feet_base_m[i, :2] = [
                math.copysign(p.stance_length_m / 2, under_hip[0]) + com_base[0],
                math.copysign(p.stance_width_m / 2, under_hip[1]) + com_base[1]]
        self.gait = GaitSchedule(p.gait_period_s, p.duty_factor,
                                 trot_phase_offsets(self.nominal_feet_base_m, self.leg_names))
        self._posture = "stand"
        self._height_m: float | None = None   # None until the first update
        self._feet = np.zeros((4, 3))         # planned feet, base frame, before leveling
        self._foot_velocity = np.zeros((4, 3))
        self._liftoff = np.zeros((4, 3))
        self._was_swinging = [False] * 4
        self._cmd = np.zeros(3)
        self._twist_filtered = np.zeros(3)     # measured vx, vy, yaw rate (base frame)
        self._twist_stride = np.zeros(3)       # the same averaged over about a stride
        self._cmd_steady_s = 0.0               # how long the ramped command has not changed
        self._twist_correction = np.zeros(3)   # integral of the twist error, added in stance
        self._torques = np.zeros(len(self.joint_names))  # weight feed-forward, smoothed
        self._lean_rad = np.zeros(2)  # integrated roll, pitch: how far the ground slopes
        self.status = LocomotionStatus(posture="stand", posture_reached=False, walking=False,
                                       fallen=False)

    # ----- commands -----
    def set_posture(self, posture: str) -> None:
        """'stand' (and walk when commanded) or 'sit' (lie down; walking commands ignored)."""
        if posture not in POSTURES:
            raise ValueError(f"posture must be one of {POSTURES}, got {posture!r}")
        self._posture = posture
        self.status.posture = posture

    @property
    def posture(self) -> str:
        return self._posture

    def _target_height_m(self) -> float:
        return self.params.body_height_m if self._posture == "stand" else \
            self.params.sit_height_m

    # ----- the control tick -----
    def update(self, state: QuadrupedState, cmd_twist: Sequence[float],
               dt_s: float) -> JointTargets:
        """One control tick -> joint targets. Raises ValueError on malformed input (and then
        changes nothing)."""
        try:
            dt_s = float(dt_s)
        except (TypeError, ValueError):
            raise ValueError(f"dt_s must be a number of seconds, got {dt_s!r}") from None
        if not (math.isfinite(dt_s) and 0.0 < dt_s <= 0.1):
            raise ValueError(f"dt_s must be in (0, 0.1] s, got {dt_s!r}")
        cmd = _finite_vector(cmd_twist, 3, "cmd_twist (vx, vy, yaw rate)")
        n = len(self.joint_names)
        q = _finite_vector(state.joint_positions_rad, n, "joint positions")
        _finite_vector(state.joint_velocities_rad_s, n, "joint velocities")
        quat = _finite_vector(state.base_quat_wxyz, 4, "base quaternion (wxyz)")
        if not 0.25 < float(quat @ quat) < 2.25:  # |q| in (0.5, 1.5)
            raise ValueError(f"base quaternion {quat} is not a rotation")
        v_base = _finite_vector(state.base_linear_velocity_base_m_s, 3, "base linear velocity")
        w_base = _finite_vector(state.base_angular_velocity_base_rad_s, 3,
                                "base angular velocity")

        p = self.params
        if self._height_m is None:
            self._start_from(q)
        roll, pitch = roll_pitch(quat)
        tilt = math.degrees(math.acos(min(1.0, math.cos(roll) * math.cos(pitch))))
        self.status.fallen = tilt > p.fall_tilt_deg
        if not self.status.fallen:
            # integrate at most _LEAN_TILT_CAP_RAD of tilt: a slope builds up over seconds, a
            # push's brief large tilt must not wind the lean up
            tilt_rp = np.clip([roll, pitch], -_LEAN_TILT_CAP_RAD, _LEAN_TILT_CAP_RAD)
            self._lean_rad += p.attitude_integral_gain * dt_s * tilt_rp
            np.clip(self._lean_rad, -_MAX_LEAN_RAD, _MAX_LEAN_RAD, out=self._lean_rad)
        alpha = min(1.0, dt_s / p.velocity_filter_s)
        measured = np.array([v_base[0], v_base[1], w_base[2]])
        self._twist_filtered += alpha * (measured - self._twist_filtered)
        beta = min(1.0, dt_s / p.gait_period_s)
        self._twist_stride += beta * (measured - self._twist_stride)

        target_h = self._target_height_m()
        standing_tall = self._posture == "stand" and abs(self._height_m - target_h) < \
            _HEIGHT_TOL_M
        may_walk = standing_tall and not self.status.fallen
        self._ramp_command(cmd if may_walk else np.zeros(3), dt_s)
        off_nominal = math.sqrt(float(np.max(np.sum(
            (self._feet[:, :2] - self.nominal_feet_base_m[:, :2]) ** 2, axis=1))))
        keep_running = not self.status.fallen and (
            # still moving: step until the ramp has brought the command to rest (also when a
            # sit request cut it), so the body is never stopped dead in half a stride
            bool(np.any(np.abs(self._cmd) > _CMD_EPS))
            or may_walk and (bool(np.any(np.abs(cmd) > _CMD_EPS))
                             or off_nominal > _RESTEP_TOL_M
                             # pushed while standing: step (the footholds catch the body)
                             or math.hypot(self._twist_filtered[0], self._twist_filtered[1])
                             > _PUSH_RECOVERY_SPEED_M_S))
        self.gait.advance(dt_s, keep_running)
        self._integrate_twist_error(dt_s)
        if not self.gait.running:
            self._move_height(target_h, dt_s)
        self._plan_feet(dt_s)

        self.status.walking = self.gait.running
        self.status.posture_reached = (not self.gait.running
                                       and abs(self._height_m - target_h) < _HEIGHT_TOL_M)
        self.status.cmd_twist = self._cmd.copy()
        return self._joint_targets(roll, pitch, dt_s)

    # ----- internals -----
    def _start_from(self, q: np.ndarray) -> None:
        """First tick: plan from where the feet are, so nothing jumps."""
        for i, leg in enumerate(self.leg_names):
            self._feet[i] = self.legs[leg].forward(q[3 * i:3 * i + 3])
        self._height_m = float(-np.mean(self._feet[:, 2]) + self.foot_radius_m)
        self._feet[:, 2] = self.foot_radius_m - self._height_m

    def _ramp_command(self, cmd: np.ndarray, dt_s: float) -> None:
        limit = np.array(self.params.max_velocity)
        target = np.clip(cmd, -limit, limit)
        # a fast, tight curve needs more sideways grip than the trot has: slow down, keep
        # the turn rate (the centripetal acceleration is |v| |w|)
        lateral_m_s2 = math.hypot(target[0], target[1]) * abs(target[2])
        if lateral_m_s2 > self.params.max_turn_acceleration_m_s2:
            target[:2] *= self.params.max_turn_acceleration_m_s2 / lateral_m_s2
        step = np.array(self.params.max_acceleration) * dt_s
        change = np.clip(target - self._cmd, -step, step)
        self._cmd += change
        self._cmd_steady_s = 0.0 if np.any(change) else self._cmd_steady_s + dt_s

    def _integrate_twist_error(self, dt_s: float) -> None:
        """Stance feet slide at the commanded twist plus the integral of its tracking error:
        rolling feet, slip and compliance make the body's speed differ from the feet's, and
        the integral removes that steady-state error. It is zero while standing.

        It integrates only once the command has held still for a stride, and the stride-
        averaged twist: the body lags a ramping command, and the twist swings within each
        stride; integrating either winds the correction up into a slow oscillation."""
        if self.gait.running:
            if self._cmd_steady_s > self.params.gait_period_s:
                self._twist_correction += self.params.velocity_integral_gain * dt_s * (
                    self._cmd - self._twist_stride)
            # bounded by the command itself, so the correction fades as the command does (a
            # floor while moving holds a straight line / heading against drift)
            moving = bool(np.any(np.abs(self._cmd) > _CMD_EPS))
            cap = _MAX_CORRECTION_FRACTION * np.abs(self._cmd) + (
                _CORRECTION_FLOOR_FRACTION * np.array(self.params.max_velocity) * moving)
            np.clip(self._twist_correction, -cap, cap, out=self._twist_correction)
        else:
            self._twist_correction[:] = 0.0

    def _move_height(self, target_h: float, dt_s: float) -> None:
        """Raise/lower the body at a constant rate with the feet where they are (dragging
        them over the floor would not move them reliably); standing tall, the gait then steps
        any foot that is off its stance point back to it."""
        p = self.params
        rate = (p.body_height_m - p.sit_height_m) / p.posture_transition_s
        delta = target_h - self._height_m
        self._height_m += float(np.clip(delta, -rate * dt_s, rate * dt_s))

    def _plan_feet(self, dt_s: float) -> None:
        p = self.params
        ground_z = self.foot_radius_m - self._height_m
        stance_twist = self._cmd + self._twist_correction
        v_stance = np.array([stance_twist[0], stance_twist[1], 0.0])
        for i, leg in enumerate(self.leg_names):
            swinging, progress = self.gait.leg_phase(leg)
            if swinging:
                if not self._was_swinging[i]:
                    self._liftoff[i] = self._feet[i]
                target = np.empty(3)
                target[:2] = raibert_foothold(
                    self.nominal_feet_base_m[i], v_stance, stance_twist[2],
                    v_stance + np.array([*(self._twist_filtered[:2] - self._cmd[:2]), 0.0]),
                    self.gait.stance_s, p.velocity_feedback_s, p.max_foot_offset_m,
                    self._height_m)
                target[2] = ground_z
                self._feet[i], self._foot_velocity[i] = swing_foot(
                    self._liftoff[i], target, progress, self.gait.swing_s, p.step_height_m,
                    self._ground_velocity(self._liftoff[i]), self._ground_velocity(target))
            else:
                foot = self._feet[i]
                # standing (clock stopped): the feet stay where they are
                velocity = self._ground_velocity(foot) if self.gait.running else np.zeros(3)
                foot += velocity * dt_s
                foot[2] = ground_z
                offset = foot[:2] - self.nominal_feet_base_m[i, :2]
                reach = 1.5 * p.max_foot_offset_m
                norm = math.hypot(offset[0], offset[1])
                if norm > reach:  # never drag a stance foot out of the leg's workspace
                    foot[:2] = self.nominal_feet_base_m[i, :2] + offset * (reach / norm)
                    velocity[:2] = 0.0
                self._foot_velocity[i] = velocity
            self._was_swinging[i] = swinging

    def _ground_velocity(self, point_base_m: np.ndarray) -> np.ndarray:
        """Velocity (base frame) of a ground point under the body moving at the commanded
        twist: -v - w x p."""
        vx, vy, yaw_rate = self._cmd + self._twist_correction
        return np.array([-vx + yaw_rate * point_base_m[1], -vy - yaw_rate * point_base_m[0],
                         0.0])

    def _joint_targets(self, roll: float, pitch: float, dt_s: float) -> JointTargets:
        p = self.params
        n = len(self.joint_names)
        positions, velocities, torques = np.empty(n), np.empty(n), np.zeros(n)
        stance = [not swinging for swinging in self._was_swinging]  # this tick's phases
        carry = p.weight_feedforward and not self.status.fallen
        load_n = self.mass_kg * GRAVITY_M_S2 / max(1, sum(stance))
        sin_roll = math.sin(p.attitude_gain * roll + self._lean_rad[0])
        sin_pitch = math.sin(p.attitude_gain * pitch + self._lean_rad[1])
        reachable = True
        for i, leg in enumerate(self.leg_names):
            kin = self.legs[leg]
            x, y, z = self._feet[i]
            # level the trunk: lengthen the legs on the low side of the measured tilt
            z += y * sin_roll - x * sin_pitch
            q_leg, exact = kin.inverse((x, y, z))
            reachable &= exact
            jac = kin.jacobian(q_leg)
            sl = slice(3 * i, 3 * i + 3)
            positions[sl] = q_leg
            velocities[sl] = _solve3(jac, self._foot_velocity[i])
            if stance[i] and carry:
                # the foot pushes its share of the weight into the ground: tau = J^T f
                torques[sl] = -load_n * jac[2]
        self.status.feet_reachable = reachable
        # the load moves between the diagonal pairs at every touch-down: smooth the step in the
        # torque (a jump in the position targets reads as a huge velocity downstream)
        self._torques += min(1.0, dt_s / _LOAD_TRANSFER_S) * (torques - self._torques)
        return JointTargets(self.joint_names, positions + self._torques / self._kp, velocities,
                            self._torques.copy())


def _solve3(jac: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """J x = rhs for a 3x3 leg Jacobian; damped least squares near a stretched (singular)
    leg, where the exact solution would ask for huge joint speeds."""
    (a, b, c), (d, e, f), (g, h, i) = jac.tolist()
    # cofactors: Cramer's rule in scalars (numpy's solver costs ~10x more for a 3x3)
    co_a, co_b, co_c = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * co_a + b * co_b + c * co_c
    if abs(det) > _SINGULAR_DET:
        x, y, z = float(rhs[0]), float(rhs[1]), float(rhs[2])
        return np.array([co_a * x + (c * h - b * i) * y + (b * f - c * e) * z,
                         co_b * x + (a * i - c * g) * y + (c * d - a * f) * z,
                         co_c * x + (b * g - a * h) * y + (a * e - b * d) * z]) / det
    jjt = jac @ jac.T + _JACOBIAN_DAMPING * np.eye(3)
    return jac.T @ np.linalg.solve(jjt, rhs)
