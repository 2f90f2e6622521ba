"""Differential-IK / whole-body QP over the tangent step dq, solved with proxsuite (dense,
warm-started). dq has nv entries: for a floating base the base twist (base axes) first.

    minimise   sum_tasks || sqrt(W_t) (J_t dq + gain_t e_t) ||^2  +  damping ||dq||^2
    subject to J_c dq = -gain_c e_c                                 (contacts, if any)
               C_com dq <= d - margin - N c                         (CoM over the support
                                                                     polygon, if asked)
               q_lower + margin <= q + dq <= q_upper - margin       (joint position limits)
               |dq| <= velocity_scale * v_max * dt_s                (joint velocity limits;
                                                                     base: its speed limit)

Without contacts both constraints are boxes on dq, so the QP is always feasible (see
``step_bounds``). Contacts and the CoM rows can conflict with the boxes (a joint already past
its limit): then the CoM rows are dropped, and if that fails too the robot holds still.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import proxsuite

from vla_controller.contacts import Contact, SupportPolygon, com_support_inequality
from vla_controller.robot_model import RobotModel
from vla_controller.tasks import Task

_OK = (
    proxsuite.proxqp.QPSolverOutput.PROXQP_SOLVED,
    proxsuite.proxqp.QPSolverOutput.PROXQP_SOLVED_CLOSEST_PRIMAL_FEASIBLE,
)
_ROW_SPAN = 10.0  # one-sided rows get l = u - 10 m: never active, and no huge numbers for
# proxsuite (with l = -1e20 it reported primal infeasibility on feasible problems)
_EQ_TOL = 1e-6  # contact rows must hold to this (m or rad per tick) or the answer is rejected


def position_band(robot: RobotModel, position_margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint position limits shrunk by the margin (never by more than a quarter range)."""
    span = robot.position_upper - robot.position_lower
    margin = np.minimum(position_margin, 0.25 * span)
    return robot.position_lower + margin, robot.position_upper - margin


