"""Gazebo (Harmonic) bring-up files, generated from the same profile and scene as MuJoCo.

- `world_sdf`: an SDF world with the table (arm: top at z = 0, the arm base frame), every scene
  object as a model (shape, size, colour, pose, mass, inertia), the fixed RGB-D camera of the
  profile's `camera:` block (same pose and fovy as `CameraModel`), physics step = physics_dt_s.
- `bridge_config`: ros_gz_bridge entries for /clock, the camera topics (and /imu, /odom for a
  floating base), with the ROS names of docs/ARCHITECTURE.md.
- `gazebo_urdf`: the robot URDF plus a <ros2_control> block (gz_ros2_control/GazeboSimSystem,
  position commands) and the gz_ros2_control plugin; `controllers_config`: the controller
  manager's YAML (joint_state_broadcaster + one ForwardCommandController per joint group, so the
  command topics are /<group>_controller/commands as the wbc controller publishes them).

Pure Python (xml.etree, numpy): no Gazebo needed to generate or test. `python -m
vla_bringup.gazebo --robot arm [--scene FILE] --out DIR` writes all four files.
"""

from __future__ import annotations

import argparse
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vla_bringup.profile import joint_groups  # one definition, shared with the sim node
from vla_perception.camera_model import CameraModel
from vla_sim.build import FLOOR_Z_M, TABLE_CENTRE_X_M, TABLE_HALF_M  # the MuJoCo world's table
from vla_sim.scene import BIN_WALL_M, DEFAULT_DENSITY_KG_M3, Scene, SceneObject

SDF_VERSION = "1.9"
CAMERA_MODEL_NAME = "scene_camera"
GZ_CAMERA_TOPIC = "/scene_camera"  # rgbd_camera publishes <topic>/image, /depth_image, ...
CAMERA_CLIP_M = (0.05, 5.0)
GZ_IMU_TOPIC = "/imu"
GZ_ROS2_CONTROL_PLUGIN = ("gz_ros2_control-system", "gz_ros2_control::GazeboSimROS2ControlPlugin")
GAZEBO_SIM_SYSTEM = "gz_ros2_control/GazeboSimSystem"
# the optical frame's axes (x right, y down, z forward) -> a Gazebo camera's (x forward, y left,
# z up): columns are the Gazebo axes written in the optical frame
OPTICAL_TO_GZ_CAMERA = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
SYSTEM_PLUGINS = (  # world plugins: physics, spawning/services, scene for GUI+sensors, sensors
    ("gz-sim-physics-system", "gz::sim::systems::Physics"),
    ("gz-sim-user-commands-system", "gz::sim::systems::UserCommands"),
    ("gz-sim-scene-broadcaster-system", "gz::sim::systems::SceneBroadcaster"),
    ("gz-sim-sensors-system", "gz::sim::systems::Sensors"),
    ("gz-sim-imu-system", "gz::sim::systems::Imu"),
)


# ---------------------------------------------------------------- geometry and inertia
@dataclass(frozen=True)
class Part:
    """One solid primitive of an object, in the object's (bounding-box centre) frame."""
    shape: str  # box | cylinder | sphere
    size_m: tuple[float, float, float]  # box: full extents; cylinder: (2r, 2r, h); sphere: 2r
    offset_m: tuple[float, float, float]

    @property
    def volume_m3(self) -> float:
        sx, sy, sz = self.size_m
        if self.shape == "box":
            return sx * sy * sz
        if self.shape == "cylinder":
            return math.pi * (sx / 2) ** 2 * sz
        return 4.0 / 3.0 * math.pi * (sx / 2) ** 3

    def inertia_about_own_centre(self, mass_kg: float) -> np.ndarray:
        sx, sy, sz = self.size_m
        if self.shape == "box":
            d = (sy**2 + sz**2, sx**2 + sz**2, sx**2 + sy**2)
            return np.diag(d) * mass_kg / 12.0
        r = sx / 2
        if self.shape == "cylinder":
            side = mass_kg * (3 * r**2 + sz**2) / 12.0
            return np.diag([side, side, mass_kg * r**2 / 2])
        return np.eye(3) * 0.4 * mass_kg * r**2


