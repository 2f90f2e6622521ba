"""Closed-form 6-DoF leg inverse kinematics (hip yaw-roll-pitch, knee, ankle pitch-roll).

The solution follows Kajita's textbook derivation for a leg whose three hip axes meet in one point
and whose two ankle axes meet in another: the ankle-to-hip vector seen from the foot fixes knee,
ankle pitch and ankle roll; the hip rotation left over gives yaw, roll and pitch. Every length
comes from the pinocchio model of the URDF (`LegGeometry.from_model`), which also checks that the
URDF has this structure, so a changed URDF either still works or fails loudly at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

# joint axis expected at each position in the chain (pinocchio short names)
_LEG_AXES = ("JointModelRZ", "JointModelRX", "JointModelRY", "JointModelRY", "JointModelRY",
             "JointModelRX")


@dataclass(frozen=True)
class LegGeometry:
    """One leg, in metres. hip_base_m: the hip centre (where the hip axes meet) in the pelvis
    frame; thigh/shin: hip->knee and knee->ankle along the leg's -z; sole_ankle_m: the sole
    frame's origin in the ankle (foot) frame."""

    joint_names: tuple[str, ...]
    hip_base_m: np.ndarray
    thigh_m: float
    shin_m: float
    sole_ankle_m: np.ndarray
    lower_rad: np.ndarray
    upper_rad: np.ndarray

    @classmethod
    def from_model(cls, model: pin.Model, joint_names: Sequence[str],
                   sole_frame: str) -> LegGeometry:
        """Read the leg from a pinocchio model (fixed or free-flyer root)."""
        names = tuple(joint_names)
        if len(names) != 6:
            raise ValueError(f"a leg needs 6 joints (hip yaw, roll, pitch, knee, ankle pitch, "
                             f"roll), got {names}")
        ids = []
        for name, axis in zip(names, _LEG_AXES, strict=True):
            if not model.existJointName(name):
                raise ValueError(f"joint {name!r} is not in the model")
            jid = model.getJointId(name)
            if model.joints[jid].shortname() != axis:
                raise ValueError(f"{name}: expected {axis}, got {model.joints[jid].shortname()}")
            if not np.allclose(model.jointPlacements[jid].rotation, np.eye(3), atol=1e-9):
                raise ValueError(f"{name}: rotated joint frames are not supported")
            if ids and model.parents[jid] != ids[-1]:
                raise ValueError(f"{name} is not the child of {names[len(ids) - 1]}")
            ids.append(jid)
        offsets = [model.jointPlacements[j].translation for j in ids]
        # hip axes meet in one point: roll below yaw on the yaw axis, pitch at the roll's origin
        if abs(offsets[1][0]) + abs(offsets[1][1]) > 1e-9 or np.linalg.norm(offsets[2]) > 1e-9:
            raise ValueError("hip yaw/roll/pitch axes do not meet in one point")
        if np.linalg.norm(offsets[3][:2]) + np.linalg.norm(offsets[4][:2]) > 1e-9 or (
                np.linalg.norm(offsets[5]) > 1e-9):
            raise ValueError("knee and ankle must lie straight below the hip in the zero pose")
        if not model.existFrame(sole_frame):
            raise ValueError(f"sole frame {sole_frame!r} is not in the model")
        sole = model.frames[model.getFrameId(sole_frame)]
        if sole.parentJoint != ids[-1] or not np.allclose(sole.placement.rotation, np.eye(3)):
            raise ValueError(f"{sole_frame} must be fixed to {names[-1]}, unrotated")
        idx_q = [model.joints[j].idx_q for j in ids]
        return cls(names, offsets[0] + offsets[1], float(-offsets[3][2]), float(-offsets[4][2]),
                   sole.placement.translation.copy(),
                   model.lowerPositionLimit[idx_q].copy(), model.upperPositionLimit[idx_q].copy())


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def leg_ik(leg: LegGeometry, pelvis_rotation_world: np.ndarray, pelvis_position_world_m: np.ndarray,
           sole_rotation_world: np.ndarray, sole_position_world_m: np.ndarray,
           ) -> tuple[np.ndarray, bool]:
    """Joint angles (hip yaw, roll, pitch, knee, ankle pitch, roll) placing the sole frame at the
    given pose, and whether that was reachable. Out of reach, the leg stretches towards the target
    (knee at its limit) and the angles are clamped to the URDF limits."""
    R_p, R_f = np.asarray(pelvis_rotation_world), np.asarray(sole_rotation_world)
    hip_world = pelvis_position_world_m + R_p @ leg.hip_base_m
    ankle_world = sole_position_world_m - R_f @ leg.sole_ankle_m
    r = R_f.T @ (hip_world - ankle_world)  # ankle -> hip, in the foot frame
    a, b = leg.thigh_m, leg.shin_m
    dist = float(np.linalg.norm(r))
    reachable = abs(a - b) < dist < a + b
    dist = min(max(dist, abs(a - b) + 1e-6), a + b - 1e-9)
    cos_knee = (dist * dist - a * a - b * b) / (2 * a * b)
    knee = math.acos(min(max(cos_knee, -1.0), 1.0))  # >= 0: the knee bends forward
    alpha = math.asin(min(max(a * math.sin(math.pi - knee) / dist, -1.0), 1.0))
    ankle_roll = math.atan2(r[1], r[2])
    if abs(ankle_roll) > math.pi / 2:  # the hip is above the ankle: keep roll in (-pi/2, pi/2)
        ankle_roll -= math.copysign(math.pi, ankle_roll)
    ankle_pitch = -math.atan2(r[0], math.copysign(math.hypot(r[1], r[2]), r[2])) - alpha
    # what the hip has to do: R_p Rz(yaw) Rx(roll) Ry(pitch + knee + ankle_pitch) Rx(ankle) = R_f
    R_hip = R_p.T @ R_f @ _rot_x(-ankle_roll) @ _rot_y(-ankle_pitch - knee)
    hip_yaw = math.atan2(-R_hip[0, 1], R_hip[1, 1])
    hip_roll = math.atan2(R_hip[2, 1],
                          -R_hip[0, 1] * math.sin(hip_yaw) + R_hip[1, 1] * math.cos(hip_yaw))
    hip_pitch = math.atan2(-R_hip[2, 0], R_hip[2, 2])
    q = np.array([hip_yaw, hip_roll, hip_pitch, knee, ankle_pitch, ankle_roll])
    within = bool(np.all(q >= leg.lower_rad) and np.all(q <= leg.upper_rad))
    return (q if within else np.clip(q, leg.lower_rad, leg.upper_rad)), reachable and within
