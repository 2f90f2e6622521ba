"""Bring up (part of) the arm stack as real processes for a test module, plus a commander node;
and spin a test's own probe node."""

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from vla_bringup.commander import StackCommander, wait_for
from vla_bringup.launcher import StackProcesses
from vla_bringup.specs import stack_specs
from vla_skills.base import NO_OBJECTS_YET
from vla_stack.msg import SkillCall
from vla_stack.srv import QueryAffordance


def wait_until(predicate: Callable[[], object], timeout_s: float, poll_s: float = 0.1) -> bool:
    """Poll predicate() until it is true or timeout_s (wall) passes; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())


def wait_for_skill_server_objects(commander: StackCommander, deadline: float) -> None:
    """The skill server hears perception on its own schedule; wait until it has."""
    client = commander.create_client(QueryAffordance, "/skills/pick/affordance")
    client.wait_for_service(timeout_sec=max(0.1, deadline - time.monotonic()))
    request = QueryAffordance.Request(calls=[SkillCall(skill="pick")])
    while time.monotonic() < deadline:
        future = client.call_async(request)
        if wait_for(future, 5.0) and future.result().reasons[0] != NO_OBJECTS_YET:
            return
        time.sleep(0.2)
    raise RuntimeError("the skill server never received perception's objects")


@contextlib.contextmanager
def running_stack(log_dir: Path, nodes: set[str], overrides: dict | None = None,
                  ready_timeout_s: float = 120.0, min_skills: int = 2):
    specs = [s for s in stack_specs("arm", overrides) if s.name in nodes]
    with StackProcesses(specs, log_dir, dict(os.environ)) as stack:
        rclpy.init()
        commander = StackCommander(node_name=f"test_commander_{os.getpid()}")
        try:
            deadline = time.monotonic() + ready_timeout_s
            while time.monotonic() < deadline and not stack.dead():
                ready = (len(commander.skills) >= min_skills if "arm_skills" in nodes else True) \
                    and (commander.objects is not None if "perception" in nodes else True)
                if ready:
                    break
                time.sleep(0.2)
            else:
                logs = "\n".join(f"--- {s.name}\n{stack.log_tail(s.name)}" for s in specs)
                raise RuntimeError(f"stack not ready; dead: {stack.dead()}\n{logs}")
            if "arm_skills" in nodes and "perception" in nodes:
                wait_for_skill_server_objects(commander, deadline)
            yield stack, commander
        finally:
            commander.close()
            rclpy.shutdown()


@contextlib.contextmanager
def spinning(make_node: Callable[[], Node]) -> Iterator[Node]:
    """rclpy up, the test's node made and spun on a background thread; all torn down after."""
    rclpy.init()
    node = make_node()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        yield node
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.shutdown()
