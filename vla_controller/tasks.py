"""Task objects for the differential-IK QP (mink / pinocchio-example style).

A task maps a configuration q to an error e(q) and its Jacobian J = de/dq. The QP asks for a
step dq with J dq = -gain * e, weighted by ``cost_weights`` (one weight per error row).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from vla_controller.robot_model import RobotModel

_ROTATION_TOL = 1e-6


def tool_down_pose(position_base_m, yaw_rad: float = 0.0) -> pin.SE3:
    """Tool z pointing straight down (approach from above), turned by yaw about the base z."""
    rotation = pin.rpy.rpyToMatrix(0.0, 0.0, float(yaw_rad)) @ np.diag([1.0, -1.0, -1.0])
    return pin.SE3(rotation, np.asarray(position_base_m, dtype=float).reshape(3))


def check_pose(pose: pin.SE3, what: str = "pose") -> pin.SE3:
    """Copy of ``pose`` after checking it is a finite rigid transform (else ValueError)."""
    if not isinstance(pose, pin.SE3):
        raise ValueError(f"{what} must be a pinocchio.SE3, got {type(pose).__name__}")
    hom = pose.homogeneous
    if not np.all(np.isfinite(hom)):
        raise ValueError(f"{what} contains NaN/inf")
    rot = hom[:3, :3]
    if np.max(np.abs(rot.T @ rot - np.eye(3))) > _ROTATION_TOL or np.linalg.det(rot) < 0.0:
        raise ValueError(f"{what} rotation is not orthonormal")
    return pin.SE3(pose)


def check_weight(value: float, what: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(f"{what} must be finite and >= 0, got {value}")
    return value


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"task name must be a non-empty string, got {name!r}")
    return name


class Task(ABC):
    """One weighted least-squares objective of the QP."""

    def __init__(self, name: str, gain: float = 1.0, lm_damping: float = 0.0) -> None:
        self.name = _check_name(name)
        self.gain = check_weight(gain, "gain")
        # Levenberg-Marquardt: extra damping that grows with the error, so far targets
        # produce cautious steps instead of flailing through singularities.
        self.lm_damping = check_weight(lm_damping, "lm_damping")

    @abstractmethod
    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(error (m,), jacobian (m, n)) at name-ordered q."""

    @abstractmethod
    def cost_weights(self) -> np.ndarray:
        """(m,) non-negative weights, one per error row."""

    def validate(self, robot: RobotModel) -> None:  # noqa: B027 - optional hook
        """Raise ValueError if the task does not fit ``robot``."""


class FramePoseTask(Task):
    """Drive ``frame`` to ``target_pose_base`` (position in m, orientation in rad).

    Error rows: [p - p_target (base axes); log3(R R_target^T) (base axes)].
    ``orientation_weight = 0`` makes it a position-only task.
    """

    def __init__(
        self,
        name: str,
        frame: str,
        target_pose_base: pin.SE3,
        position_weight: float = 1.0,
        orientation_weight: float = 1.0,
        gain: float = 1.0,
        lm_damping: float = 0.0,
    ) -> None:
        super().__init__(name, gain, lm_damping)
        if not isinstance(frame, str) or not frame:
            raise ValueError(f"frame must be a non-empty string, got {frame!r}")
        self.frame = frame
        self.target_pose_base = check_pose(target_pose_base, "target_pose_base")
        self.position_weight = check_weight(position_weight, "position_weight")
        self.orientation_weight = check_weight(orientation_weight, "orientation_weight")
        if self.position_weight == 0.0 and self.orientation_weight == 0.0:
            raise ValueError("position_weight and orientation_weight cannot both be 0")

    def set_target(self, target_pose_base: pin.SE3) -> None:
        self.target_pose_base = check_pose(target_pose_base, "target_pose_base")

    def validate(self, robot: RobotModel) -> None:
        if not robot.has_frame(self.frame):
            raise ValueError(f"task {self.name!r}: unknown frame {self.frame!r}")

    def cost_weights(self) -> np.ndarray:
        return np.repeat([self.position_weight, self.orientation_weight], 3)

    def errors(self, robot: RobotModel, q: np.ndarray) -> tuple[float, float]:
        """(position_error_m, orientation_error_rad) of the frame at q."""
        err = pose_error(robot.frame_pose_base(q, self.frame), self.target_pose_base)
        return float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pose = robot.frame_pose_base(q, self.frame)
        jac = robot.frame_jacobian_base(q, self.frame)
        rot_err = pose.rotation @ self.target_pose_base.rotation.T
        error = np.concatenate(
            [pose.translation - self.target_pose_base.translation, pin.log3(rot_err)]
        )
        # d log3(R_err) = Jlog3(R_err) R_err^T omega: R_err moves by a left (base-axes) twist.
        jac_rot = pin.Jlog3(rot_err) @ rot_err.T @ jac[3:]
        return error, np.vstack([jac[:3], jac_rot])


def pose_error(pose: pin.SE3, target: pin.SE3) -> np.ndarray:
    """[p - p_target; log3(R R_target^T)] in base axes (6,)."""
    return np.concatenate(
        [
            pose.translation - target.translation,
            pin.log3(pose.rotation @ target.rotation.T),
        ]
    )


class PostureTask(Task):
    """Pull the joints toward ``target_q`` (name-ordered); weight scalar or per joint."""

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
        weights = np.broadcast_to(np.array(weight, dtype=float), target.shape).copy()
        if not np.all(np.isfinite(weights)) or np.any(weights < 0.0):
            raise ValueError(f"posture weight must be finite and >= 0, got {weight!r}")
        self.target_q = target
        self.weights = weights

    def validate(self, robot: RobotModel) -> None:
        robot.check_q(self.target_q, "posture target_q")

    def cost_weights(self) -> np.ndarray:
        return self.weights

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # For a free-flyer this becomes pin.difference on the manifold.
        return q - self.target_q, np.eye(robot.n_joints)
