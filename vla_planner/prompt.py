"""Skill/object descriptions, candidate generation and the SayCan prompt.

A candidate is one skill with its arguments bound to scene objects, rendered as the short
imperative the language model scores ("pick up the red cube"), plus the terminal `done`.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

DONE = "done"
ANY_KIND = "any"  # a skill slot of this kind takes any object
SUCCEEDED = "succeeded"
FAILED = "failed"
STATE_LABEL = "State:"  # a line before a step: the scene as the robot saw it then


@dataclass(frozen=True)
class SkillSpec:
    """A skill as the planner sees it: a text template and the kind of object each slot takes."""

    name: str
    template: str
    arg_kinds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or self.name == DONE:
            raise ValueError(f"invalid skill name {self.name!r}")
        if not self.template.strip() or "\n" in self.template:
            raise ValueError(f"skill {self.name!r}: template must be one non-empty line")
        slots = {f for _, f, _, _ in string.Formatter().parse(self.template) if f is not None}
        if slots != set(self.arg_kinds):
            raise ValueError(
                f"skill {self.name!r}: template slots {sorted(slots)} != args "
                f"{sorted(self.arg_kinds)}"
            )


@dataclass(frozen=True)
class ObjectRef:
    """A scene object: unique id, words the LM sees, and its kind (or kinds) for type checks."""

    name: str
    description: str
    kind: str | tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.name or not self.description.strip() or "\n" in self.description:
            raise ValueError(f"object needs a name and a one-line description: {self!r}")
        if not self.kinds:
            raise ValueError(f"object {self.name!r} has no kind")

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset((self.kind,) if isinstance(self.kind, str) else self.kind)


@dataclass(frozen=True)
class Candidate:
    """One executable option: skill name, argument -> object name, and its text for the LM."""

    skill: str
    args: Mapping[str, str]
    text: str

    @property
    def is_done(self) -> bool:
        return self.skill == DONE


DONE_CANDIDATE = Candidate(DONE, {}, DONE)


def make_candidates(skills: Sequence[SkillSpec], objects: Sequence[ObjectRef]) -> list[Candidate]:
    """Every skill x every type-correct binding of distinct objects to its slots, then `done`."""
    names = [s.name for s in skills]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate skill names: {names}")
    object_names = [o.name for o in objects]
    if len(set(object_names)) != len(object_names):
        raise ValueError(f"duplicate object names: {object_names}")
    candidates = []
    for skill in skills:
        slots = list(skill.arg_kinds)
        choices = [[o for o in objects if skill.arg_kinds[s] in o.kinds | {ANY_KIND}]
                   for s in slots]
        for binding in itertools.product(*choices):
            if len({o.name for o in binding}) != len(binding):
                continue  # one object cannot fill two slots ("put the bin in the bin")
            pairs = list(zip(slots, binding, strict=True))
            text = skill.template.format(**{slot: obj.description for slot, obj in pairs})
            candidates.append(Candidate(skill.name, {slot: obj.name for slot, obj in pairs}, text))
    candidates.append(DONE_CANDIDATE)
    return candidates


@dataclass(frozen=True)
class HistoryItem:
    """An executed step as the prompt shows it, with the scene state seen before it ("" when
    the robot's prompt shows no state)."""

    text: str
    succeeded: bool
    state: str = ""

    def __post_init__(self) -> None:
        if "\n" in self.state:
            raise ValueError(f"a state is one line: {self.state!r}")


@dataclass(frozen=True)
class Example:
    """A few-shot demonstration: instruction and executed steps (`done` is appended), and the
    state seen before that `done`."""

    instruction: str
    steps: tuple[HistoryItem, ...] = ()
    final_state: str = ""


def _ok(text: str, state: str = "") -> HistoryItem:
    return HistoryItem(text, True, state)


# Chosen by measurement (see report/docs): plain text beat the chat template, listing the
# scene objects in the prompt hurt, and the order matters a lot for a 135M model. The
# "pink ball" example (no such object -> done at once) lets the LM prefer `done` when no
# candidate names the requested object, while the examples after it keep `pick` first
# when one does. None of them uses the default task's objects (red cube, blue bin).
# The State lines (what perception shows of the task's objects before each step) and the two
# tasks of two objects keep `done` from winning while a named object is still on the table:
# without them, after the first object of "put the red cube and the green cube in the blue bin"
# was placed, `done` won (-0.3 against -3.0 for the next pick; measured).
# The stacking example ("put ... on top of ..." -> `stack`) sits fourth: last, it drew the
# two-object tasks into stacking one cube on the other (12 of 17 arm tasks; fourth: 17 of 17,
# and 4 of 4 stacking requests in three phrasings; measured offline with TableRobot).
DEFAULT_PREAMBLE = (
    "You control a robot arm at a table. It can pick up one object at a time and put the "
    "object it holds in a container or on another object. After each step you learn whether it "
    "succeeded. When the task is complete, or cannot be done with the objects present, say done."
)
DEFAULT_EXAMPLES = (
    Example("put the apple in the basket",
            (_ok("pick up the apple", "the apple is on the table"),
             _ok("put the apple in the basket", "the gripper holds the apple")),
            "the apple is in the basket"),
    Example("put the pink ball in the box"),
    Example("drop the brown block in the grey tray",
            (_ok("pick up the brown block", "the brown block is on the table"),
             _ok("put the brown block in the grey tray", "the gripper holds the brown block")),
            "the brown block is in the grey tray"),
    Example("put the tan block on top of the pink block",
            (_ok("pick up the tan block",
                 "the tan block is on the table; the pink block is on the table"),
             _ok("stack the tan block on the pink block",
                 "the gripper holds the tan block; the pink block is on the table")),
            "the tan block is on the pink block; the pink block is on the table"),
    Example("put the pear and the plum in the bowl",
            (_ok("pick up the pear", "the pear is on the table; the plum is on the table"),
             _ok("put the pear in the bowl",
                 "the gripper holds the pear; the plum is on the table"),
             _ok("pick up the plum", "the pear is in the bowl; the plum is on the table"),
             _ok("put the plum in the bowl",
                 "the pear is in the bowl; the gripper holds the plum")),
            "the pear is in the bowl; the plum is in the bowl"),
    Example("put the orange ball in the white box",
            (HistoryItem("pick up the orange ball", False, "the orange ball is on the table"),
             _ok("pick up the orange ball", "the orange ball is on the table"),
             _ok("put the orange ball in the white box", "the gripper holds the orange ball")),
            "the orange ball is in the white box"),
    Example("put the cup in the sink and the fork in the drawer",
            (_ok("pick up the cup", "the cup is on the table; the fork is on the table"),
             _ok("put the cup in the sink", "the gripper holds the cup; the fork is on the table"),
             _ok("pick up the fork", "the cup is in the sink; the fork is on the table"),
             _ok("put the fork in the drawer",
                 "the cup is in the sink; the gripper holds the fork")),
            "the cup is in the sink; the fork is in the drawer"),
)


def clean_instruction(instruction: str) -> str:
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("instruction must be a non-empty string")
    text = " ".join(instruction.split()).rstrip(".!?;, ")
    if len(text) > 1 and text[1].islower():  # "Put the ..." -> "put the ..." like the examples
        text = text[0].lower() + text[1:]
    return text


@dataclass(frozen=True)
class PromptBuilder:
    """SayCan few-shot prompt: numbered plan lines with outcomes, ending at the next number."""

    preamble: str = DEFAULT_PREAMBLE
    examples: tuple[Example, ...] = DEFAULT_EXAMPLES
    show_outcomes: bool = True   # "(succeeded)" after each step

    @classmethod
    def from_config(cls, section: Mapping | None) -> PromptBuilder:
        """A robot profile's `planner_prompt:` (preamble + few-shot examples written in its own
        skills' words); the arm's defaults without one. Example steps are texts, or
        {text, succeeded: false, state: ...} (state: the scene before the step); an example's
        `state` is the scene before its `done`."""
        if not section:
            return cls()
        unknown = set(section) - {"preamble", "examples"}
        if unknown:
            raise ValueError(f"planner_prompt: unknown keys {sorted(unknown)}")
        examples = []
        for raw in section.get("examples", []):
            steps = []
            for step in raw.get("steps", []):
                if isinstance(step, str):
                    steps.append(HistoryItem(step, True))
                else:
                    steps.append(HistoryItem(str(step["text"]), bool(step.get("succeeded", True)),
                                             str(step.get("state", ""))))
            examples.append(Example(str(raw["task"]), tuple(steps), str(raw.get("state", ""))))
        return cls(str(section.get("preamble", DEFAULT_PREAMBLE)),
                   tuple(examples) if examples else DEFAULT_EXAMPLES)

    def open_loop(self) -> PromptBuilder:
        """The same examples as plans written before acting (the generate-then-parse baseline):
        the steps that succeeded, without outcomes or State lines, which such a plan cannot
        know. With them, SmolLM2 wrote "pick up the red cube (succeeded)", an unchanged State
        line and the same pick again."""
        examples = tuple(Example(e.instruction, tuple(HistoryItem(s.text, True)
                                                      for s in e.steps if s.succeeded))
                         for e in self.examples)
        return replace(self, examples=examples, show_outcomes=False)

    @property
    def shows_state(self) -> bool:
        """True when the examples show State lines: then the planner describes the scene too."""
        return any(e.final_state or any(s.state for s in e.steps) for e in self.examples)

    def build(self, instruction: str, history: Sequence[HistoryItem], state: str = "") -> str:
        """The prompt for the next step; `state` is the scene as seen now (one line, or "")."""
        blocks = [self.preamble] if self.preamble else []
        for example in self.examples:
            lines = self._task_lines(example.instruction, example.steps)
            lines += self._state_lines(example.final_state)
            lines.append(f"{len(example.steps) + 1}. {DONE}")
            blocks.append("\n".join(lines))
        lines = self._task_lines(instruction, history)
        lines += self._state_lines(state)
        lines.append(f"{len(history) + 1}.")
        blocks.append("\n".join(lines))
        return "\n\n".join(blocks)

    @staticmethod
    def candidate_text(candidate: Candidate) -> str:
        """What the LM scores after the prompt (the space belongs to the candidate's tokens)."""
        return " " + candidate.text

    @staticmethod
    def _state_lines(state: str) -> list[str]:
        if "\n" in state:
            raise ValueError(f"a state is one line: {state!r}")
        return [f"{STATE_LABEL} {state}."] if state else []

    def _task_lines(self, instruction: str, steps: Sequence[HistoryItem]) -> list[str]:
        lines = [f"Task: {clean_instruction(instruction)}.", "Plan:"]
        for index, step in enumerate(steps, start=1):
            if not isinstance(step, HistoryItem):
                raise ValueError(f"history entries must be HistoryItem, got {step!r}")
            outcome = SUCCEEDED if step.succeeded else FAILED
            lines += self._state_lines(step.state)
            lines.append(f"{index}. {step.text}" + (f" ({outcome})" if self.show_outcomes else ""))
        return lines
