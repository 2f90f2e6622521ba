"""SayCan candidates, prompt, ranking and task loop, with the real SmolLM2 model.

`TableRobot` is a plain-Python stand-in for the robot (affordances and skill outcomes), not
for the model: every plan below is chosen by the real language model.
"""

import math

import pytest

from vla_bringup.profile import load_profile
from vla_planner.lm_backend import TransformersBackend
from vla_planner.prompt import (
    DONE_CANDIDATE,
    Candidate,
    HistoryItem,
    ObjectRef,
    PromptBuilder,
    SkillSpec,
    make_candidates,
)
from vla_planner.saycan import SayCanPlanner, StepResult, TaskCancelledError, run_task
from vla_planner.scene_state import ObjectBox, describe_scene
from vla_skills.base import ALREADY_DONE

TASK = "put the red cube in the blue bin"
NAMED = ("red_cube", "blue_bin")  # the task's objects: what the node's State line describes
PICK = SkillSpec("pick", "pick up the {object}", {"object": "graspable"})
PLACE = SkillSpec("place", "put the {object} in the {container}",
                  {"object": "graspable", "container": "container"})
OBJECTS = [
    ObjectRef("red_cube", "red cube", "graspable"),
    ObjectRef("green_cube", "green cube", "graspable"),
    ObjectRef("yellow_cube", "yellow cube", "graspable"),
    ObjectRef("blue_bin", "blue bin", "container"),
]
CUBE_M = (0.04, 0.04, 0.04)
TABLE_XY_M = {"red_cube": (0.52, 0.12), "green_cube": (0.38, 0.08), "yellow_cube": (0.60, -0.04),
              "red_cube_2": (0.36, 0.16), "blue_bin": (0.42, -0.16)}
BIN = ObjectBox((0.42, -0.16, 0.035), (0.16, 0.16, 0.07))


class TableRobot:
    """Gripper holds at most one object; place needs the held object; a pick may slip.
    scene() is what perception would show: boxes on the table, lifted or in the bin."""

    def __init__(self, failing_picks: int = 0, objects: list[ObjectRef] = OBJECTS,
                 unreachable: tuple[str, ...] = ()) -> None:
        self.held: str | None = None
        self.unreachable = unreachable
        self.inside: dict[str, str] = {}
        self.failing_picks = failing_picks
        self.infeasible_attempts: list[str] = []
        self.objects = objects
        self.candidates = make_candidates([PICK, PLACE], objects)

    def box(self, name: str) -> ObjectBox:
        if name == "blue_bin":
            return BIN
        x, y = TABLE_XY_M.get(name, (0.30, -0.05))
        if self.held == name:
            return ObjectBox((x, y, 0.2), CUBE_M)
        if name in self.inside:
            return ObjectBox((BIN.centre_m[0], BIN.centre_m[1], 0.025), CUBE_M)
        return ObjectBox((x, y, 0.02), CUBE_M)

    def scene(self, names: tuple[str, ...] | None = None) -> str:
        """The State line for these objects: by default the task's (NAMED, or every object of
        a custom scene), as the planner node describes only the objects the task names."""
        if names is None:
            names = NAMED if self.objects is OBJECTS else tuple(o.name for o in self.objects)
        return describe_scene([(o, self.box(o.name)) for o in self.objects if o.name in names])

    def affordance(self, candidate: Candidate) -> float:
        if candidate.is_done:
            return 1.0
        if candidate.skill == "pick":
            return 1.0 if self.held is None and candidate.args["object"] not in self.unreachable \
                else 0.0
        return 1.0 if self.held == candidate.args["object"] else 0.0

    def state(self) -> tuple[list[Candidate], list[float]]:
        return self.candidates, [self.affordance(c) for c in self.candidates]

    def execute(self, candidate: Candidate) -> StepResult:
        if self.affordance(candidate) < 0.5:
            self.infeasible_attempts.append(candidate.text)
            return StepResult(False, "not applicable now")
        if candidate.skill == "pick":
            if self.failing_picks > 0:
                self.failing_picks -= 1
                return StepResult(False, "object slipped")
            self.held = candidate.args["object"]
            self.inside.pop(self.held, None)
        else:
            self.inside[candidate.args["object"]] = candidate.args["container"]
            self.held = None
        return StepResult(True, duration_s=1.0)


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    return TransformersBackend()


