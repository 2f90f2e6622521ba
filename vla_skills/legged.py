"""Skills for legged robots: walk to a place, turn to face it, stand, lie down, reach for an
object with a hand (humanoid). Planar motion goes to the controller as a body velocity
(/cmd_vel); postures as whole-body posture tasks; a reach as hand frame_pose tasks in odom.

The go-to law (`walk_command`) is pure: the skill server closes the loop on /odom."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from vla_controller.legged import reach_frames
from vla_controller.robot_model import RobotModel
from vla_skills.base import (
    ObjectInfo,
    Pose2D,
    Skill,
    SkillError,
    SkillInfo,
    Stage,
    WorldSnapshot,
)

KNOWN_AFFORDANCE = 0.9        # walking can still fail (slip, a fall); never claim certainty
REMEMBERED_AFFORDANCE = 0.6   # seen before, not in the latest frame
POINTLESS_AFFORDANCE = 0.05   # already done: leave the planner room to say `done`


@dataclass(frozen=True)
class WalkLimits:
    max_speed_mps: float = 0.4
    max_yaw_rate_radps: float = 0.8
    speed_gain_per_s: float = 1.0      # forward speed per metre still to go
    yaw_gain_per_s: float = 2.0        # yaw rate per radian of heading error
    arrive_tolerance_m: float = 0.05
    face_tolerance_rad: float = 0.08


def wrap_angle(angle_rad: float) -> float:
    return float((angle_rad + np.pi) % (2.0 * np.pi) - np.pi)


def heading_error(pose: Pose2D, target_xy_m: np.ndarray) -> float:
    d = np.asarray(target_xy_m, dtype=float) - pose.xy_m
    return wrap_angle(float(np.arctan2(d[1], d[0])) - pose.yaw_rad)


def walk_command(pose: Pose2D, target_xy_m: np.ndarray, stop_distance_m: float,
                 limits: WalkLimits) -> tuple[np.ndarray, float]:
    """Body twist (vx m/s, vy m/s, yaw rate rad/s in base axes) that brings the base to
    stop_distance_m from the target, facing it; and the distance still to go (m).
    Turns on the spot while the target is well off the heading, walks forward otherwise."""
    remaining_m = float(np.linalg.norm(np.asarray(target_xy_m) - pose.xy_m)) - stop_distance_m
    error = heading_error(pose, target_xy_m)
    yaw_rate = float(np.clip(limits.yaw_gain_per_s * error, -limits.max_yaw_rate_radps,
                             limits.max_yaw_rate_radps))
    speed = float(np.clip(limits.speed_gain_per_s * remaining_m, 0.0, limits.max_speed_mps))
    speed *= max(0.0, np.cos(error)) ** 4  # slow down sharply while the heading is off
    return np.array([speed, 0.0, yaw_rate]), remaining_m


def turn_command(pose: Pose2D, target_xy_m: np.ndarray, limits: WalkLimits) -> tuple[np.ndarray,
                                                                                      float]:
    """Yaw-only twist that faces the target; and the heading error still left (rad)."""
    error = heading_error(pose, target_xy_m)
    yaw_rate = float(np.clip(limits.yaw_gain_per_s * error, -limits.max_yaw_rate_radps,
                             limits.max_yaw_rate_radps))
    return np.array([0.0, 0.0, yaw_rate]), error


class LeggedSkill(Skill):
    def __init__(self, body_front_m: float, clearance_m: float) -> None:
        self.body_front_m = float(body_front_m)
        self.clearance_m = float(clearance_m)

    def stop_distance_m(self, target: ObjectInfo) -> float:
        """Base origin to target centre when the body's front is clearance_m from the target."""
        # the side facing the robot (the half-diagonal would stop a cylinder too far away)
        radius_m = 0.0 if target.kind == "landmark" else float(max(target.size_m[:2])) / 2
        return radius_m + self.body_front_m + self.clearance_m

    @staticmethod
    def standing(world: WorldSnapshot) -> tuple[bool, str]:
        if world.base_pose is None:
            return False, "no odometry yet"
        if not world.upright:
            return False, "the robot has fallen over"
        if world.posture != "stand":
            return False, f"the robot is in posture {world.posture!r}: stand up first"
        return True, "standing"

    def already_done(self, target: ObjectInfo, pose: Pose2D) -> str | None:
        """Why moving relative to the target would change nothing now, or None."""
        return None

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        """Standing, and the target not reached already: known target, remembered one lower."""
        ok, why = self.standing(world)
        if not ok:
            return 0.0, why
        target = bound["target"]
        done = self.already_done(target, world.base_pose)
        if done is not None:
            return POINTLESS_AFFORDANCE, done
        return self.target_affordance(target)

    @staticmethod
    def target_affordance(target: ObjectInfo) -> tuple[float, str]:
        if target.kind == "landmark":
            return KNOWN_AFFORDANCE, f"{target.name} is on the map"
        if target.visible:
            return KNOWN_AFFORDANCE, f"{target.name} in view"
        return REMEMBERED_AFFORDANCE, f"{target.name} seen before"


