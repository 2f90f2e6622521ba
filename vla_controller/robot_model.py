"""Kinematic robot model on pinocchio: joints mapped by name, limits, frame poses and Jacobians.

Public vectors ("q" everywhere outside this file) are *name-ordered*: entry i belongs to
``controlled_joints[i]``. Pinocchio's own configuration vector (tree order) stays inside this
class, so callers never depend on the URDF's joint order.

Fixed base only for now. A free-flyer base plugs in at ``from_urdf`` (build with
``pin.JointModelFreeFlyer()`` as root joint) and in the maps below: the base then occupies
q[0:7] / v[0:6] in front of the controlled joints, ``integrate`` already goes through
``pin.integrate`` and the Jacobians are already taken in LOCAL_WORLD_ALIGNED.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin


@dataclass(frozen=True)
class JointLimits:
    """Limits of one 1-DoF joint (rad or m, rad/s or m/s, Nm or N)."""

    position_lower: float
    position_upper: float
    velocity: float
    effort: float


class RobotModel:
    """Pinocchio Model/Data pair restricted to the controlled joints (others locked)."""

    def __init__(
        self,
        model: pin.Model,
        controlled_joints: Sequence[str],
        base_frame: str | None = None,
        tool_frame: str | None = None,
    ) -> None:
        self.model = model
        self.data = model.createData()
        self.joint_names: tuple[str, ...] = tuple(controlled_joints)
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"duplicate controlled joints: {self.joint_names}")
        q_idx, v_idx = [], []
        for name in self.joint_names:
            if not model.existJointName(name):
                raise ValueError(f"joint {name!r} is not in the model")
            joint = model.joints[model.getJointId(name)]
            if joint.nq != 1 or joint.nv != 1:
                raise ValueError(f"joint {name!r}: only 1-DoF revolute/prismatic supported")
            q_idx.append(joint.idx_q)
            v_idx.append(joint.idx_v)
        if model.nq != len(q_idx) or model.nv != len(v_idx):
            raise ValueError("model has joints that are not controlled; lock them first")
        self._q_idx = np.asarray(q_idx, dtype=int)
        self._v_idx = np.asarray(v_idx, dtype=int)
        # Root link frame (index 1 for a URDF) unless told otherwise.
        self.base_frame = base_frame or model.frames[1].name
        self.tool_frame = tool_frame
        for frame in (self.base_frame, tool_frame):
            if frame is not None:
                self._frame_id(frame)
        self.position_lower = model.lowerPositionLimit[self._q_idx].copy()
        self.position_upper = model.upperPositionLimit[self._q_idx].copy()
        self.velocity_limit = model.velocityLimit[self._v_idx].copy()
        self.effort_limit = model.effortLimit[self._v_idx].copy()
        if np.any(~(self.velocity_limit > 0.0)):
            raise ValueError("every controlled joint needs a positive URDF velocity limit")
        self._cached_q: np.ndarray | None = None

    @classmethod
    def from_urdf(
        cls,
        urdf_path: str | Path,
        controlled_joints: Sequence[str],
        base_frame: str | None = None,
        tool_frame: str | None = None,
        locked_joint_positions: Mapping[str, float] | None = None,
        floating_base: bool = False,
    ) -> RobotModel:
        """Load a URDF; joints not in ``controlled_joints`` are locked (default: neutral)."""
        if floating_base:
            # Free-flyer goes here: pin.buildModelFromUrdf(path, pin.JointModelFreeFlyer()).
            raise NotImplementedError("floating base is not supported yet")
        path = Path(urdf_path)
        if not path.is_file():
            raise ValueError(f"URDF not found: {path}")
        full = pin.buildModelFromUrdf(str(path))
        for name in controlled_joints:
            if not full.existJointName(name):
                raise ValueError(f"joint {name!r} is not in {path.name}")
        q_ref = pin.neutral(full)
        for name, value in (locked_joint_positions or {}).items():
            if not full.existJointName(name) or name in controlled_joints:
                raise ValueError(f"cannot lock {name!r}: unknown or controlled")
            if not np.isfinite(value):
                raise ValueError(f"locked position of {name!r} is not finite")
            q_ref[full.joints[full.getJointId(name)].idx_q] = value
        locked = [
            jid for jid in range(1, full.njoints) if full.names[jid] not in set(controlled_joints)
        ]
        model = pin.buildReducedModel(full, locked, q_ref) if locked else full
        return cls(model, controlled_joints, base_frame=base_frame, tool_frame=tool_frame)

    def clone(self) -> RobotModel:
        """Same model, own Data: for use from another thread."""
        return RobotModel(self.model, self.joint_names, self.base_frame, self.tool_frame)

    # --- joints ---------------------------------------------------------------------------
    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    def limits(self, joint: str) -> JointLimits:
        i = self.joint_index(joint)
        return JointLimits(
            float(self.position_lower[i]),
            float(self.position_upper[i]),
            float(self.velocity_limit[i]),
            float(self.effort_limit[i]),
        )

    def joint_index(self, joint: str) -> int:
        try:
            return self.joint_names.index(joint)
        except ValueError:
            raise ValueError(f"unknown joint {joint!r}; known: {self.joint_names}") from None

    def vector_from_names(self, values: Mapping[str, float]) -> np.ndarray:
        """Name-ordered vector from a {joint name: value} map (extra names are ignored)."""
        missing = [n for n in self.joint_names if n not in values]
        if missing:
            raise ValueError(f"missing joints: {missing}")
        return self.check_q(np.array([values[n] for n in self.joint_names], dtype=float))

    def names_from_vector(self, q: np.ndarray) -> dict[str, float]:
        q = self.check_q(q)
        return {n: float(v) for n, v in zip(self.joint_names, q, strict=True)}

    def check_q(self, q: np.ndarray | Sequence[float], what: str = "q") -> np.ndarray:
        """Validated float copy of a name-ordered vector (ValueError on shape/NaN)."""
        try:
            arr = np.array(q, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} is not a numeric vector: {q!r}") from exc
        if arr.shape != (self.n_joints,):
            raise ValueError(f"{what} must have shape ({self.n_joints},), got {np.shape(q)}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{what} contains NaN/inf: {arr}")
        return arr

    def to_pin_q(self, q: np.ndarray) -> np.ndarray:
        q_pin = np.empty(self.model.nq)
        q_pin[self._q_idx] = q
        return q_pin

    def from_pin_q(self, q_pin: np.ndarray) -> np.ndarray:
        return np.asarray(q_pin, dtype=float)[self._q_idx].copy()

    def clip_to_limits(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.position_lower, self.position_upper)

    def within_limits(self, q: np.ndarray, tol: float = 1e-9) -> bool:
        return bool(
            np.all(q >= self.position_lower - tol) and np.all(q <= self.position_upper + tol)
        )

    def integrate(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """q (+) dq on the configuration manifold (plain sum for 1-DoF joints)."""
        v = np.empty(self.model.nv)
        v[self._v_idx] = dq
        return self.from_pin_q(pin.integrate(self.model, self.to_pin_q(q), v))

    # --- frames ---------------------------------------------------------------------------
    def has_frame(self, frame: str) -> bool:
        return bool(self.model.existFrame(frame))

    def _frame_id(self, frame: str) -> int:
        if not isinstance(frame, str) or not self.model.existFrame(frame):
            raise ValueError(f"unknown frame {frame!r}")
        return int(self.model.getFrameId(frame))

    def _update_kinematics(self, q: np.ndarray) -> None:
        # Several tasks query the same q in one tick: compute FK + Jacobians once.
        if self._cached_q is not None and np.array_equal(q, self._cached_q):
            return
        q_pin = self.to_pin_q(q)
        pin.computeJointJacobians(self.model, self.data, q_pin)  # also runs forward kinematics
        pin.updateFramePlacements(self.model, self.data)
        self._cached_q = np.array(q, dtype=float)

    def frame_pose_base(self, q: np.ndarray, frame: str) -> pin.SE3:
        """Placement of ``frame`` in the base frame at name-ordered ``q``."""
        fid = self._frame_id(frame)
        self._update_kinematics(q)
        base = self.data.oMf[self._frame_id(self.base_frame)]
        return base.actInv(self.data.oMf[fid])

    def frame_jacobian_base(self, q: np.ndarray, frame: str) -> np.ndarray:
        """(6, n) Jacobian [linear; angular] of ``frame``'s origin, axes of the base frame.

        LOCAL_WORLD_ALIGNED rotated into base axes (identity for a base at the world origin);
        columns are name-ordered.
        """
        fid = self._frame_id(frame)
        self._update_kinematics(q)
        jac = pin.getFrameJacobian(self.model, self.data, fid, pin.LOCAL_WORLD_ALIGNED)
        jac = jac[:, self._v_idx]
        rot_wb = self.data.oMf[self._frame_id(self.base_frame)].rotation
        jac[:3] = rot_wb.T @ jac[:3]
        jac[3:] = rot_wb.T @ jac[3:]
        return jac
