"""Generate-then-parse baseline: parsing written plans and mapping them to skills (pure parts,
real MiniLM for the mapping), and one run with the real SmolLM2 writing the plan."""

from test_saycan import OBJECTS, TableRobot

from vla_planner.embedder import MiniLMEmbedder
from vla_planner.generate import map_lines, plan_lines, run_generated_task
from vla_planner.grounding import Grounder
from vla_planner.lm_backend import TransformersBackend
from vla_planner.prompt import DONE, STATE_LABEL, Example, HistoryItem, PromptBuilder


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


def test_the_baseline_prompt_shows_plans_written_ahead():
    """No outcomes, no State lines (a plan written before acting cannot know them), and a
    failed-then-retried step shown once."""
    example = Example("put the pear in the bowl", (
        HistoryItem("pick up the pear", False, "the pear is on the table"),
        HistoryItem("pick up the pear", True, "the pear is on the table"),
        HistoryItem("put the pear in the bowl", True, "the gripper holds the pear")),
        final_state="the pear is in the bowl")
    closed = PromptBuilder(examples=(example,))
    assert "(failed)" in closed.build("x", []) and STATE_LABEL in closed.build("x", [])
    prompt = closed.open_loop().build("put the plum in the bowl", [])
    assert "(" not in prompt and STATE_LABEL not in prompt
    assert ("Task: put the pear in the bowl.\nPlan:\n1. pick up the pear\n"
            f"2. put the pear in the bowl\n3. {DONE}\n\nTask: put the plum in the bowl.\n"
            "Plan:\n1.") in prompt


def test_generated_plan_runs_open_loop_with_the_real_model():
    backend = TransformersBackend()
    robot = TableRobot()
    executed = []

    def execute(candidate):
        executed.append(candidate.text)
        return robot.execute(candidate)

    result = run_generated_task("move the green cube to the blue bin", backend.generate,
                                robot.state, execute, MiniLMEmbedder())
    # measured with the plans-ahead prompt: pick, put, done (with the SayCan prompt's outcomes
    # and State lines SmolLM2 wrote "pick up the green cube" twice and failed)
    assert executed == ["pick up the green cube", "put the green cube in the blue bin"]
    assert result.outcome == "success" and robot.inside == {"green_cube": "blue_bin"}
