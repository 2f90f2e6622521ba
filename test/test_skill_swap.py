"""Skill hot-swap: providers come and go while the planner runs.

Pure part: the registry keeps every live offer (newest wins, an older provider takes over again
when the newer leaves) and the graph watch's grace period. ROS part (real nodes, real DDS): a
second `pick` provider replaces the first while both run, the planner's goal goes to the new one
and its old clients are destroyed; stopping a skill node removes its skills from the candidates;
a killed one is dropped without waiting for the DDS lease.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from action_msgs.msg import GoalStatusArray

from ros_stack import running_stack
from vla_bringup.launcher import StackProcesses
from vla_bringup.skills_cli import format_describe, format_list
from vla_planner.registry import ProviderPresence, RegisteredSkill, SkillRegistry

LEARNED_NS = "/skills/learned"


def entry(name: str = "pick", provider: str = "/a", stamp_ns: int = 1) -> RegisteredSkill:
    return RegisteredSkill(name, f"{name} the {{object}}", ("object",), ("graspable",), provider,
                           f"/{provider}/{name}/execute", f"/{provider}/{name}/affordance",
                           stamp_ns)


def test_newest_offer_wins_and_the_older_provider_takes_over_when_it_leaves():
    registry = SkillRegistry()
    assert registry.update(entry(provider="/scripted", stamp_ns=1), True)
    assert registry.update(entry("place", provider="/scripted", stamp_ns=1), True)
    assert registry.update(entry(provider="/learned", stamp_ns=5), True)
    assert registry.get("pick").provider == "/learned"
    assert [o.provider for o in registry.offers("pick")] == ["/learned", "/scripted"]
    assert registry.providers() == {"/scripted", "/learned"}
    assert registry.remove_provider("/learned") == ["pick"]
    assert registry.get("pick").provider == "/scripted"
    assert registry.remove_provider("/nobody") == []
    assert registry.remove_provider("/scripted") == ["pick", "place"]
    assert registry.skills() == []


def test_goodbyes_only_remove_their_own_offer_and_not_a_newer_announcement():
    registry = SkillRegistry()
    registry.update(entry(provider="/a", stamp_ns=10), True)
    assert not registry.update(entry(provider="/a", stamp_ns=3), False)  # older goodbye, late
    assert registry.get("pick").provider == "/a"
    registry.update(entry(provider="/b", stamp_ns=20), True)
    assert not registry.update(entry(provider="/a", stamp_ns=30), False)  # /b still used
    assert registry.offers("pick") == [entry(provider="/b", stamp_ns=20)]
    assert registry.update(entry(provider="/b", stamp_ns=31), False)
    assert registry.get("pick") is None


def test_presence_waits_for_discovery_then_drops_providers_that_leave():
    presence = ProviderPresence(grace_s=3.0)
    # heard on the registry topic before the node list shows it: not gone yet
    assert presence.vanished({"/a"}, set(), now_s=0.0) == set()
    assert presence.vanished({"/a"}, set(), now_s=2.0) == set()
    assert presence.vanished({"/a"}, {"/a"}, now_s=2.5) == set()
    assert presence.vanished({"/a"}, set(), now_s=2.6) == {"/a"}   # seen, then gone: at once
    # never shows up in the graph at all: gone after the grace period
    assert presence.vanished({"/b"}, set(), now_s=10.0) == set()
    assert presence.vanished({"/b"}, set(), now_s=13.5) == {"/b"}
    # a provider that comes back later starts afresh
    assert presence.vanished({"/a"}, set(), now_s=20.0) == set()


def test_skills_cli_shows_who_provides_what():
    registry = SkillRegistry()
    assert format_list(registry) == "no skills registered"
    registry.update(entry(provider="/scripted", stamp_ns=1), True)
    registry.update(entry(provider="/learned", stamp_ns=2), True)
    registry.update(entry("place", provider="/scripted", stamp_ns=1), True)
    table = format_list(registry).splitlines()
    assert table[0].split()[:2] == ["SKILL", "PROVIDER"]
    assert table[1].split()[:2] == ["pick", "/learned"] and table[1].endswith("/scripted")
    assert table[2].split()[:2] == ["place", "/scripted"] and table[2].endswith("-")
    text = format_describe(registry, "pick", {("pick", "/learned"): "a learned grasp"})
    assert text.index("/learned [in use]") < text.index("/scripted [standby")
    assert "a learned grasp" in text
    with pytest.raises(KeyError, match="registered: pick, place"):
        format_describe(registry, "fly", {})


def vla_skills(*args: str) -> subprocess.CompletedProcess:
    # a long listen: discovery takes up to ~3 s here, more on a loaded machine
    return subprocess.run([sys.executable, "-m", "vla_bringup.cli", "skills", *args, "--wait",
                           "8"],
                          capture_output=True, text=True, timeout=120)


# -- real nodes --------------------------------------------------------------------------------
NODES = {"mujoco_sim", "wbc_controller", "perception", "arm_skills", "planner"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("logs")
    with running_stack(log_dir, NODES, ready_timeout_s=240.0) as (processes, commander):
        deadline = time.monotonic() + 240.0
        while not commander.task_client.server_is_ready() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield processes, commander, log_dir


class GoalsSeen:
    """Goal ids an action server has reported on its status topic."""

    def __init__(self, commander, action_name: str):
        self.ids: set[bytes] = set()
        commander.create_subscription(GoalStatusArray, f"{action_name}/_action/status",
                                      self._on_status, 10)

    def _on_status(self, msg: GoalStatusArray) -> None:
        self.ids.update(bytes(s.goal_info.goal_id.uuid) for s in msg.status_list)


def planner_action_clients(commander) -> set[str]:
    from rclpy.action.graph import get_action_client_names_and_types_by_node

    return {name for name, _ in get_action_client_names_and_types_by_node(commander, "planner",
                                                                           "/")}


def wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def first_ranking(commander, timeout_s: float):
    assert wait_until(lambda: any(f.candidates for f in commander.feedback), timeout_s)
    return next(f for f in commander.feedback if f.candidates)


def test_second_provider_takes_pick_and_a_stopped_node_leaves_the_candidates(stack):
    processes, commander, log_dir = stack
    arm_skills = next(s for s in processes.specs if s.name == "arm_skills")
    learned = replace(arm_skills, name="learned_skills", parameters={
        **arm_skills.parameters, "skills": ["pick"], "interface_namespace": LEARNED_NS})
    old_goals = GoalsSeen(commander, "/skills/pick/execute")
    new_goals = GoalsSeen(commander, f"{LEARNED_NS}/pick/execute")
    with StackProcesses([learned], log_dir / "learned", dict(os.environ)) as extra:
        assert wait_until(lambda: commander.skills.get("pick") is not None
                          and commander.skills["pick"].provider == "/learned_skills", 120.0), \
            extra.log_tail("learned_skills")
        described = vla_skills("describe", "pick")
        assert described.returncode == 0, described.stdout + described.stderr
        assert described.stdout.index("/learned_skills [in use]") < described.stdout.index(
            "/arm_skills [standby"), described.stdout
        # both providers run; the newer one must get the goal
        assert commander.execute_task("put the red cube in the blue bin", max_steps=1)
        assert commander.wait_for_task(180.0)
        result = commander.get_task_result()
        assert result.steps and result.steps[0].call.skill == "pick", result
        assert new_goals.ids and not old_goals.ids
        assert wait_until(lambda: f"{LEARNED_NS}/pick/execute" in planner_action_clients(
            commander) and "/skills/pick/execute" not in planner_action_clients(commander),
            10.0), planner_action_clients(commander)

        # stop the first skill node: `place` disappears from the planner's candidates
        stopped_at = time.monotonic()
        processes.processes["arm_skills"].send_signal(signal.SIGINT)
        processes.processes["arm_skills"].wait(30.0)
        assert wait_until(lambda: "withdrew skill 'place'" in processes.log_tail("planner", 50)
                          or "left the graph; skills affected: place" in processes.log_tail(
                              "planner", 50), 10.0), processes.log_tail("planner", 50)
        print(f"planner dropped 'place' {time.monotonic() - stopped_at:.2f} s after SIGINT")
        # without affordances nothing is filtered out: the ranking lists every candidate
        # (a task only pick can serve: the planner refuses one that needs a missing skill)
        assert commander.execute_task("pick up the green cube", max_steps=1,
                                      ignore_affordances=True)
        feedback = first_ranking(commander, 120.0)
        skills = {c.call.skill for c in feedback.candidates}
        commander.cancel_task()
        commander.wait_for_task(60.0)
        assert "place" not in skills and "pick" in skills, skills
        assert len(feedback.candidates) < 10   # with place still offered there would be more
        listed = vla_skills("list")
        assert listed.returncode == 0 and "place" not in listed.stdout, listed.stdout
        assert "/learned_skills" in listed.stdout and "/arm_skills" not in listed.stdout

        # a provider killed outright (no goodbye; the graph keeps it for the DDS lease): its
        # registry writer's liveliness lapses and the planner finds it no longer answers
        killed_at = time.monotonic()
        extra.processes["learned_skills"].kill()
        extra.processes["learned_skills"].wait(10.0)
        assert wait_until(lambda: "/learned_skills stopped answering" in processes.log_tail(
            "planner", 80), 30.0), processes.log_tail("planner", 80)
        print(f"planner dropped the killed provider {time.monotonic() - killed_at:.2f} s "
              "after SIGKILL")
        assert wait_until(lambda: not any(n.startswith("/skills/place")
                                          for n in planner_action_clients(commander)), 10.0)
