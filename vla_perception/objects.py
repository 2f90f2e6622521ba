"""The detector's output type and the naming of detections ("red_cube", "red_cube_2")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Words used in names and descriptions; "cube" only for boxes with near-equal sides.
SHAPE_WORDS: dict[str, str] = {"box": "box", "cylinder": "cylinder", "sphere": "ball",
                               "bin": "bin"}
CUBE_MAX_ASPECT = 1.3


@dataclass
class DetectedObject:
    """One object seen in one RGB-D frame; pose in the camera model's base frame."""

    name: str                      # unique in the frame: red_cube, blue_bin, red_cube_2
    color: str                     # palette name
    shape: str                     # box | cylinder | sphere | bin
    description: str               # words for the language model: "red cube"
    position_base_m: np.ndarray    # (3,) geometric (bounding-box) centre
    size_m: np.ndarray             # (3,) full extents along the object's yawed x, y and z
    yaw_rad: float
    confidence: float              # 0..1
    pixel_count: int
    rgb: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))  # mean seen colour, 0..1

    @property
    def kind(self) -> str:
        """SceneObject.kind: bins hold things, everything else can be grasped."""
        return "container" if self.shape == "bin" else "graspable"

    @property
    def shape_word(self) -> str:
        return shape_word(self.shape, self.size_m)


def shape_word(shape: str, size_m: np.ndarray) -> str:
    if shape == "box":
        dims = np.asarray(size_m, dtype=np.float64)
        if dims.min() > 0 and dims.max() / dims.min() <= CUBE_MAX_ASPECT:
            return "cube"
    return SHAPE_WORDS.get(shape, shape)


def assign_names(objects: list[DetectedObject]) -> list[DetectedObject]:
    """Name objects "<colour>_<shape word>", numbering repeats from the one nearest the base.

    Nearest-first keeps names stable while objects sit still and gives the plain name to the
    object a person would most likely mean.
    """
    ordered = sorted(objects, key=lambda o: (float(np.hypot(*o.position_base_m[:2])),
                                             float(o.position_base_m[1])))
    seen: dict[str, int] = {}
    for obj in ordered:
        word = obj.shape_word
        stem = f"{obj.color}_{word}" if obj.color else word
        count = seen.get(stem, 0) + 1
        seen[stem] = count
        obj.name = stem if count == 1 else f"{stem}_{count}"
        obj.description = f"{obj.color} {word}".strip()
    return ordered
