"""Faults injected into the running arm stack (real processes, real DDS): a skill node killed in
the middle of its action, the simulator frozen, perception going silent, a camera sending
garbage, and a language-model endpoint that is not there. The task must end in bounded time with
a reason, nothing may hang, and the arm must not be left moving."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from test_endpoint_backend import free_port

from ros_stack import running_stack, wait_until
from vla_bringup.commander import TaskResult, wait_for
from vla_bringup.launcher import StackProcesses
from vla_bringup.profile import load_profile
from vla_bringup.qos import SENSOR_QOS
from vla_bringup.specs import stack_specs
from vla_stack.msg import SceneObjects, SkillCall
from vla_stack.srv import QueryAffordance

TASK = "put the red cube in the blue bin"
ARM = load_profile("arm")["arm_joints"]
NODES = {"mujoco_sim", "wbc_controller", "perception", "arm_skills", "planner"}


class JointWatch:
    """The latest arm joint velocities, from /joint_states."""

    def __init__(self, node) -> None:
        self.speed_radps = np.inf
        node.create_subscription(JointState, "/joint_states", self.on_joint_states, 10)

    def on_joint_states(self, msg: JointState) -> None:
        by_name = dict(zip(msg.name, msg.velocity, strict=False))
        if all(j in by_name for j in ARM):
            self.speed_radps = max(abs(by_name[j]) for j in ARM)


def start_task_until_the_arm_is_moving(commander) -> None:
    """Send the default task and return 2 s into its pick: the arm on its way to the cube."""
    assert commander.wait_until_ready(120.0, min_skills=2)
    assert commander.execute_task(TASK, timeout_s=30.0)
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline and not any(
            f.step.call.skill == "pick" and not f.step.result for f in commander.feedback):
        time.sleep(0.1)
    assert any(f.step.call.skill == "pick" for f in commander.feedback), "pick never started"
    time.sleep(2.0)


def test_skill_node_killed_mid_action_ends_the_task_with_a_failed_step(tmp_path):
    with running_stack(tmp_path, NODES) as (processes, commander):
        watch = JointWatch(commander)
        start_task_until_the_arm_is_moving(commander)
        processes.processes["arm_skills"].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert commander.wait_for_task(90.0), "the planner hangs on a dead skill node"
        noticed_s = time.monotonic() - killed_at
        result = commander.get_task_result()
        assert commander.get_result() in (TaskResult.FAILED, TaskResult.ABORTED), result
        failed = [s for s in result.steps if s.call.skill == "pick"]
        assert failed and failed[0].result != "succeeded", result.steps
        # the controller finishes or holds its last target: after a while nothing moves
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and watch.speed_radps > 0.01:
            time.sleep(0.1)
        assert watch.speed_radps <= 0.01
        alive = set(NODES) - {"arm_skills"}
        assert not (set(processes.dead()) & alive), processes.dead()
        print(f"\nRELIABILITY fault skill node SIGKILL mid-pick: task ended "
              f"{commander.get_result().name} after {noticed_s:.1f} s "
              f"(step: {failed[0].result} {failed[0].message!r}); arm at rest, other nodes alive")


def test_frozen_simulator_fails_the_waiting_step_instead_of_hanging_it(tmp_path):
    """The skill server waits in sim time; a simulator that stops (SIGSTOP: wedged, or paused
    in a debugger) stops that time. The wait must fail with a reason, not hang until the
    planner's wall-clock timeout."""
    with running_stack(tmp_path, NODES) as (processes, commander):
        start_task_until_the_arm_is_moving(commander)
        sim = processes.processes["mujoco_sim"]
        sim.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            pick_failed = lambda: next((f.step for f in commander.feedback  # noqa: E731
                                        if f.step.call.skill == "pick" and f.step.result
                                        and f.step.result != "succeeded"), None)
            while time.monotonic() < frozen_at + 30.0 and pick_failed() is None:
                time.sleep(0.1)
            failed_after_s = time.monotonic() - frozen_at
            step = pick_failed()
            assert step is not None, processes.log_tail("arm_skills", 30)
            assert "the clock stopped" in step.message, step
        finally:
            sim.send_signal(signal.SIGCONT)
        assert commander.wait_for_task(240.0), "the planner hangs after the simulator came back"
        assert not (set(processes.dead()) & NODES), processes.dead()
        result = commander.get_task_result()
        print(f"\nRELIABILITY fault simulator frozen (SIGSTOP) mid-pick: the step failed "
              f"{failed_after_s:.1f} s later ({step.message!r}); after SIGCONT the task ended "
              f"{result.outcome!r} ({result.message[:80]!r}); every node alive")


def test_silent_perception_drops_affordances_and_the_planner_says_why(tmp_path):
    with running_stack(tmp_path, NODES) as (processes, commander):
        assert commander.wait_until_ready(120.0, min_skills=2)
        affordance = commander.create_client(QueryAffordance, "/skills/pick/affordance")
        request = QueryAffordance.Request(calls=[SkillCall(
            skill="pick", arg_names=["object"], arg_values=["red_cube"])])
        future = affordance.call_async(request)
        assert wait_for(future, 20.0) and future.result().affordances[0] > 0.5
        processes.processes["perception"].send_signal(signal.SIGKILL)
        silent_at = time.monotonic()
        deadline = silent_at + 30.0
        score, why = 1.0, ""
        while time.monotonic() < deadline:
            future = affordance.call_async(request)
            assert wait_for(future, 20.0)
            score, why = future.result().affordances[0], future.result().reasons[0]
            if score == 0.0:
                break
            time.sleep(0.2)
        dropped_s = time.monotonic() - silent_at
        assert score == 0.0 and "no perception" in why, (score, why)
        # the planner gives perception longer (it may only be starved of CPU), then refuses
        while time.monotonic() < silent_at + 15.5:
            time.sleep(0.2)
        assert commander.execute_task(TASK, timeout_s=30.0)
        assert commander.wait_for_task(120.0), "the planner hangs without perception"
        result = commander.get_task_result()
        assert not result.success and not result.steps
        assert result.message.startswith("no perception for"), result.message
        assert commander.check_goal("unmoved(red_cube)").holds
        print(f"\nRELIABILITY fault perception SIGKILL: affordances 0 after {dropped_s:.1f} s "
              f"({why!r}); task {result.outcome!r}: {result.message[:120]!r}; red cube unmoved")


