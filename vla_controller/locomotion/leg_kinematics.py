"""Analytic kinematics of a 3-DoF quadruped leg (hip about x, thigh and calf about y).

The geometry is read from the URDF through pinocchio, never typed in: the hip joint's origin in
the base frame, the thigh joint's offset in the hip frame, the calf joint's offset in the thigh
frame and the foot frame's offset in the calf frame. Any lateral (y) parts of the last three add
up to one offset `lateral_m` that stays in the leg's plane under thigh/calf rotation; their
x/z parts make the two sagittal links, which need not be straight down.

Conventions (those of the URDF): angles in rad; + thigh / + calf swing the foot backwards;
positions in the base frame (x forward, y left, z up), metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pinocchio as pin

_IDENTITY_TOL = 1e-9


@dataclass(frozen=True)
class LegKinematics:
    """One leg's geometry (from the URDF) with closed-form FK, Jacobian and IK."""

    name: str
    joint_names: tuple[str, str, str]
    hip_origin_base_m: np.ndarray     # hip joint origin in the base frame
    thigh_offset_hip_m: np.ndarray    # thigh joint origin in the hip frame
    calf_offset_thigh_m: np.ndarray   # calf joint origin in the thigh frame
    foot_offset_calf_m: np.ndarray    # foot frame origin in the calf frame
    lower_rad: np.ndarray
    upper_rad: np.ndarray
    # the same numbers as plain floats: the solvers run every control tick, and indexing
    # numpy arrays element by element costs more than the arithmetic
    _f: dict[str, float] = field(init=False, repr=False, compare=False)
    _limits: tuple[tuple[float, ...], tuple[float, ...]] = field(init=False, repr=False,
                                                                 compare=False)

    def __post_init__(self) -> None:
        t, a1, a2 = self.thigh_offset_hip_m, self.calf_offset_thigh_m, self.foot_offset_calf_m
        f = {"tx": t[0], "tz": t[2], "a1x": a1[0], "a1z": a1[2], "a2x": a2[0], "a2z": a2[2],
             "ox": self.hip_origin_base_m[0], "oy": self.hip_origin_base_m[1],
             "oz": self.hip_origin_base_m[2], "d": t[1] + a1[1] + a2[1],
             "l1": math.hypot(a1[0], a1[2]), "l2": math.hypot(a2[0], a2[2]),
             "alpha1": math.atan2(a1[2], a1[0]), "alpha2": math.atan2(a2[2], a2[0])}
        object.__setattr__(self, "_f", {k: float(v) for k, v in f.items()})
        object.__setattr__(self, "_limits", (tuple(map(float, self.lower_rad)),
                                             tuple(map(float, self.upper_rad))))

    @property
    def lateral_m(self) -> float:
        """Signed y distance of the leg plane from the hip axis (rotations about y keep it)."""
        return self._f["d"]

    @property
    def reach_m(self) -> tuple[float, float]:
        """(min, max) distance thigh joint -> foot in the leg plane."""
        return abs(self._f["l1"] - self._f["l2"]), self._f["l1"] + self._f["l2"]

    def nominal_foot_base_m(self) -> np.ndarray:
        """The foot straight below the thigh joint's plane position (hip at 0): x, y of the
        thigh joint and leg plane, z = 0 (the caller sets the height)."""
        return np.array([self.hip_origin_base_m[0] + self.thigh_offset_hip_m[0],
                         self.hip_origin_base_m[1] + self.lateral_m, 0.0])

    def forward(self, q_rad: Sequence[float]) -> np.ndarray:
        """Foot position in the base frame for joint angles (hip, thigh, calf)."""
        return self.hip_origin_base_m + self._foot_from_hip(q_rad)[0]

    def _foot_from_hip(self, q_rad: Sequence[float]) -> tuple[np.ndarray, tuple[float, ...]]:
        """(foot - hip origin in base axes, the sagittal vectors thigh->foot and calf->foot).
        Scalar math: numpy's per-call overhead dominates 3-vectors."""
        q_hip, q_thigh, q_calf = float(q_rad[0]), float(q_rad[1]), float(q_rad[2])
        g = self._f
        c1, s1 = math.cos(q_thigh), math.sin(q_thigh)
        c12, s12 = math.cos(q_thigh + q_calf), math.sin(q_thigh + q_calf)
        # R_y(angle) (x, z) = (c x + s z, -s x + c z)
        v2x, v2z = c12 * g["a2x"] + s12 * g["a2z"], -s12 * g["a2x"] + c12 * g["a2z"]
        ux = c1 * g["a1x"] + s1 * g["a1z"] + v2x
        uz = -s1 * g["a1x"] + c1 * g["a1z"] + v2z
        fx, fz, d = g["tx"] + ux, g["tz"] + uz, g["d"]
        c0, s0 = math.cos(q_hip), math.sin(q_hip)
        rel = np.array([fx, c0 * d - s0 * fz, s0 * d + c0 * fz])
        return rel, (ux, uz, v2x, v2z, c0, s0)

    def jacobian(self, q_rad: Sequence[float]) -> np.ndarray:
        """3x3 d(foot position, base frame)/d(q)."""
        rel, (ux, uz, v2x, v2z, c0, s0) = self._foot_from_hip(q_rad)
        # columns: axis x cross rel; R_x(q_hip) (y cross u) for thigh and calf
        return np.array([[0.0, uz, v2z],
                         [-rel[2], s0 * ux, s0 * v2x],
                         [rel[1], -c0 * ux, -c0 * v2x]])

    def inverse(self, foot_base_m: Sequence[float]) -> tuple[np.ndarray, bool]:
        """Joint angles placing the foot at `foot_base_m` -> (q, exact).

        Knee-backwards branch (the one inside the calf limits of this URDF). A target out of
        reach is replaced by the nearest reachable point on the ray from the hip (exact=False);
        the result is clamped to the joint limits (exact=False if that changed it).
        """
        if len(foot_base_m) != 3:
            raise ValueError(f"leg {self.name}: foot target must be 3 finite numbers")
        g = self._f
        px, py, pz = (float(foot_base_m[0]) - g["ox"], float(foot_base_m[1]) - g["oy"],
                      float(foot_base_m[2]) - g["oz"])
        if not math.isfinite(px + py + pz):
            raise ValueError(f"leg {self.name}: foot target must be 3 finite numbers")
        exact = True
        # hip (about x): (y, z) = R(q_hip) (d, w); the foot hangs below (w < 0)
        d = g["d"]
        w_sq = py * py + pz * pz - d * d
        if w_sq < 1e-8:
            w_sq, exact = 1e-8, False
        w = -math.sqrt(w_sq)
        q_hip = math.atan2(pz, py) - math.atan2(w, d)
        # sagittal plane (x, z of the hip frame) relative to the thigh joint
        sx, sz = px - g["tx"], w - g["tz"]
        l1, l2 = g["l1"], g["l2"]
        r = math.hypot(sx, sz)
        r_min, r_max = abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6
        if not r_min <= r <= r_max:
            exact = False
            r_new = min(max(r, r_min), r_max)
            scale = r_new / max(r, 1e-9)
            sx, sz, r = sx * scale, sz * scale, r_new
        # R_y(q) turns an (x, z) vector by -q in the x-z plane: work with phi = -q
        alpha1, alpha2 = g["alpha1"], g["alpha2"]
        cos_rel = (r * r - l1 * l1 - l2 * l2) / (2.0 * l1 * l2)
        phi_calf = alpha1 - alpha2 + math.acos(min(max(cos_rel, -1.0), 1.0))
        bx = g["a1x"] + l2 * math.cos(alpha2 + phi_calf)
        bz = g["a1z"] + l2 * math.sin(alpha2 + phi_calf)
        phi_thigh = math.atan2(sz, sx) - math.atan2(bz, bx)
        q = [q_hip, -phi_thigh, -phi_calf]
        lo, hi = self._limits
        for k in range(3):
            angle = (q[k] + math.pi) % (2.0 * math.pi) - math.pi
            clamped = min(max(angle, lo[k]), hi[k])
            exact &= abs(clamped - angle) < 1e-9
            q[k] = clamped
        return np.array(q), exact


