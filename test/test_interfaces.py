"""Our generated interfaces import, carry standard messages, and round-trip through CDR."""

import math

from rclpy.serialization import deserialize_message, serialize_message
from trajectory_msgs.msg import JointTrajectoryPoint

from vla_stack.action import ExecuteSkill, ExecuteTask
from vla_stack.msg import (
    PlanStep,
    SceneObject,
    SceneObjects,
    SkillCall,
    SkillDescription,
    WholeBodyState,
    WholeBodyTarget,
    WholeBodyTask,
)
from vla_stack.srv import CheckGoal, QueryAffordance


def roundtrip(msg):
    return deserialize_message(serialize_message(msg), type(msg))


def test_scene_objects_roundtrip():
    obj = SceneObject(name="red_cube", description="red cube", shape="box", color="red",
                      kind="graspable", confidence=0.75)  # exact in float32
    obj.pose.position.x, obj.pose.orientation.w = 0.55, 1.0
    obj.size.x = obj.size.y = obj.size.z = 0.04
    msg = SceneObjects(objects=[obj, SceneObject(name="blue_bin", shape="bin")])
    msg.header.frame_id = "base_link"
    back = roundtrip(msg)
    assert back == msg
    assert back.objects[0].pose.position.x == 0.55 and back.objects[1].shape == "bin"


def test_skill_messages_roundtrip():
    call = SkillCall(skill="place", arg_names=["object", "container"],
                     arg_values=["red_cube", "blue_bin"])
    assert roundtrip(ExecuteSkill.Goal(call=call)).call == call
    assert roundtrip(ExecuteSkill.Feedback(progress=0.5, stage="lift")).stage == "lift"
    assert roundtrip(ExecuteSkill.Result(success=False, message="x")).message == "x"
    desc = SkillDescription(name="pick", text_template="pick up the {object}",
                            arg_names=["object"], arg_kinds=["graspable"], available=True)
    assert roundtrip(desc) == desc
    request = QueryAffordance.Request(calls=[call, call])
    assert len(roundtrip(request).calls) == 2
    response = QueryAffordance.Response(affordances=[0.9, 0.0], reasons=["ok", "not held"])
    assert list(roundtrip(response).affordances) == [0.9, 0.0]


def test_task_and_wbc_messages_roundtrip():
    step = PlanStep(text="pick up the red cube", say=-2.3, can=0.95,
                    score=math.exp(-2.3) * 0.95, result="succeeded")
    result = roundtrip(ExecuteTask.Result(outcome="success", success=True, steps=[step]))
    assert result.steps[0].text == step.text and abs(result.steps[0].score - step.score) < 1e-12
    goal = roundtrip(ExecuteTask.Goal(instruction="put the red cube in the blue bin"))
    assert goal.ignore_affordances is False  # SayCan proper is the default
    task = WholeBodyTask(operation=WholeBodyTask.ADD_OR_UPDATE, name="gripper",
                         type="joint_position", joint_names=["a", "b"],
                         joint_target=JointTrajectoryPoint(positions=[0.04, 0.04]))
    target = WholeBodyTarget(tasks=[task])
    assert list(roundtrip(target).tasks[0].joint_target.positions) == [0.04, 0.04]
    state = WholeBodyState(mode="holding", loop_rate_hz=250.0)
    state.command.name = ["j1"]
    state.command.position = [0.1]
    assert roundtrip(state).command.position[0] == 0.1
    assert roundtrip(CheckGoal.Response(valid=True, holds=True, detail="d")).holds
