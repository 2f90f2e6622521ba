"""Scene files (DESIGN.md format): load, validate, and describe objects in the base frame.

Conventions (see docs/ARCHITECTURE.md):
- `size` is the full bounding box [x, y, z] in metres. A cylinder's x and y are its diameter
  (they must match); a sphere's three entries are its diameter (they must match). A bin's size is
  its outer box; it is open at the top.
- `pose` is [x, y, yaw] (resting on the surface) or [x, y, z, yaw] where z is the height of the
  object's bottom above the surface. The object's reported pose is its bounding-box centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vla_perception.colors import PALETTE_RGB

SHAPES = ("box", "cylinder", "sphere", "bin")
# the colour names a scene may use: the same palette perception names colours by
COLORS_RGB = PALETTE_RGB
MIN_SIZE_M = 0.005
MAX_SIZE_M = 2.0
BIN_WALL_M = 0.008
DEFAULT_DENSITY_KG_M3 = 600.0  # light wood / plastic


@dataclass(frozen=True)
class SceneObject:
    name: str
    shape: str
    color_rgb: tuple[float, float, float]
    size_m: tuple[float, float, float]
    position_m: tuple[float, float, float]  # bounding-box centre in the base frame
    yaw_rad: float
    color_name: str | None = None
    mass_kg: float | None = None  # None: from DEFAULT_DENSITY_KG_M3 and the solid volume

    @property
    def half_extents_m(self) -> tuple[float, float, float]:
        return (self.size_m[0] / 2, self.size_m[1] / 2, self.size_m[2] / 2)

    def bin_inner_half_extents_m(self) -> tuple[float, float]:
        """Inner footprint half-extents of a bin (x, y) in its own frame."""
        if self.shape != "bin":
            raise ValueError(f"{self.name} is a {self.shape}, not a bin")
        return (self.size_m[0] / 2 - BIN_WALL_M, self.size_m[1] / 2 - BIN_WALL_M)


@dataclass(frozen=True)
class Landmark:
    name: str
    position_m: tuple[float, float]
    yaw_rad: float = 0.0


@dataclass(frozen=True)
class Scene:
    robot: str
    objects: tuple[SceneObject, ...]
    landmarks: tuple[Landmark, ...] = field(default_factory=tuple)

    @property
    def object_names(self) -> list[str]:
        return [o.name for o in self.objects]

    def get(self, name: str) -> SceneObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise ValueError(f"unknown object {name!r}; scene has {self.object_names}")


def color_to_rgb(color: Any) -> tuple[float, float, float]:
    """A colour name from COLORS_RGB or an [r, g, b] list in 0..1."""
    if isinstance(color, str):
        if color not in COLORS_RGB:
            raise ValueError(f"unknown colour {color!r}; use one of {sorted(COLORS_RGB)} "
                             "or [r, g, b]")
        return COLORS_RGB[color]
    rgb = _floats(color, 3, "color")
    if any(c < 0.0 or c > 1.0 for c in rgb):
        raise ValueError(f"colour components must be in 0..1, got {list(rgb)}")
    return (rgb[0], rgb[1], rgb[2])


def _floats(value: Any, n: int | tuple[int, ...], what: str) -> tuple[float, ...]:
    counts = (n,) if isinstance(n, int) else n
    if not isinstance(value, (list, tuple)) or len(value) not in counts:
        raise ValueError(f"{what} must be a list of {' or '.join(map(str, counts))} numbers, "
                         f"got {value!r}")
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must hold numbers, got {value!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def _parse_object(raw: Any, index: int) -> SceneObject:
    if not isinstance(raw, dict):
        raise ValueError(f"objects[{index}] must be a mapping, got {raw!r}")
    unknown = set(raw) - {"name", "shape", "color", "size", "pose", "mass"}
    if unknown:
        raise ValueError(f"objects[{index}]: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"objects[{index}].name must be an identifier, got {name!r}")
    shape = raw.get("shape")
    if shape not in SHAPES:
        raise ValueError(f"{name}: shape must be one of {SHAPES}, got {shape!r}")
    size = _floats(raw.get("size"), 3, f"{name}.size")
    if any(s < MIN_SIZE_M or s > MAX_SIZE_M for s in size):
        raise ValueError(f"{name}: sizes must be in {MIN_SIZE_M}..{MAX_SIZE_M} m, got {size}")
    if shape == "cylinder" and not math.isclose(size[0], size[1]):
        raise ValueError(f"{name}: a cylinder's size x and y (diameter) must match, got {size}")
    if shape == "sphere" and not (math.isclose(size[0], size[1]) and math.isclose(size[0],
                                                                                   size[2])):
        raise ValueError(f"{name}: a sphere's three sizes (diameter) must match, got {size}")
    if shape == "bin" and (min(size[0], size[1]) <= 4 * BIN_WALL_M or size[2] <= 2 * BIN_WALL_M):
        raise ValueError(f"{name}: bin too small for its {BIN_WALL_M} m walls: {size}")
    pose = _floats(raw.get("pose"), (3, 4), f"{name}.pose")
    x, y = pose[0], pose[1]
    z_bottom, yaw = (0.0, pose[2]) if len(pose) == 3 else (pose[2], pose[3])
    if abs(x) > 20.0 or abs(y) > 20.0 or not 0.0 <= z_bottom <= 2.0:
        raise ValueError(f"{name}: pose out of range (|x|,|y| <= 20 m, 0 <= z <= 2 m): {pose}")
    mass = raw.get("mass")
    if mass is not None:
        if isinstance(mass, bool) or not isinstance(mass, (int, float)) or not (
                math.isfinite(mass) and 0.0 < mass <= 50.0):
            raise ValueError(f"{name}: mass must be a number in (0, 50] kg, got {mass!r}")
        mass = float(mass)
    color = raw.get("color")
    if color is None:
        raise ValueError(f"{name}: color is required")
    return SceneObject(
        name=name, shape=shape, color_rgb=color_to_rgb(color),
        size_m=(size[0], size[1], size[2]),
        position_m=(x, y, z_bottom + size[2] / 2), yaw_rad=yaw,
        color_name=color if isinstance(color, str) else None, mass_kg=mass)


def _parse_landmark(raw: Any, index: int) -> Landmark:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise ValueError(f"landmarks[{index}] must be a mapping with a name, got {raw!r}")
    pose = _floats(raw.get("pose"), (2, 3), f"landmark {raw['name']}.pose")
    return Landmark(raw["name"], (pose[0], pose[1]), pose[2] if len(pose) == 3 else 0.0)


def parse_scene(data: Any) -> Scene:
    """Validate a scene mapping (as loaded from YAML). Raises ValueError on any problem."""
    if not isinstance(data, dict):
        raise ValueError(f"a scene must be a mapping, got {type(data).__name__}")
    robot = data.get("robot")
    if not isinstance(robot, str) or not robot:
        raise ValueError("scene needs a `robot:` name")
    raw_objects = data.get("objects", [])
    if not isinstance(raw_objects, list):
        raise ValueError("`objects` must be a list")
    objects = tuple(_parse_object(o, i) for i, o in enumerate(raw_objects))
    raw_landmarks = data.get("landmarks", []) or []
    if not isinstance(raw_landmarks, list):
        raise ValueError("`landmarks` must be a list")
    landmarks = tuple(_parse_landmark(m, i) for i, m in enumerate(raw_landmarks))
    names = [o.name for o in objects] + [m.name for m in landmarks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate names in scene: {duplicates}")
    if "robot" in names:
        raise ValueError("`robot` is reserved (goals use it for the robot itself)")
    _check_overlaps(objects)
    return Scene(robot=robot, objects=objects, landmarks=landmarks)


def _check_overlaps(objects: tuple[SceneObject, ...]) -> None:
    # Conservative: bounding circles in xy of objects whose height ranges overlap.
    for i, a in enumerate(objects):
        for b in objects[i + 1:]:
            ra = math.hypot(a.size_m[0], a.size_m[1]) / 2
            rb = math.hypot(b.size_m[0], b.size_m[1]) / 2
            dist = math.dist(a.position_m[:2], b.position_m[:2])
            z_overlap = (abs(a.position_m[2] - b.position_m[2])
                         < (a.size_m[2] + b.size_m[2]) / 2)
            if z_overlap and dist < ra + rb and not _inside_bin(a, b):
                raise ValueError(f"objects {a.name} and {b.name} overlap at their start poses")


def _inside_bin(a: SceneObject, b: SceneObject) -> bool:
    # an object may start inside a bin (e.g. a scene for "take the cube out of the bin")
    for inner, outer in ((a, b), (b, a)):
        if outer.shape == "bin":
            hx, hy = outer.bin_inner_half_extents_m()
            r = math.hypot(inner.size_m[0], inner.size_m[1]) / 2
            if math.dist(inner.position_m[:2], outer.position_m[:2]) + r <= min(hx, hy):
                return True
    return False


def load_scene(path: str | Path) -> Scene:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read scene file {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"scene file {path} is not valid YAML: {exc}") from exc
    return parse_scene(data)


def jitter_scene(scene: Scene, seed: int, max_offset_m: float = 0.01,
                 max_yaw_rad: float = 0.2) -> Scene:
    """The scene with every object nudged at random (seeded), for robustness runs.
    Raises ValueError if the nudges make objects overlap."""
    rng = np.random.default_rng(seed)
    objects = []
    for obj in scene.objects:
        dx, dy = rng.uniform(-max_offset_m, max_offset_m, size=2)
        x, y, z = obj.position_m
        objects.append(replace(obj, position_m=(x + dx, y + dy, z),
                               yaw_rad=obj.yaw_rad + rng.uniform(-max_yaw_rad, max_yaw_rad)))
    objects = tuple(objects)
    _check_overlaps(objects)
    return replace(scene, objects=objects)
