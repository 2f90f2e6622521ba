"""The launch plan run for real (its vla_stack nodes as processes, what `ros2 launch` would start):
with namespace:=robot1 the whole graph moves under /robot1 (topics by remapping, skill actions by
interface_namespace, the planner's action too) and nothing is left on the global names."""

import os
import subprocess
import sys

import pytest
import rclpy
from sensor_msgs.msg import JointState

from ros_stack import spinning, wait_until
from vla_bringup.action_client import SpinSafeActionClient
from vla_bringup.commander import wait_for
from vla_bringup.launch_plan import launch_plan, our_node_specs
from vla_bringup.launcher import StackProcesses
from vla_bringup.qos import REGISTRY_QOS
from vla_stack.action import ExecuteTask
from vla_stack.msg import SceneObjects, SkillCall, SkillDescription
from vla_stack.srv import QueryAffordance

NS = "robot1"


class Probe:
    """Counts what arrives on the namespaced and on the global names."""

    def __init__(self, node):
        self.registry: dict[str, SkillDescription] = {}
        self.counts: dict[str, int] = {}
        node.create_subscription(SkillDescription, f"/{NS}/skills/registry",
                                 lambda m: self.registry.__setitem__(m.name, m), REGISTRY_QOS)
        node.create_subscription(SkillDescription, "/skills/registry",
                                 lambda m: self.count("/skills/registry"), REGISTRY_QOS)
        for topic, msg_type in ((f"/{NS}/joint_states", JointState), ("/joint_states", JointState),
                                (f"/{NS}/perception/objects", SceneObjects),
                                ("/perception/objects", SceneObjects)):
            node.create_subscription(msg_type, topic, lambda m, t=topic: self.count(t), 10)

    def count(self, topic: str) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1


@pytest.fixture(scope="module")
def namespaced_stack(tmp_path_factory):
    specs = our_node_specs(launch_plan("arm", {"namespace": NS}))
    assert {s.namespace for s in specs} == {NS}
    with StackProcesses(specs, tmp_path_factory.mktemp("logs"), dict(os.environ)) as stack:
        with spinning(lambda: rclpy.create_node(f"launch_probe_{os.getpid()}")) as node:
            yield stack, node, Probe(node)



def test_namespaced_stack_lives_under_its_namespace(namespaced_stack):
    stack, node, probe = namespaced_stack
    logs = lambda: {s.name: stack.log_tail(s.name) for s in stack.specs}  # noqa: E731
    assert wait_until(lambda: {"pick", "place"} <= set(probe.registry), 120.0), logs()
    pick = probe.registry["pick"]
    assert pick.provider == f"/{NS}/arm_skills"
    assert pick.action_name == f"/{NS}/skills/pick/execute"
    assert wait_until(lambda: probe.counts.get(f"/{NS}/perception/objects", 0) > 0
                      and probe.counts.get(f"/{NS}/joint_states", 0) > 0, 120.0), logs()
    client = node.create_client(QueryAffordance, pick.affordance_service)
    assert client.wait_for_service(timeout_sec=20.0)
    future = client.call_async(QueryAffordance.Request(calls=[SkillCall(skill="pick")]))
    assert wait_for(future, 20.0) and len(future.result().affordances) == 1
    planner = SpinSafeActionClient(node, ExecuteTask, f"/{NS}/planner/execute_task")
    assert planner.wait_for_server(timeout_sec=180.0), logs()["planner"]
    # nothing of this stack on the global names
    assert not any(probe.counts.get(t) for t in ("/joint_states", "/perception/objects",
                                                 "/skills/registry")), probe.counts
    assert not stack.dead(), stack.dead()
    listed = subprocess.run([sys.executable, "-m", "vla_bringup.cli", "skills", "list",
                             "--namespace", NS, "--wait", "8"],
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and f"/{NS}/arm_skills" in listed.stdout, listed.stdout
