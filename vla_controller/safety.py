"""The controller's last line of defence: every joint command passes `CommandSafety` on its way out.

Pure algorithm code (no rclpy). Per tick the node asks `hold_reason(now_s)`; with a reason
(emergency stop latched, joint states stale) it publishes `held_command()`, else it runs the
whole-body controller and publishes `filter(q_candidate)`:

- a non-finite or wrongly sized command is rejected: the last safe command is held;
- every joint is clamped to the URDF position limits;
- the per-tick step is limited to ``speed_scale`` x the URDF velocity limit x ``dt_s``;
- a step that moves the tool out of the workspace box (or further out, if it starts outside)
  is rejected: the last safe command is held. Rejecting (not clamping) keeps the held pose
  exactly where the robot already is; targets outside the box are refused earlier, at
  `check_target_position`, so a trajectory between two points inside the (convex) box stays in.

Stale joint states (no message for ``joint_state_timeout_s``, measured on a monotonic clock so a
stopped simulation clock cannot hide the dropout) hold the last safe command and resume on their
own once fresh states arrive. The emergency stop latches: the command held at the stop is sent
until an explicit `reset()`. Effort limits are not enforced here: with position commands they
belong to the drive (MuJoCo uses the URDF effort as its actuator force limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vla_controller.robot_model import RobotModel

ESTOPPED = "estopped"
STALE = "holding: stale joint states"
NO_JOINT_STATES = "holding: no joint states yet"


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box in the base frame (metres) the tool frame must stay in."""

    min_base_m: np.ndarray
    max_base_m: np.ndarray

    @classmethod
    def from_bounds(cls, min_base_m: Sequence[float], max_base_m: Sequence[float]) -> WorkspaceBox:
        lo, hi = np.asarray(min_base_m, dtype=float), np.asarray(max_base_m, dtype=float)
        if lo.shape != (3,) or hi.shape != (3,):
            raise ValueError(f"workspace box bounds need 3 values each, got {lo} / {hi}")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
            raise ValueError(f"workspace box needs finite min < max, got {lo} / {hi}")
        return cls(lo, hi)

    def distance_outside_m(self, position_base_m: np.ndarray) -> float:
        """0 inside the box, else the Euclidean distance to it."""
        p = np.asarray(position_base_m, dtype=float)
        gap = np.maximum(self.min_base_m - p, 0.0) + np.maximum(p - self.max_base_m, 0.0)
        return float(np.linalg.norm(gap))

    def contains(self, position_base_m: np.ndarray) -> bool:
        return self.distance_outside_m(position_base_m) == 0.0


@dataclass(frozen=True)
class SafeCommand:
    q: np.ndarray  # name-ordered joint command, rad (or m)
    reasons: tuple[str, ...]  # what was changed or refused this tick; () if passed as is


