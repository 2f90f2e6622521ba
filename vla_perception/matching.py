"""Text -> detected object ("the red cube" -> red_cube), behind a pluggable matcher protocol.

`WordMatcher` is the plain word-overlap baseline; an embedding matcher (sentence embedder)
or a user's own model plugs in by implementing `TextMatcher.scores`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from vla_perception.objects import DetectedObject

# Words people use for each shape and colour (all lower case).
SHAPE_SYNONYMS: dict[str, frozenset[str]] = {
    "box": frozenset({"box", "cube", "block", "brick", "cuboid"}),
    "cylinder": frozenset({"cylinder", "can", "tube", "pipe", "tin", "bottle"}),
    "sphere": frozenset({"sphere", "ball", "orb"}),
    "bin": frozenset({"bin", "box", "container", "basket", "tray", "crate", "bucket", "bowl"}),
}
COLOR_SYNONYMS: dict[str, frozenset[str]] = {
    "red": frozenset({"red", "crimson", "scarlet"}),
    "orange": frozenset({"orange"}),
    "yellow": frozenset({"yellow"}),
    "green": frozenset({"green"}),
    "blue": frozenset({"blue"}),
    "purple": frozenset({"purple", "violet", "magenta"}),
    "white": frozenset({"white"}),
    "black": frozenset({"black"}),
}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}


@runtime_checkable
class TextMatcher(Protocol):
    def scores(self, text: str, objects: Sequence[DetectedObject]) -> list[float]:
        """One score in 0..1 per object: how well `text` refers to it."""
        ...


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", text.lower())


def _mentioned(words: set[str], vocab: dict[str, frozenset[str]]) -> set[str]:
    return {key for key, syn in vocab.items() if words & syn}


class WordMatcher:
    """Exact name first; otherwise colour and shape words, with synonyms and ordinals.

    A colour or shape the text names that the object does not have rules it out (so "the
    purple cube" matches no red cube). Scores: exact name 1.0; colour and shape 0.9 (+0.05
    for the numbered duplicate the text asks for, or the first); shape only 0.6; colour
    only 0.5; nothing said about either 0.
    """

    def scores(self, text: str, objects: Sequence[DetectedObject]) -> list[float]:
        if not isinstance(text, str):
            raise ValueError(f"text must be a string, got {type(text).__name__}")
        key = "_".join(_words(text))
        words = set(_words(text))
        colors = _mentioned(words, COLOR_SYNONYMS)
        shapes = _mentioned(words, SHAPE_SYNONYMS)
        wanted_index = next((ORDINALS[w] for w in words if w in ORDINALS), None)
        digits = [int(w) for w in words if w.isdigit()]
        if wanted_index is None and digits:
            wanted_index = digits[0]
        out = []
        for obj in objects:
            if key == obj.name.lower() or text.strip().lower() == obj.name.lower():
                out.append(1.0)
            elif (colors and obj.color not in colors) or (shapes and obj.shape not in shapes):
                out.append(0.0)
            elif colors and shapes:
                suffix = obj.name.rsplit("_", 1)[-1]
                index = int(suffix) if suffix.isdigit() else 1
                out.append(0.95 if index == (wanted_index or 1) else 0.9)
            else:
                out.append(0.6 if shapes else 0.5 if colors else 0.0)
        return out


def match_object(text: str, objects: Sequence[DetectedObject],
                 matcher: TextMatcher | None = None,
                 min_score: float = 0.5) -> DetectedObject | None:
    """The object `text` refers to, or None if no object scores at least `min_score`.

    Ties go to the earlier object in `objects` (the detector lists nearest first).
    """
    if not objects:
        return None
    scores = (matcher or WordMatcher()).scores(text, objects)
    if len(scores) != len(objects):
        raise ValueError(f"matcher returned {len(scores)} scores for {len(objects)} objects")
    best = max(range(len(objects)), key=lambda i: (scores[i], -i))
    return objects[best] if scores[best] >= min_score else None
