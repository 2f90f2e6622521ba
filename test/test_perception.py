"""Perception: RGB-D -> objects on analytic frames and on real MuJoCo renders; text matching."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import math  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from vla_perception import DetectorConfig, ObjectDetector, detect_objects, match_object  # noqa: E402
from vla_perception.camera_model import CameraModel  # noqa: E402
from vla_perception.colors import PALETTE_RGB, nearest_palette_name  # noqa: E402
from vla_perception.robot_mask import RobotBodyModel  # noqa: E402
from vla_perception.synthetic import Primitive, render_rgbd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((ROOT / "config" / "robots" / "arm.yaml").read_text())
CAMERA = CameraModel.from_profile(PROFILE["camera"])
SCENE_PATH = ROOT / "config" / "scenes" / "tabletop.yaml"


def _prim(shape, color, size, center, yaw=0.0):
    return Primitive(shape, PALETTE_RGB[color], tuple(size), tuple(center), yaw)


MIXED = [
    _prim("box", "red", (0.04, 0.04, 0.04), (0.52, 0.12, 0.02), 0.3),
    _prim("box", "green", (0.04, 0.04, 0.04), (0.38, 0.08, 0.02)),
    _prim("cylinder", "yellow", (0.05, 0.05, 0.08), (0.60, -0.04, 0.04)),
    _prim("sphere", "orange", (0.05, 0.05, 0.05), (0.62, 0.20, 0.025)),
    _prim("bin", "blue", (0.16, 0.16, 0.07), (0.42, -0.16, 0.035), 0.2),
    _prim("box", "purple", (0.08, 0.03, 0.03), (0.40, 0.25, 0.015), -0.5),
]


def _by_name(objects):
    return {o.name: o for o in objects}


# ----- analytic frames -----
def test_analytic_scene_names_shapes_and_centres():
    rgb, depth = render_rgbd(CAMERA, MIXED)
    found = _by_name(detect_objects(rgb, depth, CAMERA))
    expected = {"red_cube": "box", "green_cube": "box", "yellow_cylinder": "cylinder",
                "orange_ball": "sphere", "blue_bin": "bin", "purple_box": "box"}
    assert {n: o.shape for n, o in found.items()} == expected
    for prim, name in zip(MIXED, expected, strict=True):
        obj = found[name]
        assert np.linalg.norm(obj.position_base_m - prim.center_base_m) < 0.003, name
        assert obj.size_m[2] == pytest.approx(prim.size_m[2], abs=0.003)
        assert max(obj.size_m[:2]) == pytest.approx(max(prim.size_m[:2]), abs=0.004)
        assert obj.description == name.replace("_", " ")
        assert 0.5 <= obj.confidence <= 1.0 and obj.pixel_count > 50
    # yaw: along the long side for a box, modulo 90 degrees for square things
    assert found["purple_box"].yaw_rad == pytest.approx(-0.5, abs=0.03)
    assert found["red_cube"].yaw_rad == pytest.approx(0.3, abs=0.03)
    assert found["blue_bin"].yaw_rad == pytest.approx(0.2, abs=0.03)
    assert found["blue_bin"].kind == "container" and found["red_cube"].kind == "graspable"


def test_duplicates_numbered_nearest_first_and_split_when_overlapping_in_image():
    # Along the line of sight: the near cube hides part of the far one in the image.
    prims = [_prim("box", "red", (0.04,) * 3, (0.45, 0.0, 0.02)),
             _prim("box", "red", (0.04,) * 3, (0.53, 0.0, 0.02)),
             _prim("box", "red", (0.04,) * 3, (0.40, -0.2, 0.02))]
    found = detect_objects(*render_rgbd(CAMERA, prims), CAMERA)
    names = [(o.name, round(float(np.hypot(*o.position_base_m[:2])), 3)) for o in found]
    assert [n for n, _ in names] == ["red_cube", "red_cube_2", "red_cube_3"]
    assert [d for _, d in names] == sorted(d for _, d in names)
    centres = sorted(tuple(np.round(o.position_base_m[:2], 2)) for o in found)
    assert centres == [(0.40, -0.2), (0.45, 0.0), (0.53, 0.0)]


def test_stacked_and_in_bin_objects_keep_their_height():
    prims = [_prim("box", "yellow", (0.06, 0.06, 0.04), (0.55, 0.1, 0.02)),
             _prim("box", "red", (0.04, 0.04, 0.04), (0.55, 0.1, 0.06), 0.3),
             _prim("bin", "blue", (0.16, 0.16, 0.07), (0.45, -0.15, 0.035)),
             _prim("box", "green", (0.04, 0.04, 0.04), (0.45, -0.15, 0.028)),
             # a cube whose lower part is hidden by a taller thin box in front of it
             _prim("box", "purple", (0.04, 0.04, 0.04), (0.33, 0.0, 0.02)),
             _prim("box", "orange", (0.02, 0.10, 0.05), (0.37, 0.0, 0.025))]
    names = ["yellow_box", "red_cube", "blue_bin", "green_cube", "purple_cube", "orange_box"]
    found = _by_name(detect_objects(*render_rgbd(CAMERA, prims), CAMERA))
    assert set(found) == set(names)
    for prim, name in zip(prims, names, strict=True):
        assert np.linalg.norm(found[name].position_base_m - prim.center_base_m) < 0.004, name


def test_empty_table_and_exclusions_give_nothing():
    rgb, depth = render_rgbd(CAMERA, [])
    assert detect_objects(rgb, depth, CAMERA) == []
    rgb, depth = render_rgbd(CAMERA, MIXED[:1])
    assert len(detect_objects(rgb, depth, CAMERA)) == 1
    everything = np.ones(depth.shape, dtype=bool)
    assert detect_objects(rgb, depth, CAMERA, exclusion_mask=everything) == []

    class Everywhere:
        def contains(self, points):
            return np.ones(len(points), dtype=bool)

    assert detect_objects(rgb, depth, CAMERA, point_exclusion=Everywhere()) == []


@pytest.mark.parametrize("defect", ["nan", "inf", "zero", "negative"])
def test_invalid_depth_yields_empty_list(defect):
    rgb, depth = render_rgbd(CAMERA, MIXED)
    bad = {"nan": np.nan, "inf": np.inf, "zero": 0.0, "negative": -1.0}[defect]
    assert detect_objects(rgb, np.full_like(depth, bad), CAMERA) == []


def test_noisy_depth_with_holes_still_finds_everything():
    rng = np.random.default_rng(3)
    rgb, depth = render_rgbd(CAMERA, MIXED)
    depth = depth + rng.normal(0.0, 0.0005, depth.shape).astype(np.float32)
    depth[rng.random(depth.shape) < 0.03] = np.nan
    found = _by_name(detect_objects(rgb, depth, CAMERA))
    assert set(found) == {"red_cube", "green_cube", "yellow_cylinder", "orange_ball",
                          "blue_bin", "purple_box"}
    for prim in MIXED:
        err = min(np.linalg.norm(o.position_base_m - prim.center_base_m) for o in found.values())
        assert err < 0.006


@pytest.mark.parametrize("rgb, depth, message", [
    (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32), "empty"),
    (np.zeros((480, 640, 3), np.float32), np.ones((480, 640), np.float32), "uint8"),
    (np.zeros((480, 640), np.uint8), np.ones((480, 640), np.float32), "H x W x 3"),
    (np.zeros((480, 640, 3), np.uint8), np.ones((480, 640), np.uint16), "float32"),
    (np.zeros((480, 640, 3), np.uint8), np.ones((240, 320), np.float32), "differ"),
    (np.zeros((240, 320, 3), np.uint8), np.ones((240, 320), np.float32), "camera model"),
    ([[0]], np.ones((480, 640), np.float32), "numpy"),
])
def test_malformed_input_raises_clear_value_error(rgb, depth, message):
    with pytest.raises(ValueError, match=message):
        detect_objects(rgb, depth, CAMERA)


def test_random_images_never_crash():
    rng = np.random.default_rng(0)
    for _ in range(5):
        rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        depth = rng.uniform(-1.0, 3.0, (480, 640)).astype(np.float32)
        depth[rng.random(depth.shape) < 0.2] = np.nan
        assert isinstance(detect_objects(rgb, depth, CAMERA), list)
    with pytest.raises(ValueError, match="exclusion_mask"):
        detect_objects(rgb, depth, CAMERA, exclusion_mask=np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="ignore_colors"):
        ObjectDetector(CAMERA, DetectorConfig(ignore_colors=("grey",)))


# ----- text matching and colour names -----
def test_match_object_by_name_words_and_ordinals():
    prims = [_prim("box", "red", (0.04,) * 3, (0.45, 0.1, 0.02)),
             _prim("box", "red", (0.04,) * 3, (0.60, 0.1, 0.02)),
             _prim("bin", "blue", (0.16, 0.16, 0.07), (0.42, -0.16, 0.035))]
    objs = detect_objects(*render_rgbd(CAMERA, prims), CAMERA)
    assert match_object("red_cube_2", objs).name == "red_cube_2"
    assert match_object("the red cube", objs).name == "red_cube"
    assert match_object("the second red block", objs).name == "red_cube_2"
    assert match_object("blue container", objs).name == "blue_bin"
    assert match_object("the bin", objs).name == "blue_bin"
    assert match_object("purple cube", objs) is None  # a colour that is not there
    assert match_object("red ball", objs) is None
    assert match_object("banana", objs) is None
    assert match_object("red cube", []) is None


def test_nearest_palette_name_for_custom_colours():
    assert nearest_palette_name((0.2, 0.6, 0.9)) == "blue"
    assert nearest_palette_name((0.9, 0.45, 0.0)) == "orange"
    assert nearest_palette_name((1.0, 1.0, 1.0)) == "white"
    assert nearest_palette_name((0.1, 0.1, 0.1)) == "black"
    for name, rgb in PALETTE_RGB.items():
        assert nearest_palette_name(rgb) == name


# ----- the robot's own body (real pinocchio) -----
def test_robot_body_contains_its_base_and_not_the_workspace():
    body = RobotBodyModel(ROOT / PROFILE["urdf"])
    posed = body.posed(dict(zip(PROFILE["arm_joints"], PROFILE["home_joint_positions"],
                                strict=True)))
    inside = posed.contains(np.array([[0.0, 0.0, 0.05], [0.5, 0.1, 0.02], [0.4, -0.2, 0.03]]))
    assert inside.tolist() == [True, False, False]
    with pytest.raises(ValueError, match="unknown joint"):
        body.posed({"no_such_joint": 0.0})
    with pytest.raises(ValueError, match="finite"):
        body.posed({"arm_joint_1": math.nan})


# ----- real MuJoCo renders -----
@pytest.fixture(scope="module")
def sim():
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld

    world = SimWorld(PROFILE, load_scene(SCENE_PATH), ROOT)
    yield world, RobotBodyModel(ROOT / PROFILE["urdf"])
    world.close()


def _detect_in(world, body):
    rgb, depth = world.render_rgbd()
    joints = dict(zip(world.joint_names, world.joint_positions(), strict=True))
    return _by_name(detect_objects(rgb, depth, world.camera,
                                   point_exclusion=body.posed(joints)))


def _check_against_truth(world, found, tol_m):
    assert set(found) == set(world.object_names)  # every object, and nothing else (no robot)
    errors = []
    for name in world.object_names:
        assert found[name].shape == world.scene_object(name).shape
        errors.append(float(np.linalg.norm(found[name].position_base_m
                                           - world.object_pose(name)[0])))
    assert max(errors) < tol_m, dict(zip(world.object_names, errors, strict=True))
    return max(errors)


def test_default_scene_from_the_mujoco_camera(sim):
    world, body = sim
    world.reset()
    _check_against_truth(world, _detect_in(world, body), tol_m=0.01)


def test_random_object_poses_from_the_mujoco_camera(sim):
    world, body = sim
    rng = np.random.default_rng(11)
    for _ in range(4):
        world.reset()
        placed = []
        for name in world.object_names:
            obj = world.scene_object(name)
            radius = math.hypot(*obj.size_m[:2]) / 2
            for _ in range(1000):
                xy = rng.uniform([0.35, -0.25], [0.62, 0.25])
                if all(np.linalg.norm(xy - p) > radius + r + 0.01 for p, r in placed):
                    break
            placed.append((xy, radius))
            yaw = rng.uniform(-math.pi, math.pi)
            world.set_object_pose(name, [xy[0], xy[1], obj.size_m[2] / 2],
                                  [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
        _check_against_truth(world, _detect_in(world, body), tol_m=0.01)


def test_arm_in_view_is_masked_by_its_model(sim):
    world, body = sim
    for arm in ([0.3, 0.5, 0.0, -1.5, 0.0, 2.0, 0.785], [-0.4, 0.9, 0.2, -1.0, 0.0, 1.9, 0.0]):
        world.reset(arm + [0.02, 0.02])
        _check_against_truth(world, _detect_in(world, body), tol_m=0.01)
    # Without the model the white and dark arm shows up as objects: the mask is what helps.
    rgb, depth = world.render_rgbd()
    assert len(detect_objects(rgb, depth, world.camera)) > len(world.object_names)


def test_every_shape_and_colour_from_the_mujoco_camera():
    from vla_sim.scene import parse_scene
    from vla_sim.world import SimWorld

    objects = [
        ("white_cube", "box", "white", [0.04] * 3, [0.35, 0.2, 0.5]),
        ("black_cube", "box", "black", [0.05] * 3, [0.45, 0.2, 0.2]),
        ("orange_ball", "sphere", "orange", [0.05] * 3, [0.55, 0.2, 0.0]),
        ("purple_cylinder", "cylinder", "purple", [0.05, 0.05, 0.09], [0.62, 0.05, 0.0]),
        ("white_ball", "sphere", "white", [0.03] * 3, [0.35, -0.05, 0.0]),
        ("black_cylinder", "cylinder", "black", [0.04, 0.04, 0.06], [0.62, -0.12, 0.0]),
        ("green_bin", "bin", "green", [0.12, 0.18, 0.06], [0.45, -0.2, 0.4]),
        ("yellow_box", "box", "yellow", [0.08, 0.03, 0.03], [0.52, -0.02, 1.0]),
        ("red_cube", "box", "red", [0.035] * 3, [0.62, 0.25, 0.0]),
    ]
    scene = parse_scene({"robot": "arm", "objects": [
        {"name": n, "shape": sh, "color": c, "size": sz, "pose": p}
        for n, sh, c, sz, p in objects]})
    with SimWorld(PROFILE, scene, ROOT) as world:
        _check_against_truth(world, _detect_in(world, RobotBodyModel(ROOT / PROFILE["urdf"])),
                             tol_m=0.01)


def test_cube_on_a_pedestal_from_the_humanoid_camera():
    """The humanoid's field scene from where it starts: the 8 cm green cube on the 0.75 m
    yellow pedestal is 3.6 m away, seen from 1.3 m up at 8 deg. It was read as a green
    cylinder (eval, "reach for the green cube": no cube in the scene): the pedestal's top just
    in front of the cube, much nearer at that grazing angle, counted as an occluder (so the
    cube was taken down to the floor), and the top band, a fraction of the top's height above
    the floor, took in the whole cube (its outline a thin strip, not a square: a disc)."""
    import pinocchio as pin

    from vla_bringup.profile import load_profile
    from vla_perception.geometry import PinholeView
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld

    profile = load_profile("humanoid")
    scene = load_scene(ROOT / "config" / "scenes" / "humanoid_field.yaml")
    with SimWorld(profile, scene, ROOT) as world:
        position, quat_wxyz = world.robot_base_pose()
        T_world_base = pin.XYZQUATToSE3(np.r_[position, quat_wxyz[1:], quat_wxyz[0]]).homogeneous
        camera = world.camera
        detector = ObjectDetector(PinholeView(camera.K, T_world_base @ camera.T_base_optical,
                                              camera.width, camera.height),
                                  DetectorConfig.from_profile(profile["perception"]))
        rgb, depth = world.render_rgbd()
        joints = dict(zip(world.joint_names, world.joint_positions(), strict=True))
        body = RobotBodyModel(profile["urdf"], profile["base_frame"]).posed(
            joints, T_frame_base=T_world_base)
        found = _by_name(detector.detect(rgb, depth, point_exclusion=body))
        assert {"green_cube", "yellow_box"} <= set(found), sorted(found)
        cube, pedestal = found["green_cube"], found["yellow_box"]
        cube_xyz, _ = world.object_pose("green_cube")
        assert np.linalg.norm(cube.position_base_m - cube_xyz) < 0.03
        assert cube.size_m == pytest.approx([0.08] * 3, abs=0.015)  # on the pedestal, not the floor
        assert pedestal.size_m[2] == pytest.approx(0.75, abs=0.03)