class CommandSafety:
    """Joint-command filter, joint-state watchdog and emergency-stop latch (thread-safe enough
    for one loop thread plus callbacks: the latch and timestamps are single assignments)."""

    def __init__(
        self,
        robot: RobotModel,
        dt_s: float,
        tool_frame: str | None = None,
        speed_scale: float = 1.0,
        workspace: WorkspaceBox | None = None,
        joint_state_timeout_s: float = 0.5,
        workspace_tolerance_m: float = 1e-4,
    ) -> None:
        if not (np.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        if not (np.isfinite(speed_scale) and 0.0 < speed_scale <= 1.0):
            raise ValueError(f"speed_scale must be in (0, 1], got {speed_scale}")
        if not (np.isfinite(joint_state_timeout_s) and joint_state_timeout_s > 0.0):
            raise ValueError(f"joint_state_timeout_s must be > 0, got {joint_state_timeout_s}")
        if workspace is not None and (tool_frame is None or not robot.has_frame(tool_frame)):
            raise ValueError(f"a workspace box needs a known tool frame, got {tool_frame!r}")
        self.robot = robot.clone()  # own pinocchio Data: FK runs in the loop thread
        self.tool_frame = tool_frame
        self.workspace = workspace
        self.workspace_tolerance_m = float(workspace_tolerance_m)
        self.speed_scale = float(speed_scale)
        self.dt_s = float(dt_s)
        self.max_step = self.speed_scale * robot.velocity_limit * self.dt_s
        self.joint_state_timeout_s = float(joint_state_timeout_s)
        self._last_safe: np.ndarray | None = None
        self._held_at_stop: np.ndarray | None = None
        self._estop_reason: str | None = None
        self._last_joint_state_s: float | None = None
        self.rejected_count = 0  # commands refused (non-finite, shape, workspace)
        self.clamped_count = 0  # commands changed (position or velocity limit)

    # --- inputs (any thread) --------------------------------------------------------------
    def joint_state_received(self, now_s: float) -> None:
        self._last_joint_state_s = float(now_s)

    def estop(self, reason: str = "emergency stop") -> bool:
        """Latch the stop; True if it was not latched before."""
        if self._estop_reason is not None:
            return False
        # The held command is taken at the first held tick, so a command the loop was already
        # sending when the stop came is held, never stepped back from.
        self._held_at_stop = None
        self._estop_reason = reason or "emergency stop"
        return True

    def reset(self) -> bool:
        """Release the latch; True if it was latched."""
        was = self._estop_reason is not None
        self._estop_reason, self._held_at_stop = None, None
        return was

    @property
    def estopped(self) -> bool:
        return self._estop_reason is not None

    @property
    def estop_reason(self) -> str | None:
        return self._estop_reason

    # --- per tick ---------------------------------------------------------------------------
    def hold_reason(self, now_s: float) -> str | None:
        """Why the robot must hold this tick (ESTOPPED, STALE, NO_JOINT_STATES), or None."""
        if self._estop_reason is not None:
            return ESTOPPED
        if self._last_joint_state_s is None:
            return NO_JOINT_STATES
        if now_s - self._last_joint_state_s > self.joint_state_timeout_s:
            return STALE
        return None

    def held_command(self, q_measured: np.ndarray | None = None) -> np.ndarray | None:
        """The command to send while holding: the one held at the stop, else the last safe one,
        else (nothing sent yet) the measured q clamped to the limits; None if none is known."""
        if self.estopped and self._held_at_stop is not None:
            return self._held_at_stop.copy()
        q = self._last_safe
        if q is None:
            if q_measured is None or not self._valid(q_measured):
                return None
            q = self.robot.clip_to_limits(np.asarray(q_measured, dtype=float))
        if self.estopped:
            self._held_at_stop = q.copy()
        return q.copy()

    def filter(self, q_candidate: np.ndarray, q_measured: np.ndarray,
               hold_on_estop: bool = True, tick_dt_s: float | None = None) -> SafeCommand:
        """The safe version of the controller's command for this tick (see module doc).
        hold_on_estop=False: a legged robot stopping by standing still keeps balancing while
        the stop is latched; limits and step bounds still apply. tick_dt_s: the time this tick
        stands for when it is not the nominal dt_s (a late tick of a gait), for the step bound."""
        if self.estopped and hold_on_estop:
            held = self.held_command(q_measured)
            if held is not None:
                return SafeCommand(held, (ESTOPPED,))
        base = self._last_safe
        if base is None:
            if not self._valid(q_measured):
                raise ValueError("no safe command yet and q_measured is not a valid vector")
            base = self.robot.clip_to_limits(np.asarray(q_measured, dtype=float))
        if not self._valid(q_candidate):
            self.rejected_count += 1
            return self._accept(base, ("rejected: command is not a finite joint vector",))
        q = np.asarray(q_candidate, dtype=float)
        reasons = []
        limited = self.robot.clip_to_limits(q)
        if not np.array_equal(limited, q):
            reasons.append("clamped to position limits")
        max_step = self.max_step
        if tick_dt_s is not None and np.isfinite(tick_dt_s) and tick_dt_s > self.dt_s:
            max_step = max_step * (float(tick_dt_s) / self.dt_s)
        step = np.clip(limited - base, -max_step, max_step)
        if not np.array_equal(step, limited - base):
            reasons.append("step clamped to the velocity limit")
        q_safe = self.robot.clip_to_limits(base + step)
        if reasons:
            self.clamped_count += 1
        if self.workspace is not None and self._leaves_workspace(base, q_safe):
            self.rejected_count += 1
            return self._accept(base, ("rejected: the tool would leave the workspace box",))
        return self._accept(q_safe, tuple(reasons))

    def check_target_position(self, position_base_m: Sequence[float]) -> None:
        """ValueError if a tool target is not finite or lies outside the workspace box."""
        p = np.asarray(position_base_m, dtype=float)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"target position must be 3 finite numbers, got {p}")
        if self.workspace is None:
            return
        if self.workspace.distance_outside_m(p) > self.workspace_tolerance_m:
            raise ValueError(
                f"target {np.round(p, 3).tolist()} m is outside the workspace box "
                f"{self.workspace.min_base_m.tolist()}..{self.workspace.max_base_m.tolist()}"
            )

    def tool_outside_m(self, q: np.ndarray) -> float:
        """How far the tool frame at q is outside the workspace box (0 inside or no box)."""
        if self.workspace is None or self.tool_frame is None:
            return 0.0
        position = self.robot.frame_pose_base(q, self.tool_frame).translation
        return self.workspace.distance_outside_m(position)

    # --- internals -----------------------------------------------------------------------------
    def _valid(self, q: object) -> bool:
        try:
            arr = np.asarray(q, dtype=float)
        except (TypeError, ValueError):
            return False
        return arr.shape == (self.robot.n_joints,) and bool(np.all(np.isfinite(arr)))

    def _leaves_workspace(self, q_from: np.ndarray, q_to: np.ndarray) -> bool:
        outside_to = self.tool_outside_m(q_to)
        if outside_to <= self.workspace_tolerance_m:
            return False
        return outside_to > self.tool_outside_m(q_from) + 1e-9  # only moves back in are allowed

    def _accept(self, q: np.ndarray, reasons: tuple[str, ...]) -> SafeCommand:
        self._last_safe = q.copy()
        return SafeCommand(q.copy(), reasons)


