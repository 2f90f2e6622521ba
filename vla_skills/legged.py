"""Skills for legged robots: walk to a place, turn to face it, stand, lie down. Planar motion
goes to the controller as a body velocity (/cmd_vel); postures as whole-body posture tasks.

The go-to law (`walk_command`) is pure: the skill server closes the loop on /odom."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_skills.base import ObjectInfo, Pose2D, Skill, SkillInfo, Stage, WorldSnapshot

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
        if world.posture != "stand":
            return False, f"the robot is in posture {world.posture!r}: stand up first"
        return True, "standing"

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

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        ok, why = self.standing(world)
        if not ok:
            return 0.0, why
        target = bound["target"]
        to_go_m = float(np.linalg.norm(target.position_base_m[:2] - world.base_pose.xy_m)) \
            - self.stop_distance_m(target)
        if to_go_m < 0.15:
            return POINTLESS_AFFORDANCE, f"already at {target.name} ({to_go_m:+.2f} m)"
        return self.target_affordance(target)

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        target = bound["target"]
        return [Stage("walk", walk_target_xy_m=tuple(target.position_base_m[:2]),
                      stop_distance_m=self.stop_distance_m(target))]


class TurnSkill(LeggedSkill):
    info = SkillInfo(name="turn", description="turn on the spot to face an object or a place",
                     text_template="turn to face the {target}", arg_names=("target",),
                     arg_kinds=("any",))

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        ok, why = self.standing(world)
        if not ok:
            return 0.0, why
        target = bound["target"]
        error = heading_error(world.base_pose, target.position_base_m[:2])
        if abs(error) < 0.25:
            return POINTLESS_AFFORDANCE, f"already facing {target.name}"
        return self.target_affordance(target)

    def _stages(self, bound: dict[str, ObjectInfo]) -> list[Stage]:
        return [Stage("turn", face_xy_m=tuple(bound["target"].position_base_m[:2]))]


class PostureSkill(LeggedSkill):
    posture = ""

    def _affordance(self, bound: dict[str, ObjectInfo], world: WorldSnapshot) -> tuple[float, str]:
        if world.base_pose is None:
            return 0.0, "no odometry yet"
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


LEGGED_SKILL_TYPES: dict[str, type[LeggedSkill]] = {
    "walk_to": WalkToSkill, "turn": TurnSkill, "stand": StandSkill, "sit": SitSkill}


def make_legged_skills(names: list[str], profile: dict) -> list[LeggedSkill]:
    walking = profile.get("skill_settings", {})
    body_front_m = float(walking.get("body_front_m", 0.3))
    clearance_m = float(walking.get("clearance_m", 0.1))
    return [LEGGED_SKILL_TYPES[n](body_front_m, clearance_m) for n in names]
