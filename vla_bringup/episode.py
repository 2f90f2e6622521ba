"""The episode record (DESIGN.md episode.json) and the camera animation."""

import json
from pathlib import Path
from typing import Any

import numpy as np


def step_record(step) -> dict[str, Any]:
    """vla_stack/PlanStep -> the episode.json step shape."""
    return {
        "text": step.text, "skill": step.call.skill,
        "args": dict(zip(step.call.arg_names, step.call.arg_values, strict=True)),
        "say": round(step.say, 4), "can": round(step.can, 4), "score": round(step.score, 6),
        "result": step.result, "message": step.message,
        "duration_s": round(step.duration_s, 3), "planner_ms": round(step.planner_ms, 1),
    }


def write_episode(directory: Path, episode: dict[str, Any],
                  frames: list[np.ndarray] | None = None, fps: float = 2.5) -> list[Path]:
    """Write DIR/episode.json and, with frames, DIR/episode.gif; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "episode.json"]
    written[0].write_text(json.dumps(episode, indent=2) + "\n")
    if frames:
        import imageio.v3 as iio

        gif = directory / "episode.gif"
        iio.imwrite(gif, np.stack(frames), duration=1000.0 / fps, loop=0)
        written.append(gif)
    return written
