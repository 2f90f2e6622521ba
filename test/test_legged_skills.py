"""Legged skills without ROS: the go-to and turn laws, affordances from the robot's state."""

import numpy as np
import pytest

from vla_bringup.profile import load_profile
from vla_skills.base import ObjectInfo, Pose2D, SkillError, WorldSnapshot
from vla_skills.catalog import make_skills
from vla_skills.legged import (
    KNOWN_AFFORDANCE,
    POINTLESS_AFFORDANCE,
    WalkLimits,
    turn_command,
    walk_command,
)

CONE = ObjectInfo("red_cylinder", "graspable", np.array([3.0, 1.0, 0.2]),
                  np.array([0.25, 0.25, 0.4]))
DOOR = ObjectInfo("doorway", "landmark", np.array([4.5, 2.0, 0.0]), np.zeros(3))


def simulate(pose: Pose2D, target, stop_m: float, limits: WalkLimits, steps: int = 2000,
             dt_s: float = 0.05) -> tuple[Pose2D, float]:
    """Integrate a unicycle that follows walk_command exactly."""
    left = np.inf
    for _ in range(steps):
        twist, left = walk_command(pose, target, stop_m, limits)
        if left < limits.arrive_tolerance_m:
            break
        yaw = pose.yaw_rad + twist[2] * dt_s
        pose = Pose2D(pose.x_m + twist[0] * np.cos(yaw) * dt_s,
                      pose.y_m + twist[0] * np.sin(yaw) * dt_s, yaw)
    return pose, left


@pytest.mark.parametrize("start_yaw", [0.0, 1.5, np.pi, -2.5])
def test_walk_command_arrives_facing_the_target_from_any_heading(start_yaw):
    limits = WalkLimits()
    pose, left = simulate(Pose2D(0.0, 0.0, start_yaw), np.array([3.0, 1.0]), 0.5, limits)
    assert left < limits.arrive_tolerance_m
    distance = np.hypot(3.0 - pose.x_m, 1.0 - pose.y_m)
    assert 0.5 <= distance < 0.5 + limits.arrive_tolerance_m + 0.01
    assert abs(np.arctan2(1.0 - pose.y_m, 3.0 - pose.x_m) - pose.yaw_rad) < 0.1


def test_walk_command_turns_before_walking_and_respects_limits():
    limits = WalkLimits(max_speed_mps=0.3, max_yaw_rate_radps=0.5)
    twist, left = walk_command(Pose2D(0, 0, np.pi), np.array([5.0, 0.0]), 0.4, limits)
    assert twist[0] == pytest.approx(0.0, abs=1e-6)  # facing away: turn on the spot
    assert abs(twist[2]) == pytest.approx(0.5)
    assert left == pytest.approx(4.6)
    twist, _ = walk_command(Pose2D(0, 0, 0), np.array([5.0, 0.0]), 0.4, limits)
    assert twist[0] == pytest.approx(0.3) and twist[2] == pytest.approx(0.0)


def test_turn_command_sign_and_error():
    twist, error = turn_command(Pose2D(0, 0, 0), np.array([0.0, 2.0]), WalkLimits())
    assert error == pytest.approx(np.pi / 2) and twist[2] > 0 and twist[0] == 0


def test_legged_affordances_follow_posture_distance_and_heading():
    walk, turn, stand, sit = make_skills(["walk_to", "turn", "stand", "sit"],
                                         load_profile("quadruped"))
    far = WorldSnapshot(objects={"red_cylinder": CONE, "doorway": DOOR},
                        base_pose=Pose2D(0, 0, 0), posture="stand")
    assert walk.affordance({"target": "red_cylinder"}, far)[0] == KNOWN_AFFORDANCE
    assert walk.affordance({"target": "doorway"}, far)[0] == KNOWN_AFFORDANCE
    assert walk.affordance({"target": "purple_cube"}, far)[0] == 0.0
    assert turn.affordance({"target": "red_cylinder"}, far)[0] == KNOWN_AFFORDANCE
    assert stand.affordance({}, far)[0] == POINTLESS_AFFORDANCE
    assert sit.affordance({}, far)[0] == KNOWN_AFFORDANCE
    # arrived, facing it: walking or turning again is pointless
    stop_m = walk.stop_distance_m(CONE)
    near = WorldSnapshot(objects={"red_cylinder": CONE},
                         base_pose=Pose2D(3.0 - stop_m, 1.0, 0.0), posture="stand")
    assert walk.affordance({"target": "red_cylinder"}, near)[0] == POINTLESS_AFFORDANCE
    assert turn.affordance({"target": "red_cylinder"}, near)[0] == POINTLESS_AFFORDANCE
    # lying down: no walking until it stands
    lying = WorldSnapshot(objects={"red_cylinder": CONE}, base_pose=Pose2D(0, 0, 0),
                          posture="sit")
    score, why = walk.affordance({"target": "red_cylinder"}, lying)
    assert score == 0.0 and "stand up first" in why
    assert stand.affordance({}, lying)[0] == KNOWN_AFFORDANCE
    # fallen over: nothing is possible
    fallen = WorldSnapshot(objects={"red_cylinder": CONE}, base_pose=Pose2D(0, 0, 0),
                           upright=False)
    for skill, args in ((walk, {"target": "red_cylinder"}), (turn, {"target": "red_cylinder"}),
                        (stand, {}), (sit, {})):
        assert skill.affordance(args, fallen) == (0.0, "the robot has fallen over")
    # no odometry: nothing is possible
    blind = WorldSnapshot(objects={"red_cylinder": CONE})
    assert walk.affordance({"target": "red_cylinder"}, blind)[0] == 0.0
    with pytest.raises(SkillError):
        walk.stages({"target": "red_cylinder"}, lying)
    (stage,) = walk.stages({"target": "red_cylinder"}, far)
    assert stage.walk_target_xy_m == (3.0, 1.0) and stage.stop_distance_m == stop_m


def test_stop_distance_keeps_the_body_clear_of_the_target():
    walk = make_skills(["walk_to"], load_profile("quadruped"))[0]
    radius = 0.25 / 2
    assert walk.stop_distance_m(CONE) == pytest.approx(radius + walk.body_front_m +
                                                       walk.clearance_m)
    assert walk.stop_distance_m(DOOR) == pytest.approx(walk.body_front_m + walk.clearance_m)
    # the default goal is near(robot, red_cone, 0.5): the walk must end inside it
    assert walk.stop_distance_m(CONE) < 0.5 - WalkLimits().arrive_tolerance_m
