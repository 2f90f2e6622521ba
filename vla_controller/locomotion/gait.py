"""Gait pieces: a phase clock for periodic gaits (with the trot's phase offsets), swing-foot
trajectories and Raibert-style foot placement. Pure functions of numbers; frames and units in
the names.

Foot positions here are in the base frame (x forward, y left, z up), metres.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

GRAVITY_M_S2 = 9.81


def trot_phase_offsets(feet_base_m: np.ndarray, leg_names: Sequence[str]) -> dict[str, float]:
    """Trot: diagonal pairs half a cycle apart. The pairs come from where the feet are
    (front-left with rear-right: x * y > 0), not from the legs' names."""
    if len(leg_names) != 4 or len(feet_base_m) != 4:
        raise ValueError("a trot needs exactly 4 legs")
    signs = [float(np.sign(p[0] * p[1])) for p in feet_base_m]
    if sorted(signs) != [-1.0, -1.0, 1.0, 1.0]:
        raise ValueError("the feet are not in four quadrants around the base; no trot pairs")
    return {leg: 0.0 if s > 0 else 0.5 for leg, s in zip(leg_names, signs, strict=True)}


class GaitSchedule:
    """A phase clock in [0, 1) and, per leg, whether it swings and how far along it is.

    Leg `l` swings while (phase - offset[l]) mod 1 < 1 - duty_factor, then stands. The clock
    stops only at an instant when every foot is on the ground, so stopping never leaves a foot
    in the air; it resumes where it stopped, so the next pair to swing is the one that stood.
    """

    def __init__(self, period_s: float, duty_factor: float,
                 phase_offsets: Mapping[str, float]) -> None:
        if not (math.isfinite(period_s) and period_s > 0.0):
            raise ValueError(f"gait period must be > 0 s, got {period_s}")
        if not 0.5 <= duty_factor < 1.0:
            raise ValueError(f"duty factor must be in [0.5, 1) (a foot always down), "
                             f"got {duty_factor}")
        self.period_s = float(period_s)
        self.duty_factor = float(duty_factor)
        self.offsets = dict(phase_offsets)
        self.phase = 0.0
        self.running = False

    @property
    def swing_s(self) -> float:
        return (1.0 - self.duty_factor) * self.period_s

    @property
    def stance_s(self) -> float:
        return self.duty_factor * self.period_s

    def leg_phase(self, leg: str) -> tuple[bool, float]:
        """(swinging, progress in [0, 1) through the current swing or stance). A stopped
        clock has every leg in stance."""
        local = (self.phase - self.offsets[leg]) % 1.0
        swing = 1.0 - self.duty_factor
        if self.running and local < swing:
            return True, local / swing
        return False, ((local - swing) % 1.0) / self.duty_factor

    def _touchdowns(self) -> list[float]:
        """Phases at which a swing ends."""
        swing = 1.0 - self.duty_factor
        return sorted({(off + swing) % 1.0 for off in self.offsets.values()})

    def _all_down(self, phase: float) -> bool:
        # a foot exactly at lift-off (local phase 0) is still on the ground
        swing = 1.0 - self.duty_factor
        return all(not (1e-9 < (phase - off) % 1.0 < swing - 1e-9)
                   for off in self.offsets.values())

    def advance(self, dt_s: float, keep_running: bool) -> None:
        """Move the clock by dt_s. Starts when keep_running; when not, runs on to the next
        instant all feet are down and stops there."""
        if not self.running:
            if not keep_running:
                return
            self.running = True
        step = dt_s / self.period_s
        if not keep_running:
            if self._all_down(self.phase):
                self.running = False
                return
            for boundary in self._touchdowns():
                ahead = (boundary - self.phase) % 1.0
                if 0.0 < ahead <= step + 1e-12 and self._all_down(boundary):
                    self.phase = boundary % 1.0
                    self.running = False
                    return
        self.phase = (self.phase + step) % 1.0


