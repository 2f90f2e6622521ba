"""Each robot's planner prompt comes from its profile, and its few-shot examples speak the robot's
own skill language: every example step is one of the robot's skill templates filled in."""

import re

import pytest

from vla_bringup.profile import load_profile
from vla_planner.prompt import DEFAULT_PREAMBLE, PromptBuilder
from vla_skills.catalog import make_skills

# skills the profile lists that are not in the catalog yet are skipped (the humanoid's reach)
KNOWN = {"pick", "place", "walk_to", "turn", "stand", "sit"}


def template_pattern(template: str) -> re.Pattern:
    return re.compile("^" + re.sub(r"\\\{\w+\\\}", r"[a-z ]+", re.escape(template)) + "$")


@pytest.mark.parametrize("robot", ["quadruped", "humanoid"])
def test_profile_prompts_use_the_robots_own_skill_templates(robot):
    profile = load_profile(robot)
    builder = PromptBuilder.from_config(profile["planner_prompt"])
    assert builder.preamble != DEFAULT_PREAMBLE and "arm" not in builder.preamble
    names = [n for n in profile["skills"] if n in KNOWN]
    patterns = [template_pattern(s.info.text_template) for s in make_skills(names, profile)]
    if "reach" in profile["skills"]:
        patterns.append(template_pattern("reach for the {object}"))
    steps = [step for example in builder.examples for step in example.steps]
    assert steps and any(not step.succeeded for step in steps)  # a retry is shown
    for step in steps:
        assert any(p.match(step.text) for p in patterns), step.text
    assert any(not example.steps for example in builder.examples)  # an absent object: done
    # the default task's objects never appear in the examples (no answer given away)
    text = builder.build("walk to the red cone", [])
    assert text.count("red cone") == 1 and "red cylinder" not in text
    # no State lines in its examples: the planner adds none (the words are the arm's table)
    assert not builder.shows_state and "State:" not in text


def test_example_states_come_from_the_config():
    builder = PromptBuilder.from_config({"examples": [
        {"task": "put the pear in the bowl", "state": "the pear is in the bowl",
         "steps": [{"text": "pick up the pear", "state": "the pear is on the table"},
                   {"text": "put the pear in the bowl", "state": "the gripper holds the pear"}]}]})
    assert builder.shows_state
    assert builder.build("put the fig in the bowl", []).split("\n\n")[1] == (
        "Task: put the pear in the bowl.\nPlan:\nState: the pear is on the table.\n"
        "1. pick up the pear (succeeded)\nState: the gripper holds the pear.\n"
        "2. put the pear in the bowl (succeeded)\nState: the pear is in the bowl.\n3. done")


def test_prompt_config_is_checked():
    assert PromptBuilder.from_config(None) == PromptBuilder()
    with pytest.raises(ValueError, match="unknown keys"):
        PromptBuilder.from_config({"preambel": "typo"})
