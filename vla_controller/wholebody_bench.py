"""Per-tick timing of the whole-body QP, ours and mink's, on the same URDF and tasks.

Both sides run the same loop for a robot: move a target along a small circle, solve one QP
tick, integrate (perfect tracking). Tasks, per robot:
  arm        tool pose (position + orientation), posture; joint position/velocity limits
  quadruped  base pose, posture; the four feet held (ours: 3 equality rows each; mink: its
             equality constraints fix all 6 rows of a frame, 24 rows on 18 DoF over-constrain,
             so the feet are stiff position tasks, as in mink's own quadruped example)
  humanoid   right-hand position, CoM (x, y), base orientation, posture; both soles held by
             6 equality rows each (both sides); ours also keeps the CoM inside the support
             polygon (inequality rows mink does not offer)
mink uses its recommended QP backend (daqp through qpsolvers), the same damping (1e-4) and its
ConfigurationLimit + VelocityLimit with the URDF's velocity limits. mink squares its costs
(H = J^T diag(cost)^2 J), ours are weights (H = J^T diag(w) J): mink's cost = sqrt(our weight).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pinocchio as pin

from vla_controller.robot_model import RobotModel
from vla_controller.tasks import FramePoseTask
from vla_controller.wholebody import add_standing_tasks, controller_from_profile

DAMPING = 1e-4
POSTURE_WEIGHT = 1e-4  # WholeBodyController's default
COM_WEIGHT = 10.0  # add_standing_tasks' default
CIRCLE_RADIUS_M = {"arm": 0.08, "quadruped": 0.03, "humanoid": 0.08}
CIRCLE_PERIOD_S = 4.0


def start_configuration(robot: RobotModel, profile: Mapping[str, Any]) -> np.ndarray:
    """The profile's home / default pose (a floating base at its standing height, level)."""
    if not robot.floating_base:
        return np.asarray(profile["home_joint_positions"], dtype=float)
    q_joints = robot.vector_from_names(profile["default_joint_positions"])
    base_m = [0.0, 0.0, float(profile["base_height_m"])]
    return robot.floating_configuration(base_m, [1.0, 0.0, 0.0, 0.0], q_joints)


def _target_frame(robot: RobotModel, profile: Mapping[str, Any]) -> tuple[str, str]:
    """(frame, reference) the scenario moves: the tool, the base, or the right hand."""
    if not robot.floating_base:
        return profile["tool_frame"], "base"
    hands = [f for f in profile.get("end_effector_frames", []) if "right" in f and "hand" in f]
    return (hands[0], "world") if hands else (robot.base_frame, "world")


def _circle(start: pin.SE3, radius_m: float, t_s: float) -> pin.SE3:
    angle = 2.0 * np.pi * t_s / CIRCLE_PERIOD_S
    offset = radius_m * np.array([0.0, np.sin(angle), np.cos(angle) - 1.0])  # down: legs bend
    return pin.SE3(start.rotation, start.translation + offset)


