"""Pick, place and stack for a parallel-gripper arm: top-down grasps, reachability from the
controller's own kinematic model (vla_controller.solve_ik)."""

import numpy as np
import pinocchio as pin

from vla_controller.ik import solve_ik
from vla_controller.robot_model import RobotModel
from vla_controller.tasks import tool_down_pose
from vla_skills.base import GRIPPER_HOLDS, ObjectInfo, Skill, SkillInfo, Stage, WorldSnapshot

VISIBLE_AFFORDANCE = 0.95     # perception can be wrong; never claim certainty
REMEMBERED_AFFORDANCE = 0.6   # seen recently, not in the latest frame


def top_down_pose(position_base_m: np.ndarray, yaw_rad: float) -> pin.SE3:
    """Tool pointing down, lined up with a box's faces by the smallest wrist turn."""
    # A gripper is symmetric under a half turn and a box under a quarter turn: take the
    # smallest wrist rotation that lines the fingers up with the box's faces.
    return tool_down_pose(position_base_m, (yaw_rad + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class ArmSkill(Skill):
    def __init__(self, robot: RobotModel, home_q: np.ndarray, gripper_open_m: float,
                 gripper_closed_m: float):
        self.robot = robot
        self.home_q = np.asarray(home_q, dtype=float)
        self.gripper_open_m = gripper_open_m
        self.gripper_closed_m = gripper_closed_m

    def reachable(self, poses: list[pin.SE3], world: WorldSnapshot) -> tuple[bool, str]:
        q_seed = self.home_q if world.q_arm is None else world.q_arm
        for pose in poses:
            result = solve_ik(self.robot, pose, q_seed)
            if not result.success:
                return False, f"not reachable at {np.round(pose.translation, 3).tolist()}: " \
                              f"{result.reason}"
            q_seed = result.q
        return True, "reachable"


    def reach_affordance(self, poses: list[pin.SE3], target: ObjectInfo, world: WorldSnapshot,
                         precondition: str) -> tuple[float, str]:
        """Affordance once the skill's own preconditions hold: zero if any pose is out of
        reach; lower when the target is only remembered, not in the latest frame."""
        ok, why = self.reachable(poses, world)
        if not ok:
            return 0.0, why
        if target.visible:
            return VISIBLE_AFFORDANCE, f"{precondition}; {target.name} visible and reachable"
        return REMEMBERED_AFFORDANCE, f"{precondition}; {target.name} last seen reachable"


class PickSkill(ArmSkill):
    info = SkillInfo(
        name="pick", description="grasp an object from above and lift it",
        text_template="pick up the {object}", arg_names=("object",), arg_kinds=("graspable",))
    approach_height_m = 0.10
    lift_height_m = 0.15          # above the grasp point
    grasp_depth_m = 0.0           # tool0 at the object's centre height

    def grasp_poses(self, obj: ObjectInfo) -> dict[str, pin.SE3]:
        grasp = top_down_pose(obj.position_base_m + [0.0, 0.0, -self.grasp_depth_m], obj.yaw_rad)
        above = pin.SE3(grasp.rotation, grasp.translation + [0.0, 0.0, self.approach_height_m])
        lift = pin.SE3(grasp.rotation, grasp.translation + [0.0, 0.0, self.lift_height_m])
        return {"approach": above, "grasp": grasp, "lift": lift}

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        obj = bound["object"]
        if world.held_object is not None:
            return 0.0, f"{GRIPPER_HOLDS}{world.held_object}"
        width = float(min(obj.size_m[0], obj.size_m[1]))
        if width >= 2.0 * self.gripper_open_m:
            return 0.0, f"{obj.name} is {width:.3f} m wide; the gripper opens to " \
                        f"{2 * self.gripper_open_m:.3f} m"
        return self.reach_affordance(list(self.grasp_poses(obj).values()), obj, world,
                                     "gripper free")

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        poses = self.grasp_poses(bound["object"])
        return [
            Stage("open", gripper_opening_m=self.gripper_open_m),
            Stage("approach", tool_pose_base=poses["approach"]),
            Stage("descend", tool_pose_base=poses["grasp"], max_linear_speed_mps=0.08),
            Stage("grasp", gripper_opening_m=self.gripper_closed_m, expect_holding=True),
            Stage("lift", tool_pose_base=poses["lift"], max_linear_speed_mps=0.10,
                  expect_holding=True),
        ]


class PlaceSkill(ArmSkill):
    info = SkillInfo(
        name="place", description="put the held object into a container",
        text_template="put the {object} in the {container}",
        arg_names=("object", "container"), arg_kinds=("graspable", "container"))
    approach_clearance_m = 0.12   # held object's bottom above the support while moving over
    release_clearance_m = 0.03    # ... and when letting go

    @property
    def destination_arg(self) -> str:
        return self.info.arg_names[1]

    def release_poses(self, obj: ObjectInfo, destination: ObjectInfo) -> dict[str, pin.SE3]:
        """Over the destination's centre, lined up with it: the held object's bottom
        release_clearance_m above the destination's top (a container's rim, a block's top)."""
        top_z = destination.position_base_m[2] + destination.size_m[2] / 2.0
        # tool0 holds the object at its centre: its bottom hangs half a height below
        hang_m = obj.size_m[2] / 2.0
        xy = destination.position_base_m[:2]
        release = top_down_pose([*xy, top_z + hang_m + self.release_clearance_m],
                                destination.yaw_rad)
        above = pin.SE3(release.rotation, np.array(
            [*xy, top_z + hang_m + self.approach_clearance_m]))
        return {"above": above, "release": release}

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        obj, destination = bound["object"], bound[self.destination_arg]
        if world.held_object != obj.name:
            held = world.held_object or "nothing"
            return 0.0, f"not holding {obj.name} (holding {held})"
        blocked = self.destination_problem(obj, destination, world)
        if blocked:
            return 0.0, blocked
        return self.reach_affordance(list(self.release_poses(obj, destination).values()),
                                     destination, world, f"holding {obj.name}")

    def destination_problem(self, obj: ObjectInfo, destination: ObjectInfo,
                            world: WorldSnapshot) -> str:
        """Why the held object cannot go onto/into `destination` now ("" when it can)."""
        return ""

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        poses = self.release_poses(bound["object"], bound[self.destination_arg])
        return [
            Stage("carry", tool_pose_base=poses["above"], expect_holding=True),
            Stage("lower", tool_pose_base=poses["release"], max_linear_speed_mps=0.08,
                  expect_holding=True),
            Stage("release", gripper_opening_m=self.gripper_open_m, expect_holding=False),
            Stage("retreat", tool_pose_base=poses["above"], max_linear_speed_mps=0.10),
        ]


def covers(other: ObjectInfo, base: ObjectInfo, tolerance_m: float = 0.01) -> bool:
    """`other` sits on or above `base`'s top, overlapping its footprint (in `base`'s yaw; the
    other's extent is taken as a square of its larger side, to be safe)."""
    top_z = base.position_base_m[2] + base.size_m[2] / 2.0
    bottom_z = other.position_base_m[2] - other.size_m[2] / 2.0
    if bottom_z < top_z - tolerance_m:
        return False
    dx, dy = other.position_base_m[:2] - base.position_base_m[:2]
    cos_yaw, sin_yaw = np.cos(base.yaw_rad), np.sin(base.yaw_rad)
    local = np.abs([cos_yaw * dx + sin_yaw * dy, -sin_yaw * dx + cos_yaw * dy])
    reach = base.size_m[:2] / 2.0 + float(max(other.size_m[:2])) / 2.0
    return bool(np.all(local < reach))


class StackSkill(PlaceSkill):
    """Put the held object on top of another block: PlaceSkill's motion with the target's top
    as the support, released just above it."""
    info = SkillInfo(
        name="stack", description="put the held object on top of another object",
        text_template="stack the {object} on the {target}",
        arg_names=("object", "target"), arg_kinds=("graspable", "graspable"))
    release_clearance_m = 0.01    # a short drop: the block lands flat on the target

    def destination_problem(self, obj: ObjectInfo, destination: ObjectInfo,
                            world: WorldSnapshot) -> str:
        if destination.name == obj.name:
            return f"cannot stack {obj.name} on itself"
        if not destination.visible:
            return f"{destination.name} is not in view: its top cannot be checked"
        on_top = sorted(o.name for o in world.objects.values()
                        if o.name not in (obj.name, destination.name) and covers(o, destination))
        if on_top:
            return f"{destination.name} is covered by {', '.join(on_top)}"
        return ""


SKILL_TYPES: dict[str, type[ArmSkill]] = {"pick": PickSkill, "place": PlaceSkill,
                                           "stack": StackSkill}