@pytest.fixture(scope="module")
def planner(backend) -> SayCanPlanner:
    return SayCanPlanner(backend)


def texts_of(result) -> list[str]:
    return [step.choice.candidate.text for step in result.steps]


# ---- candidates and prompt (no model) -------------------------------------------------------
def test_candidates_are_type_correct_and_distinct():
    bowl = ObjectRef("bowl", "bowl", ("graspable", "container"))
    candidates = make_candidates([PICK, PLACE], [*OBJECTS, bowl])
    texts = [c.text for c in candidates]
    assert texts[-1] == "done" and candidates[-1] == DONE_CANDIDATE
    assert "pick up the red cube" in texts and "pick up the bowl" in texts
    assert "pick up the blue bin" not in texts  # a bin is not graspable
    assert "put the red cube in the green cube" not in texts  # a cube is not a container
    assert "put the bowl in the bowl" not in texts and "put the bowl in the blue bin" in texts
    place = next(c for c in candidates if c.text == "put the red cube in the bowl")
    assert place.skill == "place" and place.args == {"object": "red_cube", "container": "bowl"}
    # 4 graspables: 4 picks; places: 4 into the bin + 3 into the bowl; done
    assert len(candidates) == 4 + 7 + 1


@pytest.mark.parametrize("make", [
    lambda: SkillSpec("pick", "pick up the {thing}", {"object": "graspable"}),
    lambda: SkillSpec("done", "done", {}),
    lambda: ObjectRef("x", "", "graspable"),
    lambda: ObjectRef("x", "two\nlines", "graspable"),
    lambda: make_candidates([PICK, PICK], OBJECTS),
    lambda: make_candidates([PICK], [OBJECTS[0], OBJECTS[0]]),
])
def test_bad_descriptions_raise(make):
    with pytest.raises(ValueError):
        make()


def test_prompt_shows_history_and_avoids_the_default_objects():
    builder = PromptBuilder()
    for example in builder.examples:
        words = example.instruction + " ".join(s.text for s in example.steps)
        assert "red cube" not in words and "blue bin" not in words
    prompt = builder.build("Put the red cube in the blue bin.", [
        HistoryItem("pick up the red cube", False), HistoryItem("pick up the red cube", True)])
    tail = prompt.rsplit("Task:", 1)[1]
    assert tail == (" put the red cube in the blue bin.\nPlan:\n"
                    "1. pick up the red cube (failed)\n2. pick up the red cube (succeeded)\n3.")


def test_prompt_shows_the_scene_before_each_step():
    builder = PromptBuilder()
    assert builder.shows_state  # the arm's examples have State lines
    history = [HistoryItem("pick up the red cube", True, "the red cube is on the table")]
    tail = builder.build(TASK, history, "the gripper holds the red cube").rsplit("Task:", 1)[1]
    assert tail == (" put the red cube in the blue bin.\nPlan:\n"
                    "State: the red cube is on the table.\n1. pick up the red cube (succeeded)\n"
                    "State: the gripper holds the red cube.\n2.")
    assert "State:" not in builder.build(TASK, []).rsplit("Task:", 1)[1]
    with pytest.raises(ValueError):
        builder.build(TASK, [], "two\nlines")
    with pytest.raises(ValueError):
        HistoryItem("pick up the red cube", True, "two\nlines")


def test_table_robot_scene_words():
    robot = TableRobot()
    named = ("red_cube", "green_cube", "blue_bin")
    assert robot.scene(named) == "the red cube is on the table; the green cube is on the table"
    robot.execute(robot.candidates[0])  # pick up the red cube
    assert robot.scene(named) == "the gripper holds the red cube; the green cube is on the table"
    robot.execute(next(c for c in robot.candidates if c.text == "put the red cube in the blue bin"))
    assert robot.scene(named) == "the red cube is in the blue bin; the green cube is on the table"


