"""Goal predicates (DESIGN.md): parse `in(a, b) and unmoved(c)` and judge them on ground truth.

The parser is pure. The judge reads a `GroundTruth` (SimWorld implements it) and never the
robot's own estimates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vla_sim.scene import SceneObject

RESTING_SPEED_M_S = 0.05
UNMOVED_TOL_M = 0.01
ON_GAP_TOL_M = 0.015
HOLD_CLEARANCE_M = 0.005
UPRIGHT_MAX_TILT_RAD = math.radians(35.0)
ROBOT = "robot"

# predicate -> argument kinds: "o" object (or landmark for near), "r" the robot, "f" a number,
# "b" a body (link) of the robot, e.g. right_hand: touching(body, object, d) holds when their
# surfaces are at most d metres apart
SIGNATURES: dict[str, str] = {
    "in": "oo", "on": "oo", "holding": "o", "unmoved": "o",
    "near": "rof", "at": "rfff", "upright": "r", "touching": "bof",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_PRED = re.compile(r"\s*([A-Za-z_]\w*)\s*\(([^()]*)\)\s*")
_AND = re.compile(r"and\b\s*")


@dataclass(frozen=True)
class Predicate:
    name: str
    args: tuple[str | float, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"


def parse_goal(text: str) -> list[Predicate]:
    """`pred(args) and pred(args) ...` -> predicates. Raises ValueError on malformed text."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("goal text is empty")
    preds = []
    pos = 0
    while True:
        match = _PRED.match(text, pos)
        if not match:
            raise ValueError(f"malformed goal {text!r} at character {pos}; expected e.g. "
                             "in(red_cube, blue_bin) and unmoved(green_cube)")
        part = match.group(0).strip()
        pos = match.end()
        if pos == len(text):
            last = True
        else:
            conj = _AND.match(text, pos)
            if not conj:
                raise ValueError(f"expected 'and' at character {pos} of goal {text!r}")
            pos, last = conj.end(), False
        name, raw_args = match.group(1), match.group(2)
        if name not in SIGNATURES:
            raise ValueError(f"unknown predicate {name!r}; known: {sorted(SIGNATURES)}")
        args = [a.strip() for a in raw_args.split(",")] if raw_args.strip() else []
        kinds = SIGNATURES[name]
        if len(args) != len(kinds):
            raise ValueError(f"{name} takes {len(kinds)} arguments, got {len(args)} in {part!r}")
        parsed: list[str | float] = []
        for arg, kind in zip(args, kinds, strict=True):
            if kind == "f":
                try:
                    value = float(arg)
                except ValueError:
                    raise ValueError(f"{name}: {arg!r} is not a number") from None
                if not math.isfinite(value):
                    raise ValueError(f"{name}: {arg!r} must be finite")
                parsed.append(value)
            elif not _IDENT.match(arg):
                raise ValueError(f"{name}: {arg!r} is not a name")
            else:
                parsed.append(arg)
        if name == "near" and float(parsed[2]) <= 0:
            raise ValueError("near: distance must be positive")
        if name == "at" and float(parsed[3]) <= 0:
            raise ValueError("at: tolerance must be positive")
        if name == "touching" and float(parsed[2]) <= 0:
            raise ValueError("touching: distance must be positive")
        preds.append(Predicate(name, tuple(parsed)))
        if last:
            return preds


class GroundTruth(Protocol):
    object_names: list[str]

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]: ...
    def object_speed_m_s(self, name: str) -> float: ...
    def scene_object(self, name: str) -> SceneObject: ...
    def initial_object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]: ...
    def touches_both_fingers(self, name: str) -> bool: ...
    def robot_base_pose(self) -> tuple[np.ndarray, np.ndarray]: ...
    def landmark_position(self, name: str) -> np.ndarray: ...


