"""Contacts for the whole-body QP: feet / soles held where they touch the ground.

A contact is an equality constraint on its frame's velocity, J_c dq = -gain * e_c, where e_c
is the frame's drift from where the contact was made (so linearisation error never
accumulates): 3 rows for a point foot (position only, the foot may roll), 6 for a flat sole.
Balance (static): the centre of mass stays over the support polygon, the convex hull of the
contact points / sole corners, as a linear inequality on the CoM step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pinocchio as pin

from vla_controller.robot_model import RobotModel
from vla_controller.tasks import FramePoseTask, check_pose, check_weight, rotation_rows

CONTACT_ROWS = {"point": 3, "plane": 6}
_VERTICAL = np.array([0.0, 0.0, 1.0])


class Contact:
    """``frame`` fixed at ``anchor_pose_world``; ``kind`` "point" or "plane" (then
    ``sole_size_m`` = (length along frame x, width along frame y) spans its support area).

    ``rolling_radius_m`` (point contacts): the frame is the centre of a round foot of that
    radius, which rolls instead of pivoting about its centre. Then the rows hold the foot's
    material point touching the ground still (v_centre + w x (-r z) = 0) and only its height
    is corrected: the centre may move by r x angle as the leg turns, as the real foot does.
    """

    def __init__(
        self,
        name: str,
        frame: str,
        kind: str,
        anchor_pose_world: pin.SE3,
        sole_size_m: Sequence[float] | None = None,
        gain: float = 1.0,
        rolling_radius_m: float | None = None,
    ) -> None:
        if kind not in CONTACT_ROWS:
            raise ValueError(f"contact kind must be one of {tuple(CONTACT_ROWS)}, got {kind!r}")
        if not 0.0 <= check_weight(gain, "contact gain") <= 1.0:
            raise ValueError("contact gain must be in [0, 1] (a fraction of the drift per tick)")
        self.kind = kind
        self._ground_offset: np.ndarray | None = None  # centre -> touching point, world
        if rolling_radius_m is not None:
            if kind != "point" or not check_weight(rolling_radius_m, "rolling_radius_m") > 0:
                raise ValueError("rolling_radius_m > 0 applies to point contacts only")
            self._ground_offset = np.array([0.0, 0.0, -float(rolling_radius_m)])
            self._offset_cross = pin.skew(self._ground_offset)
        self._task = FramePoseTask(
            name, frame, check_pose(anchor_pose_world, "anchor_pose_world"), gain=gain,
            orientation_weight=1.0 if kind == "plane" else 0.0, reference="world",
        )
        self.sole_size_m: np.ndarray | None = None
        if sole_size_m is not None:
            size = np.asarray(sole_size_m, dtype=float)
            if size.shape != (2,) or not np.all(np.isfinite(size)) or np.any(size <= 0.0):
                raise ValueError(f"sole_size_m must be 2 positive numbers, got {sole_size_m!r}")
            self.sole_size_m = size

    @property
    def name(self) -> str:
        return self._task.name

    @property
    def frame(self) -> str:
        return self._task.frame

    @property
    def rows(self) -> int:
        return CONTACT_ROWS[self.kind]

    @property
    def anchor_pose_world(self) -> pin.SE3:
        return self._task.target_pose

    def validate(self, robot: RobotModel) -> None:
        self._task.validate(robot)

    def equality(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A (rows, nv), b (rows,)) with A dq = b: the frame task's rows, without its
        generality (this runs for every foot on every tick)."""
        pose = robot.frame_pose_world(q, self.frame, copy=False)
        jac = robot.frame_jacobian_world(q, self.frame)
        anchor = self._task.target_pose
        position_error = pose.translation - anchor.translation
        if self.kind == "point":
            if self._ground_offset is not None:
                # v_touch = v_c + w x d = J_lin dq - [d]x J_ang dq; height error only.
                rows = jac[:3] - self._offset_cross @ jac[3:]
                return rows, -self._task.gain * position_error * _VERTICAL
            return jac[:3], -self._task.gain * position_error
        rot_err = pose.rotation @ anchor.rotation.T
        jac[3:] = rotation_rows(rot_err, jac[3:])
        return jac, -self._task.gain * np.concatenate([position_error, pin.log3(rot_err)])

    def drift(self, robot: RobotModel, q: np.ndarray) -> tuple[float, float]:
        """(position m, orientation rad) of the frame away from its anchor (a rolling foot:
        height only, its centre may roll along)."""
        position, orientation = self._task.errors(robot, q)
        if self._ground_offset is not None:
            height = robot.frame_pose_world(q, self.frame, copy=False).translation[2]
            position = abs(height - self.anchor_pose_world.translation[2])
        return position, orientation

    def support_points_world(self) -> np.ndarray:
        """(k, 3) points of the support area at the anchor: the foot point, or the sole's 4
        corners (the contact holds the frame at its anchor, so this is where it is)."""
        pose = self.anchor_pose_world
        if self.kind == "point" or self.sole_size_m is None:
            return pose.translation.reshape(1, 3).copy()
        half_x, half_y = 0.5 * self.sole_size_m
        corners = np.array(
            [[half_x, half_y, 0.0], [-half_x, half_y, 0.0], [-half_x, -half_y, 0.0],
             [half_x, -half_y, 0.0]]
        )
        return corners @ pose.rotation.T + pose.translation


