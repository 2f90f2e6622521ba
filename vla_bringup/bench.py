"""`vla bench NAME [--json]`: speed of the stack's parts, in DESIGN.md's benchmark format."""

import argparse
import datetime
import gc
import json
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from vla_bringup.profile import load_profile


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.node()} ({cpu}, {os.cpu_count()} cores, Python {platform.python_version()})"


def summary(name: str, unit: str, samples: list[float]) -> dict:
    values = np.asarray(samples, dtype=float)
    return {"name": name, "unit": unit, "median": round(float(np.median(values)), 4),
            "p95": round(float(np.percentile(values, 95)), 4),
            "p99": round(float(np.percentile(values, 99)), 4), "n": int(values.size)}


def timed_ms(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def bench_sim(robot: str) -> list[dict]:
    from vla_sim.scene import load_scene
    from vla_sim.world import SimWorld

    profile = load_profile(robot)
    world = SimWorld(profile, load_scene(profile["default_scene"]))
    home = world.joint_positions()
    names = world.joint_names
    results = []
    # the node's inner loop: targets in, one physics step, state out
    factors = []
    for _ in range(5):
        start, sim_start = time.perf_counter(), world.time_s
        for _ in range(1000):
            world.set_joint_targets(names, home)
            world.step()
            world.joint_positions()
        factors.append((world.time_s - sim_start) / (time.perf_counter() - start))
    results.append(summary(f"sim.{robot}.realtime_factor", "x", factors))
    results.append(summary(f"sim.{robot}.step", "ms", timed_ms(world.step, 2000)))
    world.render_rgbd()  # first render creates the GL context
    results.append(summary(f"sim.{robot}.render_rgbd{profile['camera']['height']}", "ms",
                           timed_ms(world.render_rgbd, 50)))
    world.close()
    return results


def bench_wbc(robot: str) -> list[dict]:
    """Whole-body QP per tick for all three robots, ours and mink side by side (the robot
    argument is not used: the comparison is one run over every profile)."""
    import pinocchio as pin

    from vla_controller.ik import solve_ik
    from vla_controller.robot_model import RobotModel
    from vla_controller.wholebody_bench import compare

    results = []
    for name in ("arm", "quadruped", "humanoid"):
        for suffix, (ticks, stats) in compare(load_profile(name), 3000).items():
            results.append(summary(f"wbc.{name}.tick{suffix}", "ms", list(ticks[:, 0])))
            results.append(summary(f"wbc.{name}.tick_cpu{suffix}", "ms", list(ticks[:, 1])))
            for key, value in stats.items():  # metres -> micrometres (drift is sub-um)
                results.append(summary(f"wbc.{name}.{key.removesuffix('_m')}{suffix}", "um",
                                       [value * 1e6]))
    profile = load_profile("arm")
    model = RobotModel.from_urdf(profile["urdf"], profile["arm_joints"],
                                 base_frame=profile["base_frame"], tool_frame=profile["tool_frame"])
    rng = np.random.default_rng(0)
    home = np.asarray(profile["home_joint_positions"], dtype=float)
    down = np.diag([1.0, -1.0, -1.0])
    targets = [pin.SE3(down, np.array([rng.uniform(0.3, 0.65), rng.uniform(-0.3, 0.3),
                                       rng.uniform(0.02, 0.3)])) for _ in range(50)]
    results.append(summary("wbc.arm.solve_ik", "ms",
                           [solve_ik(model, t, home).solve_time_ms for t in targets]))
    return results


def rss_mb() -> float:
    """This process's resident memory (Linux /proc), MB."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024.0


def planner_bench_candidates(n: int) -> list[str]:
    """n candidate texts as the planner makes them (skills x objects), in a seeded order so
    every size mixes picks, places and pushes; 101 exist."""
    import random

    from vla_planner.prompt import ObjectRef, PromptBuilder, SkillSpec, make_candidates

    colours = ["red", "green", "blue", "yellow", "orange", "purple", "white", "black", "pink",
               "brown"]
    objects = [ObjectRef(f"{c}_cube", f"{c} cube", "graspable") for c in colours]
    objects += [ObjectRef(f"{c}_bin", f"{c} bin", "container") for c in colours[:8]]
    skills = [SkillSpec("pick", "pick up the {object}", {"object": "graspable"}),
              SkillSpec("place", "put the {object} in the {container}",
                        {"object": "graspable", "container": "container"}),
              SkillSpec("push", "push the {object}", {"object": "graspable"})]
    texts = [PromptBuilder.candidate_text(c) for c in make_candidates(skills, objects)]
    random.Random(0).shuffle(texts)
    if n > len(texts):
        raise ValueError(f"only {len(texts)} candidates")
    return texts[:n]


def bench_planner(robot: str) -> list[dict]:
    """Scoring time for 10/30/100 candidates with the real SayCan prompt, without prefix reuse
    (cache cleared before each call: the whole prompt runs) and with it (the next step of a
    task: only the candidates run), plus load time and resident memory per backend.
    Backends: SmolLM2 (packaged) and any model paths in $VLA_BENCH_MODELS (':'-separated
    local HF dirs or .gguf files, e.g. the gemma3-270m / Qwen2.5-0.5B GGUFs), each in the
    precisions of $VLA_BENCH_DTYPES (default float32:bfloat16)."""
    from vla_planner.lm_backend import TransformersBackend
    from vla_planner.prompt import PromptBuilder

    threads = int(os.environ.get("VLA_BENCH_THREADS", "2"))
    sources: list[str | None] = [None]
    sources += [p for p in os.environ.get("VLA_BENCH_MODELS", "").split(":") if p]
    dtypes = [d for d in os.environ.get("VLA_BENCH_DTYPES", "float32:bfloat16").split(":") if d]
    prompt = PromptBuilder().build("put the red cube in the blue bin", [])
    results = []
    for source in sources:
        for dtype in dtypes:
            before_mb = rss_mb()
            start = time.perf_counter()
            backend = TransformersBackend(source, num_threads=threads, dtype=dtype)
            load_s = time.perf_counter() - start
            model = "smollm2" if source is None else backend.name.lower().replace(".", "_")
            name = f"{model}.{'bf16' if dtype == 'bfloat16' else 'fp32'}"
            results.append({"name": f"planner.{name}.load", "unit": "s",
                            "median": round(load_s, 2), "p95": round(load_s, 2), "n": 1})
            results += bench_scoring(name, backend, prompt)
            grown_mb = round(rss_mb() - before_mb, 1)
            results.append({"name": f"planner.{name}.rss_delta", "unit": "MB",
                            "median": grown_mb, "p95": grown_mb, "n": 1})
            del backend  # the next precision's memory is measured from here
            gc.collect()
    return results


def bench_scoring(name: str, backend, prompt: str) -> list[dict]:
    results = []
    for n in (10, 30, 100):
        candidates = planner_bench_candidates(n)
        backend.score(prompt, candidates)  # warm-up (allocator, kernels)
        reps = 5 if n == 100 else 10

        def cold(c=candidates):
            backend.reset_cache()
            backend.score(prompt, c)

        def warm(c=candidates):
            backend.reset_cache(prefix=False)  # the scores go, the prompt's cache stays
            backend.score(prompt, c)

        results.append(summary(f"planner.{name}.score{n}.no_prefix_reuse", "ms",
                               timed_ms(cold, reps)))
        results.append(summary(f"planner.{name}.score{n}", "ms", timed_ms(warm, reps)))
        results.append(summary(f"planner.{name}.score{n}.scores_cached", "ms",
                               timed_ms(lambda c=candidates: backend.score(prompt, c), reps)))
    return results


BENCHES = {"sim": bench_sim, "wbc": bench_wbc, "planner": bench_planner}


def run_bench(args: argparse.Namespace) -> int:
    from vla_bringup.ros_env import isolate_ros_env

    isolate_ros_env()
    results = BENCHES[args.name](args.robot)
    report = {"bench": args.name, "machine": machine(),
              "date": datetime.date.today().isoformat(), "results": results}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.name} on {report['machine']}, {report['date']}")
        for r in results:
            print(f"  {r['name']:36s} median {r['median']:>10} {r['unit']:3s} "
                  f"p95 {r['p95']:>10} (n={r['n']})")
    return 0