# ---- ranking with the real model ------------------------------------------------------------
def test_plan_pick_then_place_then_done(planner):
    robot = TableRobot()
    candidates, affordances = robot.state()
    first = planner.rank(TASK, [], candidates, affordances, robot.scene(NAMED))
    assert first[0].candidate.text == "pick up the red cube"
    assert first[0].can == 1.0 and first[0].say < 0.0
    assert first[0].score == pytest.approx(math.exp(first[0].say) * first[0].can)
    assert [s.score for s in first] == sorted((s.score for s in first), reverse=True)

    history = [HistoryItem("pick up the red cube", True, robot.scene(NAMED))]
    robot.execute(first[0].candidate)
    second = planner.rank(TASK, history, *robot.state(), robot.scene(NAMED))
    assert second[0].candidate.text == "put the red cube in the blue bin"
    assert second[0].candidate.args == {"object": "red_cube", "container": "blue_bin"}

    history.append(HistoryItem("put the red cube in the blue bin", True, robot.scene(NAMED)))
    robot.execute(second[0].candidate)
    third = planner.rank(TASK, history, *robot.state(), robot.scene(NAMED))
    assert third[0].candidate.is_done
    picks = [s for s in third if s.candidate.skill == "pick"]
    assert all(s.can == 1.0 for s in picks)  # done won on the LM's say, not by elimination


def test_run_task_completes_pick_place_done(planner):
    robot = TableRobot()
    seen = []
    result = run_task(TASK, planner, robot.state, robot.execute, max_steps=6,
                      on_step=seen.append, describe_scene=robot.scene)
    assert result.outcome == "success" and result.success
    assert texts_of(result) == ["pick up the red cube", "put the red cube in the blue bin", "done"]
    assert robot.inside == {"red_cube": "blue_bin"} and robot.held is None
    assert robot.infeasible_attempts == []
    assert len(seen) == 3 and all(s.planner_ms > 0.0 for s in seen)


def test_failed_pick_is_retried(planner):
    robot = TableRobot(failing_picks=1)
    result = run_task(TASK, planner, robot.state, robot.execute, max_steps=6,
                      describe_scene=robot.scene)
    assert result.outcome == "success"
    assert texts_of(result)[:2] == ["pick up the red cube", "pick up the red cube"]
    assert not result.steps[0].result.succeeded and result.steps[1].result.succeeded
    assert robot.inside == {"red_cube": "blue_bin"}


def test_repeated_failures_end_in_failure(planner):
    robot = TableRobot(failing_picks=100)
    result = run_task(TASK, planner, robot.state, robot.execute, max_steps=8,
                      max_consecutive_failures=2, describe_scene=robot.scene)
    assert result.outcome == "failure"
    assert robot.inside == {} and robot.held is None
    assert not any(s.result.succeeded for s in result.steps if not s.choice.candidate.is_done)


def test_step_limit_is_failure(planner):
    robot = TableRobot()
    result = run_task(TASK, planner, robot.state, robot.execute, max_steps=1,
                      describe_scene=robot.scene)
    assert result.outcome == "failure" and "step limit" in result.reason
    assert texts_of(result) == ["pick up the red cube"]


def test_missing_object_is_infeasible(planner):
    robot = TableRobot()
    result = run_task("put the purple cube in the blue bin", planner, robot.state, robot.execute)
    assert result.outcome == "infeasible"
    assert texts_of(result) == ["done"] and robot.held is None and robot.inside == {}


def test_nothing_applicable_is_infeasible_without_moving(planner):
    robot = TableRobot()
    calls = []

    def state():  # e.g. every object out of reach: only `done` is possible
        return robot.candidates, [1.0 if c.is_done else 0.0 for c in robot.candidates]

    result = run_task(TASK, planner, state, lambda c: calls.append(c) or StepResult(True))
    assert result.outcome == "infeasible" and result.steps == () and calls == []


def test_cancel_aborts(planner):
    robot = TableRobot()
    result = run_task(TASK, planner, robot.state, robot.execute, is_cancelled=lambda: True)
    assert result.outcome == "aborted" and result.steps == ()

    def cancel_during_skill(candidate):
        raise TaskCancelledError()

    result = run_task(TASK, planner, robot.state, cancel_during_skill, describe_scene=robot.scene)
    assert result.outcome == "aborted" and robot.held is None


