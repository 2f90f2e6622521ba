"""Generate-then-parse baseline: parsing written plans and mapping them to skills (pure parts,
real MiniLM for the mapping), and one run with the real SmolLM2 writing the plan."""

from test_saycan import OBJECTS, TableRobot

from vla_planner.embedder import MiniLMEmbedder
from vla_planner.generate import map_lines, plan_lines, run_generated_task
from vla_planner.grounding import Grounder
from vla_planner.lm_backend import TransformersBackend


def test_plan_lines_stop_at_done_and_drop_outcomes():
    text = " pick up the red cube (succeeded)\n2. put the red cube in the blue bin.\n3. done\n4. x"
    assert plan_lines(text) == ["pick up the red cube", "put the red cube in the blue bin"]
    assert plan_lines(" done") == []
    assert plan_lines("1. pick up the ball\n\nTask: something else") == ["pick up the ball"]
    assert plan_lines(" pick up the ball (succeeded)\nState: the gripper holds the ball.\n2. done"
                      ) == ["pick up the ball"]  # State lines are not steps


def test_lines_map_to_candidates_or_to_nothing():
    candidates = TableRobot().candidates
    embedder = MiniLMEmbedder()
    grounder = Grounder(embedder)

    def rewrite(line: str) -> str:
        return grounder.ground(line, OBJECTS).lm_instruction()

    parsed = map_lines(["pick up the red cube", "pick up the red block",
                        "sing a song about the sea"], candidates, embedder, rewrite)
    assert parsed[0].candidate.text == "pick up the red cube" and parsed[0].similarity == 1.0
    assert parsed[1].candidate.text == "pick up the red cube" and parsed[1].similarity == 1.0
    # whole-sentence similarity alone would not do: it ranks the wording over the object
    assert map_lines(["pick up the red block"], candidates, embedder)[0].candidate is None
    assert parsed[2].candidate is None


def test_generated_plan_runs_open_loop_with_the_real_model():
    backend = TransformersBackend()
    robot = TableRobot()
    executed = []

    def execute(candidate):
        executed.append(candidate.text)
        return robot.execute(candidate)

    result = run_generated_task("put the red cube in the blue bin", backend.generate,
                                robot.state, execute, MiniLMEmbedder(),
                                describe_scene=robot.scene)
    assert executed and executed[0] == "pick up the red cube"
    # measured: SmolLM2 writes "pick up" twice; open loop, the second pick fails and ends it
    assert result.outcome in ("success", "failure")
    assert (result.outcome == "success") == (robot.inside == {"red_cube": "blue_bin"})
