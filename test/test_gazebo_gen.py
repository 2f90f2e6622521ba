"""Gazebo files generated from the profile and scene: valid SDF/URDF/YAML, the same scene and
camera as MuJoCo, bridge + controller topics that replace the mujoco_sim node exactly."""

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np
import pinocchio as pin
import pytest
import yaml

from vla_bringup import gazebo
from vla_bringup.profile import load_profile
from vla_perception.camera_model import CameraModel
from vla_sim.build import build_spec
from vla_sim.scene import load_scene, parse_scene

ROOT = Path(__file__).resolve().parents[1]
# every shape, a rotated object, one with an explicit mass, one lifted off the table
MIXED_SCENE = {"robot": "arm", "objects": [
    {"name": "red_cube", "shape": "box", "color": "red", "size": [0.04, 0.05, 0.03],
     "pose": [0.5, 0.1, 0.6]},
    {"name": "can", "shape": "cylinder", "color": [0.2, 0.3, 0.4], "size": [0.06, 0.06, 0.1],
     "pose": [0.35, -0.2, 0.0], "mass": 0.3},
    {"name": "ball", "shape": "sphere", "color": "yellow", "size": [0.05, 0.05, 0.05],
     "pose": [0.6, -0.1, 0.02, 0.0]},
    {"name": "blue_bin", "shape": "bin", "color": "blue", "size": [0.16, 0.12, 0.07],
     "pose": [0.42, 0.25, 1.0]},
]}


@pytest.fixture(scope="module")
def profile():
    return load_profile("arm")


@pytest.fixture(scope="module")
def scene():
    return parse_scene(MIXED_SCENE)


@pytest.fixture(scope="module")
def world(profile, scene) -> ET.Element:
    return ET.fromstring(gazebo.world_sdf(profile, scene))


def floats(el: ET.Element | None) -> np.ndarray:
    assert el is not None
    return np.array([float(v) for v in el.text.split()])


def model(world: ET.Element, name: str) -> ET.Element:
    found = world.find(f"world/model[@name='{name}']")
    assert found is not None, name
    return found


def test_world_is_sdf_with_physics_step_and_system_plugins(world, profile):
    assert world.tag == "sdf"
    assert tuple(int(v) for v in world.get("version").split(".")) >= (1, 9)
    w = world.find("world")
    assert float(w.find("physics/max_step_size").text) == profile["physics_dt_s"]
    plugins = {p.get("name") for p in w.findall("plugin")}
    for needed in ("Physics", "SceneBroadcaster", "Sensors", "UserCommands"):
        assert f"gz::sim::systems::{needed}" in plugins
    # the arm base is at the table top: the table's top face is z = 0, the floor below it
    table = model(world, "table")
    size = floats(table.find("link/collision/geometry/box/size"))
    assert floats(table.find("pose"))[2] + size[2] / 2 == pytest.approx(0.0)
    assert floats(model(world, "ground_plane").find("pose"))[2] < -0.5


def test_every_scene_object_has_its_shape_size_colour_and_pose(world, scene):
    object_models = {m.get("name") for m in world.findall("world/model")} - {
        "table", "ground_plane", gazebo.CAMERA_MODEL_NAME}
    assert object_models == set(scene.object_names)
    for obj in scene.objects:
        m = model(world, obj.name)
        pose = floats(m.find("pose"))
        assert pose[:3] == pytest.approx(obj.position_m)
        assert pose[3:] == pytest.approx([0.0, 0.0, obj.yaw_rad])
        assert m.find("static") is None  # objects are dynamic
        collisions = m.findall("link/collision")
        visuals = m.findall("link/visual")
        assert len(collisions) == len(visuals) == (5 if obj.shape == "bin" else 1)
        for visual in visuals:
            assert floats(visual.find("material/diffuse"))[:3] == pytest.approx(obj.color_rgb)
        geom = collisions[0].find("geometry")
        if obj.shape == "box":
            assert floats(geom.find("box/size")) == pytest.approx(obj.size_m)
        elif obj.shape == "cylinder":
            assert float(geom.find("cylinder/radius").text) == pytest.approx(obj.size_m[0] / 2)
            assert float(geom.find("cylinder/length").text) == pytest.approx(obj.size_m[2])
        elif obj.shape == "sphere":
            assert float(geom.find("sphere/radius").text) == pytest.approx(obj.size_m[0] / 2)
        else:  # the bin's parts fill exactly its outer bounding box, open at the top
            lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
            for c in collisions:
                centre, half = floats(c.find("pose"))[:3], floats(c.find("geometry/box/size")) / 2
                lo, hi = np.minimum(lo, centre - half), np.maximum(hi, centre + half)
            assert hi - lo == pytest.approx(obj.size_m)
            assert (hi + lo) / 2 == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert float(model(world, "can").find("link/inertial/mass").text) == pytest.approx(0.3)