RED_THINGS = [ObjectRef("red_cube", "red cube", "graspable"),
              ObjectRef("red_cube_2", "second red cube", "graspable"),
              ObjectRef("blue_bin", "blue bin", "container")]


@pytest.mark.parametrize("instruction, objects", [
    ("put the red cube and the green cube in the blue bin", [OBJECTS[0], OBJECTS[1], OBJECTS[3]]),
    ("put the red cube and the second red cube in the blue bin", RED_THINGS),  # "all the red"
])
def test_two_objects_are_both_placed(planner, instruction, objects):
    """Measured before the State lines and the two-object examples: once the first cube was in
    the bin, `done` won (-0.32 against -2.97 for picking the green cube): a false success.
    The robot offers only the named objects, as the planner node's grounding does."""
    robot = TableRobot(objects=objects)
    result = run_task(instruction, planner, robot.state, robot.execute, max_steps=8,
                      describe_scene=robot.scene)
    first, second = (o.description for o in objects[:2])
    assert texts_of(result) == [f"pick up the {first}", f"put the {first} in the blue bin",
                                f"pick up the {second}", f"put the {second} in the blue bin",
                                "done"]
    assert result.outcome == "success"
    assert robot.inside == {objects[0].name: "blue_bin", objects[1].name: "blue_bin"}


def test_affordances_are_needed(backend):
    """Measured before the State lines: without affordances SmolLM2 picked the red cube, then
    often tried to pick it again while holding it. With them ("the gripper holds the red cube")
    it sequences these paraphrases right on its own. What words do not tell is reach: with the
    green cube out of reach, the no-affordance planner tries to pick it; SayCan places the red
    cube and then stops, stuck, with the reason."""
    paraphrases = [TASK, "place the red cube into the blue bin",
                   "move the red cube to the blue bin", "drop the red cube in the blue bin"]
    blind = SayCanPlanner(backend, use_affordances=False)
    saycan = SayCanPlanner(backend)
    for instruction in paraphrases:
        robot = TableRobot()
        first = blind.rank(instruction, [], *robot.state(), robot.scene())
        assert all(s.can == 1.0 for s in first)
        assert first[0].candidate.text == "pick up the red cube"  # measured fact
        robot = TableRobot()
        result = run_task(instruction, saycan, robot.state, robot.execute, max_steps=5,
                          describe_scene=robot.scene)
        assert result.outcome == "success" and robot.infeasible_attempts == []
        assert robot.inside == {"red_cube": "blue_bin"}

    task = "put the red cube and the green cube in the blue bin"
    scene = [OBJECTS[0], OBJECTS[1], OBJECTS[3]]
    robot = TableRobot(objects=scene, unreachable=("green_cube",))
    run_task(task, blind, robot.state, robot.execute, max_steps=6, describe_scene=robot.scene)
    assert "pick up the green cube" in robot.infeasible_attempts
    robot = TableRobot(objects=scene, unreachable=("green_cube",))
    result = run_task(task, saycan, robot.state, robot.execute, max_steps=6,
                      describe_scene=robot.scene)
    assert robot.infeasible_attempts == [] and robot.inside == {"red_cube": "blue_bin"}
    assert result.outcome == "failure" and "'pick up the green cube'" in result.reason


# ---- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("candidates, affordances", [
    ([], []),
    ([DONE_CANDIDATE], [math.nan]),
    ([DONE_CANDIDATE], [1.5]),
    ([DONE_CANDIDATE], [1.0, 1.0]),
    (["pick up the red cube"], [1.0]),
    ([Candidate("pick", {"object": "red_cube"}, ""), DONE_CANDIDATE], [1.0, 1.0]),
    ([DONE_CANDIDATE, DONE_CANDIDATE], [1.0, 1.0]),
    ([Candidate("done", {"object": "red_cube"}, "done")], [1.0]),
])
def test_bad_candidates_raise(planner, candidates, affordances):
    with pytest.raises(ValueError):
        planner.rank(TASK, [], candidates, affordances)


