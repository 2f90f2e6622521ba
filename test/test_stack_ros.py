"""The arm stack's nodes over real DDS: registry, affordances, a skill action with feedback and
cancel, rejection of unknown objects/skills, and bad input that must not move the robot."""

import math
import time

import numpy as np
import pytest
from rclpy.action import ActionClient
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from ros_stack import running_stack
from vla_bringup.commander import wait_for
from vla_stack.action import ExecuteSkill
from vla_stack.msg import SkillCall, WholeBodyState, WholeBodyTarget, WholeBodyTask
from vla_stack.srv import QueryAffordance

NODES = {"mujoco_sim", "wbc_controller", "perception", "arm_skills"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("logs"), NODES) as (processes, commander):
        yield processes, commander


class Watch:
    """Latest /joint_states and /wbc/state, as a test sees them."""

    def __init__(self, commander):
        self.joints: JointState | None = None
        self.wbc: WholeBodyState | None = None
        commander.create_subscription(JointState, "/joint_states", self._joints, 10)
        commander.create_subscription(WholeBodyState, "/wbc/state", self._wbc, 10)

    def _joints(self, msg):
        self.joints = msg

    def _wbc(self, msg):
        self.wbc = msg

    def q(self) -> np.ndarray:
        deadline = time.monotonic() + 5.0
        while self.joints is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return np.array(self.joints.position)

    def arm_moved_rad(self, q_before: np.ndarray) -> float:
        """Largest arm-joint change since q_before (the 7 arm joints; fingers excluded)."""
        return float(np.max(np.abs(self.q()[:7] - q_before[:7])))


@pytest.fixture(scope="module")
def watch(stack):
    return Watch(stack[1])


def call(skill: str, **args) -> SkillCall:
    return SkillCall(skill=skill, arg_names=list(args), arg_values=list(args.values()))


def query(commander, skill: str, calls: list[SkillCall]) -> QueryAffordance.Response:
    client = commander.create_client(QueryAffordance, f"/skills/{skill}/affordance")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(QueryAffordance.Request(calls=calls))
    assert wait_for(future, 20.0)
    return future.result()


def send(commander, skill: str, goal_call: SkillCall, feedback: list | None = None):
    client = ActionClient(commander, ExecuteSkill, f"/skills/{skill}/execute")
    assert client.wait_for_server(timeout_sec=10.0)
    future = client.send_goal_async(
        ExecuteSkill.Goal(call=goal_call),
        feedback_callback=(lambda m: feedback.append(m.feedback)) if feedback is not None
        else None)
    assert wait_for(future, 10.0)
    return future.result()


def test_registry_announces_skills_with_templates(stack):
    _, commander = stack
    assert {"pick", "place"} <= set(commander.skills)
    pick = commander.skills["pick"]
    assert pick.text_template == "pick up the {object}"
    assert list(pick.arg_kinds) == ["graspable"]
    assert pick.action_name == "/skills/pick/execute" and pick.provider.endswith("arm_skills")


def test_perception_reports_scene_objects(stack):
    _, commander = stack
    names = {o.name for o in commander.objects.objects}
    assert {"red_cube", "green_cube", "yellow_cube", "blue_bin"} <= names
    assert commander.objects.header.frame_id == "base_link"


def test_affordances_follow_the_robot_state(stack):
    _, commander = stack
    res = query(commander, "pick", [call("pick", object="red_cube"),
                                    call("pick", object="blue_bin"),
                                    call("pick", object="purple_cube")])
    assert res.affordances[0] > 0.5, res.reasons[0]
    assert res.affordances[1] == 0.0 and "container" in res.reasons[1]
    assert res.affordances[2] == 0.0 and "unknown object" in res.reasons[2]
    res = query(commander, "place", [call("place", object="red_cube", container="blue_bin")])
    assert res.affordances[0] == 0.0 and "not holding" in res.reasons[0]


