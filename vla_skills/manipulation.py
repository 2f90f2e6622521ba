"""Pick and place for a parallel-gripper arm: top-down grasps, reachability from the
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
    approach_clearance_m = 0.12   # held object's bottom above the rim while moving over
    release_clearance_m = 0.03    # ... and when letting go

    def release_poses(self, obj: ObjectInfo, container: ObjectInfo) -> dict[str, pin.SE3]:
        rim_z = container.position_base_m[2] + container.size_m[2] / 2.0
        # tool0 holds the object at its centre: its bottom hangs half a height below
        hang_m = obj.size_m[2] / 2.0
        xy = container.position_base_m[:2]
        release = top_down_pose([*xy, rim_z + hang_m + self.release_clearance_m], container.yaw_rad)
        above = pin.SE3(release.rotation, np.array(
            [*xy, rim_z + hang_m + self.approach_clearance_m]))
        return {"above": above, "release": release}

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        obj, container = bound["object"], bound["container"]
        if world.held_object != obj.name:
            held = world.held_object or "nothing"
            return 0.0, f"not holding {obj.name} (holding {held})"
        return self.reach_affordance(list(self.release_poses(obj, container).values()),
                                     container, world, f"holding {obj.name}")

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        poses = self.release_poses(bound["object"], bound["container"])
        return [
            Stage("carry", tool_pose_base=poses["above"], expect_holding=True),
            Stage("lower", tool_pose_base=poses["release"], max_linear_speed_mps=0.08,
                  expect_holding=True),
            Stage("release", gripper_opening_m=self.gripper_open_m, expect_holding=False),
            Stage("retreat", tool_pose_base=poses["above"], max_linear_speed_mps=0.10),
        ]


SKILL_TYPES: dict[str, type[ArmSkill]] = {"pick": PickSkill, "place": PlaceSkill}
