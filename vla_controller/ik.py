"""Inverse kinematics by iterating the differential-IK QP to convergence.

Also the reachability test behind the skills' affordances and the WBC's "unreachable" state,
hence: bounded steps, limits always respected, a quick reach-sphere rejection, and a stall
test so unreachable targets end early with the closest configuration found.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from vla_controller.contacts import Contact
from vla_controller.qp import DiffIkSolver, position_band
from vla_controller.robot_model import RobotModel
from vla_controller.tasks import (
    REFERENCES,
    FramePoseTask,
    PostureTask,
    Task,
    check_pose,
    check_weight,
)


@dataclass(frozen=True)
class IkResult:
    success: bool
    q: np.ndarray  # configuration (joints name-ordered), always within the position limits
    position_error_m: float
    orientation_error_rad: float
    iterations: int
    reason: str
    solve_time_ms: float = 0.0


def reach_sphere(robot: RobotModel, frame: str) -> tuple[np.ndarray, float]:
    """(centre in base frame, radius): the frame's origin can never leave this sphere.

    Centre = origin of the first moving joint of the chain; radius = sum of the link offsets
    after it (triangle inequality), so this is a cheap, conservative necessary condition.
    A floating base's free flyer is not part of the chain (the sphere is in the base frame).
    """
    model = robot.model
    fid = model.getFrameId(frame) if robot.has_frame(frame) else None
    if fid is None:
        raise ValueError(f"unknown frame {frame!r}")
    # drop the universe (and the free flyer, which moves the base frame along)
    support = list(model.supports[model.frames[fid].parentJoint])[1 + (robot.base_nv > 0) :]
    if not support:
        return robot.frame_pose_base(robot.neutral_q(), frame).translation, 0.0
    radius = sum(float(np.linalg.norm(model.jointPlacements[j].translation)) for j in support[1:])
    radius += float(np.linalg.norm(model.frames[fid].placement.translation))
    data = model.createData()
    pin.forwardKinematics(model, data, pin.neutral(model))
    pin.updateFramePlacements(model, data)
    centre_world = data.oMi[support[0]].translation
    base = data.oMf[model.getFrameId(robot.base_frame)]
    return base.actInv(centre_world.reshape(3)).copy(), radius


def _blocking_joints(
    robot: RobotModel, solver: DiffIkSolver, q: np.ndarray, tasks: list[Task]
) -> list[str]:
    """Joints sitting at a limit that the task gradient pushes them through."""
    _, gradient = solver.build(q, tasks)
    gradient, q = gradient[robot.base_nv :], robot.joint_part(q)
    tol = 1e-3 + solver.position_margin
    at_lower = (q <= robot.position_lower + tol) & (gradient > 0.0)
    at_upper = (q >= robot.position_upper - tol) & (gradient < 0.0)
    return [n for n, hit in zip(robot.joint_names, at_lower | at_upper, strict=True) if hit]


def solve_ik(
    robot: RobotModel,
    target_pose_base: pin.SE3,
    q_seed: np.ndarray,
    frame: str | None = None,
    position_tolerance_m: float = 1e-4,
    orientation_tolerance_rad: float = 1e-3,
    position_weight: float = 1.0,
    orientation_weight: float = 1.0,
    max_iterations: int = 100,
    max_restarts: int = 2,
    max_step_rad: float = 0.2,
    position_margin: float = 0.0,
    seed_regularization: float = 1e-3,
    rng_seed: int = 0,
    reference: str = "base",
    contacts: Sequence[Contact] = (),
    extra_tasks: Sequence[Task] = (),
    com_margin_m: float | None = None,
) -> IkResult:
    """Configuration placing ``frame`` (default: the robot's tool frame) at the target.

    ``orientation_weight = 0`` solves for position only. Failing from ``q_seed``, up to
    ``max_restarts`` random seeds (deterministic) are tried. Never raises for unreachable
    targets: success=False, a reason and the closest q. Bad inputs raise ValueError.

    Whole body: ``reference="world"`` takes the target in the world; ``contacts`` stay where
    they are, ``extra_tasks`` (e.g. CoM, base orientation) shape the rest and
    ``com_margin_m`` keeps the CoM over the support polygon. With contacts there are no
    random restarts (a random pose would not keep them).
    """
    t_start = time.perf_counter()
    frame = frame or robot.tool_frame
    if frame is None or not robot.has_frame(frame):
        raise ValueError(f"unknown frame {frame!r}")
    target = check_pose(target_pose_base, "target_pose_base")
    q_seed = robot.check_q(q_seed, "q_seed")
    for value, what in (
        (position_tolerance_m, "position_tolerance_m"),
        (orientation_tolerance_rad, "orientation_tolerance_rad"),
    ):
        if not (check_weight(value, what) > 0.0):
            raise ValueError(f"{what} must be > 0")
    if max_iterations < 1 or max_restarts < 0 or not max_step_rad > 0.0:
        raise ValueError("need max_iterations >= 1, max_restarts >= 0, max_step_rad > 0")
    check_weight(seed_regularization, "seed_regularization")
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    task = FramePoseTask(
        "ik", frame, target, position_weight, orientation_weight, gain=1.0, lm_damping=1e-3,
        reference=reference,
    )
    extra = list(extra_tasks)
    solver = DiffIkSolver(
        robot, damping=1e-6, position_margin=position_margin, max_step=max_step_rad
    )

    def cost(pos_err: float, ori_err: float) -> float:
        return position_weight * pos_err**2 + orientation_weight * ori_err**2

    def converged(pos_err: float, ori_err: float, scale: float = 1.0) -> bool:
        ori_ok = ori_err <= scale * orientation_tolerance_rad or orientation_weight == 0.0
        pos_ok = pos_err <= scale * position_tolerance_m or position_weight == 0.0
        return pos_ok and ori_ok

    # The reach sphere lives in the base frame: no bound for a world target on a free base.
    out_of_reach, distance, radius = False, 0.0, np.inf
    if reference == "base" or not robot.floating_base:
        centre, radius = reach_sphere(robot, frame)
        distance = float(np.linalg.norm(target.translation - centre))
        out_of_reach = distance > radius
    rng = np.random.default_rng(rng_seed)
    restarts = 0 if out_of_reach or contacts else max_restarts
    seeds = [q_seed] + [
        robot.neutral_q(rng.uniform(*position_band(robot, position_margin)))
        if robot.floating_base
        else rng.uniform(*position_band(robot, position_margin))
        for _ in range(restarts)
    ]
    best: tuple[float, np.ndarray, float, float] | None = None
    iterations = 0
    for seed in seeds:
        q = seed.copy()
        q[robot.base_nq :] = np.clip(
            robot.joint_part(seed), *position_band(robot, position_margin)
        )
        # Phase 1 pulls weakly toward the seed (keeps the arm out of limit-trapped local
        # optima); phase 2 drops that pull so the answer is unbiased.
        regularised = seed_regularization > 0.0
        tasks: list[Task] = [task, *extra]
        if regularised:
            tasks.append(PostureTask("seed", robot.joint_part(q).copy(), seed_regularization))
        best_run, since_improved = np.inf, 0
        for _ in range(max_iterations):
            pos_err, ori_err = task.errors(robot, q)
            c = cost(pos_err, ori_err)
            if best is None or c < best[0]:
                best = (c, q.copy(), pos_err, ori_err)
            if converged(pos_err, ori_err):
                return IkResult(
                    True,
                    q,
                    pos_err,
                    ori_err,
                    iterations,
                    "reached",
                    (time.perf_counter() - t_start) * 1e3,
                )
            # Stalled: less than 1% progress in 10 iterations means a local optimum.
            if c < 0.99 * best_run:
                best_run, since_improved = c, 0
            else:
                since_improved += 1
            if regularised and (since_improved >= 10 or converged(pos_err, ori_err, 100.0)):
                regularised, tasks, best_run, since_improved = False, [task, *extra], np.inf, 0
            elif since_improved >= 10:
                break
            dq = solver.solve(q, tasks, 1.0, contacts, com_margin_m)
            iterations += 1
            if not np.any(np.abs(dq) > 1e-12) and not regularised:
                break
            q = robot.integrate(q, dq)
    assert best is not None
    _, q_best, pos_err, ori_err = best
    if out_of_reach:
        reason = f"outside reach: target {distance:.3f} m from the shoulder, reach {radius:.3f} m"
    else:
        blocked = _blocking_joints(robot, solver, q_best, [task, *extra])
        closest = f"closest {pos_err * 1e3:.1f} mm, {np.degrees(ori_err):.1f} deg"
        reason = (
            f"joint limits block the target ({', '.join(blocked)}); {closest}"
            if blocked
            else f"no solution found; {closest}"
        )
    return IkResult(
        False, q_best, pos_err, ori_err, iterations, reason, (time.perf_counter() - t_start) * 1e3
    )
