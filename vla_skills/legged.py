"""Skills for legged robots: walk to a place, turn to face it, stand, lie down, reach for an
object with a hand (humanoid). Planar motion goes to the controller as a body velocity
(/cmd_vel); postures as whole-body posture tasks; a reach as hand frame_pose tasks in odom.

The go-to law (`walk_command`) is pure: the skill server closes the loop on /odom."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pinocchio as pin

from vla_controller.legged import reach_frames
from vla_controller.robot_model import RobotModel
from vla_skills.base import (
    ALREADY_DONE,
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
    # onto a pose (PoseApproach): walk there facing it while farther than near_m, then
    # move-settle-look with constant twists no faster than these; arrived within the tolerances
    near_m: float = 0.5
    pose_max_speed_mps: float = 0.1
    pose_max_yaw_rate_radps: float = 0.3
    pose_min_move_s: float = 1.0
    pose_settle_s: float = 1.0  # at rest this long before looking (the CoM shifts on after a step)
    pose_tolerance_m: float = 0.02
    pose_yaw_tolerance_rad: float = 0.04


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


POSE_LEVER_M = 0.5  # PoseApproach's distance to go: a point this far ahead of the base


class PoseApproach:
    """Brings a stepping base onto a pose (position and heading, odom) to a few centimetres.

    A stepping body sways a few centimetres and degrees each step, so a feedback law on /odom
    chases the sway (measured in MuJoCo: the humanoid stepped the wrong way and fell). Instead:
    far away, walk there facing the goal (walk_command); within near_m, move - settle - look:
    once the body is at rest, one constant twist for a computed time that, followed exactly,
    ends on the goal (a straight line or an arc, turning as it goes), then zero and wait for
    rest again; arrived when at rest within the tolerances. Pure: the caller passes the pose,
    the time and whether the body is at rest (not stepping, not moving)."""

    def __init__(self, goal: Pose2D, limits: WalkLimits) -> None:
        self.goal = goal
        self.limits = limits
        self._move: tuple[np.ndarray, float] | None = None  # twist, until (s)
        self._rest_since_s: float | None = None
        self.moves = 0

    def update(self, pose: Pose2D, t_s: float, at_rest: bool) -> tuple[np.ndarray, float, bool]:
        """(twist in base axes, how far off it still is: m plus the heading error at
        POSE_LEVER_M ahead, arrived)."""
        limits = self.limits
        offset = self.goal.xy_m - pose.xy_m
        distance_m = float(np.linalg.norm(offset))
        yaw_error = wrap_angle(self.goal.yaw_rad - pose.yaw_rad)
        remaining_m = distance_m + POSE_LEVER_M * abs(yaw_error)
        if self._move is not None:
            twist, until_s = self._move
            if t_s < until_s:
                return twist, remaining_m, False
            self._move = None
        elif distance_m > limits.near_m and self.moves == 0:
            return walk_command(pose, self.goal.xy_m, 0.0, limits)[0], remaining_m, False
        if not at_rest:
            self._rest_since_s = None
            return np.zeros(3), remaining_m, False
        if self._rest_since_s is None:
            self._rest_since_s = t_s
        if t_s - self._rest_since_s < limits.pose_settle_s:
            return np.zeros(3), remaining_m, False
        if distance_m < limits.pose_tolerance_m and abs(yaw_error) < limits.pose_yaw_tolerance_rad:
            return np.zeros(3), remaining_m, True
        c, s = np.cos(pose.yaw_rad), np.sin(pose.yaw_rad)
        offset_base = np.array([c * offset[0] + s * offset[1], -s * offset[0] + c * offset[1]])
        duration_s = max(distance_m / limits.pose_max_speed_mps,
                         abs(yaw_error) / limits.pose_max_yaw_rate_radps, limits.pose_min_move_s)
        velocity = arc_velocity(offset_base, yaw_error, duration_s)
        # an arc is longer than its chord: stretch the move to keep the speed
        duration_s *= max(1.0, float(np.linalg.norm(velocity)) / limits.pose_max_speed_mps)
        twist = np.array([*arc_velocity(offset_base, yaw_error, duration_s),
                          yaw_error / duration_s])
        self._move, self._rest_since_s = (twist, t_s + duration_s), None
        self.moves += 1
        return twist, remaining_m, False


def arc_velocity(offset_m: np.ndarray, turn_rad: float, duration_s: float) -> np.ndarray:
    """The constant velocity (in the body's axes) that, turning at turn_rad / duration_s,
    ends ``offset_m`` away (in the start's axes) after duration_s: the offset is the integral
    of R(w t) v over the move."""
    if abs(turn_rad) < 1e-6:
        return np.asarray(offset_m, dtype=float) / duration_s
    w = turn_rad / duration_s
    s, c = np.sin(turn_rad), np.cos(turn_rad)
    M = np.array([[s, -(1.0 - c)], [1.0 - c, s]]) / w
    return np.linalg.solve(M, np.asarray(offset_m, dtype=float))


def footprint_exit_m(obj: ObjectInfo, start_xy_m: np.ndarray, direction_xy: np.ndarray) -> float:
    """How far from ``start_xy_m`` along ``direction_xy`` (a unit vector) the object's footprint
    (its box in its own yaw) ends; 0 when the start is outside it."""
    c, s = np.cos(obj.yaw_rad), np.sin(obj.yaw_rad)
    R = np.array([[c, s], [-s, c]])  # odom -> the object's axes
    start = R @ (np.asarray(start_xy_m, dtype=float) - obj.position_base_m[:2])
    direction = R @ np.asarray(direction_xy, dtype=float)
    half = 0.5 * np.asarray(obj.size_m[:2], dtype=float)
    if np.any(np.abs(start) > half + 1e-9):
        return 0.0
    exits = [(np.sign(d) * h - p) / d for p, d, h in zip(start, direction, half, strict=True)
             if abs(d) > 1e-9]
    return float(min(exits)) if exits else 0.0


def supports(target: ObjectInfo, objects: dict[str, ObjectInfo]) -> list[ObjectInfo]:
    """What the target stands on (a pedestal, a table): objects lower than it whose footprint
    holds its centre. The body must keep clear of them too."""
    below = []
    for other in objects.values():
        if other.name == target.name or other.kind == "landmark":
            continue
        if other.position_base_m[2] >= target.position_base_m[2]:
            continue
        if footprint_exit_m(other, target.position_base_m[:2], np.array([1.0, 0.0])) > 0.0:
            below.append(other)
    return below


class LeggedSkill(Skill):
    def __init__(self, body_front_m: float, clearance_m: float) -> None:
        self.body_front_m = float(body_front_m)
        self.clearance_m = float(clearance_m)

    def stop_distance_m(self, target: ObjectInfo, world: WorldSnapshot | None = None) -> float:
        """Base origin to target centre when the body's front is clearance_m from the target,
        and from what it stands on (with the world: seen from the robot's side)."""
        # the side facing the robot (the half-diagonal would stop a cylinder too far away)
        radius_m = 0.0 if target.kind == "landmark" else float(max(target.size_m[:2])) / 2
        if world is not None and world.base_pose is not None and target.kind != "landmark":
            toward = world.base_pose.xy_m - target.position_base_m[:2]
            toward /= max(float(np.linalg.norm(toward)), 1e-9)
            # where the footprint ends on the way to the robot, when nearer: a box seen from a
            # low camera is measured shallow (its near faces only, the centre biased towards
            # the robot), but its near side is right (yellow box: stopped 0.12 m farther)
            radius_m = min(radius_m, footprint_exit_m(target, target.position_base_m[:2],
                                                      toward))
            for below in supports(target, world.objects):
                radius_m = max(radius_m, footprint_exit_m(below, target.position_base_m[:2],
                                                          toward))
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

    def already_done(self, target: ObjectInfo, world: WorldSnapshot) -> str | None:
        """Why moving relative to the target would change nothing now, or None."""
        return None

    def stages(self, args: dict[str, str], world: WorldSnapshot) -> list[Stage]:
        bound = self.check_args(args, world)
        score, why = self._affordance(bound, world)
        if score <= 0.0:
            raise SkillError(why)
        return self._stages_from(bound, world)

    def _stages_from(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> list[Stage]:
        """The stages, for skills that plan them from where the robot is (default: not)."""
        return self._stages(bound)

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        """Standing, and the target not reached already: known target, remembered one lower."""
        ok, why = self.standing(world)
        if not ok:
            return 0.0, why
        target = bound["target"]
        done = self.already_done(target, world)
        if done is not None:
            return POINTLESS_AFFORDANCE, f"{ALREADY_DONE} {done}"
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

    def already_done(self, target: ObjectInfo, world: WorldSnapshot) -> str | None:
        to_go_m = float(np.linalg.norm(target.position_base_m[:2] - world.base_pose.xy_m)) \
            - self.stop_distance_m(target, world)
        return f"at {target.name} ({to_go_m:+.2f} m)" if to_go_m < 0.15 else None

    def _stages_from(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> list[Stage]:
        target = bound["target"]
        return [Stage("walk", walk_target_xy_m=tuple(target.position_base_m[:2]),
                      stop_distance_m=self.stop_distance_m(target, world))]

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        raise NotImplementedError("walk_to plans from the robot's pose: stages()")


class TurnSkill(LeggedSkill):
    info = SkillInfo(name="turn", description="turn on the spot to face an object or a place",
                     text_template="turn to face the {target}", arg_names=("target",),
                     arg_kinds=("any",))

    def already_done(self, target: ObjectInfo, world: WorldSnapshot) -> str | None:
        error = heading_error(world.base_pose, target.position_base_m[:2])
        return f"facing {target.name}" if abs(error) < 0.25 else None

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
            return POINTLESS_AFFORDANCE, f"{ALREADY_DONE} in posture {self.posture!r}"
        return KNOWN_AFFORDANCE, f"from {world.posture!r} to {self.posture!r}"

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        return [Stage(self.posture, posture=self.posture)]


class StandSkill(PostureSkill):
    posture = "stand"
    info = SkillInfo(name="stand", description="stand up on all legs", text_template="stand up",
                     arg_names=(), arg_kinds=())


class SitSkill(PostureSkill):
    """Posture "sit": what it looks like is the robot's (a quadruped lies down, a humanoid
    squats), so the words the planner sees come from the profile (`skill_settings.sit_text`)."""
    posture = "sit"
    info = SkillInfo(name="sit", description="lie down and rest", text_template="lie down",
                     arg_names=(), arg_kinds=())

    def __init__(self, body_front_m: float, clearance_m: float, text: str = "") -> None:
        super().__init__(body_front_m, clearance_m)
        if text:
            self.info = replace(self.info, description=text, text_template=text)


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


@dataclass(frozen=True)
class ReachSettings:
    """The profile's `skill_settings.reach`: where the robot stands to reach."""
    approach_radius_m: float = 1.0  # it walks to its stance from at most this far
    comfortable_m: float = 0.35     # shoulder to hand it stands for when nothing is in the way
    # of the stretched arm (shoulder to hand frame), the farthest it is sent
    reach_fraction: float = 0.86
    stance_margin_m: float = 0.02   # a stance this far inside the reach is preferred

    @classmethod
    def from_profile(cls, profile: dict) -> ReachSettings:
        values = profile.get("skill_settings", {}).get("reach") or {}
        try:
            settings = cls(**{k: float(v) for k, v in values.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad skill_settings.reach: {exc}") from exc
        if not (settings.approach_radius_m > 0 and settings.comfortable_m > 0
                and 0 < settings.reach_fraction <= 1 and settings.stance_margin_m >= 0):
            raise ValueError(f"skill_settings.reach out of range: {settings}")
        return settings


@dataclass(frozen=True)
class Stance:
    """Where the base stands to reach an object with one hand, and where the hand goes."""
    arm: ArmReach
    base: Pose2D                # odom
    hand_target_m: np.ndarray   # odom
    shoulder_to_hand_m: float
    travel_m: float             # from where the robot is (a turn counted at TURN_LEVER_M)


class ReachSkill(LeggedSkill):
    """Reach out and touch an object with a hand, feet planted (the controller's whole-body QP
    keeps the soles and the balance). "Reach for", not "point at": the goal is checkable
    (touching(hand, object, d) in the simulator) and the hand really gets there.

    First the robot steps onto a stance (`plan_stance`): facing the object with the chosen arm's
    shoulder straight behind it, as close as the body may come to the object and to what it
    stands on (body_front_m + clearance_m), or farther back if the hand would be nearer the
    shoulder than `comfortable_m`. The affordance says whether such a stance exists within the
    arm's reach (not for an object too high, too low or too far in over its support) and
    whether it is a short approach (`approach_radius_m`); farther away the planner walks first.

    The hand aims at the object's side facing the shoulder, `touch_gap_m` short of its surface
    at its centre's height: first to a point `approach_back_m` short of that and
    `approach_lift_m` higher (over whatever the object stands on), then straight in."""
    info = SkillInfo(name="reach", description="reach out with a hand and touch a small object",
                     text_template="reach for the {object}", arg_names=("object",),
                     arg_kinds=("any",))
    touch_gap_m = 0.035     # hand frame to the surface: its shape (4 cm past it) just touches
    approach_back_m = 0.15
    approach_lift_m = 0.07
    speed_mps = 0.2
    TURN_LEVER_M = 0.3      # stance travel: turning 1 rad counts like walking this far

    def __init__(self, body_front_m: float, clearance_m: float, arms: list[ArmReach],
                 settings: ReachSettings | None = None) -> None:
        super().__init__(body_front_m, clearance_m)
        if not arms:
            raise ValueError("reach needs a hand: the profile has no end effector that is not "
                             "a contact")
        self.arms = arms
        self.settings = settings or ReachSettings()

    def reach_m(self, arm: ArmReach) -> float:
        return self.settings.reach_fraction * arm.length_m

    def stance_at(self, arm: ArmReach, target: ObjectInfo, in_the_way: list[ObjectInfo],
                  heading_rad: float, now: Pose2D) -> Stance:
        """The stance facing ``heading_rad`` with the arm's shoulder straight behind the object
        (horizontally), kept clear of the object and of ``in_the_way`` (what it stands on)."""
        toward = np.array([np.cos(heading_rad), np.sin(heading_rad)])  # shoulder -> object
        centre = np.asarray(target.position_base_m, dtype=float)
        to_side_m = footprint_exit_m(target, centre[:2], -toward)
        hand_m = np.array([*(centre[:2] - (to_side_m + self.touch_gap_m) * toward), centre[2]])
        shoulder_x, shoulder_y, shoulder_z = arm.shoulder_base_m
        rise_m = centre[2] - shoulder_z
        # horizontal shoulder -> object centre: the body's front clearance_m off whatever
        # sticks out farthest toward it along the shoulder's line ...
        in_way_m = max(footprint_exit_m(o, centre[:2], -toward) for o in [target, *in_the_way])
        closest_m = in_way_m + self.body_front_m + self.clearance_m - shoulder_x
        # ... or farther, when the hand would be closer than comfortable
        comfortable_m = to_side_m + self.touch_gap_m + np.sqrt(
            max(self.settings.comfortable_m ** 2 - rise_m ** 2, 0.0))
        along_m = max(closest_m, comfortable_m)
        c, s = toward
        base_xy = centre[:2] - along_m * toward - np.array([c * shoulder_x - s * shoulder_y,
                                                            s * shoulder_x + c * shoulder_y])
        base = Pose2D(float(base_xy[0]), float(base_xy[1]), wrap_angle(heading_rad))
        travel_m = float(np.linalg.norm(base_xy - now.xy_m)) + self.TURN_LEVER_M * abs(
            wrap_angle(heading_rad - now.yaw_rad))
        return Stance(arm, base, hand_m,
                      float(np.hypot(along_m - to_side_m - self.touch_gap_m, rise_m)), travel_m)

    def headings(self, arm: ArmReach, boxes: list[ObjectInfo], now: Pose2D) -> list[float]:
        """Stance headings worth trying: the one that lines this arm's shoulder up with the
        object from where the robot is (the least walking), and square to each side of the
        object's and its support's boxes that faces the robot's side (the least reaching in)."""
        centre = boxes[0].position_base_m[:2]
        offset = centre - now.xy_m
        distance_m = float(np.linalg.norm(offset))
        bearing = float(np.arctan2(offset[1], offset[0]))
        lateral_m = float(arm.shoulder_base_m[1])
        headings = [bearing - float(np.arcsin(lateral_m / distance_m))
                    if distance_m > abs(lateral_m) else now.yaw_rad]
        for box in boxes:
            for quarter in range(4):
                heading = wrap_angle(box.yaw_rad + quarter * np.pi / 2)
                if abs(wrap_angle(heading - bearing)) < np.pi / 2 - 1e-6:
                    headings.append(heading)
        return headings

    def plan_stance(self, target: ObjectInfo, world: WorldSnapshot) -> Stance:
        """The best stance for the best arm: among those within the reach with the margin to
        spare, the least travel; else among the least reaching (to a few mm), the least travel.
        SkillError (with the measured reason) when the object is beyond every arm from every
        stance."""
        if target.kind == "landmark":
            raise SkillError(f"{target.name} is a place on the map, not something to touch")
        in_the_way = supports(target, world.objects)
        options = [self.stance_at(arm, target, in_the_way, heading, world.base_pose)
                   for arm in self.arms
                   for heading in self.headings(arm, [target, *in_the_way], world.base_pose)]
        feasible = [o for o in options if o.shoulder_to_hand_m <= self.reach_m(o.arm)]
        if not feasible:
            best = min(options, key=lambda o: o.shoulder_to_hand_m - self.reach_m(o.arm))
            rise_m = float(target.position_base_m[2] - best.arm.shoulder_base_m[2])
            reach_m = self.reach_m(best.arm)
            if abs(rise_m) > reach_m:
                where, too = ("above", "high") if rise_m > 0 else ("below", "low")
                raise SkillError(f"{target.name} is {abs(rise_m):.2f} m {where} the shoulders, "
                                 f"the arm reaches {reach_m:.2f} m: too {too} to reach from "
                                 "anywhere")
            raise SkillError(f"{target.name} is out of reach from anywhere the body fits: "
                             f"{best.shoulder_to_hand_m:.2f} m from the {best.arm.frame} shoulder "
                             f"at best, the arm reaches {reach_m:.2f} m")
        roomy = [o for o in feasible
                 if o.shoulder_to_hand_m <= self.reach_m(o.arm) - self.settings.stance_margin_m]
        if not roomy:
            def excess_m(o: Stance) -> float:
                return o.shoulder_to_hand_m - self.reach_m(o.arm)
            least_m = min(excess_m(o) for o in feasible)
            roomy = [o for o in feasible if excess_m(o) < least_m + 0.005]
        return min(roomy, key=lambda o: o.travel_m)

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        ok, why = self.standing(world)
        if not ok:
            return 0.0, why
        target = bound["object"]
        try:
            stance = self.plan_stance(target, world)
        except SkillError as exc:
            return 0.0, str(exc)
        walk_m = float(np.linalg.norm(stance.base.xy_m - world.base_pose.xy_m))
        if walk_m > self.settings.approach_radius_m:
            return 0.0, (f"{target.name}: the {stance.arm.frame} reaches it from {walk_m:.2f} m "
                         f"away, more than a {self.settings.approach_radius_m:.2f} m approach: "
                         "walk closer first")
        score, why = self.target_affordance(target)
        return score, (f"{why}; a {walk_m:.2f} m approach, then "
                       f"{stance.shoulder_to_hand_m:.2f} m from the {stance.arm.frame} shoulder")

    def _stages_from(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> list[Stage]:
        stance = self.plan_stance(bound["object"], world)
        point = stance.hand_target_m
        back = point[:2] - stance.arm.shoulder_odom_m(stance.base)[:2]
        back *= self.approach_back_m / max(float(np.linalg.norm(back)), 1e-9)
        approach = np.array([*(point[:2] - back), point[2] + self.approach_lift_m])
        base = stance.base
        return [Stage("stance", stand_at=(base.x_m, base.y_m, base.yaw_rad)),
                *(Stage(name, tool_pose_base=pin.SE3(np.eye(3), p), frame=stance.arm.frame,
                        orientation_weight=0.0, max_linear_speed_mps=self.speed_mps)
                  for name, p in (("approach", approach), ("touch", point)))]

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        raise NotImplementedError("reach plans from the robot's pose: stages()")


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
            skills.append(ReachSkill(body_front_m, clearance_m, arms,
                                     ReachSettings.from_profile(profile)))
        elif name == "sit":
            skills.append(SitSkill(body_front_m, clearance_m, str(walking.get("sit_text", ""))))
        else:
            skills.append(LEGGED_SKILL_TYPES[name](body_front_m, clearance_m))
    return skills