def test_unknown_object_and_skill_are_rejected_without_motion(stack, watch):
    _, commander = stack
    q_before = watch.q()
    assert not send(commander, "pick", call("pick", object="purple_cube")).accepted
    assert not send(commander, "pick", call("fly", object="red_cube")).accepted
    assert not send(commander, "pick", SkillCall(skill="pick", arg_names=["object"],
                                                 arg_values=[])).accepted
    time.sleep(1.0)
    assert watch.arm_moved_rad(q_before) < math.radians(0.5)


def test_bad_wbc_targets_are_rejected_and_the_arm_holds(stack, watch):
    _, commander = stack
    publisher = commander.create_publisher(WholeBodyTarget, "/wbc/target", 10)
    q_before = watch.q()
    cases = {}
    nan_task = WholeBodyTask(name="nan_task", type="frame_pose", frame="tool0",
                             position_weight=1.0, orientation_weight=1.0)
    nan_task.target_pose.position.x = float("nan")
    nan_task.target_pose.orientation.w = 1.0
    cases["nan_task"] = nan_task
    cases["bad_frame"] = WholeBodyTask(name="bad_frame", type="frame_pose", frame="no_such",
                                       position_weight=1.0)
    cases["bad_frame"].target_pose.orientation.w = 1.0
    cases["bad_type"] = WholeBodyTask(name="bad_type", type="teleport")
    cases["bad_joints"] = WholeBodyTask(name="bad_joints", type="joint_position",
                                        joint_names=["arm_joint_1"])
    for task in cases.values():
        msg = WholeBodyTarget(tasks=[task])
        msg.header.frame_id = "base_link"
        publisher.publish(msg)
    deadline = time.monotonic() + 5.0
    states = {}
    while time.monotonic() < deadline and set(states) != set(cases):
        if watch.wbc is not None:
            states = {t.name: t for t in watch.wbc.tasks if t.name in cases}
        time.sleep(0.05)
    assert set(states) == set(cases)
    assert all(s.state == "rejected" and s.message for s in states.values()), states
    time.sleep(0.5)
    assert watch.arm_moved_rad(q_before) < math.radians(0.5)


def test_malformed_joint_commands_are_ignored(stack, watch):
    processes, commander = stack
    publisher = commander.create_publisher(Float64MultiArray, "/arm_controller/commands", 10)
    q_before = watch.q()
    for data in ([1.0, 2.0], [float("nan")] * 7, [0.0] * 50, []):
        publisher.publish(Float64MultiArray(data=data))
    time.sleep(1.0)
    assert not processes.dead()
    assert watch.arm_moved_rad(q_before) < math.radians(0.5)


def test_skill_reports_feedback_and_can_be_cancelled(stack, watch):
    _, commander = stack
    feedback = []
    handle = send(commander, "pick", call("pick", object="green_cube"), feedback)
    assert handle.accepted
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and not any(f.stage == "approach" for f in feedback):
        time.sleep(0.05)
    assert any(f.stage == "approach" for f in feedback), [f.stage for f in feedback]
    time.sleep(0.5)  # moving now
    assert wait_for(handle.cancel_goal_async(), 5.0)
    result = handle.get_result_async()
    assert wait_for(result, 10.0)
    assert result.result().status == 5  # GoalStatus.STATUS_CANCELED
    assert not result.result().result.success
    # holding: the arm settles and stays
    time.sleep(1.0)
    q_held = watch.q()
    time.sleep(1.0)
    assert np.max(np.abs(watch.q()[:7] - q_held[:7])) < math.radians(0.3)


def test_pick_then_place_puts_the_cube_in_the_bin(stack):
    _, commander = stack
    for skill, goal_call in (("pick", call("pick", object="red_cube")),
                             ("place", call("place", object="red_cube", container="blue_bin"))):
        handle = send(commander, skill, goal_call)
        assert handle.accepted, skill
        result = handle.get_result_async()
        assert wait_for(result, 90.0), skill
        assert result.result().result.success, result.result().result.message
    verdict = commander.check_goal("in(red_cube, blue_bin)")
    assert verdict.valid and verdict.holds, verdict.detail