def test_bad_task_input_raises(planner):
    robot = TableRobot()
    with pytest.raises(ValueError):
        planner.rank("  ", [], *robot.state())
    with pytest.raises(ValueError):
        planner.rank(TASK, [("pick up the red cube", True)], *robot.state())
    with pytest.raises(ValueError):  # no `done` among the candidates
        run_task(TASK, planner, lambda: (robot.candidates[:-1], [1.0] * 6), robot.execute)
    with pytest.raises(ValueError):  # NaN affordance from the robot
        run_task(TASK, planner, lambda: (robot.candidates, [math.nan] * 7), robot.execute)
    with pytest.raises(ValueError):
        run_task(TASK, planner, robot.state, lambda c: "ok", describe_scene=robot.scene)


def test_length_normalised_say_is_per_token(backend, planner):
    robot = TableRobot()
    summed = {s.candidate.text: s for s in planner.rank(TASK, [], *robot.state())}
    normalised = SayCanPlanner(backend, length_normalise=True).rank(TASK, [], *robot.state())
    for scored in normalised:
        total = summed[scored.candidate.text]
        assert scored.n_tokens == total.n_tokens >= 1
        assert scored.say == pytest.approx(total.say / total.n_tokens, abs=1e-6)


def test_done_by_elimination_is_reported_as_stuck(planner):
    """After the pick, if the place cannot run (say, the held cube lost from view), every step
    the LM prefers to `done` is impossible and `done` wins only by elimination: that is a
    failure, not a success (measured: the LM's favourite is then another pick). The pick's
    reason ("already holds") is not the skills' already-done signal."""
    robot = TableRobot()

    def state():
        candidates, affordances = robot.state()
        if robot.held is not None:  # the place is impossible for a reason the LM cannot see
            affordances = [0.0 if c.skill == "place" else a
                           for c, a in zip(candidates, affordances, strict=True)]
        return candidates, affordances

    def reason(candidate: Candidate) -> str:
        if candidate.skill == "pick" and robot.held is not None:
            return f"the gripper already holds {robot.held}"
        return "the held cube is not in view" if candidate.skill == "place" else "reachable"

    result = run_task(TASK, planner, state, robot.execute, max_steps=4,
                      affordance_reason=reason,
                      describe_scene=lambda: "" if robot.held else robot.scene())  # out of view
    assert texts_of(result) == ["pick up the red cube", "done"]
    assert result.outcome == "failure" and result.reason.startswith("stuck")
    # the skill's own reason says why (a fallen robot looked like a planning failure without it)
    assert result.reason.endswith(("(the gripper already holds red_cube)",
                                   "(the held cube is not in view)")), result.reason


# ---- legged robots: a step whose effect already holds ---------------------------------------
WALK = SkillSpec("walk_to", "walk to the {target}", {"target": "any"})
TURN = SkillSpec("turn", "turn to face the {target}", {"target": "any"})
REACH = SkillSpec("reach", "reach for the {object}", {"object": "any"})
FIELD = [ObjectRef("red_cylinder", "red cylinder", "graspable"),
         ObjectRef("blue_ball", "blue ball", "graspable"),
         ObjectRef("green_cube", "green cube", "graspable"),
         ObjectRef("doorway", "doorway", "landmark")]


class FieldRobot:
    """A legged robot on a field, as its skills describe it: a walk gets it to an object, a walk
    to where it already is is "already done" (low affordance, ALREADY_DONE reason, as the legged
    skills give), a reach needs the object within arm's length (here: never)."""

    def __init__(self, skills: list[SkillSpec]) -> None:
        self.at: str | None = None
        self.candidates = make_candidates(skills, FIELD)
        self.executed: list[str] = []

    def affordance(self, candidate: Candidate) -> tuple[float, str]:
        target = next(iter(candidate.args.values()), None)
        if candidate.is_done:
            return 1.0, ""
        if candidate.skill == "walk_to" and target == self.at:
            return 0.05, f"{ALREADY_DONE} at {target} (+0.04 m)"
        if candidate.skill == "reach":
            return 0.0, f"{target} is 0.9 m from the shoulder, the arm reaches 0.4 m"
        return 0.9, f"{target} in view"

    def state(self) -> tuple[list[Candidate], list[float]]:
        return self.candidates, [self.affordance(c)[0] for c in self.candidates]

    def reason(self, candidate: Candidate) -> str:
        return self.affordance(candidate)[1]

    def execute(self, candidate: Candidate) -> StepResult:
        self.executed.append(candidate.text)
        if candidate.skill == "walk_to":
            self.at = candidate.args["target"]
        return StepResult(True)