class StepBox:
    """Box (lower, upper) on dq (nv) from position limits (with margin) and velocity limits.

    If a joint is already inside the margin band (or outside the limits), the box only lets it
    move back inward, at most at its velocity limit: never further out. A floating base's six
    entries are bounded by its speed limit only. The limits are fixed per period: computed
    once here, so each tick only shifts them by q.
    """

    def __init__(
        self,
        robot: RobotModel,
        dt_s: float,
        velocity_scale: float = 1.0,
        position_margin: float = 0.0,
        max_step: float | None = None,
    ) -> None:
        self.band_lower, self.band_upper = position_band(robot, position_margin)
        step = velocity_scale * robot.velocity_limit * dt_s
        self.step = step if max_step is None else np.minimum(step, max_step)
        self.base_step: np.ndarray | None = None
        if robot.base_nv:
            linear, angular = robot.base_velocity_limit
            base = velocity_scale * dt_s * np.repeat([linear, angular], 3)
            self.base_step = base if max_step is None else np.minimum(base, max_step)
        self.base_nq = robot.base_nq

    def bounds(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q_joints = q[self.base_nq :]
        step = self.step
        lower = np.minimum(np.maximum(self.band_lower - q_joints, -step), step)
        upper = np.maximum(np.minimum(self.band_upper - q_joints, step), lower)
        if self.base_step is not None:
            return (np.concatenate([-self.base_step, lower]),
                    np.concatenate([self.base_step, upper]))
        return lower, upper


def step_bounds(
    robot: RobotModel,
    q: np.ndarray,
    dt_s: float,
    velocity_scale: float = 1.0,
    position_margin: float = 0.0,
    max_step: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``StepBox`` for one configuration (see there)."""
    return StepBox(robot, dt_s, velocity_scale, position_margin, max_step).bounds(q)


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
        self._qp: proxsuite.proxqp.dense.QP | None = None
        self._dims: tuple[int, int] = (-1, -1)
        self._initialised = False
        self._support = SupportPolygon()
        self._box: tuple[float, StepBox] | None = None
        self._diagonal_index = np.arange(robot.nv) * (robot.nv + 1)
        self.last_status: str = "not run"
        self.last_cost: float = float("nan")

    def build(self, q: np.ndarray, tasks: Sequence[Task]) -> tuple[np.ndarray, np.ndarray]:
        """Hessian H and gradient g of the QP objective (0.5 dq'H dq + g'dq)."""
        n = self.robot.nv
        jacobians, errors, weights = [], [], []
        diagonal = np.full(n, self.damping)
        gradient = np.zeros(n)
        for task in tasks:
            w = task.cost_weights()
            if task.diagonal:
                # Identity Jacobian on the joints: straight onto the diagonal (no big product).
                error = task.gain * task.joint_error(self.robot, q)
                joints = slice(self.robot.base_nv, n)
                diagonal[joints] += w
                gradient[joints] += w * error
                continue
            error, jac = task.compute(self.robot, q)
            jacobians.append(jac)
            errors.append(error if task.gain == 1.0 else task.gain * error)
            weights.append(w)
            if task.lm_damping > 0.0:
                diagonal += task.lm_damping * float(error @ (w * error))
        if not jacobians:
            return np.diag(diagonal), gradient
        # All tasks stacked: one product instead of one per task (Python overhead dominates).
        jac_all = np.concatenate(jacobians) if len(jacobians) > 1 else jacobians[0]
        weighted_t = jac_all.T * np.concatenate(weights)  # J^T W
        hessian = weighted_t @ jac_all
        hessian.ravel()[self._diagonal_index] += diagonal  # ravel of a fresh array is a view
        return hessian, gradient + weighted_t @ np.concatenate(errors)

    def _problem(self, n_eq: int, n_in: int) -> proxsuite.proxqp.dense.QP:
        if self._qp is None or self._dims != (n_eq, n_in):
            # Contact sets change rarely (a step, a lift-off): a new problem then is cheap.
            self._qp = proxsuite.proxqp.dense.QP(self.robot.nv, n_eq, n_in, True)
            self._qp.settings.eps_abs = 1e-9
            self._qp.settings.eps_rel = 0.0
            # The default 1e-4 infeasibility tests flagged feasible problems (a far target's
            # large gradient against saturated boxes) as primal infeasible.
            self._qp.settings.eps_primal_inf = 1e-12
            self._qp.settings.eps_dual_inf = 1e-12
            self._qp.settings.verbose = False
            self._qp.settings.initial_guess = (
                proxsuite.proxqp.InitialGuess.WARM_START_WITH_PREVIOUS_RESULT
            )
            self._dims = (n_eq, n_in)
            self._initialised = False
        return self._qp

    def _run(self, hessian, gradient, eq, ineq, lower, upper) -> np.ndarray | None:
        a_eq, b_eq = eq if eq is not None else (None, None)
        c_in, u_in = ineq if ineq is not None else (None, None)
        l_in = None if c_in is None else u_in - _ROW_SPAN
        qp = self._problem(0 if a_eq is None else len(b_eq), 0 if c_in is None else len(u_in))
        warm = self._initialised
        if warm:
            qp.update(H=hessian, g=gradient, A=a_eq, b=b_eq, C=c_in, l=l_in, u=u_in,
                      l_box=lower, u_box=upper)
        else:
            qp.init(hessian, gradient, a_eq, b_eq, c_in, l_in, u_in, lower, upper)
        qp.solve()
        if warm and qp.results.info.status not in _OK:
            # A warm start from a far-off previous answer can fail on a feasible problem
            # (seen with saturated boxes and the balance rows): retry from scratch.
            qp.init(hessian, gradient, a_eq, b_eq, c_in, l_in, u_in, lower, upper)
            qp.solve()
        self._initialised = True
        status = qp.results.info.status
        dq = np.array(qp.results.x)
        if status not in _OK or not math.isfinite(float(dq.sum())):
            self._initialised = False
            self.last_status = f"qp failed: {status.name}"
            return None
        # solver tolerance may overshoot the box by ~1e-9 (np.clip is slow on small arrays)
        dq = np.minimum(np.maximum(dq, lower), upper)
        closest = status != proxsuite.proxqp.QPSolverOutput.PROXQP_SOLVED
        if closest and a_eq is not None and np.max(np.abs(a_eq @ dq - b_eq)) > _EQ_TOL:
            self.last_status = "contacts not satisfiable within the limits"
            return None
        self.last_cost = float(qp.results.info.objValue)
        return dq

    def solve(
        self,
        q: np.ndarray,
        tasks: Sequence[Task],
        dt_s: float,
        contacts: Sequence[Contact] = (),
        com_margin_m: float | None = None,
        checked: bool = False,
    ) -> np.ndarray:
        """Tangent step dq (nv) for one period ``dt_s``; q (+) dq stays within the limits and
        keeps the contacts. ``com_margin_m``: also keep the CoM this far inside the support
        polygon of the contacts. ``checked``: q and dt_s were validated by the caller."""
        if not checked:
            q = self.robot.check_q(q)
            if not (np.isfinite(dt_s) and dt_s > 0.0):
                raise ValueError(f"dt_s must be > 0, got {dt_s}")
        if self._box is None or self._box[0] != dt_s:
            box = StepBox(self.robot, dt_s, self.velocity_scale, self.position_margin,
                          self.max_step)
            self._box = (dt_s, box)
        lower, upper = self._box[1].bounds(q)
        zero = np.minimum(np.maximum(0.0, lower), upper)  # standing still, inside the box
        if not tasks:
            self.last_status = "no tasks"
            return zero
        hessian, gradient = self.build(q, tasks)
        eq = None
        if contacts:
            blocks = [c.equality(self.robot, q) for c in contacts]
            eq = (np.concatenate([a for a, _ in blocks]), np.concatenate([b for _, b in blocks]))
        ineq = None
        if com_margin_m is not None and contacts:
            halfplanes = self._support.halfplanes(contacts)
            ineq = com_support_inequality(self.robot, q, halfplanes, com_margin_m)
        # One NaN/inf poisons a sum. Constraint matrices share the kinematics with the task
        # terms; their right-hand sides are checked, and a NaN answer is rejected in _run.
        total = float(hessian.sum() + gradient.sum())
        total += sum(float(pair[1].sum()) for pair in (eq, ineq) if pair is not None)
        if not math.isfinite(total):
            self.last_status = "non-finite task terms"
            return zero
        dq = self._run(hessian, gradient, eq, ineq, lower, upper)
        if dq is None and ineq is not None:
            # Balance rows fight the limits (CoM already outside): keep contacts and limits.
            dq = self._run(hessian, gradient, eq, None, lower, upper)
        if dq is None:
            return zero  # no trustworthy answer: standing still keeps every contact
        self.last_status = "solved"
        return dq