class OursScenario:
    """WholeBodyController.update on the scenario (one call = one tick)."""

    def __init__(self, profile: Mapping[str, Any]) -> None:
        # feet held at their centres, as mink's frame tasks do (no rolling model)
        self.wbc, _ = controller_from_profile(profile, rolling_feet=False)
        self.robot = self.wbc.robot.clone()
        self.q = start_configuration(self.robot, profile)
        self.wbc.update(self.q)  # anchors the contacts
        frame, reference = _target_frame(self.robot, profile)
        hand_only = self.robot.floating_base and frame != self.robot.base_frame
        if hand_only:
            add_standing_tasks(self.wbc, com_weight=COM_WEIGHT)
        start = (self.robot.frame_pose_world(self.q, frame) if reference == "world"
                 else self.robot.frame_pose_base(self.q, frame))
        self.task = FramePoseTask("target", frame, start, reference=reference,
                                  orientation_weight=0.0 if hand_only else 1.0)
        self.wbc.add_task(self.task)
        self.start, self.radius = start, CIRCLE_RADIUS_M[profile["name"]]
        self.errors: list[float] = []

    def tick(self, i: int) -> tuple[float, float]:
        """(wall ms, this thread's CPU ms) of one tick."""
        self.task.set_target(_circle(self.start, self.radius, i * self.wbc.dt_s))
        wall, cpu = time.perf_counter(), time.thread_time()
        self.q, _ = self.wbc.update(self.q)
        elapsed = ((time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3)
        self.errors.append(self.task.errors(self.robot, self.q)[0])
        return elapsed

    def stats(self) -> dict[str, float]:
        contacts = self.wbc.contacts().values()
        drift = max((c.drift(self.robot, self.q)[0] for c in contacts), default=0.0)
        return {"tracking_error_m": _settled_max(self.errors), "contact_drift_m": float(drift)}


def _settled_max(errors: list[float]) -> float:
    return float(np.max(errors[len(errors) // 10 :])) if errors else float("nan")


def _mink_model(profile: Mapping[str, Any], robot: RobotModel):
    import mujoco

    spec = mujoco.MjSpec.from_file(profile["urdf"])
    for joint in list(spec.joints):  # same joints as ours (the arm's gripper is not in the QP)
        if joint.name not in robot.joint_names:
            spec.delete(joint)
    if robot.floating_base:
        spec.body(robot.base_frame).add_freejoint()
    return spec.compile()


class MinkScenario:
    """mink.solve_ik + integrate on the same scenario (one call = one tick)."""

    def __init__(self, profile: Mapping[str, Any]) -> None:
        import mink

        self.mink = mink
        robot = RobotModel.from_profile(profile)
        model = _mink_model(profile, robot)
        q_ours = start_configuration(robot, profile)
        qpos = np.zeros(model.nq)
        if robot.floating_base:
            qpos[:3], qpos[3:7] = q_ours[:3], q_ours[[6, 3, 4, 5]]  # xyzw -> MuJoCo's wxyz
        for name, value in zip(robot.joint_names, robot.joint_part(q_ours), strict=True):
            qpos[model.joint(name).qposadr[0]] = value
        self.conf = conf = mink.Configuration(model, qpos)
        self.dt_s = 1.0 / float(profile["control_rate_hz"])
        frame, _ = _target_frame(robot, profile)
        hand_only = robot.floating_base and frame != robot.base_frame
        self.target = mink.FrameTask(frame, "body", position_cost=1.0,
                                     orientation_cost=0.0 if hand_only else 1.0)
        self.target.set_target_from_configuration(conf)
        posture = mink.PostureTask(model, cost=np.sqrt(POSTURE_WEIGHT))
        posture.set_target_from_configuration(conf)
        self.tasks: list[Any] = [self.target, posture]
        self.constraints: list[Any] = []
        self.feet = []
        for contact in profile.get("contact_frames", []) if robot.floating_base else []:
            plane = profile.get("contact_type") == "plane"
            foot = mink.FrameTask(contact, "body", position_cost=1.0 if plane else 100.0,  # w=1e4
                                  orientation_cost=1.0 if plane else 0.0)
            foot.set_target_from_configuration(conf)
            (self.constraints if plane else self.tasks).append(foot)
            self.feet.append(foot)
        if hand_only:
            com = mink.ComTask(cost=np.sqrt([COM_WEIGHT, COM_WEIGHT, 0.0]))
            com.set_target_from_configuration(conf)
            base = mink.FrameTask(robot.base_frame, "body", position_cost=0.0,
                                  orientation_cost=1.0)
            base.set_target_from_configuration(conf)
            self.tasks += [com, base]
        velocities = {n: robot.limits(n).velocity for n in robot.joint_names}
        self.limits = [mink.ConfigurationLimit(model), mink.VelocityLimit(model, velocities)]
        start = self.target.transform_target_to_world
        self.start = pin.SE3(start.rotation().as_matrix(), start.translation())
        self.radius = CIRCLE_RADIUS_M[profile["name"]]
        self.errors: list[float] = []

    def tick(self, i: int) -> tuple[float, float]:
        """(wall ms, this thread's CPU ms) of one tick."""
        mink = self.mink
        goal = _circle(self.start, self.radius, i * self.dt_s)
        self.target.set_target(mink.SE3.from_rotation_and_translation(
            mink.SO3.from_matrix(goal.rotation), goal.translation))
        wall, cpu = time.perf_counter(), time.thread_time()
        velocity = mink.solve_ik(self.conf, self.tasks, self.dt_s, "daqp", damping=DAMPING,
                                 limits=self.limits, constraints=self.constraints or None)
        self.conf.integrate_inplace(velocity, self.dt_s)
        elapsed = ((time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3)
        self.errors.append(float(np.linalg.norm(self.target.compute_error(self.conf)[:3])))
        return elapsed

    def stats(self) -> dict[str, float]:
        drift = max((float(np.linalg.norm(f.compute_error(self.conf)[:3])) for f in self.feet),
                    default=0.0)
        return {"tracking_error_m": _settled_max(self.errors), "contact_drift_m": drift}


def compare(
    profile: Mapping[str, Any], n_ticks: int, block: int = 50
) -> dict[str, tuple[np.ndarray, dict[str, float]]]:
    """{"": ours, ".mink": mink} -> (tick times (n_ticks, 2): wall ms, CPU ms; stats). The two
    run in alternating blocks of ticks, so a shared machine's load falls on both alike."""
    sides = {"": OursScenario(profile), ".mink": MinkScenario(profile)}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for first in range(0, n_ticks, block):
        for name, side in sides.items():
            times[name] += [side.tick(i) for i in range(first, min(first + block, n_ticks))]
    return {name: (np.array(times[name]), side.stats()) for name, side in sides.items()}
