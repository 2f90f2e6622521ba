"""Skill/object descriptions, candidate generation and the SayCan prompt.

A candidate is one skill with its arguments bound to scene objects, rendered as the short
imperative the language model scores ("pick up the red cube"), plus the terminal `done`.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DONE = "done"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True)
class SkillSpec:
    """A skill as the planner sees it: a text template and the kind of object each slot takes."""

    name: str
    template: str
    arg_kinds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or self.name == DONE:
            raise ValueError(f"invalid skill name {self.name!r}")
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
        if not self.name or not self.description.strip():
            raise ValueError(f"object needs a name and a description: {self!r}")
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
        choices = [[o for o in objects if skill.arg_kinds[s] in o.kinds] for s in slots]
        for binding in itertools.product(*choices):
            if len({o.name for o in binding}) != len(binding):
                continue  # one object cannot fill two slots ("put the bin in the bin")
            text = skill.template.format(**{s: o.description for s, o in zip(slots, binding)})
            candidates.append(Candidate(skill.name, {s: o.name for s, o in zip(slots, binding)}, text))
    candidates.append(DONE_CANDIDATE)
    return candidates


@dataclass(frozen=True)
class HistoryItem:
    """An executed step as the prompt shows it."""

    text: str
    succeeded: bool
