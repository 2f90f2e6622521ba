"""SayCan planner: LM scoring backends, prompt, candidate ranking and the task loop.

Importing this package does not import torch; `TransformersBackend` loads it when constructed.
"""

from vla_planner.lm_backend import ScoringBackend, TextScore, TransformersBackend
from vla_planner.prompt import (
    DONE,
    DONE_CANDIDATE,
    Candidate,
    Example,
    HistoryItem,
    ObjectRef,
    PromptBuilder,
    SkillSpec,
    make_candidates,
)
from vla_planner.saycan import (
    OUTCOMES,
    ExecutedStep,
    SayCanPlanner,
    ScoredCandidate,
    StepResult,
    TaskCancelledError,
    TaskResult,
    run_task,
)

__all__ = [
    "DONE", "DONE_CANDIDATE", "OUTCOMES", "Candidate", "Example", "ExecutedStep", "HistoryItem",
    "ObjectRef", "PromptBuilder", "SayCanPlanner", "ScoredCandidate", "ScoringBackend",
    "SkillSpec", "StepResult", "TaskCancelledError", "TaskResult", "TextScore",
    "TransformersBackend", "make_candidates", "run_task",
]
