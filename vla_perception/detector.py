"""RGB-D frame -> scene objects, with classical vision only (no learned model, no ground truth).

Pipeline, per frame:
 1. back-project the z-depth image into the base frame (cached per-pixel rays);
 2. keep the pixels with valid depth that stand above the table plane (z = 0) and are not
    excluded (robot mask from the caller, e.g. its projected model);
 3. name each kept pixel's colour (hue for colours, brightness for white/black) and split
    every colour into connected image regions, then each region into clusters that are
    connected in the top view (two same-coloured objects overlapping in the image);
 4. per cluster: shape, centre, size and yaw from its 3D points (`shapes.analyse_points`);
 5. name the objects ("red_cube", "red_cube_2").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from vla_perception.colors import COLOR_NAMES, ColorThresholds, PixelColorizer, color_name
from vla_perception.geometry import PinholeView, RayCache, pinhole_view, pixel_footprint_m
from vla_perception.objects import DetectedObject, assign_names
from vla_perception.regions import colour_regions
from vla_perception.shapes import ShapeEstimate, ShapeParams, analyse_points, on_support


class PointExclusion(Protocol):
    """Anything that says which base-frame points to ignore (e.g. `PosedRobotBody`)."""

    def contains(self, points_base_m: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class DetectorConfig:
    min_depth_m: float = 0.05
    max_depth_m: float = 10.0
    table_tol_m: float = 0.006        # points lower than this are the table top
    max_height_m: float = 0.6         # points higher than this are not tabletop objects
    min_pixels: int = 40              # smaller image regions are noise or slivers
    min_points_3d: int = 30
    cluster_cell_m: float = 0.005     # top-view grid that splits same-coloured objects
    # Object centres outside this base-frame x-y box, or within keepout_radius_m of the base
    # origin (the arm's own base), are dropped.
    roi_min_xy_m: tuple[float, float] = (-np.inf, -np.inf)
    roi_max_xy_m: tuple[float, float] = (np.inf, np.inf)
    keepout_radius_m: float = 0.0
    depth_step_m: float = 0.012       # larger jumps between neighbours: different surfaces
    ignore_colors: tuple[str, ...] = ()  # e.g. ("white",) when the robot is white
    colors: ColorThresholds = field(default_factory=ColorThresholds)
    shapes: ShapeParams = field(default_factory=ShapeParams)

    @classmethod
    def from_profile(cls, section: dict[str, Any] | None) -> DetectorConfig:
        """The profile's `perception:` section: DetectorConfig fields, `shapes:` ShapeParams."""
        section = dict(section or {})
        shapes = ShapeParams(**section.pop("shapes", {}))
        known = {f for f in cls.__dataclass_fields__ if f not in ("colors", "shapes")}
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"unknown perception settings {sorted(unknown)}; known: "
                             f"{sorted(known)} and shapes")
        for key in ("roi_min_xy_m", "roi_max_xy_m", "ignore_colors"):
            if key in section:
                section[key] = tuple(section[key])
        return cls(shapes=shapes, **section)


