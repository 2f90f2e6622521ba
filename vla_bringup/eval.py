"""`vla eval --suite FILE --robot R [--json OUT]`: run a suite of episodes end to end, each on a
fresh stack (the processes `vla demo` starts), judge each on ground truth, print a summary.

Variants for ablations: `--no-affordances` (every can = 1) and `--baseline generate` (the LM
writes the whole plan as text, parsed into skills; vla_planner.generate_plan).
"""

import argparse
import contextlib
import datetime
import fcntl
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from vla_bringup.bench import machine
from vla_bringup.demo import run_episode, stack_session, wait_for_stack
from vla_bringup.profile import ROBOTS, load_profile
from vla_bringup.ros_env import isolate_ros_env
from vla_bringup.specs import stack_specs
from vla_sim.goals import parse_goal

EXPECTS = ("success", "infeasible")


def say(text: str) -> None:
    print(text, flush=True)


def load_suite(path: str | Path, robot: str | None = None) -> dict[str, Any]:
    """Read and check a suite file (DESIGN.md "Suite file"); scene paths become absolute."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"suite file not found: {path}")
    suite = yaml.safe_load(path.read_text())
    if not isinstance(suite, dict) or not isinstance(suite.get("episodes"), list) \
            or not suite["episodes"]:
        raise ValueError(f"{path}: needs `robot:` and a non-empty `episodes:` list")
    if suite.get("robot") not in ROBOTS:
        raise ValueError(f"{path}: robot must be one of {', '.join(ROBOTS)}")
    if robot is not None and robot != suite["robot"]:
        raise ValueError(f"{path} is a suite for {suite['robot']!r}, not {robot!r}")
    episodes = []
    for index, raw in enumerate(suite["episodes"]):
        where = f"{path}: episode {index + 1}"
        if not isinstance(raw, dict) or not str(raw.get("task", "")).strip():
            raise ValueError(f"{where}: needs a `task`")
        expect = raw.get("expect", "success")
        if expect not in EXPECTS:
            raise ValueError(f"{where}: expect must be one of {EXPECTS}, got {expect!r}")
        goals = raw.get("goal_any") or ([raw["goal"]] if raw.get("goal") else [])
        if not isinstance(goals, list) or not all(isinstance(g, str) and g for g in goals):
            raise ValueError(f"{where}: goal_any must be a list of goal strings")
        if expect == "success" and not goals:
            raise ValueError(f"{where}: a feasible episode needs a `goal` to judge it by")
        for goal in goals:
            try:
                parse_goal(goal)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from exc
        scene = raw.get("scene")
        if scene is not None:
            scene = (path.parent / scene).resolve()
            if not scene.is_file():
                raise ValueError(f"{where}: scene not found: {scene}")
        episodes.append({"task": str(raw["task"]).strip(), "goal": " | ".join(goals),
                         "goals": goals, "expect": expect,
                         "scene": str(scene) if scene else None,
                         "category": str(raw.get("category", "other")),
                         "max_steps": int(raw.get("max_steps", 0))})
    return {"robot": suite["robot"], "path": str(path), "episodes": episodes}


def variant_name(args: argparse.Namespace) -> str:
    if args.baseline == "generate":
        return "generate-then-parse"
    return "saycan-no-affordances" if args.no_affordances else "saycan"


def run_one(robot: str, episode: dict, args: argparse.Namespace, log_dir: Path) -> dict:
    """One episode on a fresh stack; the record always comes back (outcome "error" if the
    stack did not come up)."""
    profile = load_profile(robot)
    scene = episode["scene"] or profile["default_scene"]
    overrides: dict[str, dict[str, Any]] = {
        "mujoco_sim": {"scene": scene, "real_time_factor": args.real_time_factor}}
    planner_params: dict[str, Any] = {}
    if args.baseline == "generate":
        planner_params["mode"] = "generate"
    if args.model:
        planner_params["model_path"] = args.model
    if planner_params:
        overrides["planner"] = planner_params
    record = {**episode, "outcome": "error", "success": False, "planning_ok": False,
              "steps": [], "planner_ms": [], "wall_s": 0.0, "message": ""}
    started = time.monotonic()
    env = isolate_ros_env()
    with stack_session(stack_specs(robot, overrides), log_dir, env) as (stack, commander):
        if not wait_for_stack(commander, stack, args.startup_timeout):
            record["message"] = f"stack did not come up (logs in {log_dir})"
            record["wall_s"] = round(time.monotonic() - started, 1)
            return record
        goals = episode["goals"] or [""]
        result = run_episode(commander, robot, episode["task"], goals[0],
                             episode["max_steps"], args.task_timeout,
                             ignore_affordances=args.no_affordances,
                             success_outcome=episode["expect"], stack=stack)
        for other in goals[1:]:  # goal_any: any reading of an ambiguous request counts
            if result is None or result["success"]:
                break
            answer = commander.check_goal(other)
            if answer.valid and answer.holds and episode["expect"] == "success":
                result.update(success=True, goal_detail=f"{other}: {answer.detail}")
    if result is None:
        record["message"] = "the planner refused the task"
        return record
    result.pop("task_started", None)
    record.update({k: result[k] for k in ("outcome", "success", "steps", "planner_ms",
                                          "wall_s", "message", "goal_detail")})
    record["planning_ok"] = result["outcome"] == episode["expect"]
    record["episode_wall_s"] = round(time.monotonic() - started, 1)
    return record


@contextlib.contextmanager
def episode_lock(path: str | None):
    """Hold `path` (flock) for one episode: on a shared machine, stacks take turns episode by
    episode instead of one long suite locking everyone else out."""
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def summarise(records: list[dict]) -> dict[str, Any]:
    def block(rows: list[dict]) -> dict[str, Any]:
        latencies = [ms for r in rows for ms in r["planner_ms"]]
        actions = [sum(1 for s in r["steps"] if s["skill"] != "done") for r in rows]
        return {"episodes": len(rows),
                "planning_success": round(sum(r["planning_ok"] for r in rows) / len(rows), 3),
                "execution_success": round(sum(r["success"] for r in rows) / len(rows), 3),
                "mean_steps": round(statistics.mean(actions), 2),
                "planner_ms_median": round(statistics.median(latencies), 1) if latencies
                else None,
                "errors": sum(r["outcome"] == "error" for r in rows)}

    categories = sorted({r["category"] for r in records})
    return {"all": block(records),
            "by_category": {c: block([r for r in records if r["category"] == c])
                            for c in categories}}


def summary_table(summary: dict[str, Any], variant: str) -> str:
    lines = [f"variant: {variant}",
             f"{'category':16s} {'n':>3s} {'planning':>9s} {'execution':>10s} {'steps':>6s} "
             f"{'planner ms':>11s}"]
    rows = [*summary["by_category"].items(), ("ALL", summary["all"])]
    for name, row in rows:
        ms = row["planner_ms_median"]
        lines.append(f"{name:16s} {row['episodes']:3d} {row['planning_success']:9.0%} "
                     f"{row['execution_success']:10.0%} {row['mean_steps']:6.1f} "
                     f"{'-' if ms is None else f'{ms:.0f}':>11s}")
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    try:
        suite = load_suite(args.suite, args.robot)
    except (ValueError, yaml.YAMLError) as exc:
        say(f"vla eval: {exc}")
        return 2
    episodes = suite["episodes"][args.start::max(1, args.stride)]
    if args.limit:
        episodes = episodes[:args.limit]
    variant = variant_name(args)
    log_root = Path(tempfile.mkdtemp(prefix="vla_eval_"))
    say(f"vla eval: {suite['path']} ({len(episodes)} episodes, robot {suite['robot']}, "
        f"variant {variant}); logs in {log_root}")
    records = []
    report: dict[str, Any] = {"suite": suite["path"], "robot": suite["robot"],
                              "variant": variant, "machine": machine(),
                              "date": datetime.date.today().isoformat()}
    for index, episode in enumerate(episodes, start=1):
        say(f"[{index}/{len(episodes)}] {episode['task']!r} ({episode['category']}, "
            f"expect {episode['expect']})")
        with episode_lock(args.lock):
            record = run_one(suite["robot"], episode, args, log_root / f"episode_{index:03d}")
        records.append(record)
        steps = ", ".join(s["text"] for s in record["steps"]) or "-"
        say(f"    {'PASS' if record['success'] else 'FAIL'}: outcome {record['outcome']}, "
            f"steps [{steps}], {record['wall_s']:.0f} s"
            + (f" ({record['message']})" if record["message"] else ""))
        done = sum(r["success"] for r in records)
        say(f"    so far {done}/{len(records)} passed")
        if args.json:  # written after every episode: a long run that dies keeps its results
            report.update(episodes=records, summary=summarise(records))
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    summary = summarise(records)
    say(summary_table(summary, variant))
    if args.json:
        say(f"wrote {args.json}")
    return 0 if summary["all"]["errors"] == 0 else 1
