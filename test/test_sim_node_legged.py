"""The MuJoCo and perception nodes with a floating-base robot, as real processes over DDS: /odom
and /imu from the base, one forward-command input per joint group, bad commands refused without a
crash, objects perceived from the body camera and reported in the odom frame."""

import os

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float64MultiArray

from ros_stack import spinning, wait_until
from vla_bringup.launcher import StackProcesses
from vla_bringup.profile import load_profile, resolve_path
from vla_bringup.specs import EXECUTABLES, NodeSpec
from vla_sim.scene import load_scene
from vla_stack.msg import SceneObjects

PROFILE = "config/robots/quadruped.yaml"


class Listener(Node):
    def __init__(self) -> None:
        super().__init__(f"legged_sim_listener_{os.getpid()}")
        self.odom: Odometry | None = None
        self.imu: Imu | None = None
        self.joints: JointState | None = None
        self.objects: SceneObjects | None = None
        self.create_subscription(SceneObjects, "/perception/objects",
                                 lambda m: setattr(self, "objects", m), 10)
        self.create_subscription(Odometry, "/odom", lambda m: setattr(self, "odom", m), 10)
        self.create_subscription(Imu, "/imu", lambda m: setattr(self, "imu", m), 10)
        self.create_subscription(JointState, "/joint_states",
                                 lambda m: setattr(self, "joints", m), 10)
        self.legs_pub = self.create_publisher(Float64MultiArray, "/legs_controller/commands", 10)

    def wait(self, predicate, timeout_s: float = 30.0) -> bool:
        return wait_until(predicate, timeout_s, poll_s=0.05)


@pytest.fixture(scope="module")
def legged_sim(tmp_path_factory):
    specs = [NodeSpec("mujoco_sim", *EXECUTABLES["mujoco_sim"],
                      {"robot_profile": PROFILE, "clock_rate_hz": 100.0}),
             NodeSpec("perception", *EXECUTABLES["perception"],
                      {"robot_profile": PROFILE, "use_sim_time": True})]
    with StackProcesses(specs, tmp_path_factory.mktemp("legged_sim"), dict(os.environ)) as stack:
        with spinning(Listener) as node:
            # settled on its feet: 1.5 s of sim time after the start
            assert node.wait(lambda: node.odom is not None and node.imu is not None
                             and node.imu.header.stamp.sec + node.imu.header.stamp.nanosec * 1e-9
                             >= 1.5), stack.log_tail("mujoco_sim")
            yield stack, node

def test_odom_and_imu_describe_a_standing_base(legged_sim):
    _, node = legged_sim
    profile = load_profile(resolve_path(PROFILE))
    odom, imu = node.odom, node.imu
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", profile["base_frame"])
    assert odom.pose.pose.position.z == pytest.approx(profile["base_height_m"], abs=0.05)
    q = odom.pose.pose.orientation
    assert np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0, abs=1e-6)
    assert abs(q.w) > 0.99  # level
    # standing still: the accelerometer feels gravity up, the gyro next to nothing
    a = imu.linear_acceleration
    assert a.z == pytest.approx(9.81, abs=1.0) and abs(a.x) < 1.5 and abs(a.y) < 1.5
    w = imu.angular_velocity
    assert np.linalg.norm([w.x, w.y, w.z]) < 0.5
    assert imu.header.frame_id == profile["base_frame"]


def test_perception_reports_field_objects_in_the_odom_frame(legged_sim):
    stack, node = legged_sim
    profile = load_profile(resolve_path(PROFILE))
    scene = load_scene(resolve_path(profile["default_scene"]))
    assert node.wait(lambda: node.objects is not None and len(node.objects.objects) >= 2, 30.0), \
        stack.log_tail("perception")
    assert node.objects.header.frame_id == "odom"
    seen = {o.name: o for o in node.objects.objects}
    # the robot faces +x: the red cone (a cylinder) ahead-left is in view; compare with the
    # scene file, not with the simulator's state (perception never reads ground truth)
    cone = next(o for o in scene.objects if o.name == "red_cone")
    assert "red_cylinder" in seen, sorted(seen)
    p = seen["red_cylinder"].pose.position
    assert np.hypot(p.x - cone.position_m[0], p.y - cone.position_m[1]) < 0.1


def test_leg_group_commands_move_the_robot_and_bad_ones_are_refused(legged_sim):
    stack, node = legged_sim
    profile = load_profile(resolve_path(PROFILE))
    legs = profile["joint_groups"]["legs"]
    stand = np.array([profile["default_joint_positions"][j] for j in legs])
    crouch = stand.copy()
    for i, name in enumerate(legs):  # deeper knees: the trunk sinks
        if name.endswith("thigh_joint"):
            crouch[i] += 0.35
        elif name.endswith("calf_joint"):
            crouch[i] -= 0.7
    z_stand = node.odom.pose.pose.position.z
    for bad in ([0.1] * 5, [float("nan")] * len(legs), [1e9] * 10_000):
        node.legs_pub.publish(Float64MultiArray(data=bad))
    node.legs_pub.publish(Float64MultiArray(data=crouch.tolist()))
    assert node.wait(lambda: node.odom.pose.pose.position.z < z_stand - 0.04, 20.0), \
        f"base stayed at {node.odom.pose.pose.position.z:.3f} m (stand {z_stand:.3f} m)"
    assert not stack.dead(), stack.log_tail("mujoco_sim")
    assert "refused" in stack.log_tail("mujoco_sim", 50)
