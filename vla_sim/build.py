"""Build the MuJoCo model: robot URDF + table or floor + scene objects + actuators + camera.

The profile decides: `floating_base: true` adds a free joint at the base (legged robots),
`environment: floor` puts a floor plane at z = 0 instead of the arm's table, `joint_groups`
(default: the arm's `arm_joints` + `gripper_joints`) get one position actuator per joint with
per-group gains and armature, and `camera.mount_frame` fixes the camera to a robot body.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from vla_bringup.profile import joint_groups
from vla_perception.camera_model import CameraModel
from vla_sim.scene import BIN_WALL_M, DEFAULT_DENSITY_KG_M3, Scene, SceneObject

CAMERA_NAME = "scene_camera"
TABLE_HALF_M = (0.75, 0.75, 0.02)  # table top from x -0.5 to 1.0, y -0.75 to 0.75
TABLE_CENTRE_X_M = 0.25
FLOOR_Z_M = -0.75
# Contact bits: the robot's collision geoms (contype 2, conaffinity 0) touch only the
# environment and objects (conaffinity 3), never each other; objects touch everything.
ROBOT_CONTYPE, ROBOT_CONAFFINITY = 2, 0
ENV_CONTYPE, ENV_CONAFFINITY = 1, 3
HIDDEN_GROUP = 3  # collision geoms of the URDF (rendered groups are 0..2)
ARMATURE = {"arm": 0.05, "gripper": 0.01}  # kg m^2 / kg: rotor inertia the URDF lacks
DEFAULT_ARMATURE = 0.01  # for groups with neither a profile `armature` entry nor one above
FREE_JOINT_NAME = "floating_base"
IMU_SITE, IMU_GYRO, IMU_ACCEL = "imu", "imu_gyro", "imu_accel"
FIELD_FLOOR_HALF_M = 12.0  # legged scenes: objects up to ~5 m away, room to walk past them
OBJECT_FRICTION = (1.0, 0.005, 0.0001)
PAD_FRICTION = (1.5, 0.02, 0.0002)  # rubber finger pads
PAD_CONDIM = 4  # torsional friction so a pinched cube does not spin about the pad normal


def _yaw_quat(yaw_rad: float) -> list[float]:
    return [math.cos(yaw_rad / 2), 0.0, 0.0, math.sin(yaw_rad / 2)]


def optical_to_mujoco_quat(camera: CameraModel) -> np.ndarray:
    """MuJoCo cameras look along their -z with y up: flip the optical y and z axes."""
    rot = camera.R_base_optical @ np.diag([1.0, -1.0, -1.0])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rot.flatten())
    return quat


def _add_object(spec: mujoco.MjSpec, obj: SceneObject) -> None:
    body = spec.worldbody.add_body(name=obj.name, pos=list(obj.position_m),
                                   quat=_yaw_quat(obj.yaw_rad))
    body.add_freejoint(name=f"{obj.name}_free")
    rgba = [*obj.color_rgb, 1.0]
    hx, hy, hz = obj.half_extents_m
    parts: list[tuple[Any, list[float], list[float]]] = []  # (type, size, pos)
    if obj.shape == "box":
        parts.append((mujoco.mjtGeom.mjGEOM_BOX, [hx, hy, hz], [0, 0, 0]))
    elif obj.shape == "cylinder":
        parts.append((mujoco.mjtGeom.mjGEOM_CYLINDER, [hx, hz, 0], [0, 0, 0]))
    elif obj.shape == "sphere":
        parts.append((mujoco.mjtGeom.mjGEOM_SPHERE, [hx, 0, 0], [0, 0, 0]))
    else:  # bin: floor + four walls in one body, frame at the bounding-box centre
        t = BIN_WALL_M / 2
        box = mujoco.mjtGeom.mjGEOM_BOX
        parts.append((box, [hx, hy, t], [0, 0, -hz + t]))
        parts.append((box, [t, hy, hz], [hx - t, 0, 0]))
        parts.append((box, [t, hy, hz], [-hx + t, 0, 0]))
        parts.append((box, [hx - 2 * t, t, hz], [0, hy - t, 0]))
        parts.append((box, [hx - 2 * t, t, hz], [0, -hy + t, 0]))
    density = DEFAULT_DENSITY_KG_M3
    if obj.mass_kg is not None:
        density = obj.mass_kg / _solid_volume_m3(parts)
    for i, (gtype, size, pos) in enumerate(parts):
        body.add_geom(name=f"{obj.name}_geom{i}", type=gtype, size=size, pos=pos, rgba=rgba,
                      density=density, friction=list(OBJECT_FRICTION), condim=4,
                      contype=ENV_CONTYPE, conaffinity=ENV_CONAFFINITY)


def _solid_volume_m3(parts: list[tuple[Any, list[float], list[float]]]) -> float:
    vol = 0.0
    for gtype, size, _ in parts:
        if gtype == mujoco.mjtGeom.mjGEOM_BOX:
            vol += 8 * size[0] * size[1] * size[2]
        elif gtype == mujoco.mjtGeom.mjGEOM_CYLINDER:
            vol += math.pi * size[0] ** 2 * 2 * size[1]
        else:
            vol += 4 / 3 * math.pi * size[0] ** 3
    return vol


def _add_floor_environment(spec: mujoco.MjSpec) -> None:
    """Legged robots: an open floor at z = 0, lit from above."""
    world = spec.worldbody
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE,
                   size=[FIELD_FLOOR_HALF_M, FIELD_FLOOR_HALF_M, 0.1], pos=[0, 0, 0],
                   rgba=[0.45, 0.47, 0.5, 1], friction=list(OBJECT_FRICTION),
                   contype=ENV_CONTYPE, conaffinity=ENV_CONAFFINITY)
    # a pale sky: a black background would read as a huge black "object" to a colour segmenter
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=[0.78, 0.84, 0.9],
                     rgb2=[0.95, 0.96, 0.98], width=64, height=64)
    world.add_light(name="key_light", pos=[2.0, -1.0, 4.0], dir=[0.0, 0.2, -1.0],
                    diffuse=[0.7, 0.7, 0.7], castshadow=False)
    world.add_light(name="fill_light", pos=[0.0, 2.0, 3.0], dir=[0.4, -0.4, -1.0],
                    diffuse=[0.35, 0.35, 0.35], castshadow=False)


def _add_environment(spec: mujoco.MjSpec) -> None:
    world = spec.worldbody
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(TABLE_HALF_M),
                   pos=[TABLE_CENTRE_X_M, 0, -TABLE_HALF_M[2]], rgba=[0.72, 0.6, 0.45, 1],
                   friction=list(OBJECT_FRICTION), contype=ENV_CONTYPE,
                   conaffinity=ENV_CONAFFINITY)
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[5, 5, 0.1],
                   pos=[0, 0, FLOOR_Z_M], rgba=[0.45, 0.47, 0.5, 1], contype=ENV_CONTYPE,
                   conaffinity=ENV_CONAFFINITY)
    world.add_light(name="key_light", pos=[0.6, -0.5, 2.5], dir=[-0.1, 0.2, -1.0],
                    diffuse=[0.7, 0.7, 0.7], castshadow=False)
    world.add_light(name="fill_light", pos=[1.5, 1.0, 2.0], dir=[-0.6, -0.4, -1.0],
                    diffuse=[0.35, 0.35, 0.35], castshadow=False)


def _add_floating_base(spec: mujoco.MjSpec, profile: dict[str, Any]) -> None:
    """A free joint at the base body, which starts `base_height_m` above the floor."""
    base_name = profile.get("base_frame", "base_link")
    base = spec.body(base_name)
    if base is None or base.parent.name != "world":
        raise ValueError(f"floating base {base_name!r} must be the URDF's root link")
    height_m = float(profile.get("base_height_m", 0.0))
    if not (math.isfinite(height_m) and 0.0 < height_m < 3.0):
        raise ValueError(f"a floating-base profile needs base_height_m in (0, 3) m, got "
                         f"{height_m}")
    base.pos = [0.0, 0.0, height_m]
    base.add_freejoint(name=FREE_JOINT_NAME)
    # an IMU at the base origin: MuJoCo's gyro and accelerometer (specific force, +g at rest)
    base.add_site(name=IMU_SITE, pos=[0.0, 0.0, 0.0])
    spec.add_sensor(name=IMU_GYRO, type=mujoco.mjtSensor.mjSENS_GYRO,
                    objtype=mujoco.mjtObj.mjOBJ_SITE, objname=IMU_SITE)
    spec.add_sensor(name=IMU_ACCEL, type=mujoco.mjtSensor.mjSENS_ACCELEROMETER,
                    objtype=mujoco.mjtObj.mjOBJ_SITE, objname=IMU_SITE)


def _configure_robot(spec: mujoco.MjSpec, profile: dict[str, Any]) -> None:
    robot_bodies = {b.name for b in spec.bodies if b.name != "world"}
    # Fixed-base arms: the robot's own controller cancels gravity (as on a real cobot); the
    # joint position loop then only has to track. Legged robots carry their weight on their
    # joints: no compensation unless the profile asks. (Robot geoms never collide with each
    # other, see ROBOT_CONTYPE: no self-contacts at the reference pose or anywhere else.)
    gravcomp = bool(profile.get("gravity_compensation", not profile.get("floating_base")))
    friction = profile.get("friction")
    for body in spec.bodies:
        if gravcomp and body.name in robot_bodies:
            body.gravcomp = 1.0
    for geom in spec.geoms:
        if geom.parent.name not in robot_bodies:
            continue
        if geom.contype or geom.conaffinity:  # URDF collision geom
            geom.group = HIDDEN_GROUP
            geom.contype, geom.conaffinity = ROBOT_CONTYPE, ROBOT_CONAFFINITY
            if friction is not None:
                geom.friction = [float(f) for f in friction]
            if geom.parent.name.startswith("gripper_") and geom.parent.name.endswith("_finger"):
                geom.friction = list(PAD_FRICTION)
                geom.condim = PAD_CONDIM
    gains = profile["gains"]
    armature = profile.get("armature", {})
    for group, names in joint_groups(profile).items():
        if group not in gains:
            raise ValueError(f"profile gains have no entry for joint group {group!r}")
        kp, kv = float(gains[group]["kp"]), float(gains[group]["kv"])
        if not (kp > 0 and kv >= 0):
            raise ValueError(f"bad gains for {group}: kp={kp} kv={kv}")
        for name in names:
            joint = spec.joint(name)
            if joint is None:
                raise ValueError(f"joint {name!r} from the profile is not in the URDF")
            joint.armature = float(armature.get(group, ARMATURE.get(group, DEFAULT_ARMATURE)))
            act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_position(kp=kp, kv=kv)
            act.ctrlrange = list(joint.range)
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE


def urdf_velocity_limits(urdf: Path) -> dict[str, float]:
    """Joint name -> the URDF's velocity limit (rad/s or m/s); MJCF has no such field."""
    limits = {}
    for joint in ET.parse(urdf).getroot().iter("joint"):
        limit = joint.find("limit")
        if limit is not None and limit.get("velocity") is not None:
            limits[joint.get("name")] = float(limit.get("velocity"))
    return limits


