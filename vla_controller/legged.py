"""One interface over the legged locomotion controllers, chosen by the profile's
`gait` (trot: vla_controller.locomotion.quadruped, biped:
vla_controller.locomotion.humanoid_walking), and hand targets while standing (StandingReach:
the whole-body QP blended over the gait's standing command). The controller node only talks to
this."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pinocchio as pin

from vla_controller.locomotion.humanoid_walking import HumanoidWalking
from vla_controller.locomotion.quadruped import QuadrupedLocomotion, QuadrupedState
from vla_controller.tasks import ComTask, FramePoseTask
from vla_controller.trajectory import min_jerk
from vla_controller.wbc import TaskStatus
from vla_controller.wholebody import COM_TASK, add_standing_tasks, controller_from_profile


@dataclass(frozen=True)
class LeggedSensors:
    """What the node hears: /joint_states (by name), /odom (pose in odom, twist in base axes),
    /imu (orientation in odom, angular velocity in base axes)."""
    joint_positions_rad: dict[str, float]
    joint_velocities_rad_s: dict[str, float]
    base_position_odom_m: np.ndarray
    base_quat_wxyz: np.ndarray
    base_linear_velocity_base_m_s: np.ndarray
    base_angular_velocity_base_rad_s: np.ndarray


@dataclass(frozen=True)
class LegCommand:
    names: tuple[str, ...]
    positions_rad: np.ndarray
    velocities_rad_s: np.ndarray


class Locomotion:
    """A legged robot's gait behind one API: postures, velocity commands, joint targets."""
    postures: tuple[str, ...] = ("stand",)

    def __init__(self, profile: dict[str, Any]) -> None:
        self.joint_names: tuple[str, ...] = ()
        self.posture = "stand"

    def set_posture(self, posture: str) -> None:
        if posture not in self.postures:
            raise ValueError(f"posture {posture!r} not available; this robot has "
                             f"{list(self.postures)}")
        self.posture = posture

    @property
    def posture_reached(self) -> bool:
        return True

    @property
    def walking(self) -> bool:
        return False

    def update(self, sensors: LeggedSensors, cmd_twist: np.ndarray, dt_s: float) -> LegCommand:
        raise NotImplementedError

    def _vector(self, values: dict[str, float], what: str) -> np.ndarray:
        missing = [n for n in self.joint_names if n not in values]
        if missing:
            raise ValueError(f"{what}: no value for {missing}")
        return np.array([values[n] for n in self.joint_names], dtype=float)

    def _gait_state(self, sensors: LeggedSensors) -> QuadrupedState:
        """The gaits' common input, joints in this gait's order."""
        return QuadrupedState(
            joint_positions_rad=self._vector(sensors.joint_positions_rad, "joint positions"),
            joint_velocities_rad_s=self._vector(sensors.joint_velocities_rad_s,
                                                "joint velocities"),
            base_quat_wxyz=sensors.base_quat_wxyz,
            base_linear_velocity_base_m_s=sensors.base_linear_velocity_base_m_s,
            base_angular_velocity_base_rad_s=sensors.base_angular_velocity_base_rad_s)


class TrotLocomotion(Locomotion):
    postures = ("stand", "sit")

    def __init__(self, profile: dict[str, Any]) -> None:
        self.gait = QuadrupedLocomotion(profile)
        self.joint_names = self.gait.joint_names
        self.posture = "stand"

    def set_posture(self, posture: str) -> None:
        super().set_posture(posture)
        self.gait.set_posture(posture)

    @property
    def posture_reached(self) -> bool:
        return self.gait.status.posture_reached

    @property
    def walking(self) -> bool:
        return self.gait.status.walking

    def update(self, sensors: LeggedSensors, cmd_twist: np.ndarray, dt_s: float) -> LegCommand:
        out = self.gait.update(self._gait_state(sensors), cmd_twist, dt_s)
        return LegCommand(tuple(out.names), out.positions_rad, out.velocities_rad_s)


