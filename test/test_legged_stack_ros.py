"""The quadruped through the real stack: MuJoCo node, legged controller and skill server as
processes over DDS. The emergency stop makes it stand still whatever /cmd_vel says, until reset;
then /cmd_vel starts the gait; a silent commander (no /cmd_vel) brings it back to standing;
hostile /cmd_vel, /odom, /imu and /wbc/target messages never kill the controller (nor the skill
server, which takes /odom). Judged in sim time from /odom.
(Walking metres and turning are tested in-process in test_quadruped_gait.py.)
"""

import math
import os
import time

import numpy as np
import pytest
from geometry_msgs.msg import Twist
from hypothesis import HealthCheck, given, settings
from nav_msgs.msg import Odometry
from rclpy.node import Node
from ros_fuzz import ros_message
from sensor_msgs.msg import Imu
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from ros_stack import spinning
from vla_bringup.commander import wait_for
from vla_bringup.launcher import StackProcesses
from vla_bringup.specs import stack_specs
from vla_stack.msg import WholeBodyState, WholeBodyTarget
from vla_stack.srv import QueryAffordance

NODES = ("mujoco_sim", "wbc_controller", "legged_skills")   # skills: /odom is fuzzed too


class Driver(Node):
    def __init__(self) -> None:
        super().__init__(f"legged_driver_{os.getpid()}")
        self.odom: Odometry | None = None
        self.state: WholeBodyState | None = None
        self.create_subscription(Odometry, "/odom", lambda m: setattr(self, "odom", m), 10)
        self.create_subscription(WholeBodyState, "/wbc/state",
                                 lambda m: setattr(self, "state", m), 10)
        self.cmd_pub = self.create_publisher(Twist, "/cmd_vel", 10)
        self.estop_pub = self.create_publisher(Bool, "/emergency_stop", 10)
        self.reset_client = self.create_client(Trigger, "/emergency_stop/reset")

    @property
    def t_s(self) -> float:
        stamp = self.odom.header.stamp
        return stamp.sec + stamp.nanosec * 1e-9

    @property
    def xy(self) -> np.ndarray:
        p = self.odom.pose.pose.position
        return np.array([p.x, p.y])

    @property
    def tilt_deg(self) -> float:
        q = self.odom.pose.pose.orientation
        return math.degrees(math.acos(min(1.0, 1.0 - 2.0 * (q.x * q.x + q.y * q.y))))

    @property
    def speed_mps(self) -> float:
        v = self.odom.twist.twist.linear
        return math.hypot(v.x, v.y)

    def drive(self, vx: float, sim_s: float, wz: float = 0.0) -> None:
        """Publish /cmd_vel at 20 Hz (wall) for sim_s seconds of sim time."""
        end = self.t_s + sim_s
        while self.t_s < end:
            msg = Twist()
            msg.linear.x, msg.angular.z = vx, wz
            self.cmd_pub.publish(msg)
            time.sleep(0.05)

    def wait_sim(self, sim_s: float) -> None:
        end = self.t_s + sim_s
        while self.t_s < end:
            time.sleep(0.02)


@pytest.fixture(scope="module")
def quadruped(tmp_path_factory):
    specs = [s for s in stack_specs("quadruped") if s.name in NODES]
    with StackProcesses(specs, tmp_path_factory.mktemp("quadruped"), dict(os.environ)) as stack:
        with spinning(Driver) as node:
            deadline = time.monotonic() + 60.0
            while time.monotonic() < deadline and (node.odom is None or node.state is None):
                time.sleep(0.1)
            assert node.odom is not None and node.state is not None, stack.log_tail(
                "wbc_controller")
            node.wait_sim(1.0)
            yield stack, node

def test_estop_stands_it_still_until_reset_then_cmd_vel_walks_and_silence_stops(quadruped):
    stack, node = quadruped
    node.estop_pub.publish(Bool(data=True))
    node.wait_sim(0.5)
    start = node.xy
    node.drive(0.3, sim_s=3.0)  # ignored while stopped
    moved_m = float(np.linalg.norm(node.xy - start))
    assert moved_m < 0.05 and node.tilt_deg < 10.0, f"moved {moved_m:.2f} m during the e-stop"
    assert node.state.mode.startswith("estop")
    assert node.reset_client.wait_for_service(timeout_sec=10.0)
    future = node.reset_client.call_async(Trigger.Request())
    assert wait_for(future, 10.0) and future.result().success
    start = node.xy
    node.drive(0.3, sim_s=1.5)
    assert node.state.mode == "walking" and node.xy[0] - start[0] > 0.1, \
        (node.state.mode, node.xy - start)
    # the commander goes silent: after the /cmd_vel timeout (0.5 s) the gait stands still
    node.wait_sim(2.5)
    assert node.state.mode == "stand" and node.speed_mps < 0.1, (node.state.mode,
                                                                 node.speed_mps)
    assert not stack.dead()
    print(f"\nRELIABILITY legged e-stop with /cmd_vel 0.3 m/s for 3 s: moved "
          f"{moved_m * 100:.1f} cm, upright; after reset /cmd_vel walks "
          f"({node.xy[0] - start[0]:.2f} m in 1.5 s); silent commander -> standing within 2.5 s")


@pytest.mark.parametrize("topic,msg_type", [("/cmd_vel", Twist), ("/odom", Odometry),
                                            ("/imu", Imu), ("/wbc/target", WholeBodyTarget)])
def test_fuzzed_inputs_never_kill_the_legged_controller(quadruped, topic, msg_type):
    stack, node = quadruped
    publisher = node.create_publisher(msg_type, topic, 10)
    sent = [0]

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(ros_message(msg_type))
    def publish(msg):
        publisher.publish(msg)
        sent[0] += 1
        time.sleep(0.01)

    publish()
    node.destroy_publisher(publisher)
    node.wait_sim(1.0)
    since = node.state.header.stamp
    node.wait_sim(0.5)
    assert not stack.dead(), stack.log_tail("wbc_controller") + stack.log_tail("legged_skills")
    assert node.state.header.stamp != since, "the controller went quiet"
    affordance = node.create_client(QueryAffordance, "/skills/turn/affordance")
    future = affordance.call_async(QueryAffordance.Request())
    assert wait_for(future, 20.0), "the skill server does not answer"
    node.destroy_client(affordance)
    print(f"\nRELIABILITY fuzz legged controller and skill server {topic}: {sent[0]} messages, "
          f"alive")