def build_spec(profile: dict[str, Any], scene: Scene, root: Path) -> mujoco.MjSpec:
    urdf = Path(root) / profile["urdf"]
    if not urdf.is_file():
        raise ValueError(f"URDF not found: {urdf}")
    spec = mujoco.MjSpec.from_file(str(urdf))
    spec.modelname = profile.get("name", "robot")
    dt_s = float(profile["physics_dt_s"])
    if not (math.isfinite(dt_s) and 1e-4 <= dt_s <= 0.01):
        raise ValueError(f"physics_dt_s must be in 1e-4..0.01 s, got {dt_s}")
    spec.option.timestep = dt_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0  # stiffer friction, less creep in the grasp
    if profile.get("floating_base"):
        _add_floating_base(spec, profile)
    _configure_robot(spec, profile)
    environment = profile.get("environment", "table")
    if environment == "table":
        _add_environment(spec)
    elif environment == "floor":
        _add_floor_environment(spec)
    else:
        raise ValueError(f"environment must be table or floor, got {environment!r}")
    for obj in scene.objects:
        _add_object(spec, obj)
    camera = CameraModel.from_profile(profile["camera"])
    mount = profile["camera"].get("mount_frame")  # None: fixed in the world (base) frame
    parent = spec.worldbody if mount is None else spec.body(str(mount))
    if parent is None:
        raise ValueError(f"camera mount_frame {mount!r} is not a body of the robot")
    parent.add_camera(name=CAMERA_NAME, pos=list(camera.position_base_m),
                      quat=list(optical_to_mujoco_quat(camera)), fovy=camera.fovy_deg)
    # cheap CPU rendering: no shadows, no multisampling, no reflections (notes)
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = max(camera.width, 640)
    spec.visual.global_.offheight = max(camera.height, 480)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.3, 0.3, 0.3]
    return spec
