"""The scene's state as the planner can see it, in the words of the arm's prompt: which of the
task's objects is in which container, which is stacked on which, which rests on the table
(perception's boxes), and what the gripper holds (the skills say so; the camera barely sees a
held cube under the gripper).

The words match the State lines of the arm's few-shot examples (vla_planner.prompt), so after
"put the pear in the bowl" the language model reads "the plum is on the table" before it
would say `done`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vla_planner.prompt import ObjectRef
from vla_skills.base import GRIPPER_HOLDS

CONTAINER = "container"
RIM_MARGIN_M = 0.02      # a centre up to this above a container's rim still counts as in it
RESTING_GAP_M = 0.03     # a bottom this close to the frame's z = 0 (the table) rests on it


@dataclass(frozen=True)
class ObjectBox:
    """A perceived object's bounding box in the objects' frame (z = 0 is the table top)."""

    centre_m: tuple[float, float, float]
    size_m: tuple[float, float, float]
    yaw_rad: float = 0.0

    def __post_init__(self) -> None:
        values = (*self.centre_m, *self.size_m, self.yaw_rad)
        if len(self.centre_m) != 3 or len(self.size_m) != 3 \
                or not all(math.isfinite(v) for v in values) or min(self.size_m) < 0.0:
            raise ValueError(f"not a valid box: {self!r}")

    def over_footprint(self, other: ObjectBox) -> bool:
        """`other`'s centre is over this box's footprint."""
        dx = other.centre_m[0] - self.centre_m[0]
        dy = other.centre_m[1] - self.centre_m[1]
        cos_yaw, sin_yaw = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        local_x, local_y = cos_yaw * dx + sin_yaw * dy, -sin_yaw * dx + cos_yaw * dy
        return abs(local_x) <= self.size_m[0] / 2.0 and abs(local_y) <= self.size_m[1] / 2.0

    def holds(self, other: ObjectBox) -> bool:
        """`other`'s centre is over this container's footprint and below its rim."""
        return self.over_footprint(other) and other.centre_m[2] <= self.top_z_m + RIM_MARGIN_M

    def carries(self, other: ObjectBox) -> bool:
        """`other` rests on this box's top (stacked): over it, its bottom at the top."""
        return self.over_footprint(other) and abs(other.bottom_z_m - self.top_z_m) <= RESTING_GAP_M

    @property
    def top_z_m(self) -> float:
        return self.centre_m[2] + self.size_m[2] / 2.0

    @property
    def bottom_z_m(self) -> float:
        return self.centre_m[2] - self.size_m[2] / 2.0


def where_is(obj: ObjectRef, box: ObjectBox,
             containers: Sequence[tuple[ObjectRef, ObjectBox]],
             blocks: Sequence[tuple[ObjectRef, ObjectBox]] = ()) -> str:
    """One clause: "the red cube is in the blue bin", "... is on the green cube" (stacked on one
    of `blocks`), "... is on the table", or "the gripper holds the red cube" (lifted off the
    table, in no container and on no block)."""
    for container, container_box in containers:
        if container.name != obj.name and container_box.holds(box):
            return f"the {obj.description} is in the {container.description}"
    for block, block_box in blocks:
        if block.name != obj.name and block_box.carries(box):
            return f"the {obj.description} is on the {block.description}"
    if box.bottom_z_m <= RESTING_GAP_M:
        return f"the {obj.description} is on the table"
    return held_clause(obj)


def held_clause(obj: ObjectRef) -> str:
    return f"the gripper holds the {obj.description}"


def held_object(reasons: Iterable[str]) -> str | None:
    """The object the skills say the gripper holds, from their affordance reasons, or None."""
    for why in reasons:
        if why.startswith(GRIPPER_HOLDS) and len(why.split()) == len(GRIPPER_HOLDS.split()) + 1:
            return why[len(GRIPPER_HOLDS):]
    return None


def describe_scene(objects: Sequence[tuple[ObjectRef, ObjectBox | None]],
                   held: str | None = None,
                   remembered: Mapping[str, ObjectBox] | None = None) -> str:
    """Where each object that is not a container is, in perception's order, joined by "; ".
    An object without a box (out of view) is left out, unless it is the held one: the gripper
    holds it whatever the camera made of it. `remembered`: last boxes of objects out of view,
    only as what a seen one may rest on (a cube under a stacked one is hidden by it)."""
    containers = [(o, b) for o, b in objects if CONTAINER in o.kinds and b is not None]
    remembered = remembered or {}
    # only a block resting on the table carries another: perception's re-descriptions of a held
    # cube ("green ball", "green box") hang together in the air, and "the green ball is on the
    # green box" drew the LM to pick up the ball (eval, two-cube task)
    blocks = [(o, b or remembered[o.name]) for o, b in objects if CONTAINER not in o.kinds
              and o.name != held and (b is not None or o.name in remembered)]
    blocks = [(o, b) for o, b in blocks if b.bottom_z_m <= RESTING_GAP_M]
    clauses = []
    for obj, box in objects:
        if CONTAINER in obj.kinds:
            continue
        if obj.name == held:
            clauses.append(held_clause(obj))
        elif box is not None:
            clause = where_is(obj, box, containers, blocks)
            # the gripper holds one thing: another object "held" is perception's second
            # reading of it ("... holds the green cube; the gripper holds the green ball" made
            # the LM want to pick up the ball, and `done` beat putting the cube away)
            if held is None or clause != held_clause(obj):
                clauses.append(clause)
    return "; ".join(clauses)
