"""Analytic ray-cast RGB-D renderer of primitive tabletop scenes (tests and benchmarks).

Independent of MuJoCo, so the detector can be checked against exact geometry, and frames
with chosen defects (noise, holes, NaN) can be made at will.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vla_perception.geometry import RayCache, pinhole_view

TABLE_RGB = (0.55, 0.45, 0.35)
FLOOR_RGB = (0.3, 0.3, 0.3)
BIN_WALL_M = 0.008


@dataclass(frozen=True)
class Primitive:
    shape: str                          # box | cylinder | sphere | bin
    rgb: tuple[float, float, float]     # 0..1
    size_m: tuple[float, float, float]  # full extents (cylinder/sphere: x = diameter)
    center_base_m: tuple[float, float, float]
    yaw_rad: float = 0.0


def _rotz(v: np.ndarray, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])


def _hit_box(o: np.ndarray, d: np.ndarray, center: np.ndarray, half: np.ndarray,
             yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter (inf = miss) and world normal of an oriented box; o (3,), d (3, N)."""
    o_l = _rotz((o - center)[:, None], -yaw)
    d_l = _rotz(d, -yaw)
    d_safe = np.where(np.abs(d_l) < 1e-12, 1e-12, d_l)
    t1 = (-half[:, None] - o_l) / d_safe
    t2 = (half[:, None] - o_l) / d_safe
    t_near = np.minimum(t1, t2)
    t_enter = t_near.max(axis=0)
    t_exit = np.maximum(t1, t2).min(axis=0)
    hit = (t_exit >= t_enter) & (t_enter > 0)
    t = np.where(hit, t_enter, np.inf)
    axis = t_near.argmax(axis=0)
    n_l = np.zeros_like(d_l)
    n_l[axis, np.arange(d_l.shape[1])] = -np.sign(d_l[axis, np.arange(d_l.shape[1])])
    return t, _rotz(n_l, yaw)


def _hit_cylinder(o: np.ndarray, d: np.ndarray, center: np.ndarray, radius: float,
                  half_h: float) -> tuple[np.ndarray, np.ndarray]:
    oc = o - center
    a = d[0] ** 2 + d[1] ** 2
    b = 2 * (oc[0] * d[0] + oc[1] * d[1])
    c = oc[0] ** 2 + oc[1] ** 2 - radius ** 2
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-b - np.sqrt(disc)) / (2 * a)
        z_side = oc[2] + t_side * d[2]
        side_ok = (disc >= 0) & (t_side > 0) & (np.abs(z_side) <= half_h)
        t_top = (half_h - oc[2]) / d[2]
        xy = oc[:2, None] + t_top * d[:2]
        top_ok = (t_top > 0) & (xy[0] ** 2 + xy[1] ** 2 <= radius ** 2)
    t = np.minimum(np.where(side_ok, t_side, np.inf), np.where(top_ok, t_top, np.inf))
    p = oc[:, None] + np.where(np.isfinite(t), t, 0) * d
    n = np.stack([p[0], p[1], np.zeros_like(p[0])]) / radius
    use_top = top_ok & (t == t_top)
    n[:, use_top] = np.array([[0.0], [0.0], [1.0]])
    return t, n


def _hit_sphere(o: np.ndarray, d: np.ndarray, center: np.ndarray,
                radius: float) -> tuple[np.ndarray, np.ndarray]:
    oc = o - center
    a = np.einsum("in,in->n", d, d)
    b = 2 * (oc @ d)
    c = oc @ oc - radius ** 2
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    t = np.where((disc >= 0) & (t > 0), t, np.inf)
    n = (oc[:, None] + np.where(np.isfinite(t), t, 0) * d) / radius
    return t, n


def _bin_parts(p: Primitive) -> list[tuple[np.ndarray, np.ndarray]]:
    """Floor and four walls of a bin as (centre, half extents) in the bin's own frame."""
    sx, sy, sz = (s / 2 for s in p.size_m)
    w = BIN_WALL_M / 2
    return [
        (np.array([0.0, 0.0, -sz + w]), np.array([sx, sy, w])),
        (np.array([sx - w, 0.0, 0.0]), np.array([w, sy, sz])),
        (np.array([-sx + w, 0.0, 0.0]), np.array([w, sy, sz])),
        (np.array([0.0, sy - w, 0.0]), np.array([sx, w, sz])),
        (np.array([0.0, -sy + w, 0.0]), np.array([sx, w, sz])),
    ]


def render_rgbd(camera: object, primitives: list[Primitive],
                table_half_xy_m: tuple[float, float] = (0.9, 0.9),
                light_dir_base: tuple[float, float, float] = (0.3, 0.2, 1.0),
                ) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 H x W x 3, depth_m float32 z-depth) of the primitives on a table at z = 0."""
    view = pinhole_view(camera)
    rays = RayCache().rays(view).reshape(3, -1).astype(np.float64)  # unit optical depth
    o = view.position_base_m.astype(np.float64)
    n_px = rays.shape[1]
    t_best = np.full(n_px, np.inf)
    normal = np.zeros((3, n_px))
    color = np.zeros((3, n_px))

    def take(t: np.ndarray, n: np.ndarray, rgb: tuple[float, float, float]) -> None:
        better = t < t_best
        t_best[better] = t[better]
        normal[:, better] = n[:, better]
        color[:, better] = np.asarray(rgb, dtype=np.float64)[:, None]

    with np.errstate(divide="ignore", invalid="ignore"):
        t_table = -o[2] / rays[2]
        xy = o[:2, None] + t_table * rays[:2]
        on_table = (t_table > 0) & (np.abs(xy[0]) <= table_half_xy_m[0]) & (
            np.abs(xy[1]) <= table_half_xy_m[1])
        t_floor = (-0.75 - o[2]) / rays[2]
    up = np.tile(np.array([[0.0], [0.0], [1.0]]), (1, n_px))
    take(np.where(t_floor > 0, t_floor, np.inf), up, FLOOR_RGB)
    take(np.where(on_table, t_table, np.inf), up, TABLE_RGB)
    for p in primitives:
        c = np.asarray(p.center_base_m, dtype=np.float64)
        if p.shape == "box":
            take(*_hit_box(o, rays, c, np.asarray(p.size_m) / 2, p.yaw_rad), p.rgb)
        elif p.shape == "cylinder":
            take(*_hit_cylinder(o, rays, c, p.size_m[0] / 2, p.size_m[2] / 2), p.rgb)
        elif p.shape == "sphere":
            take(*_hit_sphere(o, rays, c, p.size_m[0] / 2), p.rgb)
        elif p.shape == "bin":
            for part_c, half in _bin_parts(p):
                centre = c + _rotz(part_c[:, None], p.yaw_rad)[:, 0]
                take(*_hit_box(o, rays, centre, half, p.yaw_rad), p.rgb)
        else:
            raise ValueError(f"unknown primitive shape {p.shape!r}")

    light = np.asarray(light_dir_base, dtype=np.float64)
    light /= np.linalg.norm(light)
    shade = 0.45 + 0.55 * np.clip(light @ normal, 0.0, 1.0)
    rgb = np.clip(color * shade * 255.0 + 0.5, 0, 255).astype(np.uint8)
    depth = np.where(np.isfinite(t_best), t_best, 0.0).astype(np.float32)
    return (rgb.T.reshape(view.height, view.width, 3),
            depth.reshape(view.height, view.width))
