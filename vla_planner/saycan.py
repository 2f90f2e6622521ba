"""SayCan: rank candidates by p_LM(text | instruction, history) x affordance, and the task loop.

The loop only sees callbacks (state in, skill execution out), so the ROS node plugs in real
skill actions and tests plug in a plain-Python robot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vla_planner.grounding import TaskScope
from vla_planner.lm_backend import ScoringBackend
from vla_planner.prompt import Candidate, HistoryItem, PromptBuilder, clean_instruction
from vla_skills.base import ALREADY_DONE

OUTCOMES = ("success", "failure", "infeasible", "aborted")


@dataclass(frozen=True)
class ScoredCandidate:
    candidate: Candidate
    say: float  # log p_LM(candidate | prompt), summed over tokens (or per token if normalised)
    can: float  # affordance in [0, 1]; 1 when affordances are ignored
    score: float  # exp(say) * can
    n_tokens: int


@dataclass(frozen=True)
class StepResult:
    """What executing one candidate did."""

    succeeded: bool
    message: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True)
class ExecutedStep:
    choice: ScoredCandidate
    result: StepResult
    planner_ms: float
    ranking: tuple[ScoredCandidate, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class TaskResult:
    outcome: str  # one of OUTCOMES
    steps: tuple[ExecutedStep, ...]
    reason: str = ""
    notes: str = ""  # grounding: ambiguous references and what the language model chose

    @property
    def success(self) -> bool:
        return self.outcome == "success"


class TaskCancelledError(Exception):
    """Raise from any run_task callback to abort the task (outcome "aborted")."""


class SayCanPlanner:
    """Scores candidates with a language model and combines them with affordances.

    `say` is the summed log-probability: on held-out tasks it planned better than the
    per-token mean, which starves the one-token `done` (see report). `length_normalise=True`
    is kept for other models.
    """

    def __init__(
        self,
        backend: ScoringBackend,
        prompt: PromptBuilder | None = None,
        use_affordances: bool = True,
        length_normalise: bool = False,
    ) -> None:
        self.backend = backend
        self.prompt = prompt if prompt is not None else PromptBuilder()
        self.use_affordances = use_affordances
        self.length_normalise = length_normalise

    def rank(
        self,
        instruction: str,
        history: Sequence[HistoryItem],
        candidates: Sequence[Candidate],
        affordances: Sequence[float],
        state: str = "",
    ) -> list[ScoredCandidate]:
        """All candidates scored, best first; `state` is the scene now, in words (or "")."""
        clean_instruction(instruction)  # validates
        candidates = list(candidates)
        affordances = validate_candidates(candidates, affordances)
        prompt_text = self.prompt.build(instruction, list(history), state)
        texts = [self.prompt.candidate_text(c) for c in candidates]
        scores = self.backend.score_detailed(prompt_text, texts)
        ranked = []
        for candidate, text_score, affordance in zip(candidates, scores, affordances, strict=True):
            say = text_score.mean_logprob if self.length_normalise else text_score.logprob
            can = affordance if self.use_affordances else 1.0
            ranked.append(
                ScoredCandidate(candidate, say, can, math.exp(say) * can, text_score.n_tokens)
            )
        # ties (e.g. every affordance 0) fall back to the LM's preference
        ranked.sort(key=lambda s: (s.score, s.say), reverse=True)
        return ranked


def validate_candidates(
    candidates: Sequence[Candidate], affordances: Sequence[float]
) -> list[float]:
    """Check candidates are distinct Candidates and affordances finite in [0, 1]."""
    if not candidates:
        raise ValueError("no candidates")
    texts = set()
    for candidate in candidates:
        if not isinstance(candidate, Candidate) or not candidate.text.strip():
            raise ValueError(f"not a valid Candidate: {candidate!r}")
        if candidate.text in texts:
            raise ValueError(f"duplicate candidate text {candidate.text!r}")
        if candidate.is_done and candidate.args:
            raise ValueError(f"`done` takes no arguments: {candidate!r}")
        texts.add(candidate.text)
    values = [float(a) for a in affordances]
    if len(values) != len(candidates):
        raise ValueError(f"{len(values)} affordances for {len(candidates)} candidates")
    for candidate, value in zip(candidates, values, strict=True):
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"affordance of {candidate.text!r} must be in [0, 1], got {value}")
    return values


def wanted_next(ranking: Sequence[ScoredCandidate],
                affordance_reason: Callable[[Candidate], str] | None) -> ScoredCandidate:
    """The language model's favourite among steps that would change something: after "walk to
    the ball" succeeded it likes the same walk again, which the skill reports as already done;
    that is not a step the task still needs."""
    def holds(scored: ScoredCandidate) -> bool:
        return affordance_reason is not None and not scored.candidate.is_done \
            and affordance_reason(scored.candidate).startswith(ALREADY_DONE)

    return max((s for s in ranking if not holds(s)), key=lambda s: s.say)


def run_task(
    instruction: str,
    planner: SayCanPlanner,
    get_state: Callable[[], tuple[Sequence[Candidate], Sequence[float]]],
    execute: Callable[[Candidate], StepResult],
    max_steps: int = 10,
    on_step: Callable[[ExecutedStep], None] | None = None,
    on_choice: Callable[[int, list[ScoredCandidate]], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    max_consecutive_failures: int = 3,
    min_affordance: float = 0.1,
    scope: TaskScope | None = None,
    affordance_reason: Callable[[Candidate], str] | None = None,
    describe_scene: Callable[[], str] | None = None,
) -> TaskResult:
    """The SayCan loop: observe, rank, execute the best, record the outcome, until `done`.

    get_state returns this step's candidates (including `done`) and their affordances.
    on_choice(step_index, ranking) runs before executing; on_step after. Any callback may raise
    TaskCancelledError; is_cancelled is polled between steps. `scope` (grounding + deny-list)
    makes a task that names absent objects infeasible up front and removes every candidate
    the task may not touch before the language model sees it. affordance_reason(candidate)
    is the skill's why for this step's affordance: a step whose effect already holds
    (ALREADY_DONE) does not count as the language model's wanted next step when `done` wins.
    describe_scene() is the scene as seen now, in words, for the prompt's State line (called
    after get_state each step; each step's is kept in the history).
    """
    clean_instruction(instruction)
    if max_steps < 1 or max_consecutive_failures < 1:
        raise ValueError("max_steps and max_consecutive_failures must be >= 1")
    steps: list[ExecutedStep] = []
    history: list[HistoryItem] = []
    failures_in_row = 0

    def finish(outcome: str, reason: str) -> TaskResult:
        notes = scope.report([s.choice.candidate for s in steps]) if scope is not None else ""
        return TaskResult(outcome, tuple(steps), reason, notes)

    infeasible = scope.infeasible_reason() if scope is not None else None
    lm_instruction = scope.lm_instruction(instruction) if scope is not None else instruction
    if infeasible is not None:
        return finish("infeasible", infeasible)
    try:
        for step_index in range(max_steps):
            if is_cancelled is not None and is_cancelled():
                return finish("aborted", "cancelled")
            candidates, affordances = get_state()
            candidates = list(candidates)
            affordances = validate_candidates(candidates, affordances)
            if not any(c.is_done for c in candidates):
                raise ValueError("candidates must include `done`")
            if scope is not None:
                candidates, affordances = scope.filter(candidates, affordances)
                if not steps and all(c.is_done for c in candidates):
                    return finish("infeasible", "no allowed skill applies to the named objects")
            best_skill_can = max(
                (a for c, a in zip(candidates, affordances, strict=True) if not c.is_done),
                default=0.0,
            )
            if not steps and planner.use_affordances and best_skill_can < min_affordance:
                return finish("infeasible", "no skill is applicable in the initial state")
            state = describe_scene() if describe_scene is not None else ""
            t0 = time.perf_counter()
            ranking = planner.rank(lm_instruction, history, candidates, affordances, state)
            planner_ms = (time.perf_counter() - t0) * 1e3
            best = ranking[0]
            if on_choice is not None:
                on_choice(step_index, ranking)
            if best.score <= 0.0:  # even `done` has zero affordance
                outcome = "failure" if steps else "infeasible"
                return finish(outcome, "no candidate is feasible")
            if best.candidate.is_done:
                done_result = StepResult(True, "done")
                steps.append(ExecutedStep(best, done_result, planner_ms, tuple(ranking)))
                if on_step is not None:
                    on_step(steps[-1])
                favourite = wanted_next(ranking, affordance_reason)
                if history and planner.use_affordances and not favourite.candidate.is_done \
                        and favourite.can < min_affordance:
                    # `done` won only because what the LM wants next cannot run: stuck, not done
                    why = affordance_reason(favourite.candidate) if affordance_reason else ""
                    return finish("failure", f"stuck: the language model's next step "
                                             f"{favourite.candidate.text!r} is not possible now"
                                             + (f" ({why})" if why else ""))
                if any(h.succeeded for h in history):
                    return finish("success", "planner chose done")
                if not history:
                    return finish("infeasible", "planner chose done before acting")
                return finish("failure", "planner gave up after failed steps")
            result = execute(best.candidate)
            if not isinstance(result, StepResult):
                raise ValueError(f"execute must return a StepResult, got {result!r}")
            steps.append(ExecutedStep(best, result, planner_ms, tuple(ranking)))
            history.append(HistoryItem(best.candidate.text, result.succeeded, state))
            if on_step is not None:
                on_step(steps[-1])
            failures_in_row = 0 if result.succeeded else failures_in_row + 1
            if failures_in_row >= max_consecutive_failures:
                return finish("failure", f"{failures_in_row} failed steps in a row")
        return finish("failure", f"step limit ({max_steps}) reached")
    except TaskCancelledError:
        return finish("aborted", "cancelled")
