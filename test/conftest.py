"""Test-wide setup: ROS on localhost, a private domain, a temp ROS_HOME; no model hub."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Before anything imports rclpy: these decide where DDS discovery looks.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 80))
os.environ.setdefault("ROS_HOME", tempfile.mkdtemp(prefix="vla_test_ros_home_"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MUJOCO_GL", "egl")

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="module")
def robot():
    """The arm's kinematic model (pinocchio) as the controller builds it."""
    from vla_bringup.profile import load_profile
    from vla_controller.robot_model import RobotModel

    profile = load_profile("arm")
    return RobotModel.from_urdf(profile["urdf"], profile["arm_joints"],
                                tool_frame=profile["tool_frame"])
