"""The one way our nodes run (vla_bringup.node_runner), in real processes with real rclpy: a node
whose own loop dies takes its process down with an error instead of staying up silent; a healthy
one stops cleanly on Ctrl-C."""

import signal
import subprocess
import sys
import textwrap

import pytest

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
