"""Minimum-jerk Cartesian pose trajectories.

Translation moves on the straight segment start -> end; rotation moves on the SO(3) geodesic
R(s) = R0 exp3(s log3(R0^T R1)). Decoupling the two (rather than one screw motion via log6)
keeps the tool on a straight line, which is what an approach or a lift needs. Both share one
time scaling s(t), so they start and stop together with zero velocity and acceleration.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from vla_controller.tasks import check_pose

# Peak of ds/dtau for the min-jerk profile 10 tau^3 - 15 tau^4 + 6 tau^5 (at tau = 0.5).
MIN_JERK_PEAK_RATE = 1.875


def min_jerk(tau: float) -> tuple[float, float]:
    """(s, ds/dtau) of the min-jerk time scaling, tau clamped to [0, 1]."""
    tau = min(max(tau, 0.0), 1.0)
    s = tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)
    ds = 30.0 * tau**2 * (1.0 - tau) ** 2
    return s, ds


class MinJerkPoseTrajectory:
    """Pose trajectory from ``start_pose`` to ``end_pose`` within speed limits.

    The duration is the shortest for which the peak linear speed is <= max_linear_speed_mps
    and the peak angular speed <= max_angular_speed_radps (and at least min_duration_s).
    """

    def __init__(
        self,
        start_pose: pin.SE3,
        end_pose: pin.SE3,
        max_linear_speed_mps: float,
        max_angular_speed_radps: float,
        min_duration_s: float = 0.0,
    ) -> None:
        for value, what in (
            (max_linear_speed_mps, "max_linear_speed_mps"),
            (max_angular_speed_radps, "max_angular_speed_radps"),
        ):
            if not (np.isfinite(value) and value > 0.0):
                raise ValueError(f"{what} must be finite and > 0, got {value}")
        if not (np.isfinite(min_duration_s) and min_duration_s >= 0.0):
            raise ValueError(f"min_duration_s must be >= 0, got {min_duration_s}")
        self.start_pose = check_pose(start_pose, "start_pose")
        self.end_pose = check_pose(end_pose, "end_pose")
        self._delta_p = self.end_pose.translation - self.start_pose.translation
        self._delta_r = pin.log3(self.start_pose.rotation.T @ self.end_pose.rotation)
        self.distance_m = float(np.linalg.norm(self._delta_p))
        self.angle_rad = float(np.linalg.norm(self._delta_r))
        self.duration_s = max(
            MIN_JERK_PEAK_RATE * self.distance_m / max_linear_speed_mps,
            MIN_JERK_PEAK_RATE * self.angle_rad / max_angular_speed_radps,
            min_duration_s,
        )

    def _tau(self, t_s: float) -> float:
        if not np.isfinite(t_s):
            raise ValueError(f"t_s must be finite, got {t_s}")
        return 1.0 if self.duration_s <= 0.0 else t_s / self.duration_s

    def sample(self, t_s: float) -> pin.SE3:
        """Pose at time t_s after the start (clamped to the end points)."""
        s, _ = min_jerk(self._tau(t_s))
        rotation = self.start_pose.rotation @ pin.exp3(s * self._delta_r)
        return pin.SE3(rotation, self.start_pose.translation + s * self._delta_p)

    def velocity(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(linear m/s, angular rad/s) in base axes at t_s."""
        if self.duration_s <= 0.0:
            return np.zeros(3), np.zeros(3)
        s, ds = min_jerk(self._tau(t_s))
        rate = ds / self.duration_s
        rotation = self.start_pose.rotation @ pin.exp3(s * self._delta_r)
        # The body-axis rotation vector is constant along the geodesic: map it to base axes.
        return rate * self._delta_p, rate * (rotation @ self._delta_r)

    def done(self, t_s: float) -> bool:
        return t_s >= self.duration_s
