"""Goal predicates: the pure parser, and the judge on a real MuJoCo world."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from vla_sim.goals import Predicate, parse_goal  # noqa: E402
from vla_sim.scene import load_scene  # noqa: E402
from vla_sim.world import SimWorld  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROFILE = yaml.safe_load((ROOT / "config" / "robots" / "arm.yaml").read_text())


@pytest.fixture
def world():
    w = SimWorld(PROFILE, load_scene(ROOT / "config" / "scenes" / "tabletop.yaml"), ROOT)
    yield w
    w.close()


def test_parse_conjunction_of_all_predicates():
    text = ("in(red_cube, blue_bin) and on(a,b)  and holding( c ) and near(robot, table, 0.5)"
            " and at(robot, 1, -2.5, 0.2) and upright(robot) and unmoved(green_cube)")
    assert parse_goal(text) == [
        Predicate("in", ("red_cube", "blue_bin")), Predicate("on", ("a", "b")),
        Predicate("holding", ("c",)), Predicate("near", ("robot", "table", 0.5)),
        Predicate("at", ("robot", 1.0, -2.5, 0.2)), Predicate("upright", ("robot",)),
        Predicate("unmoved", ("green_cube",))]
    assert str(parse_goal("in(a,b)")[0]) == "in(a, b)"


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("in red_cube blue_bin", "malformed"),
    ("in(red_cube, blue_bin", "malformed"),
    ("in(red_cube, blue_bin) and", "malformed"),
    ("in(red_cube, blue_bin) unmoved(a)", "expected 'and'"),
    ("in(red_cube, blue_bin) or unmoved(a)", "expected 'and'"),
    ("inside(red_cube, blue_bin)", "unknown predicate"),
    ("in(red_cube)", "2 arguments"),
    ("holding()", "1 arguments"),
    ("near(robot, table, far)", "not a number"),
    ("near(robot, table, -1)", "positive"),
    ("at(robot, nan, 0, 0.1)", "finite"),
    ("unmoved(red cube)", "not a name"),
])
def test_parse_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_goal(text)


def test_in_bin_after_teleport_and_not_outside(world):
    bin_pos = world.object_pose("blue_bin")[0]
    assert not world.check_goal("in(red_cube, blue_bin)")[0]
    world.set_object_pose("red_cube", bin_pos + [0.0, 0.0, 0.05])
    assert not world.check_goal("in(red_cube, blue_bin)")[0]  # above the rim
    world.step(int(1.0 / world.physics_dt_s))
    ok, detail = world.check_goal("in(red_cube, blue_bin)")
    assert ok, detail
    assert not world.check_goal("unmoved(red_cube)")[0]
    assert world.check_goal("unmoved(green_cube) and unmoved(blue_bin)")[0]
    world.set_object_pose("red_cube", bin_pos + [0.12, 0.0, 0.0])  # beside the bin, on table
    world.step(int(0.5 / world.physics_dt_s))
    ok, detail = world.check_goal("in(red_cube, blue_bin)")
    assert not ok and "inside footprint False" in detail


def test_in_requires_resting(world):
    bin_pos = world.object_pose("blue_bin")[0]
    world.set_object_pose("red_cube", bin_pos + [0.0, 0.0, 0.0])
    jnt = world.model.body("red_cube").jntadr[0]
    world.data.qvel[world.model.jnt_dofadr[jnt]:][:3] = [0.0, 0.0, 1.0]  # flung upwards
    ok, detail = world.check_goal("in(red_cube, blue_bin)")
    assert not ok and "speed 1.0" in detail


def test_on_stacked_cube(world):
    green = world.object_pose("green_cube")[0]
    assert not world.check_goal("on(red_cube, green_cube)")[0]
    world.set_object_pose("red_cube", green + [0.0, 0.0, 0.041])
    world.step(int(0.5 / world.physics_dt_s))
    ok, detail = world.check_goal("on(red_cube, green_cube)")
    assert ok, detail
    assert not world.check_goal("on(green_cube, red_cube)")[0]


def test_holding_false_on_table_and_unknown_names(world):
    assert not world.check_goal("holding(red_cube)")[0]
    with pytest.raises(ValueError, match="unknown object"):
        world.check_goal("in(purple_cube, blue_bin)")
    with pytest.raises(ValueError, match="needs a bin"):
        world.check_goal("in(red_cube, green_cube)")
    with pytest.raises(ValueError, match="robot"):
        world.check_goal("upright(red_cube)")


def test_robot_predicates_use_the_base(world):
    red_xy = world.object_pose("red_cube")[0][:2]
    dist = float(np.linalg.norm(red_xy))
    assert world.check_goal(f"near(robot, red_cube, {dist + 0.01})")[0]
    assert not world.check_goal(f"near(robot, red_cube, {dist - 0.01})")[0]
    assert world.check_goal("at(robot, 0.0, 0.0, 0.05) and upright(robot)")[0]
    assert not world.check_goal("at(robot, 1.0, 0.0, 0.5)")[0]
    with pytest.raises(ValueError, match="landmark"):
        world.check_goal("near(robot, kitchen, 1.0)")
