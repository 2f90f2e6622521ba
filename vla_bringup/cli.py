"""The `vla` command line (DESIGN.md: demo, eval, bench)."""

import argparse
import sys

from vla_bringup.profile import ROBOTS


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run one instruction end to end in simulation")
    demo.add_argument("--robot", choices=ROBOTS, default="arm")
    demo.add_argument("--task", help="instruction (default: the robot's default task)")
    demo.add_argument("--goal", help="goal predicates judged from ground truth, e.g. "
                                     "'in(red_cube, blue_bin)'")
    demo.add_argument("--scene", help="scene YAML (default: the robot's default scene)")
    demo.add_argument("--record", metavar="DIR", help="write DIR/episode.json and episode.gif")
    demo.add_argument("--seed", type=int, default=0,
                      help="0: the scene as written; N: objects nudged at random "
                           "(up to 1 cm, 0.2 rad), seeded by N")
    demo.add_argument("--headless", action="store_true",
                      help="no viewer window (the only mode so far: rendering is offscreen)")
    demo.add_argument("--model", help="planner model: a local HF model dir or .gguf file")
    demo.add_argument("--endpoint", metavar="URL",
                      help="score with an OpenAI-compatible completions server at URL "
                           "(e.g. http://127.0.0.1:8080) instead of the local model")
    demo.add_argument("--max-steps", type=int, default=0, help="planner step limit (0: default)")
    demo.add_argument("--real-time-factor", type=positive_float, default=1.0,
                      help="simulation speed relative to wall time, e.g. 2 (the 250 Hz "
                           "controller must keep up: 2 works on 2 cores)")
    demo.add_argument("--startup-timeout", type=float, default=240.0)
    demo.add_argument("--task-timeout", type=float, default=300.0)

    evaluate = sub.add_parser("eval", help="run a suite of episodes, one fresh stack each")
    evaluate.add_argument("--suite", required=True, help="suite YAML (DESIGN.md suite file)")
    evaluate.add_argument("--robot", choices=ROBOTS, required=True)
    evaluate.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    evaluate.add_argument("--no-affordances", action="store_true",
                          help="ablation: the planner ignores affordances (can = 1)")
    evaluate.add_argument("--baseline", choices=("generate",),
                          help="generate: the LM writes the plan as text, parsed into skills")
    evaluate.add_argument("--model", help="planner model: a local HF model dir or .gguf file")
    evaluate.add_argument("--start", type=int, default=0, help="skip the first N episodes")
    evaluate.add_argument("--limit", type=int, default=0, help="run at most N episodes")
    evaluate.add_argument("--stride", type=int, default=1,
                          help="run every Nth episode (a sample across categories)")
    evaluate.add_argument("--real-time-factor", type=positive_float, default=1.0)
    evaluate.add_argument("--lock", metavar="FILE",
                          help="hold this flock file during each episode (shared machines)")
    evaluate.add_argument("--startup-timeout", type=float, default=240.0)
    evaluate.add_argument("--task-timeout", type=float, default=300.0)

    bench = sub.add_parser("bench", help="measure speed (DESIGN.md benchmark output)")
    bench.add_argument("name", choices=("sim", "wbc", "planner"))
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--robot", choices=ROBOTS, default="arm")

    from vla_bringup.skills_cli import add_parser as add_skills_parser

    add_skills_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from vla_bringup.demo import run_demo

        return run_demo(args)
    if args.command == "eval":
        from vla_bringup.eval import run_eval

        return run_eval(args)
    if args.command == "bench":
        from vla_bringup.bench import run_bench

        return run_bench(args)
    if args.command == "skills":
        from vla_bringup.skills_cli import run_skills

        return run_skills(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
