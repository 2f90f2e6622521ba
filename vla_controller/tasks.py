"""Task objects for the differential-IK / whole-body QP (mink / pinocchio-example style).

A task maps a configuration q to an error e(q) and its Jacobian J = de/dq (nv columns: for a
floating base the first 6 are the base twist in base axes). The QP asks for a step dq with
J dq = -gain * e, weighted by ``cost_weights`` (one weight per error row). Tasks are plain
objects: a skill may add them, change their targets or weights, and remove them between ticks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from vla_controller.robot_model import RobotModel

_ROTATION_TOL = 1e-6
REFERENCES = ("base", "world")


def tool_down_pose(position_base_m, yaw_rad: float = 0.0) -> pin.SE3:
    """Tool z pointing straight down (approach from above), turned by yaw about the base z."""
    rotation = pin.rpy.rpyToMatrix(0.0, 0.0, float(yaw_rad)) @ np.diag([1.0, -1.0, -1.0])
    return pin.SE3(rotation, np.asarray(position_base_m, dtype=float).reshape(3))


def check_rotation(rotation: np.ndarray, what: str = "rotation") -> np.ndarray:
    rot = np.array(rotation, dtype=float)
    if rot.shape != (3, 3) or not np.all(np.isfinite(rot)):
        raise ValueError(f"{what} must be a finite 3x3 matrix")
    if np.max(np.abs(rot.T @ rot - np.eye(3))) > _ROTATION_TOL or np.linalg.det(rot) < 0.0:
        raise ValueError(f"{what} rotation is not orthonormal")
    return rot


def check_pose(pose: pin.SE3, what: str = "pose") -> pin.SE3:
    """Copy of ``pose`` after checking it is a finite rigid transform (else ValueError)."""
    if not isinstance(pose, pin.SE3):
        raise ValueError(f"{what} must be a pinocchio.SE3, got {type(pose).__name__}")
    hom = pose.homogeneous
    if not np.all(np.isfinite(hom)):
        raise ValueError(f"{what} contains NaN/inf")
    check_rotation(hom[:3, :3], what)
    return pin.SE3(pose)


def check_point(point: Sequence[float] | np.ndarray, what: str = "point") -> np.ndarray:
    arr = np.array(point, dtype=float)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be 3 finite numbers, got {point!r}")
    return arr


def check_weight(value: float, what: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(f"{what} must be finite and >= 0, got {value}")
    return value


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"task name must be a non-empty string, got {name!r}")
    return name


def _weights(weight: float | Sequence[float], size: int, what: str) -> np.ndarray:
    weights = np.broadcast_to(np.array(weight, dtype=float), (size,)).copy()
    if not np.all(np.isfinite(weights)) or np.any(weights < 0.0):
        raise ValueError(f"{what} must be finite and >= 0, got {weight!r}")
    return weights


class Task(ABC):
    """One weighted least-squares objective of the QP.

    ``weight`` scales all rows (re-weighting at run time); the per-row shape of the weights
    comes from the subclass.
    """

    diagonal = False  # True: Jacobian [0 | I] on the joints, error from joint_error()

    def __init__(self, name: str, gain: float = 1.0, lm_damping: float = 0.0) -> None:
        self.name = _check_name(name)
        self.gain = check_weight(gain, "gain")
        # Levenberg-Marquardt: extra damping that grows with the error, so far targets
        # produce cautious steps instead of flailing through singularities.
        self.lm_damping = check_weight(lm_damping, "lm_damping")
        self.weight = 1.0

    def set_weight(self, weight: float) -> None:
        """Scale this task's cost (0 switches it off without removing it)."""
        self.weight = check_weight(weight, f"task {self.name!r} weight")

    @abstractmethod
    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(error (m,), jacobian (m, nv)) at configuration q."""

    @abstractmethod
    def row_weights(self) -> np.ndarray:
        """(m,) non-negative weights, one per error row, before ``weight``."""

    def cost_weights(self) -> np.ndarray:
        return self.row_weights() if self.weight == 1.0 else self.weight * self.row_weights()

    def validate(self, robot: RobotModel) -> None:  # noqa: B027 - optional hook
        """Raise ValueError if the task does not fit ``robot``."""


def pose_error(pose: pin.SE3, target: pin.SE3) -> np.ndarray:
    """[p - p_target; log3(R R_target^T)] in the reference axes (6,)."""
    return np.concatenate(
        [
            pose.translation - target.translation,
            pin.log3(pose.rotation @ target.rotation.T),
        ]
    )


def rotation_rows(rot_err: np.ndarray, jac_angular: np.ndarray) -> np.ndarray:
    """Jacobian rows of log3(R_err) for R_err = R R_target^T, from the angular rows."""
    # d log3(R_err) = Jlog3(R_err) R_err^T omega: R_err moves by a left (reference-axes) twist.
    # trace = 1 + 2 cos(angle) ~ 3 - angle^2. Below 1e-3 rad, Jlog3 R^T = I + O(angle / 2):
    # the identity is exact to 5e-4 relative (held contacts, a level base), and saves the
    # two products on every tick.
    if rot_err[0, 0] + rot_err[1, 1] + rot_err[2, 2] > 3.0 - 1e-6:
        return jac_angular
    return pin.Jlog3(rot_err) @ rot_err.T @ jac_angular


class FramePoseTask(Task):
    """Drive ``frame`` to ``target_pose`` (position in m, orientation in rad).

    ``reference="base"``: the target is in the robot's base frame (the arm; a hand relative to
    the pelvis). ``reference="world"``: in the world (feet, a hand target on a legged robot).
    Error rows: [p - p_target; log3(R R_target^T)] in the reference's axes.
    ``orientation_weight = 0`` makes it a position-only task.
    ``max_error_m`` / ``max_error_rad``: the QP sees at most this much error per solve (a
    task-space speed limit, max_error / dt). Chasing a far, unreachable target with the full
    error makes the QP jump between full-speed steps whose first-order gains do not hold;
    a capped error lets it settle at the closest reachable pose.
    """

    def __init__(
        self,
        name: str,
        frame: str,
        target_pose: pin.SE3,
        position_weight: float = 1.0,
        orientation_weight: float = 1.0,
        gain: float = 1.0,
        lm_damping: float = 0.0,
        reference: str = "base",
        max_error_m: float | None = None,
        max_error_rad: float | None = None,
    ) -> None:
        super().__init__(name, gain, lm_damping)
        for cap, what in ((max_error_m, "max_error_m"), (max_error_rad, "max_error_rad")):
            if cap is not None and not check_weight(cap, what) > 0.0:
                raise ValueError(f"{what} must be > 0")
        self.max_error_m, self.max_error_rad = max_error_m, max_error_rad
        if not isinstance(frame, str) or not frame:
            raise ValueError(f"frame must be a non-empty string, got {frame!r}")
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
        self.frame = frame
        self.reference = reference
        self.target_pose = check_pose(target_pose, "target_pose")
        self.set_weights(position_weight, orientation_weight)

    @property
    def target_pose_base(self) -> pin.SE3:
        """The target in the reference frame (name kept from the arm's API)."""
        return self.target_pose

    def set_target(self, target_pose: pin.SE3) -> None:
        self.target_pose = check_pose(target_pose, "target_pose")

    def set_weights(self, position_weight: float, orientation_weight: float) -> None:
        position_weight = check_weight(position_weight, "position_weight")
        orientation_weight = check_weight(orientation_weight, "orientation_weight")
        if position_weight == 0.0 and orientation_weight == 0.0:
            raise ValueError("position_weight and orientation_weight cannot both be 0")
        self.position_weight, self.orientation_weight = position_weight, orientation_weight
        # A zero-weighted half is left out of the QP rows (3 instead of 6: less work).
        weights = [w for w in (position_weight, orientation_weight) if w > 0.0]
        self._row_weights = np.repeat(weights, 3)

    def validate(self, robot: RobotModel) -> None:
        if not robot.has_frame(self.frame):
            raise ValueError(f"task {self.name!r}: unknown frame {self.frame!r}")

    def row_weights(self) -> np.ndarray:
        return self._row_weights

    def pose(self, robot: RobotModel, q: np.ndarray, copy: bool = True) -> pin.SE3:
        """The frame's pose in the reference frame at q (``copy=False``: see RobotModel)."""
        if self.reference == "world":
            return robot.frame_pose_world(q, self.frame, copy=copy)
        return robot.frame_pose_base(q, self.frame)

    def errors(self, robot: RobotModel, q: np.ndarray) -> tuple[float, float]:
        """(position_error_m, orientation_error_rad) of the frame at q."""
        err = pose_error(self.pose(robot, q, copy=False), self.target_pose)
        return float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows [position (3) if weighted; orientation (3) if weighted]."""
        pose = self.pose(robot, q, copy=False)  # read before anything recomputes kinematics
        if self.reference == "world":
            jac = robot.frame_jacobian_world(q, self.frame)
        else:
            jac = robot.frame_jacobian_base(q, self.frame)
        errors, rows = [], []
        if self.position_weight > 0.0:
            errors.append(_capped(pose.translation - self.target_pose.translation,
                                  self.max_error_m))
            rows.append(jac[:3])
        if self.orientation_weight > 0.0:
            rot_err = pose.rotation @ self.target_pose.rotation.T
            errors.append(_capped(pin.log3(rot_err), self.max_error_rad))
            rows.append(rotation_rows(rot_err, jac[3:]))
        if len(rows) == 1:
            return errors[0], rows[0]
        return np.concatenate(errors), np.concatenate(rows)


def _capped(error: np.ndarray, cap: float | None) -> np.ndarray:
    if cap is None:
        return error
    norm = float(np.linalg.norm(error))
    return error * (cap / norm) if norm > cap else error


class BaseOrientationTask(Task):
    """Keep the base (pelvis / trunk) at ``target_rotation_world``, e.g. level.

    3 rows: log3(R_base R_target^T) in world axes. Meaningful for a floating base only (a fixed
    base cannot turn: the rows are then zero).
    """

    def __init__(
        self,
        name: str,
        target_rotation_world: np.ndarray | None = None,
        weight: float | Sequence[float] = 1.0,
        gain: float = 1.0,
    ) -> None:
        super().__init__(name, gain)
        self.set_target(np.eye(3) if target_rotation_world is None else target_rotation_world)
        self.weights = _weights(weight, 3, "base orientation weight")

    def set_target(self, target_rotation_world: np.ndarray) -> None:
        self.target_rotation_world = check_rotation(target_rotation_world, "target rotation")

    def row_weights(self) -> np.ndarray:
        return self.weights

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rotation = robot.frame_pose_world(q, robot.base_frame, copy=False).rotation
        jac = robot.frame_jacobian_world(q, robot.base_frame)
        rot_err = rotation @ self.target_rotation_world.T
        return pin.log3(rot_err), rotation_rows(rot_err, jac[3:])


class ComTask(Task):
    """Drive the centre of mass to ``target_com_world`` (m); weight scalar or per axis, so
    ``weight=[1, 1, 0]`` keeps the CoM over a ground point and leaves its height free."""

    def __init__(
        self,
        name: str,
        target_com_world: Sequence[float] | np.ndarray,
        weight: float | Sequence[float] = 1.0,
        gain: float = 1.0,
    ) -> None:
        super().__init__(name, gain)
        self.set_target(target_com_world)
        self.weights = _weights(weight, 3, "CoM weight")

    def set_target(self, target_com_world: Sequence[float] | np.ndarray) -> None:
        self.target_com_world = check_point(target_com_world, "target_com_world")

    def row_weights(self) -> np.ndarray:
        return self.weights

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return robot.com_world(q) - self.target_com_world, robot.com_jacobian_world(q)


class PostureTask(Task):
    """Pull the joints toward ``target_q`` (name-ordered joints only, never the base);
    weight scalar or per joint."""

    diagonal = True

    def __init__(
        self,
        name: str,
        target_q: np.ndarray | Sequence[float],
        weight: float | Sequence[float] = 1e-3,
        gain: float = 1.0,
    ) -> None:
        super().__init__(name, gain)
        target = np.array(target_q, dtype=float)
        if target.ndim != 1 or not np.all(np.isfinite(target)):
            raise ValueError(f"target_q must be a finite 1-D vector, got {target_q!r}")
        self.target_q = target
        self.weights = _weights(weight, target.size, "posture weight")
        self._jac: np.ndarray | None = None

    def validate(self, robot: RobotModel) -> None:
        robot.check_joints(self.target_q, "posture target_q")

    def row_weights(self) -> np.ndarray:
        return self.weights

    def joint_error(self, robot: RobotModel, q: np.ndarray) -> np.ndarray:
        """q_joints - target (the QP adds this task on its diagonal, Jacobian [0 | I])."""
        return robot.joint_part(q) - self.target_q

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._jac is None or self._jac.shape != (robot.n_joints, robot.nv):
            base_columns = np.zeros((robot.n_joints, robot.base_nv))
            self._jac = np.hstack([base_columns, np.eye(robot.n_joints)])
        return robot.joint_part(q) - self.target_q, self._jac
