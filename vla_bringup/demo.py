"""`vla demo`: bring the whole stack up (real rclpy nodes, one process each), run one
instruction end to end, print the plan as it is chosen, judge the goal from ground truth."""

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import rclpy

from vla_bringup.commander import StackCommander, TaskResult
from vla_bringup.episode import step_record, write_episode
from vla_bringup.launcher import StackProcesses
from vla_bringup.profile import load_profile
from vla_bringup.qos import REGISTRY_QOS, SENSOR_QOS
from vla_bringup.recording import BagRecorder, attach_recorder
from vla_bringup.ros_env import isolate_ros_env
from vla_bringup.specs import stack_specs


def say(text: str) -> None:
    print(text, flush=True)


def print_feedback(feedback) -> None:
    step = feedback.step
    if step.result:  # a finished step
        say(f"        -> {step.result}" + (f": {step.message}" if step.message else "")
            + f" ({step.duration_s:.1f} s)")
        return
    say(f"  step {feedback.step_index + 1}: {step.text!r:40s} say={step.say:7.2f} "
        f"can={step.can:4.2f} score={step.score:.4f}  ({step.planner_ms:.0f} ms)")
    for other in list(feedback.candidates)[1:3]:
        say(f"           next best: {other.text!r:34s} say={other.say:7.2f} "
            f"can={other.can:4.2f} score={other.score:.4f}")


def run_demo(args: argparse.Namespace) -> int:
    env = isolate_ros_env()
    profile = load_profile(args.robot)
    task = args.task or profile["default_task"]
    goal = args.goal if args.goal is not None else (
        profile["default_goal"] if not args.task else "")
    scene = str(Path(args.scene).resolve()) if args.scene else profile["default_scene"]
    overrides = {"mujoco_sim": {"scene": scene, "real_time_factor": args.real_time_factor,
                                "seed": args.seed}}
    if profile.get("floating_base"):  # the scene's landmarks are the legged robot's map
        overrides["perception"] = {"map_file": scene}
    if args.model:
        overrides.setdefault("planner", {})["model_path"] = args.model
    if args.endpoint:
        overrides.setdefault("planner", {}).update(backend="endpoint", endpoint_url=args.endpoint)
    specs = stack_specs(args.robot, overrides)
    log_dir = Path(args.record or tempfile.mkdtemp(prefix="vla_demo_")) / "logs"
    say(f"vla demo: robot={args.robot} task={task!r} goal={goal or '(planner outcome)'}")
    say(f"  scene {scene}; node logs in {log_dir}; ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}")
    wall_start = time.monotonic()
    with stack_session(specs, log_dir, env, record_camera=bool(args.record)) as (stack, commander):
        bag = None
        if args.record:  # the stack's topics as an MCAP bag (ros2 bag / Foxglove open it)
            bag = BagRecorder(Path(args.record) / "episode.mcap",
                              metadata={"robot": args.robot, "instruction": task, "goal": goal})
            attach_recorder(commander, bag, {"/skills/registry": REGISTRY_QOS,
                                             "/camera/color/image_raw": SENSOR_QOS,
                                             "/camera/color/camera_info": SENSOR_QOS},
                            now_ns=lambda: int(commander.sim_time_s * 1e9))
        try:
            return drive(commander, stack, args, task, goal, wall_start)
        finally:
            if bag is not None:
                bag.close()
                say(f"  wrote {bag.path} ({sum(bag.counts.values())} messages)")


@contextlib.contextmanager
def stack_session(specs, log_dir: Path, env: dict[str, str], record_camera: bool = False
                  ) -> Iterator[tuple[StackProcesses, StackCommander]]:
    """The stack's nodes as processes plus a commander node in this process (`vla demo` and
    `vla eval` both run episodes in one of these)."""
    with StackProcesses(specs, log_dir, dict(env)) as stack:
        rclpy.init()
        commander = StackCommander(record_camera=record_camera)
        try:
            yield stack, commander
        finally:
            commander.close()
            rclpy.shutdown()


def wait_for_stack(commander: StackCommander, stack: StackProcesses, timeout_s: float,
                   progress: Callable[[str], None] = say) -> bool:
    """Wait until the planner, skills and perception are up; print the logs of dead nodes.
    A node that dies (e.g. a bad parameter) ends the wait at once, not at the timeout."""
    deadline = time.monotonic() + timeout_s
    said = [""]

    def report(message: str) -> None:  # each slice below re-announces what it waits for
        if message != said[0]:
            said[0] = message
            progress(f"  ... {message}")

    ready = False
    while not ready and not stack.dead() and time.monotonic() < deadline:
        ready = commander.wait_until_ready(timeout_s=min(2.0, timeout_s), min_skills=1,
                                           progress=report)
    if not ready or stack.dead():
        for name in stack.dead() or [s.name for s in stack.specs]:
            progress(f"--- {name} log ---\n{stack.log_tail(name)}")
        return False
    return True


