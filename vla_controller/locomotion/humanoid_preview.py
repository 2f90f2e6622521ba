"""LIPM + ZMP preview control (Kajita et al., ICRA 2003), per horizontal axis.

The cart-table model: CoM state x = [c, c_dot, c_ddot] on one axis, input = CoM jerk u, output
ZMP p = c - (z_c / g) c_ddot. Discretised at dt (exact for a piecewise-constant jerk):

    x[k+1] = A x[k] + B u[k],   p[k] = C x[k]

The controller is the optimal servo of Katayama et al.: it minimises
sum Q_e (p - p_ref)^2 + R (u[k] - u[k-1])^2 over an infinite horizon, of which the reference is
known N steps ahead. The gains come from the discrete algebraic Riccati equation of the system
augmented with the ZMP error, so the closed loop has integral action: in steady state the ZMP
equals the reference (tested in test_humanoid_walking.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

GRAVITY_M_S2 = 9.81


@dataclass(frozen=True)
class PreviewGains:
    """u[k] = -Gi sum_{i<=k} e[i] - Gx x[k] - sum_{j=1..N} Gp[j-1] p_ref[k+j]."""

    dt_s: float
    com_height_m: float
    A: np.ndarray  # 3x3
    B: np.ndarray  # 3
    C: np.ndarray  # 3
    Gi: float
    Gx: np.ndarray  # 3
    Gp: np.ndarray  # N preview gains on the future reference

    @property
    def n_preview(self) -> int:
        return int(self.Gp.size)


def cart_table_model(com_height_m: float, dt_s: float,
                     gravity_m_s2: float = GRAVITY_M_S2) -> tuple[np.ndarray, ...]:
    """(A, B, C) of the discrete cart-table model."""
    if not (com_height_m > 0 and dt_s > 0):
        raise ValueError("CoM height and dt must be positive")
    A = np.array([[1.0, dt_s, dt_s**2 / 2], [0.0, 1.0, dt_s], [0.0, 0.0, 1.0]])
    B = np.array([dt_s**3 / 6, dt_s**2 / 2, dt_s])
    C = np.array([1.0, 0.0, -com_height_m / gravity_m_s2])
    return A, B, C


def preview_gains(com_height_m: float, dt_s: float, horizon_s: float,
                  q_zmp: float = 1.0, r_jerk: float = 1e-6,
                  gravity_m_s2: float = GRAVITY_M_S2) -> PreviewGains:
    """Optimal preview gains from the Riccati equation of the ZMP-error-augmented system."""
    if not (horizon_s >= dt_s and q_zmp > 0 and r_jerk > 0):
        raise ValueError("need horizon >= dt, q_zmp > 0 and r_jerk > 0")
    A, B, C = cart_table_model(com_height_m, dt_s, gravity_m_s2)
    # augmented state [e, dx]: e = ZMP error, dx = x[k] - x[k-1]; input du
    At = np.zeros((4, 4))
    At[0, 0] = 1.0
    At[0, 1:] = C @ A
    At[1:, 1:] = A
    Bt = np.concatenate([[C @ B], B]).reshape(4, 1)
    Qt = np.diag([q_zmp, 0.0, 0.0, 0.0])
    Rt = np.array([[r_jerk]])
    P = scipy.linalg.solve_discrete_are(At, Bt, Qt, Rt)
    S = float(r_jerk + (Bt.T @ P @ Bt)[0, 0])
    K = (Bt.T @ P @ At).ravel() / S
    Ac = At - Bt @ K.reshape(1, 4)
    n = int(round(horizon_s / dt_s))
    Gp = np.empty(n)
    Gp[0] = -K[0]
    X = -Ac.T @ P @ np.array([1.0, 0.0, 0.0, 0.0])
    for j in range(1, n):
        Gp[j] = float(Bt.ravel() @ X) / S
        X = Ac.T @ X
    return PreviewGains(dt_s, com_height_m, A, B, C, float(K[0]), K[1:].copy(), Gp)


class PreviewController:
    """Both horizontal axes at once: the state is 3x2 (rows c, c_dot, c_ddot; columns x, y)."""

    def __init__(self, gains: PreviewGains) -> None:
        self.gains = gains
        self.state = np.zeros((3, 2))
        self._error_sum = np.zeros(2)
        self._state_before = self.state.copy()  # at the start of the last step
        self._jerk = np.zeros(2)  # applied during the last step

    def reset(self, com_xy: np.ndarray, com_velocity_xy: np.ndarray | None = None) -> None:
        """Start at rest (or with a velocity) with the ZMP under the CoM."""
        self.state = np.zeros((3, 2))
        self.state[0] = np.asarray(com_xy, float)[:2]
        if com_velocity_xy is not None:
            self.state[1] = np.asarray(com_velocity_xy, float)[:2]
        self._error_sum = np.zeros(2)
        self._state_before = self.state.copy()
        self._jerk = np.zeros(2)

    @property
    def zmp_xy(self) -> np.ndarray:
        return self.gains.C @ self.state

    def step(self, zmp_ref_xy: np.ndarray) -> np.ndarray:
        """Advance one dt. `zmp_ref_xy` is (N + 1) x 2: the reference now and N steps ahead.
        Returns the jerk applied (2)."""
        g = self.gains
        ref = np.asarray(zmp_ref_xy, float)
        if ref.shape != (g.n_preview + 1, 2) or not np.all(np.isfinite(ref)):
            raise ValueError(f"ZMP reference must be finite, shape {(g.n_preview + 1, 2)}")
        self._error_sum += self.zmp_xy - ref[0]
        # in coordinates relative to the reference now: the infinite-horizon law is translation
        # invariant (Gx[0] + sum Gp = 0); the truncated preview is not, and applied to absolute
        # positions it would kick the CoM by (Gx[0] + sum Gp) * position (a 9 cm ZMP jump at
        # start-up, 1.6 s horizon)
        rel = self.state.copy()
        rel[0] -= ref[0]
        jerk = -g.Gi * self._error_sum - g.Gx @ rel - g.Gp @ (ref[1:] - ref[0])
        self._state_before, self._jerk = self.state, jerk
        self.state = g.A @ self.state + np.outer(g.B, jerk)
        return jerk

    def interpolate(self, tau_s: float) -> np.ndarray:
        """CoM [position, velocity, acceleration] (3x2) tau_s into the last step (0 <= tau_s <=
        dt): exact under its constant jerk, for a control loop faster than the preview."""
        tau_s = min(max(tau_s, 0.0), self.gains.dt_s)
        c, v, a = self._state_before
        j = self._jerk
        return np.array([c + v * tau_s + a * tau_s**2 / 2 + j * tau_s**3 / 6,
                         v + a * tau_s + j * tau_s**2 / 2,
                         a + j * tau_s])
