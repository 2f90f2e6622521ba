"""Differential-IK QP over the joint step dq, solved with proxsuite (dense, warm-started).

    minimise   sum_tasks || sqrt(W_t) (J_t dq + gain_t e_t) ||^2  +  damping ||dq||^2
    subject to q_lower + margin <= q + dq <= q_upper - margin      (position limits)
               |dq| <= velocity_scale * v_max * dt_s               (velocity limits)

Both constraints are boxes on dq, so the QP is always feasible (see ``step_bounds``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import proxsuite

from vla_controller.robot_model import RobotModel
from vla_controller.tasks import Task

_OK = (
    proxsuite.proxqp.QPSolverOutput.PROXQP_SOLVED,
    proxsuite.proxqp.QPSolverOutput.PROXQP_SOLVED_CLOSEST_PRIMAL_FEASIBLE,
)


def position_band(robot: RobotModel, position_margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint position limits shrunk by the margin (never by more than a quarter range)."""
    span = robot.position_upper - robot.position_lower
    margin = np.minimum(position_margin, 0.25 * span)
    return robot.position_lower + margin, robot.position_upper - margin


def step_bounds(
    robot: RobotModel,
    q: np.ndarray,
    dt_s: float,
    velocity_scale: float = 1.0,
    position_margin: float = 0.0,
    max_step: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Box (lower, upper) on dq from position limits (with margin) and velocity limits.

    If q is already inside the margin band (or outside the limits), the box only lets the
    joint move back inward, at most at its velocity limit: never further out.
    """
    band_lower, band_upper = position_band(robot, position_margin)
    step = velocity_scale * robot.velocity_limit * dt_s
    if max_step is not None:
        step = np.minimum(step, max_step)
    lower_pos = band_lower - q
    upper_pos = band_upper - q
    lower = np.minimum(np.maximum(lower_pos, -step), step)
    upper = np.maximum(np.minimum(upper_pos, step), -step)
    upper = np.maximum(upper, lower)
    return lower, upper


class DiffIkSolver:
    """One QP step of differential IK; keeps its proxsuite problem for warm starts."""

    def __init__(
        self,
        robot: RobotModel,
        damping: float = 1e-4,
        velocity_scale: float = 1.0,
        position_margin: float = 0.0,
        max_step: float | None = None,
    ) -> None:
        if not (np.isfinite(damping) and damping > 0.0):
            raise ValueError(f"damping must be > 0 (keeps the QP strictly convex), got {damping}")
        if not (np.isfinite(velocity_scale) and 0.0 < velocity_scale <= 1.0):
            raise ValueError(f"velocity_scale must be in (0, 1], got {velocity_scale}")
        if not (np.isfinite(position_margin) and position_margin >= 0.0):
            raise ValueError(f"position_margin must be >= 0, got {position_margin}")
        self.robot = robot
        self.damping = float(damping)
        self.velocity_scale = float(velocity_scale)
        self.position_margin = float(position_margin)
        self.max_step = max_step
        n = robot.n_joints
        self._qp = proxsuite.proxqp.dense.QP(n, 0, 0, True)  # box constraints only
        self._qp.settings.eps_abs = 1e-9
        self._qp.settings.eps_rel = 0.0
        self._qp.settings.verbose = False
        self._initialised = False
        self.last_status: str = "not run"
        self.last_cost: float = float("nan")

    def build(self, q: np.ndarray, tasks: Sequence[Task]) -> tuple[np.ndarray, np.ndarray]:
        """Hessian H and gradient g of the QP objective (0.5 dq'H dq + g'dq)."""
        n = self.robot.n_joints
        hessian = self.damping * np.eye(n)
        gradient = np.zeros(n)
        for task in tasks:
            error, jac = task.compute(self.robot, q)
            weights = task.cost_weights()
            weighted_jac = jac.T * weights  # J^T W
            hessian += weighted_jac @ jac
            gradient += weighted_jac @ (task.gain * error)
            if task.lm_damping > 0.0:
                hessian += task.lm_damping * float(error @ (weights * error)) * np.eye(n)
        return hessian, gradient

    def solve(self, q: np.ndarray, tasks: Sequence[Task], dt_s: float) -> np.ndarray:
        """Joint step dq (name-ordered) for one period ``dt_s``; q + dq stays within limits."""
        q = self.robot.check_q(q)
        if not (np.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        lower, upper = step_bounds(
            self.robot, q, dt_s, self.velocity_scale, self.position_margin, self.max_step
        )
        if not tasks:
            self.last_status = "no tasks"
            return np.clip(np.zeros_like(q), lower, upper)
        hessian, gradient = self.build(q, tasks)
        if not (np.all(np.isfinite(hessian)) and np.all(np.isfinite(gradient))):
            self.last_status = "non-finite task terms"
            return np.clip(np.zeros_like(q), lower, upper)
        if not self._initialised:
            self._qp.settings.initial_guess = (
                proxsuite.proxqp.InitialGuess.WARM_START_WITH_PREVIOUS_RESULT
            )
            self._qp.init(hessian, gradient, None, None, None, None, None, lower, upper)
            self._initialised = True
        else:
            self._qp.update(H=hessian, g=gradient, l_box=lower, u_box=upper)
        self._qp.solve()
        status = self._qp.results.info.status
        dq = np.array(self._qp.results.x)
        if status not in _OK or not np.all(np.isfinite(dq)):
            # No trustworthy answer: standing still is always safe.
            self.last_status = f"qp failed: {status.name}"
            self._initialised = False
            return np.clip(np.zeros_like(q), lower, upper)
        self.last_status = "solved"
        self.last_cost = float(self._qp.results.info.objValue)
        # Solver tolerance may overshoot the box by ~1e-9: clip so limits hold exactly.
        return np.clip(dq, lower, upper)
