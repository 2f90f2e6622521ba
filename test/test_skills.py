"""Pick/place/stack affordances and stages on the real arm model (no ROS)."""

import numpy as np
import pytest

from vla_bringup.profile import load_profile
from vla_skills.base import ClockWatch, ObjectInfo, SkillError, WorldSnapshot
from vla_skills.catalog import make_skills
from vla_skills.manipulation import REMEMBERED_AFFORDANCE, VISIBLE_AFFORDANCE

CUBE = np.array([0.04, 0.04, 0.04])


@pytest.fixture(scope="module")
def skills():
    pick, place, _ = make_skills(["pick", "place", "stack"], load_profile("arm"))
    return pick, place


@pytest.fixture(scope="module")
def stack():
    return make_skills(["stack"], load_profile("arm"))[0]


def world(held=None, **objects) -> WorldSnapshot:
    return WorldSnapshot(objects=dict(objects), held_object=held)


def cube(name, x, y, visible=True, size=CUBE) -> ObjectInfo:
    return ObjectInfo(name, "graspable", np.array([x, y, size[2] / 2]), np.asarray(size),
                      0.3, visible)


BIN = ObjectInfo("blue_bin", "container", np.array([0.42, -0.16, 0.035]),
                 np.array([0.16, 0.16, 0.07]))


def test_pick_affordance_follows_reach_visibility_and_the_hand(skills):
    pick, _ = skills
    assert pick.affordance({"object": "c"}, world(c=cube("c", 0.5, 0.1)))[0] == VISIBLE_AFFORDANCE
    hidden = world(c=cube("c", 0.5, 0.1, visible=False))
    assert pick.affordance({"object": "c"}, hidden)[0] == REMEMBERED_AFFORDANCE
    score, why = pick.affordance({"object": "c"}, world(c=cube("c", 1.6, 0.0)))
    assert score == 0.0 and "not reachable" in why
    score, why = pick.affordance({"object": "c"}, world(held="d", c=cube("c", 0.5, 0.1)))
    assert score == 0.0 and "already holds d" in why
    wide = cube("w", 0.5, 0.1, size=[0.12, 0.12, 0.04])
    assert pick.affordance({"object": "w"}, world(w=wide))[0] == 0.0
    score, why = pick.affordance({"object": "blue_bin"}, world(blue_bin=BIN))
    assert score == 0.0 and "container" in why


def test_place_needs_the_object_in_hand(skills):
    _, place = skills
    args = {"object": "c", "container": "blue_bin"}
    scene = {"c": cube("c", 0.5, 0.1), "blue_bin": BIN}
    assert place.affordance(args, world(**scene))[0] == 0.0
    assert place.affordance(args, world(held="c", **scene))[0] == VISIBLE_AFFORDANCE


def test_stack_releases_just_above_the_target_top_lined_up_with_it(stack):
    red, green = cube("red", 0.52, 0.12), cube("green", 0.38, 0.08)
    stages = stack.stages({"object": "red", "target": "green"}, world(held="red", red=red,
                                                                       green=green))
    assert [s.name for s in stages] == ["carry", "lower", "release", "retreat"]
    release = stages[1].tool_pose_base
    # green's top (0.04) + red's half height (0.02) + 1 cm, over green's centre
    assert np.allclose(release.translation, [0.38, 0.08, 0.04 + 0.02 + 0.01])
    assert np.allclose(release.rotation[:, 2], [0, 0, -1])
    fingers = release.rotation[:, 0]   # tool x, lined up with green's faces (yaw 0.3)
    assert abs(abs(np.dot(fingers[:2], [np.cos(0.3), np.sin(0.3)])) - 1.0) < 1e-6 \
        or abs(np.dot(fingers[:2], [np.cos(0.3), np.sin(0.3)])) < 1e-6
    assert stages[0].tool_pose_base.translation[2] > release.translation[2] + 0.1
    assert stages[2].expect_holding is False


def test_stack_needs_the_object_in_hand_and_a_clear_visible_target(stack):
    red, green = cube("red", 0.52, 0.12), cube("green", 0.38, 0.08)
    args = {"object": "red", "target": "green"}
    assert stack.affordance(args, world(held="red", red=red, green=green))[0] == VISIBLE_AFFORDANCE
    score, why = stack.affordance(args, world(red=red, green=green))
    assert score == 0.0 and "not holding red" in why
    score, why = stack.affordance(args, world(held="yellow", red=red, green=green))
    assert score == 0.0 and "holding yellow" in why
    on_green = ObjectInfo("yellow", "graspable", np.array([0.385, 0.075, 0.06]), CUBE, 0.0)
    score, why = stack.affordance(args, world(held="red", red=red, green=green, yellow=on_green))
    assert score == 0.0 and "green is covered by yellow" in why
    beside = cube("yellow", 0.45, 0.08)   # on the table next to green: not on it
    assert stack.affordance(args, world(held="red", red=red, green=green, yellow=beside))[0] \
        == VISIBLE_AFFORDANCE
    hidden = cube("green", 0.38, 0.08, visible=False)
    score, why = stack.affordance(args, world(held="red", red=red, green=hidden))
    assert score == 0.0 and "not in view" in why
    far = cube("green", 1.6, 0.0)
    score, why = stack.affordance(args, world(held="red", red=red, green=far))
    assert score == 0.0 and "not reachable" in why
    score, why = stack.affordance({"object": "red", "target": "red"}, world(held="red", red=red))
    assert score == 0.0 and "itself" in why
    score, why = stack.affordance({"object": "red", "target": "blue_bin"},
                                  world(held="red", red=red, blue_bin=BIN))
    assert score == 0.0 and "needs a graspable" in why


def test_pick_stages_grasp_from_above_at_the_object(skills):
    pick, _ = skills
    obj = cube("c", 0.5, 0.1)
    stages = pick.stages({"object": "c"}, world(c=obj))
    assert [s.name for s in stages] == ["open", "approach", "descend", "grasp", "lift"]
    descend = stages[2].tool_pose_base
    assert np.allclose(descend.translation, obj.position_base_m)
    assert np.allclose(descend.rotation[:, 2], [0, 0, -1])  # tool z points down
    assert stages[1].tool_pose_base.translation[2] > descend.translation[2] + 0.05
    assert stages[3].expect_holding is True


def test_bad_calls_raise_and_plan_nothing(skills):
    pick, place = skills
    scene = world(c=cube("c", 0.5, 0.1), blue_bin=BIN)
    for args in ({"object": "nope"}, {}, {"object": "c", "extra": "x"}):
        with pytest.raises(SkillError):
            pick.stages(args, scene)
    with pytest.raises(SkillError, match="not holding"):
        place.stages({"object": "c", "container": "blue_bin"}, scene)
    with pytest.raises(ValueError, match="unknown skills"):
        make_skills(["fly"], {})


def test_clock_watch_fails_a_wait_only_when_the_clock_stops():
    watch = ClockWatch(stall_s=3.0)
    for i in range(100):                  # a slow clock (sim 1 ms per wall 100 ms) is no stall
        watch.check(clock_ns=i * 10**6, wall_s=i * 0.1)
    watch.check(clock_ns=99 * 10**6, wall_s=12.0)   # stopped 2.1 s ago: not yet
    with pytest.raises(SkillError, match="the clock stopped"):
        watch.check(clock_ns=99 * 10**6, wall_s=13.0)
    watch.check(clock_ns=100 * 10**6, wall_s=14.0)  # it moves again: a new window
    watch.check(clock_ns=100 * 10**6, wall_s=16.9)
    with pytest.raises(ValueError):
        ClockWatch(stall_s=0.0)
