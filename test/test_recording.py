"""Episode bags: real rclpy messages written to MCAP, read back with mcap_ros2's reader and
decoded by rclpy's own typesupport (what `ros2 bag play` uses)."""

import threading
import time

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.executors import SingleThreadedExecutor
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image, JointState

from vla_bringup.qos import REGISTRY_QOS, SENSOR_QOS
from vla_bringup.recording import (
    STACK_TOPICS,
    BagRecorder,
    attach_recorder,
    message_definition,
    record_mcap,
    type_name_of,
)
from vla_stack.msg import (
    PlannerStatus,
    PlanStep,
    SceneObject,
    SceneObjects,
    SkillCall,
    SkillDescription,
    WholeBodyState,
    WholeBodyTaskState,
)

TYPES = {"sensor_msgs/msg/JointState": JointState, "sensor_msgs/msg/Image": Image,
         "sensor_msgs/msg/CameraInfo": CameraInfo, "vla_stack/msg/SceneObjects": SceneObjects,
         "vla_stack/msg/PlannerStatus": PlannerStatus,
         "vla_stack/msg/WholeBodyState": WholeBodyState}


def stamp(t_ns: int) -> Time:
    return Time(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)


def joint_state(t_ns: int, i: int) -> JointState:
    msg = JointState(name=[f"arm_joint_{k}" for k in range(1, 8)],
                     position=[0.01 * i + k for k in range(7)], velocity=[0.5] * 7)
    msg.header.stamp = stamp(t_ns)
    return msg


def camera_frames(t_ns: int, i: int) -> tuple[Image, CameraInfo]:
    rgb = np.full((6, 8, 3), i, dtype=np.uint8)
    rgb[0, 0] = (255, 0, 7)
    image = Image(height=6, width=8, encoding="rgb8", step=24, data=rgb.tobytes())
    image.header.stamp, image.header.frame_id = stamp(t_ns), "camera_color_optical_frame"
    info = CameraInfo(height=6, width=8, distortion_model="plumb_bob")
    info.k = np.array([5.0, 0, 3.5, 0, 5.0, 2.5, 0, 0, 1])  # a numpy fixed-size field
    info.header = image.header
    return image, info


def episode_messages() -> list[tuple[str, object, int]]:
    """2 s of a fake episode: joint states at 50 Hz, camera at 5 Hz, one of everything else."""
    out = []
    for i in range(100):
        t_ns = 1_000_000_000 + i * 20_000_000
        out.append(("/joint_states", joint_state(t_ns, i), t_ns))
        if i % 10 == 0:
            image, info = camera_frames(t_ns, i)
            out += [("/camera/color/image_raw", image, t_ns),
                    ("/camera/color/camera_info", info, t_ns)]
    objects = SceneObjects(objects=[
        SceneObject(name="red_cube", shape="box", color="red", kind="graspable",
                    pose=Pose(), confidence=0.75),  # float32-exact
        SceneObject(name="blue_bin", shape="bin", color="blue", kind="container")])
    objects.objects[0].pose.position.x = 0.52
    objects.header.frame_id = "base_link"
    chosen = PlanStep(text="pick up the red cube", say=-2.3, can=0.97, score=0.097,
                      call=SkillCall(skill="pick", arg_names=["object"],
                                     arg_values=["red_cube"]))
    status = PlannerStatus(instruction="put the red cube in the blue bin", state="executing",
                           step_index=0, candidates=[chosen, PlanStep(text="done")],
                           chosen=chosen)
    wbc = WholeBodyState(mode="tracking", loop_rate_hz=249.5, tasks=[
        WholeBodyTaskState(name="tool", state="moving", position_error_m=0.012)])
    wbc.command.position = [0.1] * 9
    out += [("/perception/objects", objects, 1_100_000_000),
            ("/planner/status", status, 1_200_000_000),
            ("/wbc/state", wbc, 1_300_000_000)]
    return out


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("bag") / "episode.mcap"
    messages = episode_messages()
    counts = record_mcap(path, messages, metadata={"robot": "arm", "task": "red in blue"})
    return path, messages, counts


def read_bag(path):
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        header = reader.get_header()
        summary = reader.get_summary()
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
        decoded = [(channel.topic, schema, message, ros_msg)
                   for schema, channel, message, ros_msg in reader.iter_decoded_messages()]
    return header, summary, metadata, decoded


def test_bag_has_the_topics_types_and_counts(bag):
    path, _, counts = bag
    header, summary, metadata, decoded = read_bag(path)
    assert header.profile == "ros2"
    # the camera is thinned to 1 Hz: frames at 1.0, 1.2 .. 2.8 s -> 1.0 and 2.0 s
    assert counts == {"/joint_states": 100, "/camera/color/image_raw": 2,
                      "/camera/color/camera_info": 2, "/perception/objects": 1,
                      "/planner/status": 1, "/wbc/state": 1}
    channels = {c.topic: c for c in summary.channels.values()}
    assert set(channels) == set(counts)
    for topic, channel in channels.items():
        schema = summary.schemas[channel.schema_id]
        assert channel.message_encoding == "cdr"
        assert schema.encoding == "ros2msg"
        assert schema.name == STACK_TOPICS[topic]
        assert summary.statistics.channel_message_counts[channel.id] == counts[topic]
    assert [m.log_time for t, _, m, _ in decoded if t == "/camera/color/image_raw"] == [
        1_000_000_000, 2_000_000_000]
    assert metadata == {"vla_stack": {"robot": "arm", "task": "red in blue"}}


