"""Shape, centre, size and yaw of one object from its base-frame points (table top at z = 0).

The camera looks down obliquely, so an object shows its top and the faces towards the
camera. Top-face points (within a few mm of the highest point) have exact x, y: their
outline is the object's footprint for boxes, cylinders and the rim of bins, which is why
x, y come from them and not from the centroid of everything seen (biased to the camera).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

SHAPES: tuple[str, ...] = ("box", "cylinder", "sphere", "bin")


@dataclass(frozen=True)
class ShapeParams:
    top_tol_m: float = 0.004        # top face = points within this (or top_tol_frac) of the top
    top_tol_frac: float = 0.12
    resting_max_m: float = 0.02     # lowest visible point below this: the object sits on z=0
    bin_core_frac: float = 0.6      # central part of the rim rectangle searched for a floor
    bin_min_hollow_frac: float = 0.35
    sphere_max_top_ratio: float = 0.8   # top-cap width / full width below this: sphere
    sphere_cap_frac: float = 0.1
    sphere_cap_min_m: float = 0.002
    box_min_fill: float = 0.885     # hull area / min-area-rectangle area: box above, disc below
    cylinder_max_rel_rms: float = 0.06  # side wall off a fitted circle by less: cylinder


@dataclass(frozen=True)
class ShapeEstimate:
    shape: str
    center_base_m: np.ndarray   # (3,) bounding-box centre
    size_m: np.ndarray          # (3,) full extents along the object's yawed x, y and z
    yaw_rad: float
    margin: float               # 0..1, how clearly the shape tests were passed
    resting: bool = True        # bottom taken at z = 0 (lowest visible point was low)
    floor_z_m: float = float("nan")  # bins: height of the inner floor surface

    @property
    def top_z_m(self) -> float:
        return float(self.center_base_m[2] + self.size_m[2] / 2)


def on_support(est: ShapeEstimate, support_z_m: float) -> ShapeEstimate:
    """The same object standing on a surface at support_z_m (e.g. a bin's floor)."""
    top = est.top_z_m
    if est.shape == "sphere" or not top > support_z_m:
        return est
    center = est.center_base_m.copy()
    center[2] = (top + support_z_m) / 2
    size = est.size_m.copy()
    size[2] = top - support_z_m
    return replace(est, center_base_m=center, size_m=size, resting=False)


def _across_view_axis(xy: np.ndarray, camera_xy: np.ndarray) -> np.ndarray:
    """Unit horizontal axis perpendicular to the line of sight: always fully visible."""
    los = xy.mean(axis=0) - camera_xy
    norm = float(np.hypot(*los))
    if norm < 1e-6:
        return np.array([1.0, 0.0])
    return np.array([-los[1], los[0]]) / norm


def _width(xy: np.ndarray, axis: np.ndarray) -> float:
    proj = xy @ axis
    return float(proj.max() - proj.min())


def _rect_yaw(rect: tuple, square_sym: bool) -> tuple[float, float, float]:
    """(length, width, yaw) of cv2.minAreaRect output; yaw along the long side."""
    (_, _), (w, h), angle_deg = rect
    yaw = np.deg2rad(angle_deg)
    if h > w:
        w, h, yaw = h, w, yaw + np.pi / 2
    period = np.pi / 2 if square_sym else np.pi
    yaw = (yaw + period / 2) % period - period / 2
    return float(w), float(h), float(yaw)


def _fit_sphere(pts: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Algebraic least-squares sphere fit: |p|^2 = 2 c.p + d."""
    if len(pts) < 10:
        return None
    A = np.column_stack([2.0 * pts, np.ones(len(pts))])
    b = np.einsum("ij,ij->i", pts, pts)
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    centre = sol[:3]
    r2 = sol[3] + centre @ centre
    if not np.isfinite(r2) or r2 <= 0:
        return None
    return centre, float(np.sqrt(r2))


def _bottom(z: np.ndarray, hidden: bool, p: ShapeParams) -> tuple[float, bool]:
    """(bottom z, resting): down to the table when the lowest visible point is low or when
    something in front hides the object's lower part; else (stacked, held) the lowest
    visible point."""
    z_low = float(np.percentile(z, 1.0))
    return (0.0, True) if hidden or z_low < p.resting_max_m else (z_low, False)


def analyse_points(
    points_base_m: np.ndarray,
    camera_xy_base_m: np.ndarray,
    pixel_m: float,
    params: ShapeParams | None = None,
    bottom_hidden: bool = False,
) -> ShapeEstimate | None:
    """Classify and measure one object from its (N, 3) base-frame points; None if unusable.

    pixel_m is the width of one pixel on the object; outlines from sampled points come out
    a little short, and half a pixel is added back. bottom_hidden: something in front hides
    the object's lower part (it then stands on the table, or on a bin's floor, see
    `on_support`).
    """
    p = params or ShapeParams()
    pts = np.asarray(points_base_m, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 12:
        return None
    z = pts[:, 2]
    z_top = float(np.percentile(z, 99.0))
    if z_top <= 0.0:
        return None
    bottom, resting = _bottom(z, bottom_hidden, p)
    # bands below the top scale with the object's own height, not its top's above the table:
    # a cube on a pedestal would otherwise be all "top" (from a humanoid's camera 3.6 m away
    # its front face then outlined a thin strip, read as a disc: a green cylinder)
    band_m = max(p.top_tol_m, p.top_tol_frac * (z_top - bottom))
    top = pts[z >= z_top - band_m]
    if len(top) < 6:
        return None
    top_xy = top[:, :2].astype(np.float32)
    rect = cv2.minAreaRect(top_xy)
    (rcx, rcy), (rw, rh), _ = rect
    if rw * rh <= 0.0:
        return None

    # Bin: inside the rim there are points far below it (the floor seen over the near wall).
    hollow_frac, n_core, floor_z = _hollow_fraction(pts, rect, z_top, p)
    if n_core >= 8 and hollow_frac >= p.bin_min_hollow_frac:
        length, width, yaw = _rect_yaw(rect, square_sym=abs(rw - rh) < 0.1 * max(rw, rh))
        size = np.array([length + 0.5 * pixel_m, width + 0.5 * pixel_m, z_top - bottom])
        margin = min(1.0, (hollow_frac - p.bin_min_hollow_frac) / 0.3)
        return ShapeEstimate("bin", np.array([rcx, rcy, (z_top + bottom) / 2]), size, yaw,
                             margin, resting, floor_z)

    # Sphere: only a small cap lies near the top. The band is a fraction of the width so the
    # test does not depend on the object's size (a sphere's cap is ~0.63 of its width).
    axis = _across_view_axis(pts[:, :2], camera_xy_base_m)
    width_all = max(_width(pts[:, :2], axis), 1e-9)
    cap = pts[z >= z_top - max(p.sphere_cap_min_m, p.sphere_cap_frac * width_all)]
    top_ratio = _width(cap[:, :2], axis) / width_all
    if top_ratio < p.sphere_max_top_ratio:
        return _sphere(pts, axis, z_top, pixel_m, top_ratio, p)

    # Box or upright cylinder: every visible point (top and the vertical sides, which fall on
    # the outline) lies on the footprint, so all of them outline it, even when something
    # stands on the top and hides part of it.
    all_xy = pts[:, :2].astype(np.float32)
    rect = cv2.minAreaRect(all_xy)
    (rcx, rcy), (rw, rh), _ = rect
    height = z_top - bottom
    circle, margin = _side_test(pts, z_top, bottom, band_m, width_all, all_xy, rect, pixel_m,
                                p)
    margin = max(0.0, min(margin, (top_ratio - p.sphere_max_top_ratio) / 0.1))
    if circle is None:
        length, width, yaw = _rect_yaw(rect, square_sym=abs(rw - rh) < 0.15 * max(rw, rh))
        size = np.array([length + 0.5 * pixel_m, width + 0.5 * pixel_m, height])
        return ShapeEstimate("box", np.array([rcx, rcy, (z_top + bottom) / 2]), size, yaw,
                             margin, resting)
    (ccx, ccy), radius = circle
    diameter = 2.0 * radius
    return ShapeEstimate("cylinder", np.array([ccx, ccy, (z_top + bottom) / 2]),
                         np.array([diameter, diameter, height]), 0.0, margin, resting)


def _fit_circle(xy: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Algebraic circle fit -> (centre, radius, rms distance of the points to the circle)."""
    A = np.column_stack([2.0 * xy, np.ones(len(xy))])
    b = np.einsum("ij,ij->i", xy, xy)
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    r2 = sol[2] + sol[:2] @ sol[:2]
    if not np.isfinite(r2) or r2 <= 0:
        return None
    r = float(np.sqrt(r2))
    rms = float(np.sqrt(np.mean((np.linalg.norm(xy - sol[:2], axis=1) - r) ** 2)))
    return sol[:2], r, rms


def _rect_rms(xy: np.ndarray, rect: tuple) -> float:
    """RMS distance of points to the nearest side of a cv2.minAreaRect rectangle."""
    (cx, cy), (w, h), angle_deg = rect
    a = np.deg2rad(angle_deg)
    rel = xy - np.array([cx, cy])
    u = np.abs(rel @ np.array([np.cos(a), np.sin(a)]))
    v = np.abs(rel @ np.array([-np.sin(a), np.cos(a)]))
    dist = np.minimum(np.abs(w / 2 - u), np.abs(h / 2 - v))
    return float(np.sqrt(np.mean(dist ** 2)))


def _side_test(pts: np.ndarray, z_top: float, bottom: float, band_m: float, width_all: float,
               all_xy: np.ndarray, rect: tuple, pixel_m: float, p: ShapeParams,
               ) -> tuple[tuple[tuple[float, float], float] | None, float]:
    """Cylinder (circle (centre, radius)) or box (None), and a 0..1 margin.

    The visible side wall tells best: seen from above it is an arc for a cylinder and one or
    two straight segments for a box, and it stays whole when the top is partly hidden. With
    too little wall in view, the top outline decides: a disc fills pi/4 of its bounding
    rectangle, a box all of it.
    """
    z = pts[:, 2]
    side = pts[(z < z_top - band_m) & (z > bottom + 0.002), :2]
    if len(side) >= 20:
        fit = _fit_circle(side.astype(np.float64))
        if fit is not None:
            centre, r, rms = fit
            ratio = r / max(width_all / 2, 1e-9)
            rel = rms / r
            # A box corner seen over a short stretch also fits a circle well; its straight
            # faces then fit the outline rectangle better still.
            if (0.75 < ratio < 1.33 and rel < p.cylinder_max_rel_rms
                    and rms < _rect_rms(side, rect)):
                return ((float(centre[0]), float(centre[1])), r), min(
                    1.0, (p.cylinder_max_rel_rms - rel) / p.cylinder_max_rel_rms)
            return None, min(1.0, max(rel - p.cylinder_max_rel_rms, abs(ratio - 1.0)) / 0.05)
    (_, _), (rw, rh), _ = rect
    fill = cv2.contourArea(cv2.convexHull(all_xy)) / max(rw * rh, 1e-12)
    margin = min(1.0, abs(fill - p.box_min_fill) / 0.06)
    if fill >= p.box_min_fill:
        return None, margin
    (ccx, ccy), radius = cv2.minEnclosingCircle(all_xy)
    return ((ccx, ccy), radius + 0.25 * pixel_m), margin


def _hollow_fraction(pts: np.ndarray, rect: tuple, z_top: float,
                     p: ShapeParams) -> tuple[float, int, float]:
    """(share of the points over the rim rectangle's core well below the rim, how many points
    lie over the core, height of the lowest of them: a bin's floor)."""
    (rcx, rcy), (rw, rh), angle_deg = rect
    a = np.deg2rad(angle_deg)
    rel = pts[:, :2] - np.array([rcx, rcy])
    u = rel @ np.array([np.cos(a), np.sin(a)])
    v = rel @ np.array([-np.sin(a), np.cos(a)])
    core = (np.abs(u) < 0.5 * p.bin_core_frac * rw) & (np.abs(v) < 0.5 * p.bin_core_frac * rh)
    n_core = int(core.sum())
    if n_core == 0:
        return 0.0, 0, float("nan")
    core_z = pts[core, 2]
    low = core_z < z_top - max(0.01, 0.3 * z_top)
    floor_z = float(np.percentile(core_z[low], 5.0)) if low.any() else float("nan")
    return float(low.mean()), n_core, floor_z


def _sphere(pts: np.ndarray, axis: np.ndarray, z_top: float, pixel_m: float,
            top_ratio: float, p: ShapeParams) -> ShapeEstimate:
    radius_seen = 0.5 * (_width(pts[:, :2], axis) + pixel_m)
    fit = _fit_sphere(pts)
    margin = min(1.0, (p.sphere_max_top_ratio - top_ratio) / 0.15)
    if fit is not None and 0.7 * radius_seen < fit[1] < 1.3 * radius_seen:
        centre, radius = fit
    else:
        # Fall back to the cap: the centre lies one radius below the highest point.
        cap = pts[pts[:, 2] >= z_top - 0.2 * radius_seen]
        centre = np.array([*cap[:, :2].mean(axis=0), z_top - radius_seen])
        radius = radius_seen
        margin *= 0.5
    d = 2.0 * radius
    return ShapeEstimate("sphere", np.asarray(centre, dtype=np.float64), np.array([d, d, d]),
                         0.0, margin, bool(centre[2] - radius < p.resting_max_m))
