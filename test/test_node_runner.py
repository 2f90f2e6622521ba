"""The one way our nodes run (vla_bringup.node_runner), in real processes with real rclpy: a node
whose own loop or executor dies takes its process down with an error instead of staying up
silent; a healthy one stops cleanly on Ctrl-C. And action clients made while the node spins
(the planner makes a skill's client on first use) do not kill the executor."""

import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor

from vla_bringup.action_client import SpinSafeActionClient
from vla_stack.action import ExecuteSkill

NODE_WITH_A_LOOP = textwrap.dedent("""
    import time
    from rclpy.node import Node
    from vla_bringup.node_runner import run_node, start_worker

    class Looper(Node):
        def __init__(self):
            super().__init__("looper")
            self.ticks = 0
            self.running = True
            self.thread = start_worker(self, self.loop, "test_loop")

        def loop(self):
            while self.running:
                self.ticks += 1
                if self.ticks == 10:
                    print("ticking", flush=True)
                if self.ticks == FAIL_AT:
                    raise ValueError("joint targets must be finite")
                time.sleep(0.01)

        def close(self):
            self.running = False
            self.thread.join()
            print(f"closed after {self.ticks} ticks", flush=True)

    run_node(Looper)
""")


@pytest.fixture
def start_looper():
    started: list[subprocess.Popen] = []

    def start(fail_at: int) -> subprocess.Popen:
        started.append(subprocess.Popen(
            [sys.executable, "-c", f"FAIL_AT = {fail_at}\n" + NODE_WITH_A_LOOP],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for looper in started:
        if looper.poll() is None:
            looper.kill()
            looper.wait()


def test_a_dying_loop_ends_the_process_with_an_error_and_its_traceback(start_looper):
    looper = start_looper(fail_at=20)
    stdout, stderr = looper.communicate(timeout=60)
    assert looper.returncode == 1, stderr
    assert "test_loop loop died" in stderr
    assert "ValueError: joint targets must be finite" in stderr
    assert "closed after 20 ticks" in stdout  # close() still ran


def test_a_healthy_loop_runs_until_ctrl_c_and_exits_cleanly(start_looper):
    looper = start_looper(fail_at=-1)
    assert looper.stdout.readline().strip() == "ticking"
    looper.send_signal(signal.SIGINT)
    stdout, stderr = looper.communicate(timeout=30)
    assert looper.returncode == 0, stderr
    assert "closed after" in stdout
    assert "died" not in stderr


NODE_WITH_A_FAILING_CALLBACK = textwrap.dedent("""
    from rclpy.node import Node
    from vla_bringup.node_runner import run_node

    class Failing(Node):
        def __init__(self):
            super().__init__("failing")
            self.create_timer(0.2, self.on_timer)

        def on_timer(self):
            raise KeyError("no such joint")

    run_node(Failing, threads=1)
""")


def test_a_dying_executor_ends_the_process_with_an_error():
    """A callback's exception leaves rclpy's spin: the node no longer answers anything, so the
    process must end (and say why) instead of staying up looking healthy."""
    node = subprocess.run([sys.executable, "-c", NODE_WITH_A_FAILING_CALLBACK],
                          capture_output=True, text=True, timeout=60)
    assert node.returncode == 1, node.stderr
    assert "executor died" in node.stderr
    assert "KeyError: 'no such joint'" in node.stderr


def test_action_clients_made_while_the_node_spins_leave_the_executor_alive():
    """rclpy's own ActionClient kills an executor that builds its wait set mid-construction
    (ros2/rclpy#1589: within ~100 clients here, with a busy timer)."""
    rclpy.init()
    node = rclpy.create_node("client_maker")
    node.create_timer(0.0005, lambda: None)  # keeps the executor rebuilding its wait set
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    errors: list[str] = []

    def spin() -> None:
        try:
            executor.spin()
        except Exception as error:  # noqa: BLE001 - what the test looks for
            errors.append(repr(error))

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        clients = []
        for index in range(300):
            clients.append(SpinSafeActionClient(node, ExecuteSkill, f"/skills/s{index}/execute"))
            if errors:
                break
        assert not errors, f"executor died after {len(clients)} clients: {errors[0]}"
        assert spinner.is_alive()
        for client in clients:
            client.destroy()
    finally:
        executor.shutdown(timeout_sec=1.0)
        spinner.join(timeout=2.0)
        node.destroy_node()
        rclpy.shutdown()
