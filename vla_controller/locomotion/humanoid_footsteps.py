"""Footsteps from a commanded twist, the ZMP reference they imply, and swing-foot trajectories.

Footsteps: a "walk frame" between the feet advances by the commanded twist (vx, vy in its own
heading, yaw rate) once per step; each foot lands half the foot spacing to its side of the new
frame. One step period moves the frame v * T, so the robot's average speed is v. Each landing is
then limited relative to the stance foot (no crossing feet, hip yaw range), which is what keeps a
sideways step or a tight turn from stepping onto the other foot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vla_controller.trajectory import min_jerk

SIDES = ("left", "right")


def wrap_angle(angle_rad: float) -> float:
    """Angle in [-pi, pi)."""
    return (angle_rad + math.pi) % (2 * math.pi) - math.pi


def rot2(yaw_rad: float) -> np.ndarray:
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True)
class Footstep:
    """Where a sole lands: its frame's origin on the floor (world xy, m) and heading (rad)."""

    side: str
    xy_world_m: np.ndarray
    yaw_world_rad: float

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {self.side!r}")


@dataclass(frozen=True)
class StepParams:
    """Robot-specific stepping numbers (the profile's `locomotion:` section)."""

    step_period_s: float       # one step: double support + single support
    double_support_s: float
    step_height_m: float
    foot_spacing_m: float      # lateral distance between sole centres when standing
    min_foot_gap_m: float      # never land closer than this (sole centres, lateral)
    max_step_yaw_rad: float    # landing yaw relative to the stance foot


def lateral_sign(side: str) -> float:
    """+1 for the left foot (on +y of the walk frame), -1 for the right."""
    return 1.0 if side == "left" else -1.0


def other_side(side: str) -> str:
    return "right" if side == "left" else "left"


def plan_footsteps(stance: Footstep, cmd_twist: Sequence[float], n_steps: int,
                   params: StepParams) -> list[Footstep]:
    """The next `n_steps` landings, starting with the foot that is not `stance`, for a twist
    (vx m/s, vy m/s, yaw rate rad/s) in the walk frame held constant."""
    return plan_footsteps_for(stance, [cmd_twist] * n_steps, params)


def ramped_twists(twist_now: Sequence[float], twist_target: Sequence[float],
                  max_step_change: Sequence[float], n_steps: int) -> list[np.ndarray]:
    """One twist per coming step: from `twist_now` towards `twist_target`, each step changing
    by at most `max_step_change` (acceleration x step period) per component."""
    now, target = np.asarray(twist_now, float), np.asarray(twist_target, float)
    limit = np.asarray(max_step_change, float)
    out = []
    for _ in range(n_steps):
        now = now + np.clip(target - now, -limit, limit)
        out.append(now.copy())
    return out


def plan_footsteps_for(stance: Footstep, twists: Sequence[Sequence[float]],
                       params: StepParams) -> list[Footstep]:
    """One landing per twist (each held for its step), alternating feet from `stance`."""
    T = params.step_period_s
    half = params.foot_spacing_m / 2
    # the walk frame sits half a spacing inside the stance foot, with its heading
    yaw = stance.yaw_world_rad
    frame_xy = stance.xy_world_m - rot2(yaw) @ [0.0, lateral_sign(stance.side) * half]
    steps: list[Footstep] = []
    for twist in twists:
        vx, vy, wz = (float(v) for v in twist)
        swing = other_side(stance.side)
        frame_xy = frame_xy + rot2(yaw + wz * T / 2) @ [vx * T, vy * T]
        yaw = yaw + wz * T
        target = frame_xy + rot2(yaw) @ [0.0, lateral_sign(swing) * half]
        step = limit_step(stance, Footstep(swing, target, wrap_angle(yaw)), params)
        steps.append(step)
        # the frame follows what was actually planned, so clipping does not accumulate drift
        yaw = step.yaw_world_rad
        frame_xy = step.xy_world_m - rot2(yaw) @ [0.0, lateral_sign(swing) * half]
        stance = step
    return steps


def limit_step(stance: Footstep, step: Footstep, params: StepParams) -> Footstep:
    """Keep a landing on its own side of the stance foot and within the hip's yaw range."""
    rel_yaw = wrap_angle(step.yaw_world_rad - stance.yaw_world_rad)
    rel_yaw = min(max(rel_yaw, -params.max_step_yaw_rad), params.max_step_yaw_rad)
    R = rot2(stance.yaw_world_rad)
    rel_xy = R.T @ (step.xy_world_m - stance.xy_world_m)
    sign = lateral_sign(step.side)
    rel_xy[1] = sign * max(sign * rel_xy[1], params.min_foot_gap_m)
    return Footstep(step.side, stance.xy_world_m + R @ rel_xy,
                    wrap_angle(stance.yaw_world_rad + rel_yaw))


def squared_up(stance: Footstep, swing: Footstep, params: StepParams,
               tol_m: float = 0.01, tol_rad: float = 0.02) -> bool:
    """Whether `swing` stands where a zero-velocity step from `stance` would put it."""
    home = plan_footsteps(stance, (0.0, 0.0, 0.0), 1, params)[0]
    return (float(np.linalg.norm(home.xy_world_m - swing.xy_world_m)) < tol_m
            and abs(wrap_angle(home.yaw_world_rad - swing.yaw_world_rad)) < tol_rad)


def swing_foot(start: Footstep, end: Footstep, phase: float, duration_s: float,
               height_m: float) -> tuple[np.ndarray, float, np.ndarray, float]:
    """(sole xyz, yaw, linear velocity xyz, yaw rate) at `phase` in [0, 1] of a swing.

    Horizontal motion and yaw follow a min-jerk profile; the height is 64 h s^3 (1 - s)^3,
    which peaks at h mid-swing and leaves and meets the floor with zero velocity and
    acceleration, so the foot neither scuffs nor stamps.
    """
    phase = min(max(phase, 0.0), 1.0)
    s, ds = min_jerk(phase)
    d_xy = end.xy_world_m - start.xy_world_m
    d_yaw = wrap_angle(end.yaw_world_rad - start.yaw_world_rad)
    z = 64.0 * height_m * phase**3 * (1 - phase) ** 3
    dz = 64.0 * height_m * 3 * phase**2 * (1 - phase) ** 2 * (1 - 2 * phase)
    xyz = np.array([*(start.xy_world_m + s * d_xy), z])
    velocity = np.array([*(ds * d_xy), dz]) / duration_s
    return xyz, start.yaw_world_rad + s * d_yaw, velocity, ds * d_yaw / duration_s


@dataclass(frozen=True)
class ZmpSegment:
    """The ZMP moves linearly from `start_xy` to `end_xy` over [t0_s, t0_s + duration_s]."""

    t0_s: float
    duration_s: float
    start_xy: np.ndarray
    end_xy: np.ndarray


def sample_zmp(segments: Sequence[ZmpSegment], times_s: np.ndarray) -> np.ndarray:
    """ZMP reference (len(times) x 2) from consecutive segments; held after the last."""
    t0 = np.array([seg.t0_s for seg in segments])
    dur = np.array([max(seg.duration_s, 1e-9) for seg in segments])
    a = np.array([seg.start_xy for seg in segments])
    b = np.array([seg.end_xy for seg in segments])
    i = np.clip(np.searchsorted(t0, times_s, side="right") - 1, 0, len(segments) - 1)
    frac = np.clip((times_s - t0[i]) / dur[i], 0.0, 1.0)[:, None]
    return a[i] + frac * (b[i] - a[i])