def object_parts(obj: SceneObject) -> list[Part]:
    """The primitives an object is made of (a bin: floor + four walls, like the MuJoCo world)."""
    if obj.shape != "bin":
        return [Part(obj.shape, obj.size_m, (0.0, 0.0, 0.0))]
    sx, sy, sz = obj.size_m
    w = BIN_WALL_M
    return [
        Part("box", (sx, sy, w), (0.0, 0.0, -sz / 2 + w / 2)),
        Part("box", (w, sy, sz), (sx / 2 - w / 2, 0.0, 0.0)),
        Part("box", (w, sy, sz), (-sx / 2 + w / 2, 0.0, 0.0)),
        Part("box", (sx - 2 * w, w, sz), (0.0, sy / 2 - w / 2, 0.0)),
        Part("box", (sx - 2 * w, w, sz), (0.0, -sy / 2 + w / 2, 0.0)),
    ]


def mass_properties(obj: SceneObject) -> tuple[float, np.ndarray, np.ndarray]:
    """(mass_kg, centre of mass in the object frame, 3x3 inertia about the centre of mass):
    uniform density over the solid parts; the scene's `mass` if given, else the default density."""
    parts = object_parts(obj)
    volume = sum(p.volume_m3 for p in parts)
    density = obj.mass_kg / volume if obj.mass_kg is not None else DEFAULT_DENSITY_KG_M3
    masses = [density * p.volume_m3 for p in parts]
    total = sum(masses)
    com = sum(m * np.asarray(p.offset_m) for m, p in zip(masses, parts, strict=True)) / total
    inertia = np.zeros((3, 3))
    for m, p in zip(masses, parts, strict=True):
        d = np.asarray(p.offset_m) - com  # parallel axis theorem
        inertia += p.inertia_about_own_centre(m) + m * (d @ d * np.eye(3) - np.outer(d, d))
    return total, com, inertia


def rpy_from_matrix(rot: np.ndarray) -> tuple[float, float, float]:
    """Roll, pitch, yaw (SDF/URDF convention: R = Rz(yaw) Ry(pitch) Rx(roll))."""
    pitch = math.asin(max(-1.0, min(1.0, -rot[2, 0])))
    return (math.atan2(rot[2, 1], rot[2, 2]), pitch, math.atan2(rot[1, 0], rot[0, 0]))


def camera_link_pose(camera: CameraModel) -> tuple[float, ...]:
    """x y z roll pitch yaw of a Gazebo camera (looks along +x, z up) placed where the optical
    frame of `camera` is."""
    rot = camera.R_base_optical @ OPTICAL_TO_GZ_CAMERA
    return (*camera.position_base_m, *rpy_from_matrix(rot))


def horizontal_fov_rad(camera: CameraModel) -> float:
    """SDF gives the horizontal field of view; the profile the vertical one (square pixels)."""
    half_v = math.radians(camera.fovy_deg) / 2
    return 2.0 * math.atan(math.tan(half_v) * camera.width / camera.height)


# ---------------------------------------------------------------- SDF
def _num(value: float) -> str:
    return f"{value:.9g}"


def _text(parent: ET.Element, tag: str, value: Any) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if isinstance(value, (tuple, list, np.ndarray)):
        el.text = " ".join(_num(float(v)) for v in value)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, float):
        el.text = _num(value)
    else:
        el.text = str(value)
    return el


def _geometry(parent: ET.Element, part: Part) -> None:
    geometry = ET.SubElement(parent, "geometry")
    if part.shape == "box":
        _text(ET.SubElement(geometry, "box"), "size", part.size_m)
    elif part.shape == "cylinder":
        cyl = ET.SubElement(geometry, "cylinder")
        _text(cyl, "radius", part.size_m[0] / 2)
        _text(cyl, "length", part.size_m[2])
    else:
        _text(ET.SubElement(geometry, "sphere"), "radius", part.size_m[0] / 2)


def _material(parent: ET.Element, rgb: tuple[float, float, float]) -> None:
    material = ET.SubElement(parent, "material")
    _text(material, "ambient", (*rgb, 1.0))
    _text(material, "diffuse", (*rgb, 1.0))
    _text(material, "specular", (0.1, 0.1, 0.1, 1.0))


def _static_box(world: ET.Element, name: str, size_m, pose, rgb) -> None:
    model = ET.SubElement(world, "model", name=name)
    _text(model, "static", True)
    _text(model, "pose", pose)
    link = ET.SubElement(model, "link", name="link")
    part = Part("box", tuple(size_m), (0.0, 0.0, 0.0))
    _geometry(ET.SubElement(link, "collision", name="collision"), part)
    visual = ET.SubElement(link, "visual", name="visual")
    _geometry(visual, part)
    _material(visual, rgb)


