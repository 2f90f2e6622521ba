"""Whole-body control for any profile: build the controller, standing tasks, servo output.

``controller_from_profile`` makes the same ``WholeBodyController`` for the arm, the quadruped
and the humanoid; only the profile differs (joints, floating base, contact frames and type,
sole size, gains). ``ServoOutput`` turns the controller's command into joint targets for
position servos (the sim's actuators, most hardware):

* gravity feed-forward: the torque holding the commanded pose with the contacts carrying the
  weight, sent as a position offset tau / kp (a servo cannot take torque) - without it a
  legged robot sags by tau / kp (centimetres at the hands) and re-syncing to the sagged
  pose lets it collapse;
* base stabiliser: a floating base is not actuated, so a kinematic command alone leaves the
  body rocking on its joint stiffness (the humanoid on its ankles: ~3 s period, lightly
  damped). The measured base error (and its velocity) is undone through the joints with
  the contacts kept in place (``base_correction_joints``), a PD on the base pose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_controller.contacts import Contact, base_correction_joints, contact_gravity_torques
from vla_controller.robot_model import RobotModel
from vla_controller.tasks import BaseOrientationTask, ComTask, check_weight
from vla_controller.wbc import WholeBodyController

COM_TASK = "com"
BASE_TASK = "base_orientation"


@dataclass(frozen=True)
class JointTargets:
    """Per joint, name-ordered: position (rad/m), velocity (rad/s) and torque (Nm/N)."""

    q: np.ndarray
    v: np.ndarray
    tau: np.ndarray


def servo_stiffness(profile: Mapping[str, Any], joint_names: Sequence[str]) -> np.ndarray:
    """Position-servo kp per joint from the profile's per-group ``gains``."""
    groups = profile.get("joint_groups") or {"arm": list(profile.get("arm_joints", []))}
    kp_of = {}
    for group, names in groups.items():
        gains = profile["gains"].get(group)
        if gains is None:
            raise ValueError(f"profile gains have no entry for joint group {group!r}")
        kp_of.update({n: float(gains["kp"]) for n in names})
    missing = [n for n in joint_names if n not in kp_of]
    if missing:
        raise ValueError(f"no servo gain for joints {missing}")
    kp = np.array([kp_of[n] for n in joint_names])
    if not np.all(kp > 0.0):
        raise ValueError("servo kp must be > 0")
    return kp


class ServoOutput:
    """Joint targets for position servos from the controller's command (see module doc).

    ``base_gain``: fraction of the measured base pose error undone per tick (0 = off);
    ``base_damping_s``: the same for the measured base velocity times this time. Measured on
    the humanoid in MuJoCo (500 Hz): 0.03-0.05 s damps the rocking; 0.1 s excites a fast mode
    through the one-tick delay and the soles start to creep after a few seconds.
    """

    def __init__(
        self,
        robot: RobotModel,
        servo_kp: np.ndarray | None,
        base_gain: float = 1.0,
        base_damping_s: float = 0.03,
    ) -> None:
        self.robot = robot.clone()  # own pinocchio Data: runs in the loop thread
        self.servo_kp = None
        if servo_kp is not None:
            kp = np.asarray(servo_kp, dtype=float)
            if kp.shape != (robot.n_joints,) or not np.all(kp > 0.0):
                raise ValueError(f"servo_kp must be {robot.n_joints} positive gains")
            self.servo_kp = kp
        self.base_gain = check_weight(base_gain, "base_gain")
        self.base_damping_s = check_weight(base_damping_s, "base_damping_s")

    def targets(
        self,
        q_command: np.ndarray,
        v_command: np.ndarray,
        contacts: Sequence[Contact] = (),
        q_measured: np.ndarray | None = None,
        v_measured: np.ndarray | None = None,
    ) -> JointTargets:
        robot = self.robot
        q_cmd = robot.check_q(q_command, "q_command")
        v_cmd = robot.check_v(v_command, "v_command")
        q_joints = robot.joint_part(q_cmd).copy()
        tau = contact_gravity_torques(robot, q_cmd, contacts)
        if self.servo_kp is not None:
            q_joints += tau / self.servo_kp
        if robot.floating_base and contacts and q_measured is not None:
            base_error = self.base_gain * robot.difference(q_cmd, robot.check_q(q_measured))[:6]
            if v_measured is not None:
                v_base = robot.check_v(v_measured, "v_measured")[:6]
                base_error += self.base_damping_s * (v_base - v_cmd[:6])
            q_joints += base_correction_joints(robot, q_cmd, base_error, contacts)
        # Never ask a servo to go past the joint limits, whatever the corrections add.
        q_joints = np.clip(q_joints, robot.position_lower, robot.position_upper)
        return JointTargets(q_joints, v_cmd[robot.base_nv :].copy(), tau)


def controller_from_profile(
    profile: Mapping[str, Any],
    dt_s: float | None = None,
    com_margin_m: float | None = 0.03,
    rolling_feet: bool = True,
    **kwargs: Any,
) -> tuple[WholeBodyController, ServoOutput]:
    """The controller and its servo output for a robot profile (arm, quadruped, humanoid).

    Legged profiles get their ``contact_frames`` as contacts (``contact_type``, sole size)
    and the balance constraint (``com_margin_m``); the arm gets neither. Round feet
    (``foot_radius_m``) roll unless ``rolling_feet`` is False. ``kwargs`` go to
    ``WholeBodyController``.
    """
    robot = RobotModel.from_profile(profile)
    dt_s = 1.0 / float(profile["control_rate_hz"]) if dt_s is None else dt_s
    legged = robot.floating_base
    wbc = WholeBodyController(
        robot, profile.get("tool_frame"), dt_s, com_margin_m=com_margin_m if legged else None,
        **kwargs,
    )
    sole = profile.get("sole_size_m")
    kind = profile.get("contact_type", "point")
    radius = profile.get("foot_radius_m") if kind == "point" and rolling_feet else None
    for frame in profile.get("contact_frames", []) if legged else []:
        wbc.add_contact(frame, kind, sole, rolling_radius_m=radius)
    servo_kp = servo_stiffness(profile, robot.joint_names) if legged else None
    return wbc, ServoOutput(robot, servo_kp)


def add_standing_tasks(
    wbc: WholeBodyController, com_weight: float = 10.0, base_weight: float = 1.0
) -> None:
    """Hold the CoM over where it is now (x, y; height free) and the base at its current
    orientation: what "stand still while doing something else" needs. After an update."""
    q = wbc.q_command
    if q is None:
        raise ValueError("call update() once first: the tasks hold the current command")
    robot = wbc.robot.clone()  # the controller's own model belongs to its loop thread
    wbc.add_task(ComTask(COM_TASK, robot.com_world(q), [com_weight, com_weight, 0.0]))
    wbc.add_task(BaseOrientationTask(BASE_TASK, robot.base_pose_world(q).rotation, base_weight))