def drive(commander: StackCommander, stack: StackProcesses, args, task: str, goal: str,
          wall_start: float) -> int:
    """Run the task; exit status 0 only if the goal holds. With --record the episode record is
    written whatever happens (stack down, task refused or aborted)."""

    def record(episode: dict) -> None:
        if args.record:
            for path in write_episode(Path(args.record), episode, commander.frames):
                say(f"  wrote {path}")

    def not_run(outcome: str, message: str) -> int:
        say(f"vla demo: {message}")
        record({"robot": args.robot, "instruction": task, "goal": goal, "outcome": outcome,
                "success": False, "steps": [], "message": message})
        return 2

    if not wait_for_stack(commander, stack, args.startup_timeout):
        return not_run("not started", "the stack did not come up")
    say(f"  stack ready in {time.monotonic() - wall_start:.1f} s; skills: "
        f"{', '.join(sorted(commander.skills))}; objects: "
        f"{', '.join(o.name for o in commander.objects.objects)}")
    commander.on_feedback = print_feedback
    episode = run_episode(commander, args.robot, task, goal, args.max_steps, args.task_timeout,
                          stack=stack)
    if episode is None:
        return not_run("refused", "the planner refused the task")
    episode["startup_s"] = round(episode.pop("task_started") - wall_start, 2)
    holds, outcome, detail = episode["success"], episode["outcome"], episode["goal_detail"]
    say(f"  outcome: {outcome}; goal {goal or '(none)'}: {'HOLDS' if holds else 'does NOT hold'}"
        + (f" ({detail})" if detail else ""))
    if episode["message"] and outcome != "success":
        say(f"  why: {episode['message']}")
    say(f"  task wall {episode['wall_s']} s, sim {episode['sim_s']} s, planner ms/step "
        f"{episode['planner_ms']}, controller loop {episode['controller_loop_hz']} Hz")
    record(episode)
    return 0 if holds else 1


def run_episode(commander: StackCommander, robot: str, task: str, goal: str, max_steps: int,
                task_timeout_s: float, ignore_affordances: bool = False,
                success_outcome: str = "success", stack: StackProcesses | None = None
                ) -> dict | None:
    """Send one task to a ready stack, wait, judge `goal` on ground truth; the episode.json dict
    (plus "task_started", monotonic), or None if the planner refused the task. Without a goal,
    success means the planner's outcome is `success_outcome`. With the stack's processes, a
    node that dies ends the wait at once (its task result would never come)."""
    sim_start, task_start = commander.sim_time_s, time.monotonic()
    if not commander.execute_task(task, max_steps=max_steps,
                                  ignore_affordances=ignore_affordances):
        return None
    finished, died = wait_for_result(commander, stack, task_timeout_s), ""
    if not finished:
        dead = stack.dead() if stack is not None else {}
        died = ", ".join(f"{name} (exit code {code})" for name, code in dead.items())
        say(f"  node died: {died}; cancelling" if died
            else f"  no result after {task_timeout_s:.0f} s; cancelling")
        commander.cancel_task()
    result = commander.get_task_result()
    outcome = result.outcome if result else "aborted"
    if not finished or commander.get_result() == TaskResult.CANCELED:
        outcome = "aborted"
    holds, detail = False, ""
    if goal:
        answer = commander.check_goal(goal)
        holds, detail = answer.valid and answer.holds, answer.detail
    if not goal or success_outcome != "success":
        holds = outcome == success_outcome and (holds or not goal)
    steps = [step_record(s) for s in (result.steps if result else [])]
    rates = commander.loop_rates_hz
    return {
        "robot": robot, "instruction": task, "goal": goal, "outcome": outcome,
        "success": bool(holds), "steps": steps,
        "planner_ms": [s["planner_ms"] for s in steps],
        "wall_s": round(time.monotonic() - task_start, 2),
        "sim_s": round(commander.sim_time_s - sim_start, 2),
        "task_started": task_start,
        "controller_loop_hz": round(sorted(rates)[len(rates) // 2], 1) if rates else None,
        "goal_detail": detail,
        "message": result.message if result else (f"node died: {died}" if died else ""),
    }


def wait_for_result(commander: StackCommander, stack: StackProcesses | None,
                    timeout_s: float) -> bool:
    """Whether the task's result came within timeout_s; False early if a stack node died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if commander.wait_for_task(min(1.0, max(0.0, deadline - time.monotonic()))):
            return True
        if stack is not None and stack.dead():
            return False
    return commander.wait_for_task(0.0)