def _rot(quat_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = quat_wxyz / np.linalg.norm(quat_wxyz)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _half_height_m(world: GroundTruth, name: str) -> float:
    """Vertical half-extent of the object's box as it is now oriented."""
    obj = world.scene_object(name)
    if obj.shape == "sphere":
        return obj.size_m[0] / 2
    return float(np.abs(_rot(world.object_pose(name)[1])[2]) @ np.array(obj.half_extents_m))


def _in_local_footprint(world: GroundTruth, a: str, b: str, half_xy: tuple[float, float]
                        ) -> tuple[bool, np.ndarray]:
    pos_a = world.object_pose(a)[0]
    pos_b, quat_b = world.object_pose(b)
    local = _rot(quat_b).T @ (pos_a - pos_b)
    return bool(abs(local[0]) <= half_xy[0] and abs(local[1]) <= half_xy[1]), local


def _surface_gap_m(world: GroundTruth, body: str, obj: str) -> float:
    """Closest distance (m, 0 or less in contact) between a robot body's shape and an object's,
    by MuJoCo's geom distance. A body without geoms (a frame such as right_hand, fixed to the
    link that carries the hand's shape) is judged by its parent link's."""
    import mujoco  # the judge's only MuJoCo call: only ground truth from the simulator has it

    model, data = getattr(world, "model", None), getattr(world, "data", None)
    if model is None or data is None:
        raise ValueError("this ground truth has no robot bodies to judge touching()")
    if body in world.object_names:
        raise ValueError(f"{body!r} is an object, not a body of the robot")
    try:
        body_id = model.body(body).id
    except KeyError:
        raise ValueError(f"the robot has no body {body!r}") from None
    if model.body_geomnum[body_id] == 0:
        body_id = model.body_parentid[body_id]
    obj_id = model.body(obj).id

    def geoms(b: int) -> range:
        return range(model.body_geomadr[b], model.body_geomadr[b] + model.body_geomnum[b])

    far_m = 10.0
    fromto = np.zeros(6)
    return min((mujoco.mj_geomDistance(model, data, g1, g2, far_m, fromto)
                for g1 in geoms(body_id) for g2 in geoms(obj_id)), default=far_m)


def _judge(p: Predicate, world: GroundTruth) -> tuple[bool, str]:
    args = p.args
    for arg, kind in zip(args, SIGNATURES[p.name], strict=True):
        if kind == "o" and p.name != "near" and arg not in world.object_names:
            raise ValueError(f"{p}: unknown object {arg!r}; scene has {world.object_names}")
        if kind == "r" and arg != ROBOT:
            raise ValueError(f"{p}: the robot is called {ROBOT!r}, got {arg!r}")
    if p.name == "in":
        a, b = str(args[0]), str(args[1])
        container = world.scene_object(b)
        if container.shape != "bin":
            raise ValueError(f"{p}: {b} is a {container.shape}; in() needs a bin")
        inside, local = _in_local_footprint(world, a, b, container.bin_inner_half_extents_m())
        below_rim = local[2] < container.size_m[2] / 2
        speed = world.object_speed_m_s(a)
        ok = inside and below_rim and speed < RESTING_SPEED_M_S
        return ok, (f"{a} at {np.round(local, 3).tolist()} in {b}'s frame, inside footprint "
                    f"{inside}, below rim {below_rim}, speed {speed:.3f} m/s")
    if p.name == "on":
        a, b = str(args[0]), str(args[1])
        half = world.scene_object(b).half_extents_m
        inside, _ = _in_local_footprint(world, a, b, (half[0], half[1]))
        bottom_a = world.object_pose(a)[0][2] - _half_height_m(world, a)
        top_b = world.object_pose(b)[0][2] + _half_height_m(world, b)
        gap = bottom_a - top_b
        speed = world.object_speed_m_s(a)
        ok = inside and abs(gap) <= ON_GAP_TOL_M and speed < RESTING_SPEED_M_S
        return ok, f"{a} over {b}: {inside}, gap {gap:+.3f} m, speed {speed:.3f} m/s"
    if p.name == "holding":
        a = str(args[0])
        clearance = world.object_pose(a)[0][2] - _half_height_m(world, a)
        touching = world.touches_both_fingers(a)
        ok = touching and clearance > HOLD_CLEARANCE_M
        return ok, f"{a} touches both fingers {touching}, {clearance:.3f} m above the table"
    if p.name == "touching":
        body, a = str(args[0]), str(args[1])
        gap = _surface_gap_m(world, body, a)
        return gap <= float(args[2]), f"{body} {gap:+.3f} m from {a} (surfaces)"
    if p.name == "unmoved":
        a = str(args[0])
        moved = float(np.linalg.norm(world.object_pose(a)[0] - world.initial_object_pose(a)[0]))
        return moved <= UNMOVED_TOL_M, f"{a} moved {moved:.3f} m"
    base_pos, base_quat = world.robot_base_pose()
    if p.name == "near":
        target = str(args[1])
        if target in world.object_names:
            goal_xy = world.object_pose(target)[0][:2]
        else:
            goal_xy = world.landmark_position(target)[:2]
        dist = float(np.linalg.norm(base_pos[:2] - goal_xy))
        return dist <= float(args[2]), f"robot {dist:.2f} m from {target}"
    if p.name == "at":
        dist = float(np.linalg.norm(base_pos[:2] - np.array([args[1], args[2]], dtype=float)))
        return dist <= float(args[3]), f"robot {dist:.2f} m from ({args[1]}, {args[2]})"
    tilt = math.acos(float(np.clip(_rot(base_quat)[2, 2], -1.0, 1.0)))  # upright
    return tilt <= UPRIGHT_MAX_TILT_RAD, f"robot tilted {math.degrees(tilt):.1f} deg"


def evaluate(predicates: list[Predicate], world: GroundTruth) -> tuple[bool, str]:
    """All predicates must hold. Detail lists each as `[ok]`/`[no]` with measured values."""
    if not predicates:
        raise ValueError("no predicates to judge")
    results = [(p, *_judge(p, world)) for p in predicates]
    detail = "; ".join(f"[{'ok' if ok else 'no'}] {p}: {why}" for p, ok, why in results)
    return all(ok for _, ok, _ in results), detail