def swing_foot(start_base_m: np.ndarray, end_base_m: np.ndarray, progress: float,
               swing_s: float, step_height_m: float, liftoff_velocity_base_m_s: np.ndarray,
               touchdown_velocity_base_m_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, velocity m/s) of a swinging foot `progress` (0..1) of the way from lift-off
    to touch-down, in the base frame.

    Horizontal: a cubic Hermite curve that leaves and lands moving with the ground under the
    body (the ground's velocity in the base frame at the lift-off and touch-down points: minus
    the body's commanded twist there), so the foot neither scuffs at lift-off nor skids at
    touch-down. Vertical: the straight line between
    the end heights plus a (1 - cos) bump of `step_height_m`.
    """
    tau = min(max(progress, 0.0), 1.0)
    tau2, tau3 = tau * tau, tau * tau * tau
    h00, h10, h01, h11 = 2 * tau3 - 3 * tau2 + 1, tau3 - 2 * tau2 + tau, -2 * tau3 + 3 * tau2, \
        tau3 - tau2
    d00, d10, d01, d11 = 6 * tau2 - 6 * tau, 3 * tau2 - 4 * tau + 1, -6 * tau2 + 6 * tau, \
        3 * tau2 - 2 * tau
    tangent0 = swing_s * np.asarray(liftoff_velocity_base_m_s, dtype=float)
    tangent1 = swing_s * np.asarray(touchdown_velocity_base_m_s, dtype=float)
    position = h00 * start_base_m + h10 * tangent0 + h01 * end_base_m + h11 * tangent1
    velocity = (d00 * start_base_m + d10 * tangent0 + d01 * end_base_m
                + d11 * tangent1) / swing_s
    rise = end_base_m[2] - start_base_m[2]
    bump = 2.0 * math.pi * tau
    position[2] = start_base_m[2] + tau * rise + step_height_m * 0.5 * (1.0 - math.cos(bump))
    velocity[2] = (rise + step_height_m * math.pi * math.sin(bump)) / swing_s
    return position, velocity


def raibert_foothold(nominal_base_m: np.ndarray, cmd_velocity_base_m_s: np.ndarray,
                     cmd_yaw_rate_rad_s: float, velocity_base_m_s: np.ndarray,
                     stance_s: float, feedback_s: float, max_offset_m: float,
                     body_height_m: float = 0.0) -> np.ndarray:
    """Touch-down point (x, y in the base frame) for a foot whose nominal stance point is
    `nominal_base_m`.

    During stance the ground slides under the body at the commanded twist; landing half a
    stance ahead of the nominal point (and turned by half the stance's yaw) puts the foot
    under its hip mid-stance. The feedback term `feedback_s * (v - v_cmd)` steps towards a
    velocity error (Raibert; feedback_s ~ sqrt(h / g) is the capture point's). Turning while
    moving, the feet also land (h / 2g) (v x w) outwards: the ground then pushes the body
    towards the turn's centre (the centripetal force a curve needs; `body_height_m` = h, 0
    leaves it out). The offset from nominal is capped at `max_offset_m` so a wild command or
    estimate cannot overreach.
    """
    half_yaw = 0.5 * cmd_yaw_rate_rad_s * stance_s
    c, s = math.cos(half_yaw), math.sin(half_yaw)
    turned = np.array([c * nominal_base_m[0] - s * nominal_base_m[1],
                       s * nominal_base_m[0] + c * nominal_base_m[1]])
    target = (turned + 0.5 * stance_s * cmd_velocity_base_m_s[:2]
              + feedback_s * (velocity_base_m_s[:2] - cmd_velocity_base_m_s[:2]))
    # v x w with w along z: (vy w, -vx w)
    centrifugal_s2 = body_height_m / GRAVITY_M_S2
    target[0] += centrifugal_s2 * velocity_base_m_s[1] * cmd_yaw_rate_rad_s
    target[1] -= centrifugal_s2 * velocity_base_m_s[0] * cmd_yaw_rate_rad_s
    offset = target - nominal_base_m[:2]
    norm = math.hypot(offset[0], offset[1])
    if norm > max_offset_m:
        target = nominal_base_m[:2] + offset * (max_offset_m / norm)
    return target