class WalkToSkill(LeggedSkill):
    info = SkillInfo(name="walk_to", description="walk up to an object or a place on the map",
                     text_template="walk to the {target}", arg_names=("target",),
                     arg_kinds=("any",))

    def already_done(self, target: ObjectInfo, pose: Pose2D) -> str | None:
        to_go_m = float(np.linalg.norm(target.position_base_m[:2] - pose.xy_m)) \
            - self.stop_distance_m(target)
        return f"already at {target.name} ({to_go_m:+.2f} m)" if to_go_m < 0.15 else None

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        target = bound["target"]
        return [Stage("walk", walk_target_xy_m=tuple(target.position_base_m[:2]),
                      stop_distance_m=self.stop_distance_m(target))]


class TurnSkill(LeggedSkill):
    info = SkillInfo(name="turn", description="turn on the spot to face an object or a place",
                     text_template="turn to face the {target}", arg_names=("target",),
                     arg_kinds=("any",))

    def already_done(self, target: ObjectInfo, pose: Pose2D) -> str | None:
        error = heading_error(pose, target.position_base_m[:2])
        return f"already facing {target.name}" if abs(error) < 0.25 else None

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        return [Stage("turn", face_xy_m=tuple(bound["target"].position_base_m[:2]))]


class PostureSkill(LeggedSkill):
    posture = ""

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        if world.base_pose is None:
            return 0.0, "no odometry yet"
        if not world.upright:
            return 0.0, "the robot has fallen over"
        if world.posture == self.posture:
            return POINTLESS_AFFORDANCE, f"already in posture {self.posture!r}"
        return KNOWN_AFFORDANCE, f"from {world.posture!r} to {self.posture!r}"

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        return [Stage(self.posture, posture=self.posture)]


class StandSkill(PostureSkill):
    posture = "stand"
    info = SkillInfo(name="stand", description="stand up on all legs", text_template="stand up",
                     arg_names=(), arg_kinds=())


class SitSkill(PostureSkill):
    posture = "sit"
    info = SkillInfo(name="sit", description="lie down and rest", text_template="lie down",
                     arg_names=(), arg_kinds=())


@dataclass(frozen=True)
class ArmReach:
    """One hand's reach from the controller's own model: its shoulder (the first joint of the
    hand's joint group) in the base frame at the profile's standing pose, and the arm's length
    (the joint origins down to the hand frame, stretched)."""
    frame: str
    shoulder_base_m: np.ndarray
    length_m: float

    @classmethod
    def from_model(cls, robot: RobotModel, profile: dict, frame: str) -> ArmReach:
        model = robot.model
        chain, joint_id = [], model.frames[model.getFrameId(frame)].parentJoint
        while joint_id > 0:
            chain.append(model.names[joint_id])
            joint_id = model.parents[joint_id]
        group = next((names for names in profile["joint_groups"].values()
                      if names and names[-1] == chain[0]), None)
        if group is None:
            raise ValueError(f"no joint group ends at the joint that carries {frame!r}")
        height_m = float(profile.get("locomotion", {}).get("pelvis_height_m",
                                                           profile["base_height_m"]))
        joints = dict(profile["default_joint_positions"])
        q = robot.floating_configuration([0.0, 0.0, height_m], [1.0, 0.0, 0.0, 0.0],
                                         robot.vector_from_names(joints))
        robot.frame_pose_world(q, frame)  # forward kinematics, the joints' placements too
        shoulder_m = robot.data.oMi[model.getJointId(group[0])].translation.copy()
        # stretched: every arm joint at zero (this URDF's straight arm), clipped to the limits
        joints.update({j: float(np.clip(0.0, robot.limits(j).position_lower,
                                        robot.limits(j).position_upper)) for j in group})
        q = robot.floating_configuration([0.0, 0.0, height_m], [1.0, 0.0, 0.0, 0.0],
                                         robot.vector_from_names(joints))
        robot.frame_pose_world(q, frame)
        straight_m = robot.data.oMi[model.getJointId(group[0])].translation
        length_m = float(np.linalg.norm(robot.frame_pose_world(q, frame).translation
                                        - straight_m))
        return cls(frame, shoulder_m, length_m)

    def shoulder_odom_m(self, base: Pose2D) -> np.ndarray:
        c, s = np.cos(base.yaw_rad), np.sin(base.yaw_rad)
        x, y, z = self.shoulder_base_m
        return np.array([base.x_m + c * x - s * y, base.y_m + s * x + c * y, z])