def convex_hull_2d(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull of (k, 2) points (monotone chain); collinear points drop."""
    pts = sorted({(float(x), float(y)) for x, y in np.asarray(points, dtype=float)[:, :2]})
    if len(pts) <= 2:
        return np.array(pts).reshape(-1, 2)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    upper: list[tuple] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 1e-12:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 1e-12:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def polygon_halfplanes(vertices_ccw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normals (k, 2), offsets (k,)): x is inside iff normals @ x <= offsets."""
    edges = np.roll(vertices_ccw, -1, axis=0) - vertices_ccw
    normals = np.column_stack([edges[:, 1], -edges[:, 0]])  # outward for a CCW polygon
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return normals, np.einsum("ij,ij->i", normals, vertices_ccw)


def support_polygon_world(contacts: Sequence[Contact]) -> np.ndarray:
    """CCW vertices (k, 2) of the support polygon on the ground (world x, y)."""
    if not contacts:
        raise ValueError("no contacts: no support polygon")
    return convex_hull_2d(np.vstack([c.support_points_world() for c in contacts]))


def signed_distance_inside(point_xy: np.ndarray, vertices_ccw: np.ndarray) -> float:
    """Distance (m) of a ground point inside a convex polygon (negative: outside; -inf for a
    degenerate polygon of < 3 vertices, e.g. a line contact)."""
    if len(vertices_ccw) < 3:
        return -np.inf
    normals, offsets = polygon_halfplanes(vertices_ccw)
    return float(np.min(offsets - normals @ np.asarray(point_xy, dtype=float)[:2]))


def com_stability_margin(robot: RobotModel, q: np.ndarray, contacts: Sequence[Contact]) -> float:
    """Signed distance (m) of the CoM's ground projection inside the support polygon."""
    return signed_distance_inside(robot.com_world(q)[:2], support_polygon_world(contacts))


class SupportPolygon:
    """The support polygon's half-planes, recomputed only when the contact set changes."""

    def __init__(self) -> None:
        self._contacts: tuple[Contact, ...] = ()
        self._planes: tuple[np.ndarray, np.ndarray] | None = None

    def halfplanes(self, contacts: Sequence[Contact]) -> tuple[np.ndarray, np.ndarray] | None:
        contacts = tuple(contacts)
        same = len(contacts) == len(self._contacts) and all(
            a is b for a, b in zip(contacts, self._contacts, strict=True)
        )
        if not same:
            hull = support_polygon_world(contacts)
            self._planes = polygon_halfplanes(hull) if len(hull) >= 3 else None
            self._contacts = contacts
        return self._planes


def com_support_inequality(
    robot: RobotModel,
    q: np.ndarray,
    halfplanes: tuple[np.ndarray, np.ndarray] | None,
    margin_m: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(C (k, nv), upper (k,)) with C dq <= upper keeping the CoM ``margin_m`` inside the
    support polygon after the step; None when the polygon is degenerate (< 3 vertices)."""
    if halfplanes is None:
        return None
    normals, offsets = halfplanes
    com = robot.com_world(q)
    jac = robot.com_jacobian_world(q)
    return normals @ jac[:2], offsets - margin_m - normals @ com[:2]


def contact_gravity_torques(
    robot: RobotModel, q: np.ndarray, contacts: Sequence[Contact]
) -> np.ndarray:
    """Joint torques (n_joints,) that hold ``q`` still against gravity while the contacts
    carry the weight: contact forces f solve J_c,base^T f = g_base (least squares, smallest
    forces), then tau = g_joints - J_c,joints^T f. For a fixed base: just g(q)."""
    gravity = robot.gravity_torques(q)
    base = robot.base_nv
    if base == 0 or not contacts:
        return gravity[base:]
    jac = np.vstack([robot.frame_jacobian_local(q, c.frame)[: c.rows] for c in contacts])
    forces, *_ = np.linalg.lstsq(jac[:, :base].T, gravity[:base], rcond=None)
    return gravity[base:] - jac[:, base:].T @ forces


def base_correction_joints(
    robot: RobotModel,
    q_command: np.ndarray,
    base_error: np.ndarray,
    contacts: Sequence[Contact],
) -> np.ndarray:
    """Joint offsets (n_joints,) that move the base by ``-base_error`` (a 6-vector twist in
    base axes, e.g. measured minus commanded) while the contact frames stay put: solve
    J_c,joints dq = J_c,base base_error (least squares, smallest offsets). Zero without
    contacts or for a fixed base."""
    base = robot.base_nv
    if base == 0 or not contacts:
        return np.zeros(robot.n_joints)
    jac = np.vstack([robot.frame_jacobian_local(q_command, c.frame)[: c.rows] for c in contacts])
    offsets, *_ = np.linalg.lstsq(jac[:, base:], jac[:, :base] @ base_error, rcond=None)
    return offsets