class TickPacer:
    """When the fixed-rate loop runs its next tick, on a clock that may jump (sim time).

    `step(now_ns)` returns 0.0 to run a tick now, else the seconds to sleep first. A clock that
    jumps back by more than two periods (sim reset) or that is ahead of the schedule by more
    than ``max_lag_s`` (a jump forward, or a loop starved for that long) re-syncs the schedule to
    now, so the loop neither waits out the jump nor bursts through the missed ticks.

    A loop that wakes late either catches up (``catch_up=True``: every missed tick runs, back to
    back, each standing for one period) or runs one tick for the whole gap (``catch_up=False``:
    ``tick_dt_s`` is the clock's time since the previous tick, and the schedule moves to the
    next period boundary after now). A gait needs the second: its plan must advance with the
    physics' clock; catching up would play seconds of it in a burst after lagging behind.
    """

    def __init__(self, period_s: float, max_lag_s: float = 1.0, catch_up: bool = True) -> None:
        if not (np.isfinite(period_s) and period_s > 0.0):
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.period_ns = int(round(period_s * 1e9))
        self.max_lag_ns = int(round(max_lag_s * 1e9))
        self.catch_up = catch_up
        self.next_tick_ns: int | None = None
        self.last_tick_ns: int | None = None
        self.tick_dt_s = period_s  # clock time the tick that step() just allowed stands for
        self.resyncs = 0  # jumps seen (the first tick is not one)
        self.late_ticks = 0  # ticks that stood for more than one period (catch_up=False)

    def step(self, now_ns: int) -> float:
        if self.next_tick_ns is None:
            self.next_tick_ns = now_ns
        elif (self.next_tick_ns - now_ns > 2 * self.period_ns
              or now_ns - self.next_tick_ns > self.max_lag_ns):
            self.next_tick_ns = now_ns
            self.last_tick_ns = None
            self.resyncs += 1
        if now_ns < self.next_tick_ns:
            return min(self.period_ns, self.next_tick_ns - now_ns) * 1e-9
        if self.catch_up:
            self.next_tick_ns += self.period_ns
        else:
            missed = (now_ns - self.next_tick_ns) // self.period_ns
            self.next_tick_ns += (missed + 1) * self.period_ns
            gap_ns = self.period_ns if self.last_tick_ns is None else now_ns - self.last_tick_ns
            self.tick_dt_s = max(gap_ns, 1) * 1e-9
            self.late_ticks += int(gap_ns > 1.5 * self.period_ns)
            self.last_tick_ns = now_ns
        return 0.0


class RateMeter:
    """The loop's achieved tick rate over windows of about window_s wall seconds."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = float(window_s)
        self.rate_hz = 0.0
        self._ticks = 0
        self._start_s: float | None = None

    def tick(self, now_s: float) -> None:
        if self._start_s is None:  # the first tick opens the window: count the ones after it
            self._start_s = now_s
            return
        self._ticks += 1
        if now_s - self._start_s >= self.window_s:
            self.rate_hz = self._ticks / (now_s - self._start_s)
            self._ticks, self._start_s = 0, now_s


class HoldMode:
    """Why the loop holds ("" when it controls); `change` says what to log on a transition."""

    def __init__(self) -> None:
        self.current = ""

    def change(self, hold: str | None) -> tuple[str, str] | None:
        """(level "info" | "warning", message) when the mode changes, else None. ESTOPPED is
        logged where the stop is latched."""
        new = hold or ""
        if new == self.current:
            return None
        old, self.current = self.current, new
        if not new:
            return "info", f"{old!r} over: control resumed"
        return None if new == ESTOPPED else ("warning", new)