def garbage_frames(stamp) -> list[Image | CameraInfo]:
    """Empty, wrongly encoded, wrongly sized, NaN-depth and all-zero camera frames."""
    def image(encoding, width, height, data, step=None):
        msg = Image(height=height, width=width, encoding=encoding,
                    step=step if step is not None else width * 3, data=data)
        msg.header.stamp = stamp
        return msg
    nan_depth = np.full((480, 640), np.nan, dtype=np.float32).tobytes()
    zeros_rgb = bytes(640 * 480 * 3)
    return [
        image("rgb8", 0, 0, b""),
        image("yuv422", 640, 480, bytes(640 * 480 * 2), 1280),
        image("rgb8", 640, 480, bytes(100)),
        image("rgb8", 320, 240, bytes(320 * 240 * 3)),
        image("32FC1", 640, 480, nan_depth, 640 * 4),
        image("rgb8", 640, 480, zeros_rgb),
        image("16UC1", 640, 480, bytes(640 * 480 * 2), 1280),
    ]


def test_garbage_camera_frames_never_crash_perception(tmp_path):
    """Perception alone, fed by a fake camera that sends nothing but garbage, plus joint states."""
    specs = [s for s in stack_specs("arm") if s.name == "perception"]
    with StackProcesses(specs, tmp_path, dict(os.environ)) as processes:
        rclpy.init()
        node = Node(f"garbage_camera_{os.getpid()}")
        objects: list[SceneObjects] = []
        node.create_subscription(SceneObjects, "/perception/objects", objects.append, 10)
        rgb = node.create_publisher(Image, "/camera/color/image_raw", SENSOR_QOS)
        depth = node.create_publisher(Image, "/camera/depth/image_raw", SENSOR_QOS)
        info = node.create_publisher(CameraInfo, "/camera/color/camera_info", SENSOR_QOS)
        joints = node.create_publisher(JointState, "/joint_states", 10)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        try:
            assert wait_until(lambda: min(p.get_subscription_count() for p in (rgb, depth, info))
                              > 0, 20.0), "perception never subscribed to the camera"
            sent = 0
            # best effort drops whole frames when the machine is busy: send until perception has
            # judged some (at least 20 rounds, at most 200)
            for round_index in range(200):
                if round_index >= 20 and "frame dropped" in processes.log_tail("perception", 200):
                    break
                stamp = node.get_clock().now().to_msg()
                joints.publish(JointState(name=ARM, position=[0.0] * 7))
                frames = garbage_frames(stamp)
                for frame in frames:
                    if isinstance(frame, Image) and frame.encoding in ("32FC1", "16UC1"):
                        depth.publish(frame)
                    else:
                        rgb.publish(frame)
                    sent += 1
                info.publish(CameraInfo(width=1, height=1, k=[float("nan")] * 9))
                sent += 1
                time.sleep(0.1)
            time.sleep(1.0)
            assert not processes.dead(), processes.log_tail("perception")
            log = processes.log_tail("perception", 200)
            assert "frame dropped" in log
            # whatever it said about garbage, it never claimed an object
            assert all(len(m.objects) == 0 for m in objects)
            print(f"\nRELIABILITY fault garbage camera frames: {sent} frames (empty, yuv422, short "
                  f"data, 320x240, NaN depth, black, zero 16UC1 depth, NaN camera_info): "
                  f"perception alive, frames dropped with reasons, {len(objects)} object "
                  f"messages, none with an object")
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown()


def test_unreachable_lm_endpoint_aborts_the_demo_and_the_record_is_written(tmp_path):
    """`vla demo` scoring with a completions server that is not there (nothing listens on the
    port): the task is aborted with the reason, nothing runs, the episode record is written."""
    port = free_port()  # nothing listens on it
    out = tmp_path / "episode"
    run = subprocess.run([str(Path(sys.prefix) / "bin" / "vla"), "demo", "--robot", "arm",
                          "--record", str(out), "--endpoint", f"http://127.0.0.1:{port}",
                          "--task-timeout", "120"],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ))
    print(run.stdout[-3000:], run.stderr[-2000:])
    assert run.returncode == 1
    episode = json.loads((out / "episode.json").read_text())
    assert episode["outcome"] == "aborted" and episode["success"] is False
    assert "unreachable" in episode["message"] and f":{port}/" in episode["message"]
    assert episode["steps"] == []  # no skill ran: the robot was never moved
    assert (out / "episode.mcap").stat().st_size > 0
    print(f"\nRELIABILITY fault LM endpoint unreachable (vla demo --endpoint): outcome "
          f"{episode['outcome']} after {episode['wall_s']} s ({episode['message']!r}); no step "
          f"run; episode.json and the bag written")
