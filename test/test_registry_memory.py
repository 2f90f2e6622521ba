"""The planner's skill registry and perception's short-term object memory (pure logic)."""

import numpy as np

from vla_perception.memory import ObjectMemory
from vla_perception.objects import DetectedObject
from vla_planner.registry import RegisteredSkill, SkillRegistry


def entry(name="pick", provider="/a", stamp_ns=1) -> RegisteredSkill:
    return RegisteredSkill(name, "pick up the {object}", ("object",), ("graspable",), provider,
                           f"/skills/{name}/execute", f"/skills/{name}/affordance", stamp_ns)


def test_newest_provider_replaces_and_stale_goodbyes_are_ignored():
    registry = SkillRegistry()
    assert registry.update(entry(provider="/a", stamp_ns=1), True)
    assert registry.update(entry(provider="/b", stamp_ns=2), True)
    assert registry.get("pick").provider == "/b"
    assert not registry.update(entry(provider="/a", stamp_ns=1), True)  # late, older
    assert not registry.update(entry(provider="/a", stamp_ns=3), False)  # not the provider
    assert registry.get("pick").provider == "/b"
    assert registry.update(entry(provider="/b", stamp_ns=4), False)
    assert registry.get("pick") is None


def detection(name: str, x: float = 0.5) -> DetectedObject:
    return DetectedObject(name, "red", "box", "red cube", np.array([x, 0.0, 0.02]),
                          np.full(3, 0.04), 0.0, 0.9, 100)


def test_memory_keeps_hidden_objects_for_a_while_then_forgets():
    memory = ObjectMemory(hold_s=5.0)
    known = memory.update([detection("red_cube"), detection("blue_bin")], t_s=0.0)
    assert [(k.obj.name, k.visible) for k in known] == [("blue_bin", True), ("red_cube", True)]
    known = memory.update([detection("blue_bin")], t_s=3.0)
    assert {k.obj.name: k.visible for k in known} == {"blue_bin": True, "red_cube": False}
    known = memory.update([detection("blue_bin")], t_s=9.0)
    assert [k.obj.name for k in known] == ["blue_bin"]
    known = memory.update([detection("red_cube", x=0.6)], t_s=9.5)
    assert next(k for k in known if k.obj.name == "red_cube").obj.position_base_m[0] == 0.6


def test_memory_starts_over_when_time_goes_back():
    memory = ObjectMemory(hold_s=30.0)
    memory.update([detection("red_cube")], t_s=100.0)
    assert memory.update([], t_s=1.0) == []
