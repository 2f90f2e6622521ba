"""The sim node's lockstep (max_command_age_s), as a real process over DDS: physics waits while
the controller's newest command is too old in sim time, goes on when commands come, and does not
wait for a controller that has gone silent (LOCKSTEP_GIVE_UP_S). Sim time read from /clock."""

import os
import time

import pytest
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from std_msgs.msg import Float64MultiArray

from ros_stack import spinning
from vla_bringup.launcher import StackProcesses
from vla_bringup.profile import joint_groups, load_profile
from vla_bringup.specs import EXECUTABLES, NodeSpec
from vla_sim.node import LOCKSTEP_GIVE_UP_S

PROFILE = load_profile("quadruped")
MAX_AGE_S = 0.02


class Controller(Node):
    """Stands in for the controller: sends the standing pose when told to."""

    def __init__(self) -> None:
        super().__init__(f"lockstep_controller_{os.getpid()}")
        self.sim_time_s = -1.0
        self.create_subscription(Clock, "/clock", self.on_clock, 10)
        self.pub = self.create_publisher(Float64MultiArray, "/legs_controller/commands", 10)
        joints = joint_groups(PROFILE)["legs"]
        self.standing = [PROFILE["default_joint_positions"][j] for j in joints]

    def on_clock(self, msg: Clock) -> None:
        self.sim_time_s = msg.clock.sec + msg.clock.nanosec * 1e-9

    def command(self) -> None:
        self.pub.publish(Float64MultiArray(data=self.standing))

    def sim_advance_s(self, wall_s: float, command_hz: float = 0.0) -> float:
        """Sim time that passes in wall_s seconds, commanding at command_hz (0: silent)."""
        start, end = self.sim_time_s, time.monotonic() + wall_s
        while time.monotonic() < end:
            if command_hz:
                self.command()
            time.sleep(1.0 / command_hz if command_hz else 0.01)
        return self.sim_time_s - start


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    specs = [NodeSpec("mujoco_sim", *EXECUTABLES["mujoco_sim"],
                      {"robot_profile": "config/robots/quadruped.yaml", "clock_rate_hz": 250.0,
                       "max_command_age_s": MAX_AGE_S})]
    with StackProcesses(specs, tmp_path_factory.mktemp("lockstep"), dict(os.environ)) as stack:
        with spinning(Controller) as node:
            deadline = time.monotonic() + 60.0
            while node.sim_time_s < 0.5 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert node.sim_time_s >= 0.5, stack.log_tail("mujoco_sim")
            yield stack, node

def test_physics_waits_for_a_late_controller_and_goes_on_with_its_commands(sim):
    stack, node = sim
    # commands at 100 Hz (10 ms < MAX_AGE_S apart): sim time runs at about wall speed
    assert node.sim_advance_s(1.0, command_hz=100.0) > 0.6
    # the controller is late: within the give-up time the world waits for it
    paused_s = node.sim_advance_s(0.6 * LOCKSTEP_GIVE_UP_S)
    assert paused_s <= MAX_AGE_S + 0.01, f"sim ran {paused_s:.3f} s without commands"
    # it answers: the world goes on at once
    assert node.sim_advance_s(0.5, command_hz=100.0) > 0.3
    assert not stack.dead()


def test_a_silent_controller_does_not_freeze_the_world(sim):
    stack, node = sim
    node.sim_advance_s(0.3, command_hz=100.0)
    # silent for twice the give-up time: after it, physics runs on (the robot sags, as on a
    # real robot whose controller died; the world is not frozen for whoever is watching)
    assert node.sim_advance_s(2.0 * LOCKSTEP_GIVE_UP_S + 0.5) > 0.3
    assert not stack.dead()