def _validate(rgb: Any, depth_m: Any, view: PinholeView,
              exclusion_mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if not isinstance(rgb, np.ndarray) or not isinstance(depth_m, np.ndarray):
        raise ValueError("rgb and depth_m must be numpy arrays")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be H x W x 3, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
    if depth_m.ndim == 3 and depth_m.shape[2] == 1:
        depth_m = depth_m[:, :, 0]
    if depth_m.ndim != 2:
        raise ValueError(f"depth_m must be H x W, got shape {depth_m.shape}")
    if depth_m.dtype not in (np.float32, np.float64):
        raise ValueError(f"depth_m must be float32/float64 metres, got {depth_m.dtype} "
                         "(convert 16-bit millimetre depth with depth.astype(np.float32) / 1000)")
    if rgb.shape[0] * rgb.shape[1] == 0:
        raise ValueError(f"empty image: rgb shape {rgb.shape}")
    if rgb.shape[:2] != depth_m.shape:
        raise ValueError(f"rgb {rgb.shape[:2]} and depth_m {depth_m.shape} sizes differ")
    if depth_m.shape != (view.height, view.width):
        raise ValueError(f"image is {depth_m.shape[1]}x{depth_m.shape[0]} but the camera model "
                         f"is {view.width}x{view.height}")
    mask = None
    if exclusion_mask is not None:
        mask = np.asarray(exclusion_mask)
        if mask.shape != depth_m.shape:
            raise ValueError(f"exclusion_mask shape {mask.shape} != image {depth_m.shape}")
        mask = mask.astype(bool, copy=False)
    return rgb, depth_m.astype(np.float32, copy=False), mask


def _split_top_view(points: np.ndarray, cell_m: float, min_points: int) -> list[np.ndarray]:
    """Index arrays of the point clusters that are connected on a top-view grid."""
    ij = np.floor((points[:, :2] - points[:, :2].min(axis=0)) / cell_m).astype(np.int32)
    n_i, n_j = int(ij[:, 0].max()) + 1, int(ij[:, 1].max()) + 1
    if n_i * n_j > 4_000_000:  # absurd extent (bad depth): treat as one cluster
        return [np.arange(len(points))]
    grid = np.zeros((n_i, n_j), dtype=np.uint8)
    grid[ij[:, 0], ij[:, 1]] = 1
    n_lab, lab = cv2.connectedComponents(grid, connectivity=8)
    if n_lab <= 2:
        return [np.arange(len(points))] if len(points) >= min_points else []
    point_lab = lab[ij[:, 0], ij[:, 1]]
    groups = [np.flatnonzero(point_lab == k) for k in range(1, n_lab)]
    return [g for g in groups if len(g) >= min_points]


def _bottom_hidden(rows: np.ndarray, cols: np.ndarray, depth: np.ndarray, z_m: np.ndarray,
                   step_m: float, min_share: float = 0.3) -> bool:
    """Is the object's lower edge hidden behind something nearer the camera?

    Then its lowest visible point is not its bottom. Looks two pixels under the lowest object
    pixel of every image column: a surface much nearer than the object there, and higher than
    that pixel, occludes it (the camera looks down, so a line of sight that passes an
    occluder's edge goes on down to the object). The table or a support the object stands on
    is no higher: seen at a grazing angle (a cube on a pedestal 3.6 m from a humanoid's
    camera) the support's top just in front is much nearer, but not higher.
    """
    order = np.lexsort((rows, cols))
    r, c = rows[order], cols[order]
    last = np.append(np.flatnonzero(np.diff(c)), len(c) - 1)  # lowest pixel per column
    r, c = r[last], c[last]
    below = r + 2
    inside = below < depth.shape[0]
    if not inside.any():
        return False
    d_obj = depth[r[inside], c[inside]]
    d_below = depth[below[inside], c[inside]]
    z_obj, z_below = z_m[r[inside], c[inside]], z_m[below[inside], c[inside]]
    with np.errstate(invalid="ignore"):
        known = np.isfinite(d_below) & (d_below > 0)
        occluded = known & (d_below < d_obj - step_m) & (z_below > z_obj)
    return bool(known.any() and occluded.sum() >= min_share * known.sum())


class ObjectDetector:
    """Keeps the per-camera ray cache and colour tables between frames."""

    def __init__(self, camera: Any, config: DetectorConfig | None = None) -> None:
        self.view = pinhole_view(camera)
        self.config = config or DetectorConfig()
        self._rays = RayCache()
        self._colorizer = PixelColorizer(self.config.colors)
        ignored = set(self.config.ignore_colors)
        unknown = ignored - set(COLOR_NAMES)
        if unknown:
            raise ValueError(f"unknown colours in ignore_colors: {sorted(unknown)}")
        self._labels = [i + 1 for i, c in enumerate(COLOR_NAMES) if c not in ignored]

    def detect(self, rgb: np.ndarray, depth_m: np.ndarray,
               exclusion_mask: np.ndarray | None = None,
               point_exclusion: PointExclusion | None = None) -> list[DetectedObject]:
        """Objects in one frame.

        Two ways to hide the robot (or anything else): exclusion_mask (H x W, true = ignore
        the pixel) and point_exclusion (drops the base-frame points it `contains`).
        """
        rgb, depth, excl = _validate(rgb, depth_m, self.view, exclusion_mask)
        cfg = self.config
        rays = self._rays.rays(self.view)
        origin = self.view.position_base_m.astype(np.float32)
        with np.errstate(invalid="ignore", over="ignore"):
            z_base = rays[2] * depth + origin[2]
            keep = (depth > cfg.min_depth_m) & (depth < cfg.max_depth_m)
            keep &= (z_base > cfg.table_tol_m) & (z_base < cfg.max_height_m)
        if excl is not None:
            keep &= ~excl
        rows, cols = np.nonzero(keep)
        if point_exclusion is not None and rows.size:
            points = (rays[:, rows, cols] * depth[rows, cols] + origin[:, None]).T
            drop = np.asarray(point_exclusion.contains(points), dtype=bool)
            if drop.shape != rows.shape:
                raise ValueError(f"point_exclusion.contains returned shape {drop.shape}, "
                                 f"expected {rows.shape}")
            rows, cols = rows[~drop], cols[~drop]
        if rows.size < cfg.min_pixels:
            return []
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        label_img = np.zeros((r1 - r0, c1 - c0), dtype=np.uint8)
        hue_img = np.zeros((r1 - r0, c1 - c0), dtype=np.float32)
        labels, hues = self._colorizer.classify(rgb[rows, cols])
        label_img[rows - r0, cols - c0] = labels
        hue_img[rows - r0, cols - c0] = hues
        fg_roi = np.zeros(label_img.shape, dtype=bool)
        fg_roi[rows - r0, cols - c0] = True
        regions = colour_regions(label_img, hue_img, depth[r0:r1, c0:c1], self._colorizer,
                                 cfg.depth_step_m, fg_roi)

        # Pixels grouped by region id (one sort instead of one full-image scan per region).
        rr, cc = np.nonzero(regions.ids)
        rid = regions.ids[rr, cc]
        order = np.argsort(rid, kind="stable")
        rr, cc, rid = rr[order] + r0, cc[order] + c0, rid[order]
        starts = np.flatnonzero(np.diff(rid, prepend=-1))
        ends = np.append(starts[1:], len(rid))
        found: list[_Candidate] = []
        for a, b in zip(starts, ends, strict=True):
            label = regions.labels[rid[a]]
            if b - a < cfg.min_pixels or label not in self._labels:
                continue
            found.extend(self._objects_from_pixels(rgb, depth, z_base, rays, origin, rr[a:b],
                                                   cc[a:b], label))
        _rest_on_supports(found)
        return assign_names([self._to_object(c) for c in found])

    def _objects_from_pixels(self, rgb: np.ndarray, depth: np.ndarray, z_base: np.ndarray,
                             rays: np.ndarray, origin: np.ndarray, rows: np.ndarray,
                             cols: np.ndarray, label: int) -> list[_Candidate]:
        cfg = self.config
        d = depth[rows, cols]
        points = (rays[:, rows, cols] * d + origin[:, None]).T.astype(np.float64)
        out = []
        for idx in _split_top_view(points, cfg.cluster_cell_m, cfg.min_points_3d):
            pixel_m = pixel_footprint_m(self.view, float(np.median(d[idx])))
            hidden = _bottom_hidden(rows[idx], cols[idx], depth, z_base, cfg.depth_step_m)
            est = analyse_points(points[idx], self.view.position_base_m[:2], pixel_m,
                                 cfg.shapes, bottom_hidden=hidden)
            if est is None or not np.all(np.isfinite(est.center_base_m)):
                continue
            cx, cy = est.center_base_m[:2]
            if not (cfg.roi_min_xy_m[0] <= cx <= cfg.roi_max_xy_m[0]
                    and cfg.roi_min_xy_m[1] <= cy <= cfg.roi_max_xy_m[1]):
                continue
            if np.hypot(cx, cy) < cfg.keepout_radius_m:
                continue
            mean_rgb = rgb[rows[idx], cols[idx]].reshape(-1, 3).mean(axis=0) / 255.0
            out.append(_Candidate(est, label, len(idx), tuple(float(c) for c in mean_rgb)))
        return out

    def _to_object(self, c: _Candidate) -> DetectedObject:
        pixel_factor = min(1.0, c.pixel_count / (4.0 * self.config.min_pixels))
        est = c.estimate
        return DetectedObject(
            name="", color=color_name(c.label), shape=est.shape, description="",
            position_base_m=est.center_base_m, size_m=est.size_m, yaw_rad=float(est.yaw_rad),
            confidence=float(np.clip((0.5 + 0.5 * est.margin) * pixel_factor, 0.0, 1.0)),
            pixel_count=int(c.pixel_count), rgb=c.rgb)


@dataclass
class _Candidate:
    estimate: ShapeEstimate
    label: int
    pixel_count: int
    rgb: tuple[float, float, float]


def _inside_rect(xy: np.ndarray, est: ShapeEstimate, shrink_m: float = 0.0) -> bool:
    rel = np.asarray(xy, dtype=np.float64) - est.center_base_m[:2]
    c, s = np.cos(est.yaw_rad), np.sin(est.yaw_rad)
    u, v = rel @ np.array([c, s]), rel @ np.array([-s, c])
    return bool(abs(u) <= est.size_m[0] / 2 - shrink_m and abs(v) <= est.size_m[1] / 2 - shrink_m)


def _rest_on_supports(found: list[_Candidate]) -> None:
    """Objects inside a bin stand on its floor, objects over a box stand on its top, not on the
    table: their lower part is often hidden (by the bin's near wall, or it is the box itself),
    so the table rule cannot be used for them."""
    supports = [(c.estimate, c.estimate.floor_z_m) for c in found
                if c.estimate.shape == "bin" and np.isfinite(c.estimate.floor_z_m)]
    supports += [(c.estimate, c.estimate.top_z_m) for c in found if c.estimate.shape == "box"]
    for c in found:
        est = c.estimate
        if est.shape == "bin":
            continue
        for support, support_z_m in supports:
            if support is est or not _inside_rect(est.center_base_m[:2], support):
                continue
            if support.shape == "bin" and est.top_z_m <= support.top_z_m + 0.3 or \
                    support.shape == "box" and est.top_z_m > support.top_z_m + 0.01:
                c.estimate = on_support(est, support_z_m)
                break


_shared_detector: ObjectDetector | None = None


def detect_objects(rgb: np.ndarray, depth_m: np.ndarray, camera: Any,
                   config: DetectorConfig | None = None,
                   exclusion_mask: np.ndarray | None = None,
                   point_exclusion: PointExclusion | None = None) -> list[DetectedObject]:
    """Detect the objects in one RGB-D frame (rgb H x W x 3 uint8, depth_m H x W float z-depth).

    Raises ValueError on malformed input; returns [] when nothing stands on the table.
    Keeps one ObjectDetector between calls; the camera is re-read every call, so a camera
    model updated in place (a moving camera) is honoured.
    """
    global _shared_detector
    cfg = config or DetectorConfig()
    det = _shared_detector
    if det is None or det.config != cfg:
        det = ObjectDetector(camera, cfg)
        _shared_detector = det
    else:
        det.view = pinhole_view(camera)
    return det.detect(rgb, depth_m, exclusion_mask, point_exclusion)
