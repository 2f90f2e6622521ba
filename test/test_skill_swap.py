"""Skill hot-swap: providers come and go while the planner runs.

Pure part: the registry keeps every live offer (newest wins, an older provider takes over again
when the newer leaves) and the graph watch's grace period. ROS part (real nodes, real DDS): a
second `pick` provider replaces the first while both run, the planner's goal goes to the new one
and its old clients are destroyed; stopping a skill node removes its skills from the candidates;
a killed one is dropped without waiting for the DDS lease.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
import rclpy
from action_msgs.msg import GoalStatusArray

from ros_stack import running_stack, wait_until
from vla_bringup.heartbeat import HeartbeatMonitor
from vla_bringup.launcher import StackProcesses
from vla_bringup.skills_cli import format_describe, format_list
from vla_planner.registry import (
    ProviderPresence,
    RegisteredSkill,
    SkillRegistry,
)

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


def test_heartbeat_monitor_judges_silence_but_not_its_own_starvation():
    monitor = HeartbeatMonitor(silence_s=0.5, check_period_s=0.1)
    monitor.heard("/a", 0.0)
    monitor.heard("/b", 0.0)
    for t in (0.1, 0.2, 0.3, 0.4, 0.5):
        assert monitor.silent(t) == set()
        monitor.heard("/a", t)
    assert monitor.silent(0.6) == {"/b"}               # 0.6 s without a word
    monitor.heard("/b", 0.65)                          # it was only slow
    assert monitor.silent(0.7) == set()
    # our own check comes 1.3 s late: the silence may be ours, nobody is judged...
    assert monitor.silent(2.0) == set()
    for t in (2.1, 2.2, 2.3, 2.4, 2.5):                # ...and everyone gets a fresh window
        assert monitor.silent(t) == set()
    assert monitor.silent(2.6) == {"/a", "/b"}
    monitor.forget("/a")
    assert monitor.silent(2.7) == {"/b"}
    with pytest.raises(ValueError):
        HeartbeatMonitor(silence_s=0.1, check_period_s=0.2)


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




def proposed_skills(commander) -> set[str]:
    """Skills among the candidates the planner ranked (feedback) and the steps it ran."""
    skills = {c.call.skill for f in commander.feedback for c in f.candidates}
    result = commander.get_task_result()
    return skills | {s.call.skill for s in (result.steps if result else [])} - {""}


def skill_server(template, name: str, skills: list[str], namespace: str):
    return replace(template, name=name, parameters={
        **template.parameters, "skills": skills, "interface_namespace": namespace})


TASK = "put the red cube in the blue bin"


def test_providers_swap_while_the_planner_runs(stack):
    processes, commander, log_dir = stack
    planner_log = lambda: processes.log_tail("planner", 80)  # noqa: E731
    arm_skills = next(s for s in processes.specs if s.name == "arm_skills")
    old_goals = GoalsSeen(commander, "/skills/pick/execute")
    learned_goals = GoalsSeen(commander, f"{LEARNED_NS}/pick/execute")
    second_goals = GoalsSeen(commander, f"{LEARNED_NS}2/pick/execute")
    learned = skill_server(arm_skills, "learned_skills", ["pick"], LEARNED_NS)
    second = skill_server(arm_skills, "learned_skills_2", ["pick"], LEARNED_NS + "2")
    extra2 = StackProcesses([second], log_dir / "learned2", dict(os.environ))  # started in 3.
    with StackProcesses([learned], log_dir / "learned", dict(os.environ)) as extra, \
            contextlib.ExitStack() as cleanup:
        cleanup.callback(extra2.stop)
        # 1. a second provider of pick while the first runs: it is used, the first on standby
        assert wait_until(lambda: commander.skills.get("pick") is not None
                          and commander.skills["pick"].provider == "/learned_skills", 120.0), \
            extra.log_tail("learned_skills")
        described = vla_skills("describe", "pick")
        assert described.returncode == 0, described.stdout + described.stderr
        assert described.stdout.index("/learned_skills [in use]") < described.stdout.index(
            "/arm_skills [standby"), described.stdout

        # 2. its goal is in flight when it is killed: the step ends (no hang until the skill
        # timeout) and the planner notices without waiting for the DDS lease
        assert commander.execute_task(TASK, max_steps=1)
        assert wait_until(lambda: learned_goals.ids, 120.0), planner_log()
        killed_at, killed_at_epoch = time.monotonic(), time.time()
        extra.processes["learned_skills"].kill()
        extra.processes["learned_skills"].wait(10.0)
        assert commander.wait_for_task(60.0), planner_log()
        step = commander.get_task_result().steps[0]
        assert step.call.skill == "pick" and "went away" in step.message, step
        noticed = re.search(r"\[(\d+\.\d+)\] \[planner\]: /learned_skills went silent",
                            planner_log())
        assert noticed, planner_log()
        print(f"planner suspended the killed provider {float(noticed[1]) - killed_at_epoch:.2f} s"
              f" after SIGKILL; its in-flight step ended after "
              f"{time.monotonic() - killed_at:.2f} s")
        assert not old_goals.ids

        # 3. a new provider started now takes pick; the planner's old clients are gone
        extra2.start()
        started_at_epoch = time.time()
        # the planner's own view (it may hear the registry later than this test does)
        assert wait_until(lambda: "/learned_skills_2 offers skill 'pick'" in planner_log(),
                          120.0), planner_log()
        # both lines carry their own wall-clock stamps; a log file may be written late
        offering_line = lambda: re.search(  # noqa: E731
            r"\[(\d+\.\d+)\] \[learned_skills_2\]: offering skills",
            extra2.log_tail("learned_skills_2", 80))
        assert wait_until(offering_line, 30.0), extra2.log_tail("learned_skills_2", 80)
        heard = re.search(r"\[(\d+\.\d+)\] \[planner\]: /learned_skills_2 offers skill",
                          processes.log_tail("planner", 400))
        assert heard, planner_log()
        offered = offering_line()
        print(f"planner took the new provider's pick {float(heard[1]) - float(offered[1]):.2f} s "
              f"after the provider was up, {float(heard[1]) - started_at_epoch:.2f} s after its "
              f"process started")
        assert commander.execute_task(TASK, max_steps=1)
        assert commander.wait_for_task(180.0), planner_log()
        result = commander.get_task_result()
        assert second_goals.ids and not old_goals.ids, (
            f"{result.outcome} {result.message} "
            f"{[(s.call.skill, s.message) for s in result.steps]}\n" + planner_log()
            + processes.log_tail("arm_skills", 30) + extra2.log_tail("learned_skills_2", 30))
        assert "place" in proposed_skills(commander)
        clients = lambda: planner_action_clients(commander)  # noqa: E731
        assert wait_until(lambda: f"{LEARNED_NS}2/pick/execute" in clients() and not {
            "/skills/pick/execute", f"{LEARNED_NS}/pick/execute"} & clients(), 10.0), clients()

        # 4. stop the first skill node: `place` leaves the planner's candidates
        stopped_at = time.monotonic()
        processes.processes["arm_skills"].send_signal(signal.SIGINT)
        processes.processes["arm_skills"].wait(30.0)
        assert wait_until(lambda: "withdrew skill 'place'" in planner_log()
                          or "skills affected: place" in planner_log(), 10.0), planner_log()
        print(f"planner dropped 'place' {time.monotonic() - stopped_at:.2f} s after SIGINT")
        assert commander.execute_task(TASK, max_steps=1)
        assert commander.wait_for_task(180.0), planner_log()
        assert "place" not in proposed_skills(commander)
        print("without place:", commander.get_task_result().outcome,
              commander.get_task_result().message)
        listed = vla_skills("list")
        assert listed.returncode == 0 and "place" not in listed.stdout, listed.stdout
        assert "/learned_skills_2" in listed.stdout and "/arm_skills" not in listed.stdout


# -- the crash watch on real ROS topics (no stack) ----------------------------------------------
class BeatingProvider:
    """A real node that sends skill-server heartbeats while `beating` is set."""

    def __init__(self):
        from std_msgs.msg import String

        from vla_bringup.provider_watch import HEARTBEAT_PERIOD_S, HEARTBEAT_TOPIC
        from vla_bringup.qos import HEARTBEAT_QOS

        self.node = rclpy.create_node("beating_provider")
        self.beating = True
        publisher = self.node.create_publisher(String, HEARTBEAT_TOPIC, HEARTBEAT_QOS)
        name = self.node.get_fully_qualified_name()
        self.node.create_timer(HEARTBEAT_PERIOD_S, lambda: self.beating and publisher.publish(
            String(data=name)))


def test_provider_watch_suspends_the_silent_restores_the_slow_forgets_the_gone():
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor

    from vla_bringup.provider_watch import ProviderWatch

    own_context = not rclpy.ok()  # the module's stack fixture may hold the default one
    if own_context:
        rclpy.init()
    executor = MultiThreadedExecutor(num_threads=4)
    try:
        provider = BeatingProvider()
        planner = rclpy.create_node("watching_planner")
        offer = RegisteredSkill("pick", "pick up the {object}", ("object",), ("graspable",),
                                "/beating_provider", "/b/pick/execute", "/b/pick/affordance", 1)
        offered, events = [offer], []

        def suspend(name):
            events.append(("suspend", name, time.monotonic()))
            offered.clear()
            return [offer]

        def restore(offers):
            events.append(("restore", offers[0].provider, time.monotonic()))
            offered.extend(offers)

        watch = ProviderWatch(planner, ReentrantCallbackGroup(), lambda: list(offered), suspend,
                              restore, silence_s=0.5)
        for node in (provider.node, planner):
            executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        assert wait_until(lambda: "/beating_provider" in watch.monitor.watched(), 20.0)
        time.sleep(1.0)
        assert events == []                            # beating: nothing happens
        provider.beating = False
        stopped_at = time.monotonic()
        assert wait_until(lambda: events, 10.0)        # silent: suspended
        assert events[0][:2] == ("suspend", "/beating_provider") and not offered
        print(f"silent provider suspended {events[0][2] - stopped_at:.2f} s after its last "
              f"heartbeat was due")
        assert events[0][2] - stopped_at >= 0.5 - 0.1  # not before the silence window
        provider.beating = True                        # only slow: restored at once
        assert wait_until(lambda: len(events) == 2, 10.0), events
        assert events[1][:2] == ("restore", "/beating_provider") and offered == [offer]
        provider.beating = False
        assert wait_until(lambda: len(events) == 3, 10.0), events
        executor.remove_node(provider.node)            # gone from the graph: forgotten
        provider.node.destroy_node()
        assert wait_until(lambda: not watch.suspended, 10.0)
        assert "/beating_provider" not in watch.monitor.watched() and len(events) == 3
    finally:
        executor.shutdown(timeout_sec=1.0)
        if own_context:
            rclpy.shutdown()