def test_decoded_fields_match_what_was_written(bag):
    path, messages, _ = bag
    _, _, _, decoded = read_bag(path)
    by_topic: dict[str, list] = {}
    for topic, _, _, ros_msg in decoded:
        by_topic.setdefault(topic, []).append(ros_msg)
    joints = by_topic["/joint_states"]
    assert [list(j.position) for j in joints] == [list(m.position) for t, m, _ in messages
                                                  if t == "/joint_states"]
    assert joints[-1].name[6] == "arm_joint_7"
    assert joints[10].header.stamp.sec == 1 and joints[10].header.stamp.nanosec == 200_000_000
    image = by_topic["/camera/color/image_raw"][1]
    rgb = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3)
    assert image.encoding == "rgb8" and rgb[0, 0].tolist() == [255, 0, 7]
    assert rgb[5, 7].tolist() == [50, 50, 50]  # the frame at 2.0 s (i = 50)
    info = by_topic["/camera/color/camera_info"][0]
    assert list(info.k) == [5.0, 0, 3.5, 0, 5.0, 2.5, 0, 0, 1]
    assert info.header.frame_id == "camera_color_optical_frame"
    objects = by_topic["/perception/objects"][0]
    assert [o.name for o in objects.objects] == ["red_cube", "blue_bin"]
    assert objects.objects[0].pose.position.x == 0.52
    assert objects.objects[0].confidence == 0.75
    status = by_topic["/planner/status"][0]
    assert status.chosen.call.arg_values == ["red_cube"]
    assert [c.text for c in status.candidates] == ["pick up the red cube", "done"]
    wbc = by_topic["/wbc/state"][0]
    assert wbc.tasks[0].position_error_m == pytest.approx(0.012)
    assert list(wbc.command.position) == [0.1] * 9


def test_rclpy_typesupport_decodes_every_message_unchanged(bag):
    """What ros2 bag play does: rclpy's deserializer on the raw CDR gives the same message."""
    path, messages, _ = bag
    _, _, _, decoded = read_bag(path)
    written = {}
    for topic, msg, t_ns in messages:
        written.setdefault((topic, t_ns), msg)
    assert len(decoded) == 107
    for topic, schema, message, _ in decoded:
        back = deserialize_message(message.data, TYPES[schema.name])
        assert back == written[(topic, message.log_time)], topic


def test_schema_embeds_nested_definitions():
    text = message_definition("vla_stack/msg/PlannerStatus")
    sections = text.split("=" * 80 + "\n")
    names = [s.splitlines()[0] for s in sections[1:]]
    assert names == ["MSG: std_msgs/Header", "MSG: builtin_interfaces/Time",
                     "MSG: vla_stack/PlanStep", "MSG: vla_stack/SkillCall"]
    assert sections[0].startswith("std_msgs/Header header")
    assert "float64 planner_ms" in sections[3]
    with pytest.raises(ValueError, match="no message definition"):
        message_definition("vla_stack/msg/NoSuchMessage")


def test_recorder_refuses_a_type_change_and_writes_after_close(tmp_path):
    recorder = BagRecorder(tmp_path / "x.mcap", min_period_s={})
    assert recorder.write("/joint_states", joint_state(0, 0), 0)
    with pytest.raises(ValueError, match="JointState"):
        recorder.write("/joint_states", WholeBodyState(), 1)
    recorder.close()
    recorder.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        recorder.write("/joint_states", joint_state(2, 0), 2)
    with pytest.raises(TypeError):
        type_name_of({"position": [1.0]})
    _, summary, _, decoded = read_bag(tmp_path / "x.mcap")
    assert len(decoded) == 1


def test_a_node_records_live_topics_over_dds(tmp_path):
    """attach_recorder on a real rclpy node: a transient-local registry entry published before
    the recorder existed and a stream of joint states both land in the bag."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        source = rclpy.create_node("bag_source", context=context)
        registry = source.create_publisher(SkillDescription, "/skills/registry", REGISTRY_QOS)
        joints = source.create_publisher(JointState, "/joint_states", 10)
        registry.publish(SkillDescription(name="pick", provider="/arm_skills", available=True))
        sink = rclpy.create_node("bag_sink", context=context)
        recorder = BagRecorder(tmp_path / "live.mcap")
        qos = {"/skills/registry": REGISTRY_QOS, "/camera/color/image_raw": SENSOR_QOS}
        subs = attach_recorder(sink, recorder, qos)
        assert len(subs) == len(STACK_TOPICS)
        executor.add_node(source)
        executor.add_node(sink)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        deadline = time.monotonic() + 30.0
        i = 0
        while time.monotonic() < deadline and not (
                recorder.counts.get("/joint_states", 0) >= 5
                and recorder.counts.get("/skills/registry")):
            joints.publish(joint_state(0, i))
            i += 1
            time.sleep(0.05)
        recorder.close()
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)
    _, _, _, decoded = read_bag(tmp_path / "live.mcap")
    registry_msgs = [m for t, _, _, m in decoded if t == "/skills/registry"]
    assert [(m.name, m.provider, m.available) for m in registry_msgs] == [
        ("pick", "/arm_skills", True)]
    positions = [m.position[0] for t, _, _, m in decoded if t == "/joint_states"]
    assert len(positions) >= 5
    assert positions == sorted(positions)  # in order, as published (0.01 * i)
    log_times = [raw.log_time for _, _, raw, _ in decoded]
    assert log_times == sorted(log_times) and log_times[0] > 0