def _object_model(world: ET.Element, obj: SceneObject, z_offset_m: float) -> None:
    model = ET.SubElement(world, "model", name=obj.name)
    x, y, z = obj.position_m
    _text(model, "pose", (x, y, z + z_offset_m, 0.0, 0.0, obj.yaw_rad))
    link = ET.SubElement(model, "link", name="link")
    mass, com, inertia = mass_properties(obj)
    inertial = ET.SubElement(link, "inertial")
    _text(inertial, "pose", (*com, 0.0, 0.0, 0.0))
    _text(inertial, "mass", mass)
    tensor = ET.SubElement(inertial, "inertia")
    for tag, (i, j) in (("ixx", (0, 0)), ("ixy", (0, 1)), ("ixz", (0, 2)),
                        ("iyy", (1, 1)), ("iyz", (1, 2)), ("izz", (2, 2))):
        _text(tensor, tag, float(inertia[i, j]))
    for k, part in enumerate(object_parts(obj)):
        pose = (*part.offset_m, 0.0, 0.0, 0.0)
        collision = ET.SubElement(link, "collision", name=f"collision_{k}")
        _text(collision, "pose", pose)
        _geometry(collision, part)
        friction = ET.SubElement(ET.SubElement(ET.SubElement(collision, "surface"), "friction"),
                                 "ode")
        _text(friction, "mu", 1.0)
        _text(friction, "mu2", 1.0)
        visual = ET.SubElement(link, "visual", name=f"visual_{k}")
        _text(visual, "pose", pose)
        _geometry(visual, part)
        _material(visual, obj.color_rgb)


def camera_sensor(camera: CameraModel, rate_hz: float,
                  pose: tuple[float, ...] | None = None) -> ET.Element:
    """An rgbd_camera <sensor> (optionally with a <pose> in its link) matching `camera`."""
    sensor = ET.Element("sensor", name="rgbd", type="rgbd_camera")
    if pose is not None:
        _text(sensor, "pose", pose)
    _text(sensor, "always_on", True)
    _text(sensor, "update_rate", float(rate_hz))
    _text(sensor, "topic", GZ_CAMERA_TOPIC)
    _text(sensor, "gz_frame_id", camera.frame_id)  # header frame_id of images and camera_info
    cam = ET.SubElement(sensor, "camera", name="rgbd")
    _text(cam, "horizontal_fov", horizontal_fov_rad(camera))
    image = ET.SubElement(cam, "image")
    _text(image, "width", camera.width)
    _text(image, "height", camera.height)
    _text(image, "format", "R8G8B8")
    clip = ET.SubElement(cam, "clip")
    _text(clip, "near", CAMERA_CLIP_M[0])
    _text(clip, "far", CAMERA_CLIP_M[1])
    depth = ET.SubElement(cam, "depth_camera")
    _text(depth, "output", "depths")
    depth_clip = ET.SubElement(depth, "clip")
    _text(depth_clip, "near", CAMERA_CLIP_M[0])
    _text(depth_clip, "far", CAMERA_CLIP_M[1])
    lens = ET.SubElement(cam, "lens")  # a plain pinhole with our K (SDF 1.9 lens/intrinsics)
    _text(lens, "type", "gnomonical")
    _text(lens, "scale_to_hfov", True)
    intrinsics = ET.SubElement(lens, "intrinsics")
    (cx, cy), f = camera.principal_point_px, camera.focal_px
    for tag, value in (("fx", f), ("fy", f), ("cx", cx), ("cy", cy), ("s", 0.0)):
        _text(intrinsics, tag, value)
    _text(cam, "optical_frame_id", camera.frame_id)
    return sensor


def camera_mount(profile: dict[str, Any]) -> str | None:
    """The robot link a body camera is fixed to (profile camera.mount_frame), or None for a
    fixed scene camera (its pose is in the world == base frame)."""
    return profile["camera"].get("mount_frame")


def _camera_model(world: ET.Element, camera: CameraModel, rate_hz: float) -> None:
    model = ET.SubElement(world, "model", name=CAMERA_MODEL_NAME)
    _text(model, "static", True)
    _text(model, "pose", camera_link_pose(camera))
    ET.SubElement(model, "link", name="link").append(camera_sensor(camera, rate_hz))


