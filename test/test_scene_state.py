"""The planner's State line: where the task's objects are, from perceived boxes only."""

import math

import pytest

from vla_planner.prompt import ObjectRef
from vla_planner.scene_state import ObjectBox, describe_scene, held_object, where_is

CUBE = ObjectRef("red_cube", "red cube", "graspable")
BIN = ObjectRef("blue_bin", "blue bin", "container")
# a 0.16 x 0.16 m bin, 0.07 m tall, turned 45 degrees: its corners are 0.113 m from the centre
BIN_BOX = ObjectBox((0.42, -0.16, 0.035), (0.16, 0.16, 0.07), math.pi / 4)


def cube_at(x: float, y: float, z: float) -> ObjectBox:
    return ObjectBox((x, y, z), (0.04, 0.04, 0.04))


@pytest.mark.parametrize("box, words", [
    (cube_at(0.52, 0.12, 0.02), "the red cube is on the table"),
    (cube_at(0.42, -0.16, 0.025), "the red cube is in the blue bin"),
    (cube_at(0.42 + 0.10, -0.16, 0.025), "the red cube is in the blue bin"),  # toward a corner
    (cube_at(0.42 + 0.07, -0.16 + 0.07, 0.02), "the red cube is on the table"),  # past a face
    (cube_at(0.42, -0.16, 0.20), "the gripper holds the red cube"),  # carried over the bin
    (cube_at(0.30, 0.10, 0.20), "the gripper holds the red cube"),
])
def test_where_an_object_is(box, words):
    assert where_is(CUBE, box, [(BIN, BIN_BOX)]) == words


def test_scene_lists_objects_not_containers_in_order():
    second = ObjectRef("red_cube_2", "second red cube", "graspable")
    scene = [(CUBE, cube_at(0.42, -0.16, 0.025)), (BIN, BIN_BOX),
             (second, cube_at(0.36, 0.16, 0.02))]
    assert describe_scene(scene) == ("the red cube is in the blue bin; "
                                     "the second red cube is on the table")
    assert describe_scene([(BIN, BIN_BOX)]) == ""


def test_the_held_object_comes_from_the_skills_not_the_camera():
    """Measured in the stack: a cube in the gripper is hidden from the camera (no box), or seen
    late on the table; the pick skill's affordance reason says what the gripper holds."""
    reasons = ["gripper free; red_cube visible and reachable", "the gripper already holds red_cube",
               "not holding red_cube_2 (holding red_cube)"]
    assert held_object(reasons) == "red_cube"
    assert held_object(reasons[:1] + reasons[2:]) is None
    assert held_object(["the gripper already holds two words"]) is None
    second = ObjectRef("red_cube_2", "second red cube", "graspable")
    on_table = cube_at(0.36, 0.16, 0.02)
    assert describe_scene([(CUBE, None), (second, on_table)], held="red_cube") == (
        "the gripper holds the red cube; the second red cube is on the table")
    assert describe_scene([(CUBE, on_table)], held="red_cube") == "the gripper holds the red cube"
    assert describe_scene([(CUBE, None), (second, on_table)]) == (
        "the second red cube is on the table")


@pytest.mark.parametrize("centre, size", [
    ((math.nan, 0.0, 0.0), (0.1, 0.1, 0.1)),
    ((0.0, 0.0, 0.0), (0.1, -0.1, 0.1)),
    ((0.0, 0.0), (0.1, 0.1, 0.1)),
    ((0.0, 0.0, math.inf), (0.1, 0.1, 0.1)),
])
def test_bad_boxes_raise(centre, size):
    with pytest.raises(ValueError):
        ObjectBox(centre, size)


def test_a_stacked_cube_is_on_the_cube_below_not_in_the_gripper():
    green = ObjectRef("green_cube", "green cube", "graspable")
    green_box = ObjectBox((0.38, 0.08, 0.02), (0.04, 0.04, 0.04), 0.3)
    stacked = cube_at(0.385, 0.075, 0.061)
    assert describe_scene([(CUBE, stacked), (green, green_box)]) == (
        "the red cube is on the green cube; the green cube is on the table")
    lifted = cube_at(0.38, 0.08, 0.20)   # carried over the green cube
    assert where_is(CUBE, lifted, [], [(green, green_box)]) == "the gripper holds the red cube"
    assert describe_scene([(CUBE, stacked), (green, green_box)], held="red_cube") == (
        "the gripper holds the red cube; the green cube is on the table")


def test_a_cube_hidden_under_a_stacked_one_still_carries_it():
    green = ObjectRef("green_cube", "green cube", "graspable")
    green_box = ObjectBox((0.38, 0.08, 0.02), (0.04, 0.04, 0.04))
    stacked = cube_at(0.38, 0.08, 0.06)
    assert describe_scene([(CUBE, stacked), (green, None)], remembered={"green_cube": green_box}) \
        == "the red cube is on the green cube"
    assert describe_scene([(CUBE, stacked), (green, None)]) == "the gripper holds the red cube"


def test_only_a_block_on_the_table_carries_another():
    ball = ObjectRef("green_ball", "green ball", "graspable")
    box = ObjectRef("green_box", "green box", "graspable")
    in_the_air = [(ball, cube_at(0.4, 0.1, 0.24)), (box, cube_at(0.4, 0.1, 0.20))]
    assert describe_scene(in_the_air) == ("the gripper holds the green ball; "
                                          "the gripper holds the green box")


def test_a_second_reading_of_the_held_cube_is_not_also_held():
    """Eval, 'put the red cube and the green cube in the blue bin' at step 4: perception also
    saw the held green cube as a 'green ball' in the air; 'the gripper holds the green cube; the
    gripper holds the green ball' made the LM want to pick up the ball, and the task stuck."""
    green = ObjectRef("green_cube", "green cube", "graspable")
    ball = ObjectRef("green_ball", "green ball", "graspable")
    scene = [(CUBE, cube_at(0.42, -0.16, 0.025)), (BIN, BIN_BOX), (green, None),
             (ball, cube_at(0.40, 0.0, 0.20))]
    assert describe_scene(scene, held="green_cube") == (
        "the red cube is in the blue bin; the gripper holds the green cube")
    # with no held object known from the skills, what is in the air is still said held
    assert describe_scene(scene) == ("the red cube is in the blue bin; "
                                     "the gripper holds the green ball")
