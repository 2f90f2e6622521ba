"""RViz support: the marker and TF builders (pure functions over the stack's messages) and the
rviz/<robot>.rviz configs, whose every topic must be published by a node of the stack."""

import math
import re
from pathlib import Path

import pytest
import yaml
from nav_msgs.msg import Odometry
from visualization_msgs.msg import Marker

from vla_bringup.launch_plan import launch_plan
from vla_bringup.markers import (
    TARGET_AXIS_LENGTH_M,
    object_markers,
    object_transforms,
    odom_transform,
    planner_markers,
    tf_broadcaster,
    wbc_target_markers,
)
from vla_bringup.profile import ROBOTS, load_profile
from vla_stack.msg import (
    PlannerStatus,
    PlanStep,
    SceneObject,
    SceneObjects,
    WholeBodyTarget,
    WholeBodyTask,
)

ROOT = Path(__file__).resolve().parents[1]
# RViz display class -> the message type its topic carries
DISPLAY_TYPES = {"rviz_default_plugins/MarkerArray": "MarkerArray",
                 "rviz_default_plugins/Image": "Image",
                 "rviz_default_plugins/Odometry": "Odometry",
                 "rviz_default_plugins/RobotModel": "String"}


def scene_objects() -> SceneObjects:
    msg = SceneObjects()
    msg.header.frame_id = "base_link"
    for name, x, confidence in (("red_cube", 0.5, 0.9), ("blue_bin", 0.4, 0.3)):
        entry = SceneObject(name=name, kind="graspable", confidence=confidence)
        entry.pose.position.x, entry.pose.position.z = x, 0.02
        entry.pose.orientation.w = 1.0
        entry.size.x = entry.size.y = entry.size.z = 0.04
        entry.rgba.r, entry.rgba.a = 1.0, 1.0
        msg.objects.append(entry)
    return msg


def test_object_markers_box_and_label_per_object_after_a_clear():
    markers = object_markers(scene_objects()).markers
    assert markers[0].action == Marker.DELETEALL
    boxes = [m for m in markers if m.ns == "objects"]
    labels = [m for m in markers if m.ns == "labels"]
    assert [m.type for m in boxes] == [Marker.CUBE, Marker.CUBE]
    assert [m.text for m in labels] == ["red_cube", "blue_bin"]
    assert boxes[0].pose.position.x == 0.5 and boxes[0].scale.x == pytest.approx(0.04)
    assert boxes[0].color.a > boxes[1].color.a   # remembered / unsure objects are faint
    assert labels[0].pose.position.z > boxes[0].pose.position.z + boxes[0].scale.z / 2
    assert all(m.header.frame_id == "base_link" for m in markers[1:])


def step(text: str, score: float) -> PlanStep:
    return PlanStep(text=text, say=math.log(score), can=1.0, score=score)


def test_planner_markers_stack_chosen_step_over_candidates_above_the_robot():
    status = PlannerStatus(instruction="put the red cube in the blue bin", state="executing",
                           step_index=1)
    status.candidates = [step(f"candidate {i}", 0.5 / (i + 1)) for i in range(7)]
    status.chosen = status.candidates[0]
    markers = planner_markers(status, "base_link", height_m=1.0, max_candidates=5).markers
    assert markers[0].action == Marker.DELETEALL
    lines = sorted(markers[1:], key=lambda m: m.pose.position.z)
    assert lines[0].text == "task: put the red cube in the blue bin"
    assert lines[-1].text == "2. candidate 0"            # chosen step on top
    assert len(lines) == 1 + 5 + 1                        # task, best five, chosen
    assert "score 0.500" in lines[-2].text and "can 1.00" in lines[-2].text
    assert lines[0].pose.position.z >= 1.0
    assert all(m.header.frame_id == "base_link" and m.ns == "planner" for m in lines)
    assert len({m.id for m in lines}) == len(lines)
    idle = planner_markers(PlannerStatus(state="finished"), "base_link", 1.0).markers
    assert [m.text for m in idle[1:]] == ["planner idle", "finished"]


