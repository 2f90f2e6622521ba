"""SimWorld in real MuJoCo: scene validation, camera geometry, joint control, friction grasp."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import copy  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from vla_perception.camera_model import CameraModel  # noqa: E402
from vla_sim.build import CAMERA_NAME  # noqa: E402
from vla_sim.scene import load_scene, parse_scene  # noqa: E402
from vla_sim.world import SimWorld  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((ROOT / "config" / "robots" / "arm.yaml").read_text())
SCENE_PATH = ROOT / "config" / "scenes" / "tabletop.yaml"
ARM, GRIPPER = PROFILE["arm_joints"], PROFILE["gripper_joints"]


@pytest.fixture
def world():
    w = SimWorld(PROFILE, load_scene(SCENE_PATH), ROOT)
    yield w
    w.close()


# ----- scene files -----
def _scene(**overrides):
    obj = {"name": "cube", "shape": "box", "color": "red", "size": [0.04] * 3,
           "pose": [0.5, 0.0, 0.0]}
    obj.update(overrides)
    return {"robot": "arm", "objects": [obj]}


def test_default_scene_is_valid_and_spread_out():
    scene = load_scene(SCENE_PATH)
    assert {"red_cube", "green_cube", "yellow_cube", "blue_bin"} <= set(scene.object_names)
    for obj in scene.objects:
        assert 0.35 <= obj.position_m[0] <= 0.62 and -0.25 <= obj.position_m[1] <= 0.25
        assert obj.position_m[2] == pytest.approx(obj.size_m[2] / 2)
        for other in scene.objects:
            if other is not obj:
                assert np.hypot(*np.subtract(obj.position_m[:2], other.position_m[:2])) >= 0.10
    assert scene.get("red_cube").color_rgb == (0.85, 0.1, 0.1)


@pytest.mark.parametrize("overrides, message", [
    ({"shape": "cone"}, "shape"),
    ({"color": "mauve"}, "colour"),
    ({"color": [1.0, 0.2]}, "color"),
    ({"color": [1.5, 0.0, 0.0]}, "0..1"),
    ({"size": [0.04, 0.04]}, "size"),
    ({"size": [0.04, -0.04, 0.04]}, "sizes"),
    ({"size": [0.04, "big", 0.04]}, "numbers"),
    ({"shape": "cylinder", "size": [0.04, 0.05, 0.1]}, "diameter"),
    ({"pose": [0.5, float("nan"), 0.0]}, "finite"),
    ({"pose": [0.5]}, "pose"),
    ({"name": "my cube"}, "identifier"),
    ({"mass": -1.0}, "mass"),
    ({"weight": 1.0}, "unknown keys"),
])
def test_scene_validation_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        parse_scene(_scene(**overrides))


def test_scene_duplicates_overlaps_and_files(tmp_path):
    data = _scene()
    data["objects"].append(dict(data["objects"][0]))
    with pytest.raises(ValueError, match="duplicate"):
        parse_scene(data)
    data["objects"][1]["name"] = "cube2"
    with pytest.raises(ValueError, match="overlap"):
        parse_scene(data)
    with pytest.raises(ValueError, match="robot"):
        parse_scene({"objects": []})
    bad = tmp_path / "bad.yaml"
    bad.write_text("robot: arm\nobjects: [\n")
    with pytest.raises(ValueError, match="YAML"):
        load_scene(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_scene(tmp_path / "missing.yaml")


# ----- camera -----
def test_camera_model_round_trip_and_conventions():
    cam = CameraModel.from_profile(PROFILE["camera"])
    assert cam.K[0, 0] == pytest.approx(cam.K[1, 1])
    assert cam.K[0, 0] == pytest.approx(240 / np.tan(np.radians(25)), rel=1e-9)
    rot = cam.T_base_optical[:3, :3]
    assert rot.T @ rot == pytest.approx(np.eye(3))
    assert np.linalg.det(rot) == pytest.approx(1.0)
    look = np.subtract(cam.look_at_base_m, cam.position_base_m)
    assert rot[:, 2] == pytest.approx(look / np.linalg.norm(look))
    assert rot[2, 1] < 0  # image down has a downward world component
    uv, depth = cam.project(np.array(cam.look_at_base_m))
    assert uv == pytest.approx([319.5, 239.5])
    assert depth == pytest.approx(np.linalg.norm(look))
    rng = np.random.default_rng(0)
    pts = rng.uniform([0.3, -0.3, 0.0], [0.7, 0.3, 0.2], size=(50, 3))
    uv, depth = cam.project(pts)
    assert cam.deproject(uv[:, 0], uv[:, 1], depth) == pytest.approx(pts, abs=1e-9)
    with pytest.raises(ValueError):
        cam.project(np.array([[np.nan, 0.0, 0.0]]))
    with pytest.raises(ValueError):
        CameraModel(640, 480, 50.0, (1.0, 0.0, 1.0), (1.0, 0.0, 0.0))  # looks straight down


def test_camera_sees_objects_where_the_model_says(world):
    cam = world.camera
    mj_rot = world.data.cam_xmat[world.model.camera(CAMERA_NAME).id].reshape(3, 3)
    assert mj_rot == pytest.approx(cam.R_base_optical @ np.diag([1.0, -1.0, -1.0]), abs=1e-9)
    rgb, depth = world.render_rgbd()
    assert rgb.shape == (cam.height, cam.width, 3) and rgb.dtype == np.uint8
    assert depth.shape == (cam.height, cam.width) and depth.dtype == np.float32
    renderer = world._renderer
    for name in world.object_names:
        centre = world.object_pose(name)[0]
        (u, v), expected = cam.project(centre)
        assert 0 <= u < cam.width and 0 <= v < cam.height, name
        col, row = int(np.rint(u)), int(np.rint(v))
        obj = world.scene_object(name)
        # the visible surface lies within the object's bounding sphere around its centre
        assert abs(depth[row, col] - expected) <= np.linalg.norm(obj.size_m) / 2, name
        colour = rgb[row, col].astype(float)
        assert np.argmax(colour) == int(np.argmax(obj.color_rgb)), name
    world.step(10)
    rgb2, _ = world.render_rgbd()
    assert world._renderer is renderer and rgb2.shape == rgb.shape


# ----- joints -----
def test_holds_home_pose_and_tracks_targets(world):
    home = world.joint_positions()
    assert home[:7] == pytest.approx(PROFILE["home_joint_positions"])
    world.step(int(2.0 / world.physics_dt_s))
    assert world.time_s == pytest.approx(2.0)
    assert np.degrees(np.abs(world.joint_positions() - home)[:7]).max() < 1.0
    assert world.joint_positions()[7:] == pytest.approx([0.04, 0.04], abs=1e-3)
    target = home[:7] + np.array([0.3, 0.2, -0.2, 0.3, 0.2, -0.3, 0.4])
    world.set_joint_targets(ARM, target)
    world.set_joint_targets(GRIPPER, [0.01, 0.01])
    world.step(int(1.5 / world.physics_dt_s))
    assert np.degrees(np.abs(world.joint_positions()[:7] - target)).max() < 1.0
    assert world.joint_positions()[7:] == pytest.approx([0.01, 0.01], abs=1e-3)
    assert np.all(np.isfinite(world.joint_efforts()))
    assert np.abs(world.joint_velocities()).max() < 0.05


def test_joint_targets_are_validated_and_clamped(world):
    q_before = world.joint_positions()
    for names, q in ((["nope"], [0.0]), (ARM, [0.0] * 6), (["arm_joint_1"], [np.nan]),
                     (["arm_joint_1", "arm_joint_1"], [0.0, 0.0])):
        with pytest.raises(ValueError):
            world.set_joint_targets(names, q)
    with pytest.raises(ValueError):
        world.set_joint_targets(["arm_joint_1"], [0.0], velocities=[np.inf])
    with pytest.raises(ValueError):
        world.step(-1)
    world.step(50)
    assert world.joint_positions() == pytest.approx(q_before, abs=1e-4)  # nothing moved
    world.set_joint_targets(["arm_joint_4", "gripper_left_finger_joint"], [0.5, 0.2])
    world.step(int(1.0 / world.physics_dt_s))
    assert world.joint_positions()[3] <= -0.07 + 1e-3  # arm_joint_4 upper limit
    assert world.joint_positions()[7] <= 0.04 + 1e-3


def test_objects_rest_at_scene_poses(world):
    world.step(int(0.5 / world.physics_dt_s))
    for obj in world.scene.objects:
        pos, quat = world.object_pose(obj.name)
        assert pos == pytest.approx(obj.position_m, abs=2e-3)
        assert world.object_speed_m_s(obj.name) < 1e-3
    with pytest.raises(ValueError, match="unknown object"):
        world.object_pose("purple_cube")


# ----- the friction grasp -----
def _tool_down_ik(model, data, target_xyz, q_seed):
    fid = model.getFrameId("tool0")
    target = pin.SE3(pin.utils.rpyToMatrix(np.pi, 0, 0), np.asarray(target_xyz, float))
    q = np.concatenate([q_seed[:7], [0.04, 0.04]])
    for _ in range(300):
        pin.framesForwardKinematics(model, data, q)
        err = pin.log6(data.oMf[fid].actInv(target)).vector
        if np.linalg.norm(err) < 1e-6:
            return q[:7]
        jac = pin.computeFrameJacobian(model, data, q, fid, pin.LOCAL)[:, :7]
        dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-6 * np.eye(6), err)
        q[:7] = np.clip(q[:7] + dq, model.lowerPositionLimit[:7], model.upperPositionLimit[:7])
    raise AssertionError(f"IK did not converge for {target_xyz}")


def _move(world, q_to, duration_s, gripper_m):
    """Smooth joint-space move with velocity feed-forward, the way a controller would."""
    q_from = world.joint_positions()[:7]
    n = int(duration_s / world.physics_dt_s)
    for i in range(1, n + 1):
        s = i / n
        blend, rate = 3 * s**2 - 2 * s**3, (6 * s - 6 * s**2) / duration_s
        world.set_joint_targets(ARM, q_from + blend * (q_to - q_from), rate * (q_to - q_from))
        world.set_joint_targets(GRIPPER, [gripper_m, gripper_m])
        world.step()


def test_friction_grasp_lifts_cube_and_drops_it_in_the_bin(world):
    model = pin.buildModelFromUrdf(str(ROOT / PROFILE["urdf"]))
    data = model.createData()
    cube0 = world.object_pose("red_cube")[0]
    bin_pos = world.object_pose("blue_bin")[0]
    opened, closed = PROFILE["gripper_open_m"], PROFILE["gripper_closed_m"]
    q = world.joint_positions()
    q_above = _tool_down_ik(model, data, cube0 + [0, 0, 0.12], q)
    q_grasp = _tool_down_ik(model, data, cube0, q_above)
    q_lift = _tool_down_ik(model, data, cube0 + [0, 0, 0.10], q_grasp)
    q_drop = _tool_down_ik(model, data, bin_pos + [0, 0, 0.105], q_lift)

    _move(world, q_above, 1.5, opened)
    _move(world, q_grasp, 1.0, opened)
    assert world.object_pose("red_cube")[0] == pytest.approx(cube0, abs=2e-3)  # not pushed
    _move(world, q_grasp, 0.6, closed)
    assert world.joint_positions()[7:] == pytest.approx([0.02, 0.02], abs=3e-3)  # on the cube
    _move(world, q_lift, 1.0, closed)
    _move(world, q_lift, 0.5, closed)
    lifted = world.object_pose("red_cube")[0]
    assert lifted[2] - cube0[2] == pytest.approx(0.10, abs=0.01)  # rose with the gripper
    assert world.check_goal("holding(red_cube)")[0]
    assert not world.check_goal("in(red_cube, blue_bin)")[0]

    _move(world, q_drop, 2.0, closed)
    assert world.check_goal("holding(red_cube)")[0]  # carried, not dropped
    _move(world, q_drop, 1.0, opened)
    ok, detail = world.check_goal(
        "in(red_cube, blue_bin) and unmoved(green_cube) and unmoved(yellow_cube)")
    assert ok, detail
    assert not world.check_goal("holding(red_cube)")[0]


def test_world_rejects_a_profile_that_does_not_match_the_urdf():
    profile = copy.deepcopy(PROFILE)
    profile["arm_joints"] = ARM[:-1] + ["arm_joint_99"]
    with pytest.raises(ValueError, match="arm_joint_99"):
        SimWorld(profile, load_scene(SCENE_PATH), ROOT)
    SimWorld(PROFILE, load_scene(SCENE_PATH)).close()  # relative URDF against the repo root


def test_jitter_scene_is_seeded_small_and_keeps_names():
    from vla_sim.scene import jitter_scene

    scene = load_scene(SCENE_PATH)
    a, b = jitter_scene(scene, 7), jitter_scene(scene, 7)
    assert a == b and a != jitter_scene(scene, 8)
    for before, after in zip(scene.objects, a.objects, strict=True):
        assert before.name == after.name
        offset = np.subtract(after.position_m, before.position_m)
        assert 0 < np.abs(offset[:2]).max() <= 0.01 and offset[2] == 0
        assert abs(after.yaw_rad - before.yaw_rad) <= 0.2