class BipedLocomotion(Locomotion):
    def __init__(self, profile: dict[str, Any]) -> None:
        self.walker = HumanoidWalking(profile)
        self.joint_names = self.walker.joint_names
        self.postures = self.walker.postures  # stand, and sit if the profile has a squat
        self.posture = "stand"

    def set_posture(self, posture: str) -> None:
        super().set_posture(posture)
        self.walker.set_posture(posture)

    @property
    def posture_reached(self) -> bool:
        return self.walker.posture_reached

    @property
    def walking(self) -> bool:
        return self.walker.walking

    def update(self, sensors: LeggedSensors, cmd_twist: np.ndarray, dt_s: float) -> LegCommand:
        out = self.walker.update(self._gait_state(sensors), cmd_twist, dt_s)
        return LegCommand(tuple(out.names), out.positions_rad, out.velocities_rad_s)


LOCOMOTION_TYPES: dict[str, type[Locomotion]] = {"trot": TrotLocomotion, "biped": BipedLocomotion}


def make_locomotion(profile: dict[str, Any]) -> Locomotion:
    kind = profile.get("gait")
    if kind not in LOCOMOTION_TYPES:
        raise ValueError(f"profile `gait` must be one of {sorted(LOCOMOTION_TYPES)}, "
                         f"got {kind!r}")
    return LOCOMOTION_TYPES[kind](profile)


def reach_frames(profile: dict[str, Any]) -> tuple[str, ...]:
    """The end effectors a standing robot can move: not the ones it stands on."""
    contacts = set(profile.get("contact_frames") or ())
    return tuple(f for f in profile.get("end_effector_frames") or () if f not in contacts)


MAX_QP_STEPS_PER_TICK = 5  # StandingReach: QP periods one late tick may run