def is_floating_base(profile: dict[str, Any]) -> bool:
    return bool(profile.get("floating_base", False))


def on_table(profile: dict[str, Any]) -> bool:
    """`environment: table` (the arm's default) or `floor` (a floating base's default)."""
    default = "floor" if is_floating_base(profile) else "table"
    return profile.get("environment", default) == "table"


def world_sdf(profile: dict[str, Any], scene: Scene, world_name: str | None = None) -> str:
    """The SDF world text for a robot profile and a scene (see the module docstring)."""
    world_name = world_name or f"vla_{profile['name']}"
    dt_s = float(profile["physics_dt_s"])
    if not (math.isfinite(dt_s) and 1e-4 <= dt_s <= 0.01):
        raise ValueError(f"physics_dt_s must be in 1e-4..0.01 s, got {dt_s}")
    sdf = ET.Element("sdf", version=SDF_VERSION)
    world = ET.SubElement(sdf, "world", name=world_name)
    physics = ET.SubElement(world, "physics", name="fixed_step", type="ignored")
    _text(physics, "max_step_size", dt_s)
    _text(physics, "real_time_factor", 1.0)
    _text(physics, "real_time_update_rate", 1.0 / dt_s)
    _text(world, "gravity", (0.0, 0.0, -9.81))
    for filename, name in SYSTEM_PLUGINS:
        plugin = ET.SubElement(world, "plugin", filename=filename, name=name)
        if name.endswith("Sensors"):
            _text(plugin, "render_engine", "ogre2")
    light = ET.SubElement(world, "light", name="sun", type="directional")
    _text(light, "cast_shadows", False)
    _text(light, "pose", (0.6, -0.5, 2.5, 0.0, 0.0, 0.0))
    _text(light, "diffuse", (0.8, 0.8, 0.8, 1.0))
    _text(light, "specular", (0.2, 0.2, 0.2, 1.0))
    _text(light, "direction", (-0.1, 0.2, -1.0))
    floor_z = FLOOR_Z_M if on_table(profile) else 0.0
    ground = ET.SubElement(world, "model", name="ground_plane")
    _text(ground, "static", True)
    _text(ground, "pose", (0.0, 0.0, floor_z, 0.0, 0.0, 0.0))
    ground_link = ET.SubElement(ground, "link", name="link")
    for tag in ("collision", "visual"):
        element = ET.SubElement(ground_link, tag, name=tag)
        plane = ET.SubElement(ET.SubElement(element, "geometry"), "plane")
        _text(plane, "normal", (0.0, 0.0, 1.0))
        _text(plane, "size", (20.0, 20.0))
        if tag == "visual":
            _material(element, (0.45, 0.47, 0.5))
    if on_table(profile):  # the arm stands on the table; its top is z = 0
        size = tuple(2 * h for h in TABLE_HALF_M)
        _static_box(world, "table", size, (TABLE_CENTRE_X_M, 0.0, -TABLE_HALF_M[2], 0, 0, 0),
                    (0.72, 0.6, 0.45))
    for obj in scene.objects:
        _object_model(world, obj, z_offset_m=0.0)
    if camera_mount(profile) is None:  # a body camera comes with the robot (gazebo_urdf)
        camera = CameraModel.from_profile(profile["camera"])
        _camera_model(world, camera, float(profile.get("camera_rate_hz", 5.0)))
    ET.indent(sdf)
    return '<?xml version="1.0"?>\n' + ET.tostring(sdf, encoding="unicode") + "\n"