def test_wbc_target_markers_show_frame_targets_and_clear_removed_tasks():
    target = WholeBodyTarget()
    target.header.frame_id = "base_link"
    tool = WholeBodyTask(operation=WholeBodyTask.ADD_OR_UPDATE, name="tool", type="frame_pose",
                         frame="tool0")
    tool.target_pose.position.x, tool.target_pose.position.z = 0.5, 0.2
    tool.target_pose.orientation.z = tool.target_pose.orientation.w = math.sqrt(0.5)
    gripper = WholeBodyTask(name="gripper", type="joint_position")
    target.tasks = [tool, gripper]
    markers = wbc_target_markers(target).markers
    arrows = [m for m in markers if m.type == Marker.ARROW]
    assert len(arrows) == 3 and all(m.pose == tool.target_pose for m in arrows)
    tips = sorted((p.x, p.y, p.z) for m in arrows for p in m.points[1:])
    assert tips == sorted([(TARGET_AXIS_LENGTH_M, 0, 0), (0, TARGET_AXIS_LENGTH_M, 0),
                           (0, 0, TARGET_AXIS_LENGTH_M)])
    (label,) = [m for m in markers if m.type == Marker.TEXT_VIEW_FACING]
    assert label.text == "tool -> tool0"
    remove = WholeBodyTarget(tasks=[WholeBodyTask(operation=WholeBodyTask.REMOVE, name="tool")])
    cleared = wbc_target_markers(remove).markers
    assert all(m.action == Marker.DELETE for m in cleared)
    assert {(m.ns, m.id) for m in cleared} == {(m.ns, m.id) for m in markers}


def test_transforms_for_odom_and_objects():
    odom = Odometry()
    odom.header.frame_id, odom.child_frame_id = "odom", "base_link"
    odom.pose.pose.position.x, odom.pose.pose.orientation.w = 1.5, 1.0
    tf = odom_transform(odom)
    assert (tf.header.frame_id, tf.child_frame_id) == ("odom", "base_link")
    assert tf.transform.translation.x == 1.5 and tf.transform.rotation.w == 1.0
    frames = object_transforms(scene_objects())
    assert [t.child_frame_id for t in frames] == ["red_cube", "blue_bin"]
    assert frames[1].transform.translation.x == 0.4
    assert all(t.header.frame_id == "base_link" for t in frames)


def test_tf_is_optional():
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        assert tf_broadcaster(object()) is None
    else:
        pytest.skip("tf2_ros is installed: the broadcaster path is a real ROS install's")


def published_topics() -> dict[str, str]:
    """topic -> message type of every publisher in the stack's node sources."""
    topics = {}
    for source in ROOT.glob("vla_*/**/*.py"):
        for msg_type, topic in re.findall(r'create_publisher\(\s*(\w+),\s*"(/[^"]+)"',
                                          source.read_text()):
            topics[topic] = msg_type
    topics["/robot_description"] = "String"   # robot_state_publisher, started by every launch
    return topics


def display_topics(displays: list[dict]) -> list[tuple[str, str]]:
    found = []
    for display in displays:
        for key in ("Topic", "Description Topic"):
            if isinstance(display.get(key), dict):
                found.append((display["Class"], display[key]["Value"]))
    return found


@pytest.mark.parametrize("robot", ROBOTS)
def test_rviz_config_shows_what_the_stack_publishes(robot):
    path = ROOT / "rviz" / f"{robot}.rviz"
    config = yaml.safe_load(path.read_text())["Visualization Manager"]
    classes = {d["Class"] for d in config["Displays"]}
    assert {"rviz_default_plugins/RobotModel", "rviz_default_plugins/TF",
            "rviz_default_plugins/Image", "rviz_default_plugins/MarkerArray"} <= classes
    published = published_topics()
    shown = display_topics(config["Displays"])
    for display_class, topic in shown:
        assert topic in published, f"{path.name}: nothing publishes {topic}"
        assert published[topic] == DISPLAY_TYPES[display_class], (topic, display_class)
    assert {"/perception/markers", "/planner/markers", "/wbc/target_markers",
            "/camera/color/image_raw"} <= {t for _, t in shown}
    floating = bool(load_profile(robot).get("floating_base"))
    assert config["Global Options"]["Fixed Frame"] == ("odom" if floating else "base_link")
    if floating:
        assert ("rviz_default_plugins/Odometry", "/odom") in shown
    rviz = next(e for e in launch_plan(robot, {"rviz": "true"}) if e.name == "rviz2")
    assert rviz.arguments == ["-d", str(path)]