def profile_planner(backend, robot: str) -> SayCanPlanner:
    return SayCanPlanner(backend, PromptBuilder.from_config(load_profile(robot)["planner_prompt"]))


def test_done_after_arriving_is_success(backend):
    """Measured: after "walk to the blue ball" succeeded, the LM's favourite next step is the
    same walk; the skill says it is already done, so the `done` that wins is the task's end."""
    planner = profile_planner(backend, "quadruped")
    robot = FieldRobot([WALK, TURN])
    result = run_task("go to the blue ball", planner, robot.state, robot.execute,
                      affordance_reason=robot.reason)
    assert result.outcome == "success" and texts_of(result) == ["walk to the blue ball", "done"]
    # without the skills' reasons the same run looks stuck on the walk
    robot = FieldRobot([WALK, TURN])
    result = run_task("go to the blue ball", planner, robot.state, robot.execute)
    assert texts_of(result) == ["walk to the blue ball", "done"]
    assert result.outcome == "failure" and "'walk to the blue ball'" in result.reason


def test_a_step_already_done_does_not_hide_an_impossible_one(backend):
    """After walking to the cube the LM wants the reach (measured), which cannot run: stuck,
    although the walk it would otherwise repeat is already done."""
    planner = profile_planner(backend, "humanoid")
    robot = FieldRobot([WALK, TURN, REACH])
    result = run_task("reach for the green cube", planner, robot.state, robot.execute,
                      affordance_reason=robot.reason)
    assert texts_of(result) == ["walk to the green cube", "done"]
    assert result.outcome == "failure"
    assert result.reason.startswith("stuck") and "reach for the green cube" in result.reason


@pytest.mark.parametrize("robot", ["quadruped", "humanoid"])
def test_a_task_of_two_places_visits_both(backend, robot):
    """Measured before the profiles had a two-place example: after the first walk the LM chose
    `done` (-1.5) over the second walk (-3.0)."""
    planner = profile_planner(backend, robot)
    field = FieldRobot([WALK, TURN])
    result = run_task("walk to the blue ball and then to the red cylinder", planner, field.state,
                      field.execute, affordance_reason=field.reason)
    assert result.outcome == "success"
    assert texts_of(result) == ["walk to the blue ball", "walk to the red cylinder", "done"]


SIT = SkillSpec("sit", "sit down", {})  # the humanoid's words for posture "sit" (its profile)
STAND = SkillSpec("stand", "stand up", {})


class SquattingRobot(FieldRobot):
    """A humanoid that can also sit down and stand up (a posture already taken is done)."""

    def __init__(self) -> None:
        super().__init__([WALK, TURN, REACH, SIT, STAND])
        self.posture = "stand"

    def affordance(self, candidate: Candidate) -> tuple[float, str]:
        if candidate.skill in ("sit", "stand"):
            if candidate.skill == self.posture:
                return 0.05, f"{ALREADY_DONE} in posture {self.posture!r}"
            return 0.9, f"from {self.posture!r}"
        if self.posture == "sit" and candidate.skill in ("walk_to", "turn"):
            return 0.0, "sitting: stand up first"
        return super().affordance(candidate)

    def execute(self, candidate: Candidate) -> StepResult:
        if candidate.skill in ("sit", "stand"):
            self.posture = candidate.skill
            self.executed.append(candidate.text)
            return StepResult(True)
        return super().execute(candidate)


def test_humanoid_walks_then_sits_down(backend):
    planner = profile_planner(backend, "humanoid")
    robot = SquattingRobot()
    result = run_task("go to the green cube and sit down", planner, robot.state, robot.execute,
                      affordance_reason=robot.reason)
    assert texts_of(result) == ["walk to the green cube", "sit down", "done"]
    assert result.outcome == "success" and robot.posture == "sit"