# ---------------------------------------------------------------- ros_gz_bridge
def bridge_config(profile: dict[str, Any], world_name: str | None = None,
                  model_name: str | None = None) -> list[dict[str, Any]]:
    """ros_gz_bridge `config_file` entries. /joint_states is not bridged: with gz_ros2_control
    the joint_state_broadcaster publishes it, as on hardware."""
    model_name = model_name or profile["name"]

    def entry(ros: str, gz: str, ros_type: str, gz_type: str) -> dict[str, Any]:
        return {"ros_topic_name": ros, "gz_topic_name": gz, "ros_type_name": ros_type,
                "gz_type_name": gz_type, "direction": "GZ_TO_ROS"}

    entries = [
        entry("/clock", "/clock", "rosgraph_msgs/msg/Clock", "gz.msgs.Clock"),
        entry("/camera/color/image_raw", f"{GZ_CAMERA_TOPIC}/image",
              "sensor_msgs/msg/Image", "gz.msgs.Image"),
        entry("/camera/depth/image_raw", f"{GZ_CAMERA_TOPIC}/depth_image",
              "sensor_msgs/msg/Image", "gz.msgs.Image"),
        entry("/camera/color/camera_info", f"{GZ_CAMERA_TOPIC}/camera_info",
              "sensor_msgs/msg/CameraInfo", "gz.msgs.CameraInfo"),
    ]
    if is_floating_base(profile):
        entries.append(entry("/imu", GZ_IMU_TOPIC, "sensor_msgs/msg/Imu", "gz.msgs.IMU"))
        entries.append(entry("/odom", f"/model/{model_name}/odometry",
                             "nav_msgs/msg/Odometry", "gz.msgs.Odometry"))
    return entries


# ---------------------------------------------------------------- gz_ros2_control
def _initial_positions(profile: dict[str, Any]) -> dict[str, float]:
    initial = {k: float(v) for k, v in (profile.get("default_joint_positions") or {}).items()}
    arm, home = profile.get("arm_joints", []), profile.get("home_joint_positions", [])
    initial.update(zip(arm, (float(v) for v in home), strict=False))
    for name in profile.get("gripper_joints", []):
        initial[name] = float(profile.get("gripper_open_m", 0.0))
    return initial


def gazebo_urdf(profile: dict[str, Any], controllers_yaml: str | Path,
                urdf_text: str | None = None) -> str:
    """The robot URDF with a <ros2_control> block for gz_ros2_control (position commands,
    position + velocity states, initial values = home pose) and the plugin that loads
    `controllers_yaml`. A fixed-base robot gets a `world` link holding base_link in place."""
    if urdf_text is None:
        urdf_text = Path(profile["urdf"]).read_text()
    robot = ET.fromstring(urdf_text)
    limits = {j.get("name"): j.find("limit") for j in robot.findall("joint")}
    base = profile.get("base_frame", "base_link")
    if not is_floating_base(profile) and robot.find("link[@name='world']") is None:
        robot.insert(0, ET.Element("link", name="world"))
        joint = ET.Element("joint", name="world_to_" + base, type="fixed")
        ET.SubElement(joint, "parent", link="world")
        ET.SubElement(joint, "child", link=base)
        robot.insert(1, joint)
    control = ET.SubElement(robot, "ros2_control", name="GazeboSimSystem", type="system")
    ET.SubElement(ET.SubElement(control, "hardware"), "plugin").text = GAZEBO_SIM_SYSTEM
    initial = _initial_positions(profile)
    for joints in joint_groups(profile).values():
        for name in joints:
            if name not in limits:
                raise ValueError(f"joint {name!r} from the profile is not in the URDF")
            joint = ET.SubElement(control, "joint", name=name)
            command = ET.SubElement(joint, "command_interface", name="position")
            limit = limits[name]
            if limit is not None and limit.get("lower") is not None:
                ET.SubElement(command, "param", name="min").text = limit.get("lower")
                ET.SubElement(command, "param", name="max").text = limit.get("upper")
            state = ET.SubElement(joint, "state_interface", name="position")
            if name in initial:
                ET.SubElement(state, "param", name="initial_value").text = _num(initial[name])
            ET.SubElement(joint, "state_interface", name="velocity")
    gazebo = ET.SubElement(robot, "gazebo")
    plugin = ET.SubElement(gazebo, "plugin", filename=GZ_ROS2_CONTROL_PLUGIN[0],
                           name=GZ_ROS2_CONTROL_PLUGIN[1])
    ET.SubElement(plugin, "parameters").text = str(controllers_yaml)
    if is_floating_base(profile):
        _floating_base_sensors(robot, profile, base)
    mount = camera_mount(profile)
    if mount is not None:  # pose in the mount link, same optical frame as the CameraModel
        camera = CameraModel.from_profile(profile["camera"])
        sensor = camera_sensor(camera, float(profile.get("camera_rate_hz", 5.0)),
                               pose=camera_link_pose(camera))
        ET.SubElement(robot, "gazebo", reference=mount).append(sensor)
    ET.indent(robot)
    return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"


