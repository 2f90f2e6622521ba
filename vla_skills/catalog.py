"""Every skill this package offers, by name: the skill server builds the ones a profile lists."""

import numpy as np

from vla_controller.robot_model import RobotModel
from vla_skills.base import Skill
from vla_skills.legged import LEGGED_SKILL_TYPES, make_legged_skills
from vla_skills.manipulation import SKILL_TYPES as ARM_SKILL_TYPES

KNOWN_SKILLS = sorted([*ARM_SKILL_TYPES, *LEGGED_SKILL_TYPES])


def make_skills(names: list[str], profile: dict) -> list[Skill]:
    """The named skills for a robot profile, in order; ValueError for unknown names."""
    unknown = [n for n in names if n not in ARM_SKILL_TYPES and n not in LEGGED_SKILL_TYPES]
    if unknown:
        raise ValueError(f"unknown skills {unknown}; known: {KNOWN_SKILLS}")
    skills: dict[str, Skill] = {}
    arm_names = [n for n in names if n in ARM_SKILL_TYPES]
    if arm_names:  # the arm's IK model checks reachability
        robot = RobotModel.from_urdf(profile["urdf"], list(profile["arm_joints"]),
                                     base_frame=profile["base_frame"],
                                     tool_frame=profile["tool_frame"])
        home_q = np.asarray(profile["home_joint_positions"])
        for name in arm_names:
            skills[name] = ARM_SKILL_TYPES[name](robot, home_q, float(profile["gripper_open_m"]),
                                                 float(profile["gripper_closed_m"]))
    legged_names = [n for n in names if n in LEGGED_SKILL_TYPES]
    for skill in make_legged_skills(legged_names, profile):
        skills[skill.info.name] = skill
    return [skills[n] for n in names]
