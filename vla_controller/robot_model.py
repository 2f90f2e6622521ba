"""Kinematic robot model on pinocchio: joints mapped by name, limits, frame poses and Jacobians.

Public vectors are *name-ordered*: joint entry i belongs to ``joint_names[i]``. Pinocchio's own
configuration vector (tree order) stays inside this class, so callers never depend on the
URDF's joint order.

Fixed base: q and v both have ``n_joints`` entries.
Floating base (pinocchio JointModelFreeFlyer at the URDF root), pinocchio's conventions:
    q = [base position in world (3), base quaternion **xyzw** (4), joints (n)]     (nq = 7 + n)
    v = [base linear velocity, base angular velocity, both in **base (local)** axes (6),
         joint velocities (n)]                                                       (nv = 6 + n)
MuJoCo differs (quaternion wxyz, free-joint linear velocity in world axes):
``floating_configuration`` and ``floating_velocity`` convert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin

BASE_NQ, BASE_NV = 7, 6  # free-flyer block in front of the joints


@dataclass(frozen=True)
class JointLimits:
    """Limits of one 1-DoF joint (rad or m, rad/s or m/s, Nm or N)."""

    position_lower: float
    position_upper: float
    velocity: float
    effort: float


def profile_joint_names(profile: Mapping) -> list[str]:
    """Controlled joints in command order: the joint groups, or the arm's ``arm_joints``."""
    groups = profile.get("joint_groups")
    if groups is None:
        return list(profile["arm_joints"])
    return [n for names in groups.values() for n in names]


def _first_body_frame(model: pin.Model) -> str:
    for frame in model.frames:
        if frame.type == pin.FrameType.BODY:
            return frame.name
    raise ValueError("model has no body frame")


