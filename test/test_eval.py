"""`vla eval`: suite files are checked, and a 2-episode suite (one feasible, one infeasible) runs
for real through the whole stack, one fresh stack per episode."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vla_bringup.eval import load_suite, summarise, summary_table

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_repo_suites_load_with_enough_episodes():
    assert len(load_suite(REPO / "config/eval/arm.yaml", "arm")["episodes"]) >= 40
    for robot in ("quadruped", "humanoid"):
        assert len(load_suite(REPO / f"config/eval/{robot}.yaml", robot)["episodes"]) >= 10


@pytest.mark.parametrize("text, complaint", [
    ("robot: arm\nepisodes: []\n", "non-empty"),
    ("robot: tank\nepisodes: [{task: x, goal: 'holding(a)'}]\n", "robot must be"),
    ("robot: arm\nepisodes: [{task: 'put it away'}]\n", "needs a `goal`"),
    ("robot: arm\nepisodes: [{task: x, goal: 'inside(a, b)'}]\n", "episode 1"),
    ("robot: arm\nepisodes: [{task: x, expect: maybe}]\n", "expect must be"),
    ("robot: arm\nepisodes: [{task: x, goal: 'holding(a)', scene: nope.yaml}]\n", "not found"),
])
def test_bad_suites_are_refused_clearly(tmp_path, text, complaint):
    with pytest.raises(ValueError, match=complaint):
        load_suite(write(tmp_path, text))


def test_wrong_robot_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not 'quadruped'"):
        load_suite(REPO / "config/eval/arm.yaml", "quadruped")


def test_summary_counts_planning_and_execution_separately():
    def record(category, planning_ok, success, ms):
        return {"category": category, "planning_ok": planning_ok, "success": success,
                "outcome": "success", "planner_ms": ms,
                "steps": [{"skill": "pick"}, {"skill": "done"}]}

    summary = summarise([record("single", True, True, [100.0, 300.0]),
                         record("single", True, False, [200.0]),
                         record("infeasible", False, False, [])])
    assert summary["all"]["planning_success"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["all"]["execution_success"] == pytest.approx(1 / 3, abs=1e-3)
    assert summary["by_category"]["single"]["planner_ms_median"] == 200.0
    assert summary["all"]["mean_steps"] == 1.0  # `done` is not a step
    table = summary_table(summary, "saycan")
    assert "single" in table and "ALL" in table and "67%" in table


def test_two_episode_suite_runs_end_to_end(tmp_path):
    suite = write(tmp_path, f"""robot: arm
episodes:
  - {{task: "put the red cube in the blue bin", goal: "in(red_cube, blue_bin)",
     scene: {REPO}/config/scenes/tabletop.yaml}}
  - {{task: "put the purple cube in the bin", expect: infeasible,
     goal: "unmoved(red_cube) and unmoved(green_cube)", scene: {REPO}/config/scenes/tabletop.yaml}}
""")
    out = tmp_path / "result.json"
    vla = Path(sys.prefix) / "bin" / "vla"
    run = subprocess.run([str(vla), "eval", "--suite", str(suite), "--robot", "arm",
                          "--json", str(out)], capture_output=True, text=True, timeout=1500,
                         env=dict(os.environ))
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0
    assert "[1/2]" in run.stdout and "[2/2]" in run.stdout  # progress while it runs
    assert "ALL" in run.stdout and "execution" in run.stdout  # the summary table
    result = json.loads(out.read_text())
    feasible, infeasible = result["episodes"]
    assert feasible["outcome"] == "success" and feasible["success"] is True
    assert [s["skill"] for s in feasible["steps"]][:2] == ["pick", "place"]
    assert infeasible["outcome"] == "infeasible" and infeasible["success"] is True
    assert infeasible["steps"] == []  # nothing ran
    assert result["summary"]["all"]["execution_success"] == 1.0
    assert result["variant"] == "saycan"