class ReachSkill(LeggedSkill):
    """Reach out and touch an object with a hand, feet planted (the controller's whole-body QP
    keeps the soles and the balance). "Reach for", not "point at": the goal is checkable
    (touching(hand, object, d) in the simulator) and the hand really gets there; when it cannot
    (the object beyond the arm from where the robot stands) the affordance says so and the
    planner walks first.

    The hand aims at the object's side facing the shoulder, `touch_gap_m` short of its surface
    at its centre's height: first to a point `approach_back_m` short of that and
    `approach_lift_m` higher (over whatever the object stands on), then straight in."""
    info = SkillInfo(name="reach", description="reach out with a hand and touch a small object",
                     text_template="reach for the {object}", arg_names=("object",),
                     arg_kinds=("any",))
    touch_gap_m = 0.035     # hand frame to the surface: its shape (4 cm past it) just touches
    approach_back_m = 0.15
    approach_lift_m = 0.07
    # of the stretched arm (shoulder to hand frame): 0.42 m of 0.50 reached in MuJoCo with the feet
    # planted, 0.45 m tipped the humanoid forward (the soles stay, the CoM margin is used up)
    reach_fraction = 0.86
    speed_mps = 0.2

    def __init__(self, body_front_m: float, clearance_m: float, arms: list[ArmReach]) -> None:
        super().__init__(body_front_m, clearance_m)
        if not arms:
            raise ValueError("reach needs a hand: the profile has no end effector that is not "
                             "a contact")
        self.arms = arms

    def hand_target(self, arm: ArmReach, target: ObjectInfo, base: Pose2D) -> np.ndarray:
        """Where the hand frame goes (odom): before the object's side facing the shoulder."""
        centre = np.asarray(target.position_base_m, dtype=float)
        toward = centre[:2] - arm.shoulder_odom_m(base)[:2]
        toward /= max(float(np.linalg.norm(toward)), 1e-9)
        # centre to the box's side along `toward` (the object's own axes)
        c, s = np.cos(target.yaw_rad), np.sin(target.yaw_rad)
        local = np.abs([c * toward[0] + s * toward[1], -s * toward[0] + c * toward[1]])
        half = 0.5 * np.asarray(target.size_m[:2], dtype=float)
        to_side_m = float(min(h / max(u, 1e-9) for h, u in zip(half, local, strict=True)))
        xy = centre[:2] - (to_side_m + self.touch_gap_m) * toward
        return np.array([xy[0], xy[1], centre[2]])

    def best_arm(self, target: ObjectInfo, base: Pose2D) -> tuple[ArmReach, np.ndarray, float]:
        """The hand whose shoulder is nearest its target point, that point, the distance."""
        options = []
        for arm in self.arms:
            point = self.hand_target(arm, target, base)
            options.append((float(np.linalg.norm(point - arm.shoulder_odom_m(base))), arm, point))
        distance_m, arm, point = min(options, key=lambda o: o[0])
        return arm, point, distance_m

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        ok, why = self.standing(world)
        if not ok:
            return 0.0, why
        target = bound["object"]
        if target.kind == "landmark":
            return 0.0, f"{target.name} is a place on the map, not something to touch"
        arm, _, distance_m = self.best_arm(target, world.base_pose)
        reach_m = self.reach_fraction * arm.length_m
        if distance_m > reach_m:
            return 0.0, (f"{target.name} is {distance_m:.2f} m from the {arm.frame} shoulder, "
                         f"the arm reaches {reach_m:.2f} m: walk closer first")
        score, why = self.target_affordance(target)
        return score, f"{why}, {distance_m:.2f} m from the {arm.frame} shoulder"

    def stages(self, args: dict[str, str], world: WorldSnapshot) -> list[Stage]:
        bound = self.check_args(args, world)
        score, why = self._affordance(bound, world)
        if score <= 0.0:
            raise SkillError(why)
        arm, point, _ = self.best_arm(bound["object"], world.base_pose)
        back = point[:2] - arm.shoulder_odom_m(world.base_pose)[:2]
        back *= self.approach_back_m / max(float(np.linalg.norm(back)), 1e-9)
        approach = np.array([*(point[:2] - back), point[2] + self.approach_lift_m])
        return [Stage(name, tool_pose_base=pin.SE3(np.eye(3), p), frame=arm.frame,
                      orientation_weight=0.0, max_linear_speed_mps=self.speed_mps)
                for name, p in (("approach", approach), ("touch", point))]

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        raise NotImplementedError("stages() needs the robot's pose")


LEGGED_SKILL_TYPES: dict[str, type[LeggedSkill]] = {
    "walk_to": WalkToSkill, "turn": TurnSkill, "stand": StandSkill, "sit": SitSkill,
    "reach": ReachSkill}


def make_legged_skills(names: list[str], profile: dict) -> list[LeggedSkill]:
    walking = profile.get("skill_settings", {})
    body_front_m = float(walking.get("body_front_m", 0.3))
    clearance_m = float(walking.get("clearance_m", 0.1))
    skills: list[LeggedSkill] = []
    for name in names:
        if name == "reach":
            robot = RobotModel.from_profile(profile)
            arms = [ArmReach.from_model(robot, profile, f) for f in reach_frames(profile)]
            skills.append(ReachSkill(body_front_m, clearance_m, arms))
        else:
            skills.append(LEGGED_SKILL_TYPES[name](body_front_m, clearance_m))
    return skills