def _placement(model: pin.Model, joint_id: int, parent_id: int, kind: str,
               leg: str) -> np.ndarray:
    if model.parents[joint_id] != parent_id:
        raise ValueError(f"leg {leg}: joint {model.names[joint_id]} is not a child of "
                         f"{model.names[parent_id]}")
    if model.joints[joint_id].shortname() != kind:
        raise ValueError(f"leg {leg}: joint {model.names[joint_id]} is "
                         f"{model.joints[joint_id].shortname()}, the analytic leg needs {kind}")
    placement = model.jointPlacements[joint_id]
    if not np.allclose(placement.rotation, np.eye(3), atol=_IDENTITY_TOL):
        raise ValueError(f"leg {leg}: joint {model.names[joint_id]} has a rotated origin")
    return placement.translation.copy()


def legs_from_urdf(urdf_path: str | Path,
                   legs: dict[str, dict]) -> dict[str, LegKinematics]:
    """Leg geometry from the URDF. `legs` is the profile's `legs:` block: name ->
    {joints: [hip, thigh, calf], foot_frame: ...}. Raises ValueError if a leg is not a
    hip-x / thigh-y / calf-y chain ending in its foot frame."""
    model = pin.buildModelFromUrdf(str(urdf_path))  # fixed base: the root is base_link
    result: dict[str, LegKinematics] = {}
    for leg, spec in legs.items():
        names = tuple(spec["joints"])
        if len(names) != 3:
            raise ValueError(f"leg {leg}: needs 3 joints (hip, thigh, calf), got {names}")
        missing = [n for n in names if not model.existJointName(n)]
        if missing or not model.existFrame(spec["foot_frame"]):
            raise ValueError(f"leg {leg}: not in the URDF: {missing or spec['foot_frame']}")
        hip, thigh, calf = (model.getJointId(n) for n in names)
        foot = model.frames[model.getFrameId(spec["foot_frame"])]
        if foot.parentJoint != calf:
            raise ValueError(f"leg {leg}: foot frame {spec['foot_frame']} is not on the calf")
        idx = [model.idx_qs[j] for j in (hip, thigh, calf)]
        result[leg] = LegKinematics(
            name=leg, joint_names=names,  # type: ignore[arg-type]
            hip_origin_base_m=_placement(model, hip, 0, "JointModelRX", leg),
            thigh_offset_hip_m=_placement(model, thigh, hip, "JointModelRY", leg),
            calf_offset_thigh_m=_placement(model, calf, thigh, "JointModelRY", leg),
            foot_offset_calf_m=foot.placement.translation.copy(),
            lower_rad=model.lowerPositionLimit[idx].copy(),
            upper_rad=model.upperPositionLimit[idx].copy())
    return result