class RobotModel:
    """Pinocchio Model/Data pair restricted to the controlled joints (others locked)."""

    def __init__(
        self,
        model: pin.Model,
        controlled_joints: Sequence[str],
        base_frame: str | None = None,
        tool_frame: str | None = None,
        base_velocity_limit: tuple[float, float] = (1.5, 3.0),
    ) -> None:
        self.model = model
        self.data = model.createData()
        self.joint_names: tuple[str, ...] = tuple(controlled_joints)
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"duplicate controlled joints: {self.joint_names}")
        self.floating_base = model.njoints > 1 and model.joints[1].shortname() == (
            "JointModelFreeFlyer"
        )
        base_nq, base_nv = (BASE_NQ, BASE_NV) if self.floating_base else (0, 0)
        q_idx, v_idx = list(range(base_nq)), list(range(base_nv))
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
        # Our index i <-> pinocchio index _q_idx[i] (the base block maps onto itself).
        self._q_idx = np.asarray(q_idx, dtype=int)
        self._v_idx = np.asarray(v_idx, dtype=int)
        # Profiles list joints in tree order: then no column shuffling (a copy per Jacobian).
        self._v_identity = bool(np.array_equal(self._v_idx, np.arange(len(v_idx))))
        self._q_identity = bool(np.array_equal(self._q_idx, np.arange(len(q_idx))))
        self._jq = self._q_idx[base_nq:]  # pinocchio indices of the joints only
        self._jv = self._v_idx[base_nv:]
        self.base_nq, self.base_nv = base_nq, base_nv
        self._frame_ids: dict[str, int] = {}
        self.base_frame = base_frame or _first_body_frame(model)
        self.tool_frame = tool_frame
        for frame in (self.base_frame, tool_frame):
            if frame is not None:
                self._frame_id(frame)
        self.position_lower = model.lowerPositionLimit[self._jq].copy()
        self.position_upper = model.upperPositionLimit[self._jq].copy()
        self.velocity_limit = model.velocityLimit[self._jv].copy()
        self.effort_limit = model.effortLimit[self._jv].copy()
        if np.any(~(self.velocity_limit > 0.0)):
            raise ValueError("every controlled joint needs a positive URDF velocity limit")
        linear, angular = (float(x) for x in base_velocity_limit)
        if not (linear > 0.0 and angular > 0.0 and np.isfinite(linear + angular)):
            raise ValueError(f"base_velocity_limit must be positive, got {base_velocity_limit}")
        self.base_velocity_limit = (linear, angular)
        self._cached_q: bytes | None = None  # q.tobytes(): cheaper to compare than arrays
        self._com_q: bytes | None = None

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
        """Load a URDF; joints not in ``controlled_joints`` are locked (default: neutral).

        ``floating_base``: the URDF's root link gets a free-flyer joint (legged robots).
        """
        path = Path(urdf_path)
        if not path.is_file():
            raise ValueError(f"URDF not found: {path}")
        if floating_base:
            full = pin.buildModelFromUrdf(str(path), pin.JointModelFreeFlyer())
        else:
            full = pin.buildModelFromUrdf(str(path))
        for name in controlled_joints:
            if not full.existJointName(name):
                raise ValueError(f"joint {name!r} is not in {path.name}")
        first_joint = 2 if floating_base else 1  # never lock the free flyer
        q_ref = pin.neutral(full)
        for name, value in (locked_joint_positions or {}).items():
            if not full.existJointName(name) or name in controlled_joints:
                raise ValueError(f"cannot lock {name!r}: unknown or controlled")
            if full.getJointId(name) < first_joint:
                raise ValueError(f"cannot lock the floating base {name!r}")
            if not np.isfinite(value):
                raise ValueError(f"locked position of {name!r} is not finite")
            q_ref[full.joints[full.getJointId(name)].idx_q] = value
        controlled = set(controlled_joints)
        locked = [
            jid for jid in range(first_joint, full.njoints) if full.names[jid] not in controlled
        ]
        model = pin.buildReducedModel(full, locked, q_ref) if locked else full
        return cls(model, controlled_joints, base_frame=base_frame, tool_frame=tool_frame)

    @classmethod
    def from_profile(cls, profile: Mapping, joint_names: Sequence[str] | None = None) -> RobotModel:
        """Model of a robot profile: joints = its joint groups in order (or ``arm_joints``)."""
        return cls.from_urdf(
            profile["urdf"],
            profile_joint_names(profile) if joint_names is None else joint_names,
            base_frame=profile.get("base_frame"),
            tool_frame=profile.get("tool_frame"),
            floating_base=bool(profile.get("floating_base", False)),
        )

    def clone(self) -> RobotModel:
        """Same model, own Data: for use from another thread."""
        return RobotModel(
            self.model, self.joint_names, self.base_frame, self.tool_frame, self.base_velocity_limit
        )

    # --- sizes and joints --------------------------------------------------------------------
    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    @property
    def nq(self) -> int:
        """Configuration size (base block + joints)."""
        return self.base_nq + self.n_joints

    @property
    def nv(self) -> int:
        """Tangent (velocity) size: the QP's number of variables."""
        return self.base_nv + self.n_joints

    def limits(self, joint: str) -> JointLimits:
        i = self.joint_index(joint)
        return JointLimits(
            float(self.position_lower[i]),
            float(self.position_upper[i]),
            float(self.velocity_limit[i]),
            float(self.effort_limit[i]),
        )

    def joint_index(self, joint: str) -> int:
        """Index of ``joint`` among the joints (add base_nq / base_nv for q / v)."""
        try:
            return self.joint_names.index(joint)
        except ValueError:
            raise ValueError(f"unknown joint {joint!r}; known: {self.joint_names}") from None

    def vector_from_names(self, values: Mapping[str, float]) -> np.ndarray:
        """Name-ordered joint vector from a {joint name: value} map (extra names ignored)."""
        missing = [n for n in self.joint_names if n not in values]
        if missing:
            raise ValueError(f"missing joints: {missing}")
        return self.check_joints(np.array([values[n] for n in self.joint_names], dtype=float))

    def names_from_vector(self, q: np.ndarray) -> dict[str, float]:
        q_joints = self.joint_part(self.check_q(q))
        return {n: float(v) for n, v in zip(self.joint_names, q_joints, strict=True)}

    def _check_vector(self, q: object, size: int, what: str) -> np.ndarray:
        try:
            arr = np.array(q, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what} is not a numeric vector: {q!r}") from exc
        if arr.shape != (size,):
            raise ValueError(f"{what} must have shape ({size},), got {np.shape(q)}")
        if not math.isfinite(float(arr.sum())):  # one NaN/inf poisons the sum
            raise ValueError(f"{what} contains NaN/inf: {arr}")
        return arr

    def check_q(self, q: np.ndarray | Sequence[float], what: str = "q") -> np.ndarray:
        """Validated float copy of a configuration (ValueError on shape/NaN/zero quaternion);
        a floating base's quaternion comes back normalised."""
        arr = self._check_vector(q, self.nq, what)
        if self.floating_base:
            norm = math.sqrt(float(arr[3:7] @ arr[3:7]))
            if norm < 1e-6:
                raise ValueError(f"{what}: base quaternion is zero")
            arr[3:7] /= norm
        return arr

    def check_joints(self, q_joints: np.ndarray | Sequence[float], what: str = "q") -> np.ndarray:
        """Validated float copy of a name-ordered joint vector (n_joints,)."""
        return self._check_vector(q_joints, self.n_joints, what)

    def check_v(self, v: np.ndarray | Sequence[float], what: str = "v") -> np.ndarray:
        return self._check_vector(v, self.nv, what)

    def joint_part(self, q: np.ndarray) -> np.ndarray:
        """The joints' entries of a configuration (the whole vector for a fixed base)."""
        return q[self.base_nq :]

    def floating_configuration(
        self,
        base_position_world_m: Sequence[float],
        base_quat_wxyz: Sequence[float],
        q_joints: Sequence[float],
    ) -> np.ndarray:
        """q from a base pose with a **wxyz** quaternion (MuJoCo, ROS-free) and joints."""
        if not self.floating_base:
            raise ValueError("fixed-base robot: q is the joint vector")
        quat = np.asarray(base_quat_wxyz, dtype=float)
        if quat.shape != (4,):
            raise ValueError(f"base quaternion must have 4 entries, got {quat.shape}")
        q = np.concatenate(
            [np.asarray(base_position_world_m, float).reshape(3), quat[[1, 2, 3, 0]], q_joints]
        )
        return self.check_q(q)

    def base_pose_world(self, q: np.ndarray) -> pin.SE3:
        """The free flyer's placement in the world (identity for a fixed base)."""
        if not self.floating_base:
            return pin.SE3.Identity()
        return pin.XYZQUATToSE3(q[:7])

    def floating_velocity(
        self,
        q: np.ndarray,
        base_linear_world_mps: Sequence[float],
        base_angular_world_radps: Sequence[float],
        v_joints: Sequence[float],
    ) -> np.ndarray:
        """v from a base twist in **world** axes (MuJoCo's free joint) and joint velocities."""
        rot_wb = self.base_pose_world(self.check_q(q)).rotation
        v = np.concatenate(
            [
                rot_wb.T @ np.asarray(base_linear_world_mps, float).reshape(3),
                rot_wb.T @ np.asarray(base_angular_world_radps, float).reshape(3),
                np.asarray(v_joints, float),
            ]
        )
        return self.check_v(v)

    def neutral_q(self, q_joints: np.ndarray | None = None) -> np.ndarray:
        """Configuration with the base at the world origin, level (joints: given or zero)."""
        q = np.zeros(self.nq)
        if self.floating_base:
            q[6] = 1.0  # identity quaternion, xyzw
        if q_joints is not None:
            q[self.base_nq :] = self.check_joints(q_joints)
        return q

    def to_pin_q(self, q: np.ndarray) -> np.ndarray:
        if self._q_identity:
            return q
        q_pin = np.empty(self.model.nq)
        q_pin[self._q_idx] = q
        return q_pin

    def from_pin_q(self, q_pin: np.ndarray) -> np.ndarray:
        if self._q_identity:
            return np.array(q_pin, dtype=float)
        return np.asarray(q_pin, dtype=float)[self._q_idx].copy()

    def to_pin_v(self, v: np.ndarray) -> np.ndarray:
        if self._v_identity:
            return v
        v_pin = np.empty(self.model.nv)
        v_pin[self._v_idx] = v
        return v_pin

    def clip_to_limits(self, q: np.ndarray) -> np.ndarray:
        """q with its joints clipped to the position limits (the base is unlimited)."""
        out = np.array(q, dtype=float)
        out[self.base_nq :] = np.clip(out[self.base_nq :], self.position_lower, self.position_upper)
        return out

    def within_limits(self, q: np.ndarray, tol: float = 1e-9) -> bool:
        joints = self.joint_part(np.asarray(q))
        return bool(
            np.all(joints >= self.position_lower - tol)
            and np.all(joints <= self.position_upper + tol)
        )

    def integrate(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """q (+) dq on the configuration manifold (plain sum for 1-DoF joints)."""
        return self.from_pin_q(pin.integrate(self.model, self.to_pin_q(q), self.to_pin_v(dq)))

    def difference(self, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
        """Tangent vector dq with q0 (+) dq = q1."""
        dq_pin = pin.difference(self.model, self.to_pin_q(q0), self.to_pin_q(q1))
        return np.asarray(dq_pin)[self._v_idx].copy()

    # --- frames ---------------------------------------------------------------------------
    def has_frame(self, frame: str) -> bool:
        return isinstance(frame, str) and bool(self.model.existFrame(frame))

    def _frame_id(self, frame: str) -> int:
        try:
            return self._frame_ids[frame]
        except (KeyError, TypeError):
            pass
        if not isinstance(frame, str) or not self.model.existFrame(frame):
            raise ValueError(f"unknown frame {frame!r}")
        self._frame_ids[frame] = int(self.model.getFrameId(frame))  # the lookup costs ~us
        return self._frame_ids[frame]

    def _update_kinematics(self, q: np.ndarray) -> None:
        # Several tasks query the same q in one tick: compute FK + Jacobians once.
        key = q.tobytes() if isinstance(q, np.ndarray) else np.asarray(q, float).tobytes()
        if key == self._cached_q:
            return
        q_pin = self.to_pin_q(q)
        pin.computeJointJacobians(self.model, self.data, q_pin)  # also runs forward kinematics
        pin.updateFramePlacements(self.model, self.data)
        self._cached_q = key
        self._com_q = None

    def _columns(self, jac: np.ndarray) -> np.ndarray:
        """Pinocchio's tangent columns in our order."""
        return jac if self._v_identity else jac[:, self._v_idx]

    def frame_pose_world(self, q: np.ndarray, frame: str, copy: bool = True) -> pin.SE3:
        """Placement of ``frame`` in the world (= the base frame for the fixed-base arm).
        ``copy=False``: pinocchio's own object, valid until the next q (hot loops only)."""
        fid = self._frame_id(frame)
        self._update_kinematics(q)
        return pin.SE3(self.data.oMf[fid]) if copy else self.data.oMf[fid]

    def frame_jacobian_world(self, q: np.ndarray, frame: str) -> np.ndarray:
        """(6, nv) Jacobian [linear; angular] of ``frame``'s origin in world axes
        (LOCAL_WORLD_ALIGNED); columns in our order."""
        fid = self._frame_id(frame)
        self._update_kinematics(q)
        jac = pin.getFrameJacobian(self.model, self.data, fid, pin.LOCAL_WORLD_ALIGNED)
        return self._columns(jac)

    def frame_jacobian_local(self, q: np.ndarray, frame: str) -> np.ndarray:
        """(6, nv) Jacobian of ``frame``'s twist in its own axes (LOCAL)."""
        fid = self._frame_id(frame)
        self._update_kinematics(q)
        return self._columns(pin.getFrameJacobian(self.model, self.data, fid, pin.LOCAL))

    def frame_pose_base(self, q: np.ndarray, frame: str) -> pin.SE3:
        """Placement of ``frame`` in the base frame at ``q``."""
        fid = self._frame_id(frame)
        self._update_kinematics(q)
        base = self.data.oMf[self._frame_id(self.base_frame)]
        return base.actInv(self.data.oMf[fid])

    def frame_jacobian_base(self, q: np.ndarray, frame: str) -> np.ndarray:
        """(6, nv) Jacobian [linear; angular] of ``frame``'s origin *relative to the base*,
        in base axes. For a fixed base this is LOCAL_WORLD_ALIGNED rotated into base axes; a
        floating base's own motion is subtracted (it moves frame and reference alike)."""
        jac = self.frame_jacobian_world(q, frame)
        base_id = self._frame_id(self.base_frame)
        base = self.data.oMf[base_id]
        if self.floating_base:
            jac_base = self._columns(
                pin.getFrameJacobian(self.model, self.data, base_id, pin.LOCAL_WORLD_ALIGNED)
            )
            offset = self.data.oMf[self._frame_id(frame)].translation - base.translation
            # v_rel = v_f - v_b - w_b x d  =  (J_f - J_b)_lin + [d]x J_b_ang
            jac[:3] -= jac_base[:3] - pin.skew(offset) @ jac_base[3:]
            jac[3:] -= jac_base[3:]
        rot_wb = base.rotation
        jac[:3] = rot_wb.T @ jac[:3]
        jac[3:] = rot_wb.T @ jac[3:]
        return jac

    # --- centre of mass ---------------------------------------------------------------------
    @property
    def total_mass_kg(self) -> float:
        return float(sum(inertia.mass for inertia in self.model.inertias))

    def _update_com(self, q: np.ndarray) -> None:
        self._update_kinematics(q)
        if self._com_q is not None:
            return
        # Reuses the joint Jacobians computed above (no second kinematics pass).
        self._com_jac = np.array(self._columns(
            pin.jacobianCenterOfMass(self.model, self.data, True)))
        self._com_jac.flags.writeable = False  # handed out without a copy
        self._com_q = self._cached_q

    def com_world(self, q: np.ndarray) -> np.ndarray:
        """Centre of mass in the world (m)."""
        self._update_com(q)
        return self.data.com[0].copy()

    def com_jacobian_world(self, q: np.ndarray) -> np.ndarray:
        """(3, nv) Jacobian of the centre of mass, world axes (read-only array)."""
        self._update_com(q)
        return self._com_jac

    def gravity_torques(self, q: np.ndarray) -> np.ndarray:
        """(nv,) generalised gravity g(q): for a floating base the first 6 are the base's."""
        g = pin.computeGeneralizedGravity(self.model, self.data, self.to_pin_q(q))
        self._cached_q = None  # that call overwrote the kinematics in data
        return np.asarray(g)[self._v_idx].copy()