def _floating_base_sensors(robot: ET.Element, profile: dict[str, Any], base: str) -> None:
    """IMU sensor on the profile's imu_frame and ground-truth odometry of the base."""
    ref = ET.SubElement(robot, "gazebo", reference=profile.get("imu_frame", base))
    imu = ET.SubElement(ref, "sensor", name="imu", type="imu")
    _text(imu, "always_on", True)
    _text(imu, "update_rate", float(profile.get("control_rate_hz", 250.0)))
    _text(imu, "topic", GZ_IMU_TOPIC)
    _text(imu, "gz_frame_id", profile.get("imu_frame", base))
    odom = ET.SubElement(ET.SubElement(robot, "gazebo"), "plugin",
                         filename="gz-sim-odometry-publisher-system",
                         name="gz::sim::systems::OdometryPublisher")
    _text(odom, "odom_frame", "odom")
    _text(odom, "robot_base_frame", base)
    _text(odom, "dimensions", 3)
    _text(odom, "odom_publish_frequency", float(profile.get("joint_state_rate_hz", 50.0)))


def controllers_config(profile: dict[str, Any]) -> dict[str, Any]:
    """controller_manager params: joint_state_broadcaster + <group>_controller
    (forward_command_controller/ForwardCommandController, position, joints in profile order)."""
    groups = joint_groups(profile)
    manager: dict[str, Any] = {
        "update_rate": int(round(float(profile.get("control_rate_hz", 250.0)))),
        "use_sim_time": True,
        "joint_state_broadcaster": {"type": "joint_state_broadcaster/JointStateBroadcaster"},
    }
    config: dict[str, Any] = {"controller_manager": {"ros__parameters": manager}}
    config["joint_state_broadcaster"] = {"ros__parameters": {
        "update_rate": int(round(float(profile.get("joint_state_rate_hz", 50.0)))),
        "use_sim_time": True}}
    for group, joints in groups.items():
        name = f"{group}_controller"
        manager[name] = {"type": "forward_command_controller/ForwardCommandController"}
        config[name] = {"ros__parameters": {"joints": joints, "interface_name": "position",
                                            "use_sim_time": True}}
    return config


def controller_names(profile: dict[str, Any]) -> list[str]:
    """What `controller_manager spawner` must start, broadcaster first."""
    return ["joint_state_broadcaster"] + [f"{g}_controller" for g in joint_groups(profile)]


# ---------------------------------------------------------------- files
def write_gazebo_files(profile: dict[str, Any], scene: Scene, out_dir: str | Path,
                       world_name: str | None = None, with_urdf: bool = True) -> dict[str, Path]:
    """Write <robot>_world.sdf, <robot>_bridge.yaml, <robot>_controllers.yaml and (with_urdf)
    <robot>_gz.urdf, whose plugin points at the controllers file by absolute path, into out_dir.
    The keys of the result are world.sdf, bridge.yaml, controllers.yaml, gz.urdf."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    robot = profile["name"]
    kinds = ("world.sdf", "bridge.yaml", "controllers.yaml") + (("gz.urdf",) if with_urdf else ())
    paths = {kind: out / f"{robot}_{kind}" for kind in kinds}
    paths["world.sdf"].write_text(world_sdf(profile, scene, world_name))
    header = f"# generated by vla_bringup.gazebo from the {robot} profile; do not edit\n"
    paths["bridge.yaml"].write_text(header + yaml.safe_dump(bridge_config(profile),
                                                            sort_keys=False))
    paths["controllers.yaml"].write_text(header + yaml.safe_dump(controllers_config(profile),
                                                                 sort_keys=False))
    if with_urdf:
        paths["gz.urdf"].write_text(gazebo_urdf(profile, paths["controllers.yaml"].resolve()))
    return paths


def main(argv: list[str] | None = None) -> int:
    from vla_bringup.profile import load_profile
    from vla_sim.scene import load_scene

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robot", default="arm")
    parser.add_argument("--scene", default=None, help="scene YAML (default: the profile's)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--no-urdf", action="store_true",
                        help="skip <robot>_gz.urdf (it holds an absolute path)")
    args = parser.parse_args(argv)
    profile = load_profile(args.robot)
    scene = load_scene(args.scene or profile["default_scene"])
    for path in write_gazebo_files(profile, scene, args.out, with_urdf=not args.no_urdf).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