def test_masses_and_inertias_match_the_mujoco_world(world, profile, scene):
    """Two independent computations: ours (parallel axis over the parts) and MuJoCo's."""
    mj = build_spec(profile, scene, ROOT).compile()
    for obj in scene.objects:
        inertial = model(world, obj.name).find("link/inertial")
        mass = float(inertial.find("mass").text)
        com = floats(inertial.find("pose"))[:3]
        t = {tag: float(inertial.find(f"inertia/{tag}").text)
             for tag in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")}
        tensor = np.array([[t["ixx"], t["ixy"], t["ixz"]], [t["ixy"], t["iyy"], t["iyz"]],
                           [t["ixz"], t["iyz"], t["izz"]]])
        body = mj.body(obj.name)
        assert mass == pytest.approx(body.mass[0], rel=1e-6)
        assert com == pytest.approx(body.ipos, abs=1e-9)
        assert np.sort(np.linalg.eigvalsh(tensor)) == pytest.approx(np.sort(body.inertia),
                                                                    rel=1e-5)
    bin_com = floats(model(world, "blue_bin").find("link/inertial/pose"))
    assert bin_com[2] < 0  # the floor pulls the bin's centre of mass down


def test_camera_matches_the_camera_model(world, profile):
    camera = CameraModel.from_profile(profile["camera"])
    cam_model = model(world, gazebo.CAMERA_MODEL_NAME)
    assert cam_model.find("static").text == "true"
    sensor = cam_model.find("link/sensor")
    assert sensor.get("type") == "rgbd_camera"
    assert float(sensor.find("update_rate").text) == profile["camera_rate_hz"]
    assert sensor.find("gz_frame_id").text == camera.frame_id == "camera_color_optical_frame"
    cam = sensor.find("camera")
    assert cam.find("optical_frame_id").text == camera.frame_id
    width, height = int(cam.find("image/width").text), int(cam.find("image/height").text)
    assert (width, height) == (camera.width, camera.height)
    # fovy from the horizontal fov and the aspect ratio (square pixels)
    hfov = float(cam.find("horizontal_fov").text)
    fy = 0.5 * width / math.tan(hfov / 2)
    assert fy == pytest.approx(camera.focal_px)
    assert cam.find("lens/type").text == "gnomonical"  # pinhole (the SDF default is fisheye)
    lens = {t: float(cam.find(f"lens/intrinsics/{t}").text) for t in ("fx", "fy", "cx", "cy")}
    assert [[lens["fx"], 0, lens["cx"]], [0, lens["fy"], lens["cy"]], [0, 0, 1]] == \
        pytest.approx(camera.K)
    # pose: a Gazebo camera looks along its +x with y left and z up; ours along optical z
    pose = floats(cam_model.find("pose"))
    rot = pin.utils.rpyToMatrix(*pose[3:])
    assert pose[:3] == pytest.approx(camera.position_base_m)
    forward, left, up = rot[:, 0], rot[:, 1], rot[:, 2]
    look = np.asarray(camera.look_at_base_m) - camera.position_base_m
    assert forward @ look / np.linalg.norm(look) == pytest.approx(1.0)
    optical = camera.R_base_optical  # the file holds 9 significant digits
    assert forward == pytest.approx(optical[:, 2], abs=1e-8)
    assert left == pytest.approx(-optical[:, 0], abs=1e-8)  # optical x is right
    assert up == pytest.approx(-optical[:, 1], abs=1e-8)  # optical y is down
    assert up[2] > 0  # upright, no roll
    # a point up and right of the look-at point in the Gazebo view projects up and right
    uv, _ = camera.project(np.asarray(camera.look_at_base_m) + 0.1 * up - 0.05 * left)
    assert uv[0] > camera.principal_point_px[0] and uv[1] < camera.principal_point_px[1]


def _sim_node_topics(profile: dict) -> set[str]:
    """Every topic the MuJoCo node publishes or takes for this profile (what Gazebo has to
    replace): its publishers (/odom and /imu only for a floating base) and one
    /<group>_controller/commands input per joint group, as the node builds them."""
    source = (ROOT / "vla_sim" / "node.py").read_text()
    topics = set(re.findall(r'create_publisher\(\s*\w+,\s*"([^"]+)"', source))
    if not profile.get("floating_base"):
        topics -= {"/odom", "/imu"}
    assert 'f"{group}_controller"' in source and "joint_groups(profile)" in source
    topics |= {f"/{group}_controller/commands" for group in gazebo.joint_groups(profile)}
    return topics


def test_bridge_and_controllers_replace_the_sim_node(profile):
    bridge = gazebo.bridge_config(profile)
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for entry in bridge:
        assert f"`{entry['ros_topic_name']}`" in architecture
        assert entry["direction"] == "GZ_TO_ROS"
        assert re.fullmatch(r"\w+/msg/\w+", entry["ros_type_name"])
        assert entry["gz_type_name"].startswith("gz.msgs.")
    assert len({e["ros_topic_name"] for e in bridge}) == len(bridge)
    controllers = gazebo.controllers_config(profile)
    commands = {f"/{name}/commands" for name, body in controllers.items()
                if name != "controller_manager" and "joints" in body["ros__parameters"]}
    # /joint_states comes from the joint_state_broadcaster, as on hardware
    assert "joint_state_broadcaster" in controllers["controller_manager"]["ros__parameters"]
    provided = {e["ros_topic_name"] for e in bridge} | commands | {"/joint_states"}
    assert provided == _sim_node_topics(profile)
    # the camera topics the bridge reads are the ones an rgbd_camera sensor publishes
    gz_topic = gazebo.GZ_CAMERA_TOPIC
    assert {e["gz_topic_name"] for e in bridge if "camera" in e["ros_topic_name"]} == {
        f"{gz_topic}/image", f"{gz_topic}/depth_image", f"{gz_topic}/camera_info"}


def test_floating_base_profile_bridges_imu_and_odometry(profile, scene):
    legged = dict(profile, floating_base=True, imu_frame="base_link")
    topics = {e["ros_topic_name"]: e for e in gazebo.bridge_config(legged)}
    assert topics["/imu"]["ros_type_name"] == "sensor_msgs/msg/Imu"
    assert topics["/odom"]["gz_topic_name"] == f"/model/{profile['name']}/odometry"
    assert "/imu" not in {e["ros_topic_name"] for e in gazebo.bridge_config(profile)}
    floor_scene = replace(scene, robot="quadruped")
    world = ET.fromstring(gazebo.world_sdf(legged, floor_scene))
    assert world.find("world/model[@name='table']") is None
    assert floats(model(world, "ground_plane").find("pose"))[2] == 0.0
    urdf = ET.fromstring(gazebo.gazebo_urdf(legged, "/c.yaml"))
    assert urdf.find("link[@name='world']") is None  # free to move
    assert urdf.find("gazebo[@reference='base_link']/sensor[@type='imu']/topic").text == "/imu"


def test_controllers_follow_the_profile(profile):
    config = gazebo.controllers_config(profile)
    manager = config["controller_manager"]["ros__parameters"]
    assert manager["update_rate"] == profile["control_rate_hz"]
    for group in ("arm", "gripper"):
        name = f"{group}_controller"
        assert manager[name]["type"] == "forward_command_controller/ForwardCommandController"
        params = config[name]["ros__parameters"]
        assert params["joints"] == profile[f"{group}_joints"]  # order = the command order
        assert params["interface_name"] == "position"
    assert gazebo.controller_names(profile) == [
        "joint_state_broadcaster", "arm_controller", "gripper_controller"]


def test_gazebo_urdf_has_ros2_control_and_still_loads(profile, tmp_path):
    text = gazebo.gazebo_urdf(profile, tmp_path / "arm_controllers.yaml")
    robot = ET.fromstring(text)
    control = robot.find("ros2_control")
    assert control.find("hardware/plugin").text == "gz_ros2_control/GazeboSimSystem"
    joints = [j.get("name") for j in control.findall("joint")]
    assert joints == profile["arm_joints"] + profile["gripper_joints"]
    home = dict(zip(profile["arm_joints"], profile["home_joint_positions"], strict=True))
    for joint in control.findall("joint"):
        assert [c.get("name") for c in joint.findall("command_interface")] == ["position"]
        assert [s.get("name") for s in joint.findall("state_interface")] == [
            "position", "velocity"]
        initial = float(joint.find("state_interface/param[@name='initial_value']").text)
        assert initial == pytest.approx(home.get(joint.get("name"), profile["gripper_open_m"]))
    plugin = robot.find("gazebo/plugin")
    assert plugin.get("filename") == "gz_ros2_control-system"
    assert plugin.find("parameters").text == str(tmp_path / "arm_controllers.yaml")
    fixed = robot.find("joint[@name='world_to_base_link']")
    assert fixed.get("type") == "fixed" and fixed.find("child").get("link") == "base_link"
    # pinocchio and MuJoCo load it with the same joints as the plain URDF
    model = pin.buildModelFromXML(text)
    names = [model.names[i] for i in range(1, model.njoints)]
    assert names == profile["arm_joints"] + profile["gripper_joints"]
    mj = mujoco.MjSpec.from_string(text).compile()
    assert mj.njnt == len(names) and mj.body("tool0").id > 0
    plain = pin.buildModelFromUrdf(profile["urdf"])
    q = pin.neutral(model)
    data, plain_data = model.createData(), plain.createData()
    pin.framesForwardKinematics(model, data, q)
    pin.framesForwardKinematics(plain, plain_data, q)
    assert data.oMf[model.getFrameId("tool0")].isApprox(
        plain_data.oMf[plain.getFrameId("tool0")])


def test_unknown_profile_joint_is_refused(profile):
    with pytest.raises(ValueError, match="not in the URDF"):
        gazebo.gazebo_urdf(dict(profile, gripper_joints=["no_such_joint"]), "/c.yaml")
    with pytest.raises(ValueError, match="physics_dt_s"):
        gazebo.world_sdf(dict(profile, physics_dt_s=0.5), parse_scene(MIXED_SCENE))


def test_committed_examples_match_the_generator(profile, tmp_path):
    """config/gazebo/ holds the default arm files; they must not drift from the code."""
    paths = gazebo.write_gazebo_files(profile, load_scene(profile["default_scene"]), tmp_path)
    assert set(paths) == {"world.sdf", "bridge.yaml", "controllers.yaml", "gz.urdf"}
    for kind in ("world.sdf", "bridge.yaml", "controllers.yaml"):
        committed = ROOT / "config" / "gazebo" / f"arm_{kind}"
        assert committed.read_text() == paths[kind].read_text(), committed
    assert yaml.safe_load(paths["bridge.yaml"].read_text()) == gazebo.bridge_config(profile)
    urdf = ET.fromstring(paths["gz.urdf"].read_text())
    assert Path(urdf.find("gazebo/plugin/parameters").text) == paths["controllers.yaml"].resolve()


@pytest.mark.skipif(not (ROOT / "config" / "robots" / "quadruped.yaml").is_file(),
                    reason="no quadruped profile")
def test_quadruped_profile_gets_a_floor_world_and_a_body_camera(tmp_path):
    legged = load_profile("quadruped")
    paths = gazebo.write_gazebo_files(legged, load_scene(legged["default_scene"]), tmp_path)
    world = ET.fromstring(paths["world.sdf"].read_text())
    names = {m.get("name") for m in world.findall("world/model")}
    assert "table" not in names and gazebo.CAMERA_MODEL_NAME not in names
    robot = ET.fromstring(paths["gz.urdf"].read_text())
    mount = legged["camera"]["mount_frame"]
    sensor = robot.find(f"gazebo[@reference='{mount}']/sensor[@type='rgbd_camera']")
    camera = CameraModel.from_profile(legged["camera"])
    assert floats(sensor.find("pose")) == pytest.approx(gazebo.camera_link_pose(camera), abs=1e-8)
    controllers = yaml.safe_load(paths["controllers.yaml"].read_text())
    for group, joints in legged["joint_groups"].items():
        assert controllers[f"{group}_controller"]["ros__parameters"]["joints"] == joints
    initial = {j.get("name"): float(j.find("state_interface/param").text)
               for j in robot.findall("ros2_control/joint")}
    assert initial == pytest.approx(legged["default_joint_positions"])
    bridged = {e["ros_topic_name"] for e in yaml.safe_load(paths["bridge.yaml"].read_text())}
    assert {"/imu", "/odom", "/clock", "/camera/color/image_raw"} <= bridged
    text = paths["gz.urdf"].read_text()
    assert pin.buildModelFromXML(text, pin.JointModelFreeFlyer()).nq == 7 + len(initial)
    assert mujoco.MjSpec.from_string(text).compile().njnt == len(initial)