class StandingReach:
    """Frame targets (a hand) while the legged robot stands: the whole-body QP with every
    contact frame (both soles) held where it is and the CoM and base orientation held over the
    support polygon, its command blended in from the gait's standing command over ``blend_s``
    and, on ``release()``, back out to it (a min-jerk ramp of the mix, in joint space).

    Phases: off (the gait alone) -> in (blending in) -> on -> retract (the hand pulled back
    toward the body and up) -> home (a straight line to where it hung when the reach started;
    together they keep the way back from dragging the hand across what it reached over)
    -> out (blending back) -> off.
    Threads: ``start``/``release`` from the node's callbacks, ``blend`` from its control loop.
    While the phase is off the loop never touches the QP, so ``start`` sets it up (sync to the
    measured state, contacts anchored, IK of the target) without holding up the loop."""

    def __init__(self, profile: dict[str, Any], blend_s: float = 1.0,
                 com_margin_m: float = 0.05, blend_in_s: float = 0.25) -> None:
        if not all(np.isfinite(b) and b > 0.0 for b in (blend_s, blend_in_s)):
            raise ValueError(f"blend times must be > 0, got {blend_s}, {blend_in_s}")
        self.frames = reach_frames(profile)
        # in fast (both commands start from the same measured pose, and the hand's min-jerk
        # path has hardly begun), out slowly (from wherever the hand was)
        self.blend_s = float(blend_s)
        self.blend_in_s = float(blend_in_s)
        # a wider CoM margin than the QP's default: the arm's swing and the servos' lag move the
        # measured CoM a few centimetres ahead of the commanded one
        self.wbc, self.servo = controller_from_profile(profile, com_margin_m=com_margin_m)
        # no base stabiliser: feedback of the measured base pose and velocity through the legs
        # destabilises the stance once the measurements are a few ticks old, as through ROS
        # (measured in MuJoCo: state 12 ms late at 250 Hz, or 1-3 physics periods per tick, falls
        # with gain 1 / damping 0.03 s; stands with both 0). The stiff legs hold the stance.
        self.servo.base_gain = 0.0
        self.servo.base_damping_s = 0.0
        self.robot = self.wbc.robot.clone()  # the loop's own pinocchio data
        self.joint_names = tuple(self.robot.joint_names)
        self._phase = "off"
        self._mix = 0.0  # 0: the gait's command, 1: the QP's (before the min-jerk shaping)
        self._goal: tuple[str, str] | None = None  # (task name, frame) of the last target
        self._retract_left_s = 0.0
        self._q_home: np.ndarray | None = None  # the QP's command when the reach started
        self._lock = threading.Lock()

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def active(self) -> bool:
        """The QP drives (part of) the command: walking must wait until this is False."""
        return self._phase not in ("off", "starting")

    def measured_q_v(self, sensors: LeggedSensors) -> tuple[np.ndarray, np.ndarray]:
        """Full configuration and velocity (base from /odom + /imu) in the QP's order."""
        q = self.robot.floating_configuration(
            sensors.base_position_odom_m, sensors.base_quat_wxyz,
            [sensors.joint_positions_rad[n] for n in self.joint_names])
        R_world_base = self.robot.base_pose_world(q).rotation
        v = self.robot.floating_velocity(
            q, R_world_base @ sensors.base_linear_velocity_base_m_s,
            R_world_base @ sensors.base_angular_velocity_base_rad_s,
            [sensors.joint_velocities_rad_s.get(n, 0.0) for n in self.joint_names])
        return q, v

    def start(self, name: str, frame: str, target_pose_world: pin.SE3, sensors: LeggedSensors,
              max_linear_speed_mps: float, orientation_weight: float) -> TaskStatus:
        """Drive ``frame`` to the target (odom frame). ValueError for a frame that is not an
        end effector; the status says "unreachable" at once when IK finds no whole-body pose
        with the feet where they are (then nothing moves)."""
        if frame not in self.frames:
            raise ValueError(f"frame {frame!r} is not an end effector of this robot; "
                             f"it has {list(self.frames)}")
        with self._lock:
            fresh = self._phase == "off"
            if fresh:
                self._phase = "starting"  # the loop keeps to the gait meanwhile
        try:
            if fresh:
                for old in self.wbc.status():
                    self.wbc.remove_task(old)
                self.wbc.reset()
                q, _ = self.measured_q_v(sensors)
                self._q_home = self.wbc.update(q)[0]  # anchors the contacts where they are
                add_standing_tasks(self.wbc)
                # hold the CoM height too: the QP would otherwise raise a hand by straightening
                # the knees, and the soles' stabiliser has no authority through straight legs
                com_world = self.robot.com_world(self.wbc.q_command)
                self.wbc.add_task(ComTask(COM_TASK, com_world, [10.0, 10.0, 10.0]))
            self._hold_other_hands(frame)
            status = self.wbc.set_frame_target(
                name, frame, target_pose_world, max_linear_speed_mps=max_linear_speed_mps,
                orientation_weight=orientation_weight, position_tolerance_m=2e-3,
                reference="world")
        except Exception:
            with self._lock:
                if fresh:
                    self._phase = "off"
            raise
        with self._lock:
            if status.state == "unreachable" and fresh:
                self._phase = "off"  # nothing to blend in: the gait keeps standing
            elif status.state != "unreachable":
                self._phase, self._goal = "in", (name, frame)
        return status

    def _hold_other_hands(self, frame: str) -> None:
        """Only the asked hand moves: the others are held where they are commanded now (left
        free, the QP swings the idle arm as a counterweight faster than its soft servos follow,
        and the lag sets off the controller's re-sync)."""
        q_cmd = self.wbc.q_command
        tasks = {f"hold_{f}": f for f in self.frames}
        for name, other in tasks.items():
            try:
                self.wbc.remove_task(name)
            except ValueError:
                pass  # not held yet
            if other != frame:
                self.wbc.add_task(FramePoseTask(
                    name, other, self.robot.frame_pose_world(q_cmd, other), 1.0, 0.0,
                    reference="world"))

    def freeze(self) -> None:
        """Stop the hand where it is commanded now (emergency stop): no retraction, no blend
        until ``release()``; balance goes on."""
        with self._lock:
            if self.active:
                self.wbc.hold()
                self._phase = "frozen"

    def release(self, retract_m: float = 0.15, lift_m: float = 0.08,
                retract_timeout_s: float = 3.0) -> None:
        """Back to the gait's standing pose: the hand first pulled ``retract_m`` back toward
        the base (horizontally) and ``lift_m`` up, then the QP frozen and blended out.
        Call it from a callback thread: the retraction is an IK solve."""
        with self._lock:
            if self._phase not in ("in", "on", "frozen") or self._goal is None:
                return
            name, frame = self._goal
            q_cmd = self.wbc.q_command
        hand = self.robot.frame_pose_world(q_cmd, frame).translation
        back = self.robot.base_pose_world(q_cmd).translation - hand
        back[2] = 0.0
        back *= retract_m / max(float(np.linalg.norm(back)), 1e-6)
        retract = pin.SE3(np.eye(3), hand + back + np.array([0.0, 0.0, lift_m]))
        status = self.wbc.set_frame_target(name, frame, retract, orientation_weight=0.0,
                                           position_tolerance_m=0.01, reference="world")
        with self._lock:
            if self._phase not in ("in", "on", "frozen"):
                return
            if status.state == "unreachable":
                self.wbc.hold()
                self._phase = "out"
            else:
                self._phase, self._retract_left_s = "retract", retract_timeout_s

    def _next_way_back(self, phase: str) -> str:
        """retract -> home -> out. The home target's IK runs here, in the loop thread: one
        solve, while the QP holds the hand (the servos keep their last targets meanwhile)."""
        if phase == "retract" and self._q_home is not None:
            name, frame = self._goal
            home = self.robot.frame_pose_world(self._q_home, frame)
            status = self.wbc.set_frame_target(name, frame, home, orientation_weight=0.0,
                                               position_tolerance_m=0.01, reference="world")
            if status.state != "unreachable":
                self._phase, self._retract_left_s = "home", 4.0
                return "home"
        self.wbc.hold()
        self._phase = "out"
        return "out"

    def status(self, name: str) -> TaskStatus | None:
        """The task's state; "moving" until the blend-in is complete."""
        status = self.wbc.status().get(name)
        if status is not None and status.state == "reached" and self._phase != "on":
            status = TaskStatus(**{**status.__dict__, "state": "moving"})
        return status

    def blend(self, gait_q: np.ndarray, gait_names: tuple[str, ...], sensors: LeggedSensors,
              dt_s: float) -> np.ndarray:
        """This tick's joint targets (gait order): the gait's, the QP's or a mix of both.
        ``dt_s``: the time this tick stands for (a control period, more when the loop woke
        late); it paces the blend. The QP steps in control periods, as many as the tick stands
        for (at most MAX_QP_STEPS_PER_TICK): one longer step would move joints farther than
        the safety filter lets one period go (v_max x period), the robot would fall behind the
        command and the controller re-sync again and again; one step per late tick played the
        QP in slow motion against the world (the humanoid fell back as the arm came home)."""
        with self._lock:
            phase = self._phase
            if phase in ("off", "starting"):
                return gait_q
            q, v = self.measured_q_v(sensors)
            steps = min(MAX_QP_STEPS_PER_TICK, max(1, round(dt_s / self.wbc.dt_s)))
            for _ in range(steps):
                q_cmd, v_cmd = self.wbc.update(q)
            out = self.servo.targets(q_cmd, v_cmd, list(self.wbc.contacts().values()), q, v)
            if phase in ("retract", "home"):
                self._retract_left_s -= dt_s
                goal = self.wbc.status().get(self._goal[0])
                if self._retract_left_s <= 0.0 or goal is None or goal.state != "moving":
                    phase = self._next_way_back(phase)
            step = 0.0 if phase == "frozen" else dt_s / (
                self.blend_in_s if phase in ("in", "on") else self.blend_s)
            self._mix = min(1.0, self._mix + step) if phase != "out" else max(0.0, self._mix - step)
            if phase == "in" and self._mix >= 1.0:
                self._phase = "on"
            elif phase == "out" and self._mix <= 0.0:
                self._phase = "off"
            weight, _ = min_jerk(self._mix)
        by_name = dict(zip(self.joint_names, out.q, strict=True))
        wbc_q = np.array([by_name[n] for n in gait_names])
        return (1.0 - weight) * np.asarray(gait_q, dtype=float) + weight * wbc_q
