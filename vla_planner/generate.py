"""Generate-then-parse baseline: the language model writes the whole plan as text once, each line
is mapped to a registered skill + scene objects, and the plan runs open loop (no scoring, no
affordances, no replanning). It exists to be compared with SayCan in `vla eval --baseline`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vla_planner.grounding import TaskScope, TextEmbedder
from vla_planner.prompt import DONE, STATE_LABEL, Candidate, PromptBuilder, clean_instruction
from vla_planner.saycan import (
    ExecutedStep,
    ScoredCandidate,
    StepResult,
    TaskCancelledError,
    TaskResult,
)

_NUMBERED = re.compile(r"^\s*(?:\d+\s*[.)]\s*)?(.*?)\s*(?:\((?:succeeded|failed)\))?\s*$")
MAP_THRESHOLD = 0.8  # cosine between a written line and a candidate text to accept the mapping


@dataclass(frozen=True)
class ParsedStep:
    line: str                        # as the LM wrote it
    candidate: Candidate | None      # what it maps to, None if nothing close enough
    similarity: float


def plan_lines(generated: str) -> list[str]:
    """The step texts of a generated plan, up to `done` or the next task (State lines, which the
    LM writes when its examples have them, are not steps)."""
    lines = []
    for raw in generated.splitlines():
        if raw.strip().lower().startswith("task:"):
            break
        if raw.strip().lower().startswith(STATE_LABEL.lower()):
            continue
        text = _NUMBERED.match(raw).group(1).strip().rstrip(".").lower()
        if not text:
            continue
        if text == DONE:
            break
        lines.append(text)
    return lines


def map_lines(lines: Sequence[str], candidates: Sequence[Candidate],
              embedder: TextEmbedder | None,
              rewrite: Callable[[str], str] | None = None) -> list[ParsedStep]:
    """Each line -> the candidate with the same text once `rewrite` has put its object
    references in perception's words ("the red block" -> "the red cube", see grounding), else
    the most similar one above MAP_THRESHOLD (MiniLM), else None."""
    options = [c for c in candidates if not c.is_done]
    by_text = {c.text: c for c in options}
    parsed = []
    for line in lines:
        if rewrite is not None and line not in by_text:
            line = rewrite(line) or line
        if line in by_text:
            parsed.append(ParsedStep(line, by_text[line], 1.0))
            continue
        if embedder is None or not options:
            parsed.append(ParsedStep(line, None, 0.0))
            continue
        vectors = embedder.embed([line, *(c.text for c in options)])
        similarity = vectors[1:] @ vectors[0]
        best = int(similarity.argmax())
        value = float(similarity[best])
        parsed.append(ParsedStep(line, options[best] if value >= MAP_THRESHOLD else None, value))
    return parsed


def run_generated_task(
    instruction: str,
    generate: Callable[[str], str],
    get_state: Callable[[], tuple[Sequence[Candidate], Sequence[float]]],
    execute: Callable[[Candidate], StepResult],
    embedder: TextEmbedder | None,
    prompt: PromptBuilder | None = None,
    max_steps: int = 10,
    on_step: Callable[[ExecutedStep], None] | None = None,
    scope: TaskScope | None = None,
    rewrite: Callable[[str], str] | None = None,
) -> TaskResult:
    """Write the plan once, map it, run it in order; the first failed or unmappable step ends
    the task as a failure. An empty plan is `infeasible` (the LM said done at once). The prompt
    is `prompt`'s examples as plans written ahead (`PromptBuilder.open_loop`)."""
    clean_instruction(instruction)
    prompt = (prompt or PromptBuilder()).open_loop()
    infeasible = scope.infeasible_reason() if scope is not None else None
    if infeasible is not None:
        return TaskResult("infeasible", (), infeasible)
    lm_instruction = scope.lm_instruction(instruction) if scope is not None else instruction
    started = time.perf_counter()
    lines = plan_lines(generate(prompt.build(lm_instruction, [])))[:max_steps]
    planner_ms = (time.perf_counter() - started) * 1e3
    steps: list[ExecutedStep] = []
    if not lines:
        return TaskResult("infeasible", (), "the language model wrote no step")
    try:
        for line in lines:
            candidates, affordances = get_state()
            if scope is not None:
                candidates, affordances = scope.filter(candidates, affordances)
            step = map_lines([line], candidates, embedder, rewrite)[0]
            if step.candidate is None:
                return TaskResult("failure", tuple(steps),
                                  f"plan step {line!r} matches no skill and object")
            can = dict(zip((c.text for c in candidates), affordances, strict=True))
            choice = ScoredCandidate(step.candidate, 0.0, can.get(step.candidate.text, 0.0),
                                     step.similarity, 0)
            result = execute(step.candidate)
            steps.append(ExecutedStep(choice, result, planner_ms if not steps else 0.0))
            if on_step is not None:
                on_step(steps[-1])
            if not result.succeeded:
                return TaskResult("failure", tuple(steps), f"step {line!r} failed")
    except TaskCancelledError:
        return TaskResult("aborted", tuple(steps), "cancelled")
    return TaskResult("success", tuple(steps), "generated plan finished")
