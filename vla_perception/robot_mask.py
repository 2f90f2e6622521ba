"""The robot's own body in the depth image: which 3D points lie on it.

The arm is white and dark grey, like white and black objects, so colour cannot tell it from
them. Its geometry can: the URDF's visual primitives, posed with the current joint positions
(pinocchio forward kinematics), inflated by a margin. Testing points in 3D rather than
painting the projected silhouette keeps objects that are merely behind the arm in the image.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pinocchio as pin


@dataclass(frozen=True)
class BodyPrimitive:
    link: str
    kind: str                 # box | cylinder | sphere (cylinder axis = local z)
    dims_m: np.ndarray        # box: half extents; cylinder: (radius, half length); sphere: (r,)
    T_link_geom: np.ndarray   # (4, 4)


def _floats(text: str | None, n: int, default: float = 0.0) -> np.ndarray:
    if not text:
        return np.full(n, default)
    values = np.array([float(v) for v in text.split()])
    if values.shape != (n,):
        raise ValueError(f"expected {n} numbers in URDF attribute, got {text!r}")
    return values


def _parse_visuals(urdf_path: Path) -> list[BodyPrimitive]:
    prims = []
    for link in ET.parse(urdf_path).getroot().iter("link"):
        for visual in link.iter("visual"):
            origin = visual.find("origin")
            T = np.eye(4)
            if origin is not None:
                T[:3, :3] = pin.rpy.rpyToMatrix(*_floats(origin.get("rpy"), 3))
                T[:3, 3] = _floats(origin.get("xyz"), 3)
            geom = visual.find("geometry")
            shape = None if geom is None else next(iter(geom), None)
            if shape is None:
                continue
            if shape.tag == "box":
                dims = _floats(shape.get("size"), 3) / 2
            elif shape.tag == "cylinder":
                dims = np.array([float(shape.get("radius")), float(shape.get("length")) / 2])
            elif shape.tag == "sphere":
                dims = np.array([float(shape.get("radius"))])
            else:
                # Meshes would need their own geometry; a robot using them supplies its own
                # exclusion (a rendered mask) instead.
                raise ValueError(f"link {link.get('name')}: unsupported visual {shape.tag!r}")
            prims.append(BodyPrimitive(link.get("name"), shape.tag, dims, T))
    return prims


class RobotBodyModel:
    """The robot's visual primitives, ready to be posed by joint positions."""

    def __init__(self, urdf_path: str | Path, base_frame: str = "base_link") -> None:
        path = Path(urdf_path)
        if not path.is_file():
            raise ValueError(f"URDF not found: {path}")
        self.model = pin.buildModelFromUrdf(str(path))
        self.data = self.model.createData()
        self.primitives = _parse_visuals(path)
        if not self.model.existFrame(base_frame):
            raise ValueError(f"base frame {base_frame!r} not in {path}")
        self._base_id = self.model.getFrameId(base_frame)
        self._frame_ids = [self.model.getFrameId(p.link) for p in self.primitives]
        self.joint_names = [n for n in self.model.names[1:]]

    def posed(self, joint_positions: Mapping[str, float] | None = None,
              margin_m: float = 0.008,
              T_frame_base: np.ndarray | None = None) -> PosedRobotBody:
        """The body at the given joint positions (by name; missing joints stay at zero), in
        the base frame, or in another frame (a floating base's odom) given T_frame_base."""
        q = pin.neutral(self.model)
        for name, value in (joint_positions or {}).items():
            if not self.model.existJointName(name):
                raise ValueError(f"unknown joint {name!r}; the robot has {self.joint_names}")
            if not np.isfinite(value):
                raise ValueError(f"joint {name!r} position must be finite, got {value}")
            joint = self.model.joints[self.model.getJointId(name)]
            if joint.nq != 1:
                raise ValueError(f"joint {name!r} has {joint.nq} coordinates; only 1-DoF supported")
            q[joint.idx_q] = float(value)
        pin.framesForwardKinematics(self.model, self.data, q)
        T_base_world = self.data.oMf[self._base_id].inverse()
        T_frame = np.eye(4) if T_frame_base is None else np.asarray(T_frame_base, dtype=float)
        poses = []
        for prim, fid in zip(self.primitives, self._frame_ids, strict=True):
            T_base_link = (T_base_world * self.data.oMf[fid]).homogeneous
            poses.append(T_frame @ T_base_link @ prim.T_link_geom)
        return PosedRobotBody(self.primitives, poses, margin_m)


class PosedRobotBody:
    """Point-in-body test for one robot configuration (the detector's `point_exclusion`)."""

    def __init__(self, primitives: list[BodyPrimitive], T_base_geom: list[np.ndarray],
                 margin_m: float) -> None:
        if not (np.isfinite(margin_m) and margin_m >= 0):
            raise ValueError(f"margin_m must be finite and >= 0, got {margin_m}")
        self.primitives = primitives
        self.T_base_geom = T_base_geom
        self.margin_m = float(margin_m)
        self._radii = [float(np.linalg.norm(p.dims_m if p.kind != "cylinder"
                                            else p.dims_m[[0, 0, 1]])) + self.margin_m
                       for p in primitives]
        if primitives:
            centres = np.array([T[:3, 3] for T in T_base_geom])
            radii = np.array(self._radii)[:, None]
            self._aabb = ((centres - radii).min(axis=0), (centres + radii).max(axis=0))
        else:
            self._aabb = (np.full(3, np.inf), np.full(3, -np.inf))

    def contains(self, points_base_m: np.ndarray) -> np.ndarray:
        """(N,) bool: point lies within margin_m of the robot's body."""
        all_pts = np.asarray(points_base_m, dtype=np.float64).reshape(-1, 3)
        result = np.zeros(len(all_pts), dtype=bool)
        # Only points inside the box around every part's bounding sphere can be on the robot.
        candidates = np.flatnonzero(np.all((all_pts >= self._aabb[0]) & (all_pts <= self._aabb[1]),
                                           axis=1))
        pts = all_pts[candidates]
        inside = np.zeros(len(pts), dtype=bool)
        m = self.margin_m
        for prim, T, radius in zip(self.primitives, self.T_base_geom, self._radii, strict=True):
            # Cheap bounding-sphere cull before the exact local-frame test.
            near = np.einsum("ij,ij->i", pts - T[:3, 3], pts - T[:3, 3]) <= radius * radius
            near &= ~inside
            if not near.any():
                continue
            local = (pts[near] - T[:3, 3]) @ T[:3, :3]
            if prim.kind == "box":
                hit = np.all(np.abs(local) <= prim.dims_m + m, axis=1)
            elif prim.kind == "cylinder":
                hit = (np.hypot(local[:, 0], local[:, 1]) <= prim.dims_m[0] + m) & (
                    np.abs(local[:, 2]) <= prim.dims_m[1] + m)
            else:
                hit = np.linalg.norm(local, axis=1) <= prim.dims_m[0] + m
            inside[np.flatnonzero(near)[hit]] = True
        result[candidates] = inside
        return result
