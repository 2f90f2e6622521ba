"""Pinhole camera geometry shared by the simulator and perception (one source of truth).

The optical frame follows ROS: z forward (optical axis), x right, y down in the image.
Pixel coordinates follow OpenCV/ROS CameraInfo: integer (u, v) is the centre of pixel
[row v, column u], so the principal point of a W x H image is ((W-1)/2, (H-1)/2) and
`np.rint(uv)` gives the pixel index of a projected point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CameraModel:
    width: int
    height: int
    fovy_deg: float
    position_base_m: tuple[float, float, float]
    look_at_base_m: tuple[float, float, float]
    frame_id: str = "camera_color_optical_frame"

    def __post_init__(self) -> None:
        if not (isinstance(self.width, int) and isinstance(self.height, int)
                and self.width > 0 and self.height > 0):
            raise ValueError(f"camera width/height must be positive ints, got "
                             f"{self.width}x{self.height}")
        if not (math.isfinite(self.fovy_deg) and 1.0 <= self.fovy_deg <= 170.0):
            raise ValueError(f"fovy_deg must be in 1..170, got {self.fovy_deg}")
        eye, target = np.asarray(self.position_base_m), np.asarray(self.look_at_base_m)
        if eye.shape != (3,) or target.shape != (3,) or not np.all(np.isfinite(eye - target)):
            raise ValueError("camera position/look_at must be 3 finite numbers each")
        forward = target - eye
        if np.linalg.norm(forward) < 1e-6:
            raise ValueError("camera look_at must differ from its position")
        if np.linalg.norm(np.cross(forward, [0.0, 0.0, 1.0])) < 1e-6 * np.linalg.norm(forward):
            raise ValueError("camera must not look straight up or down (world z is its up)")

    @classmethod
    def from_profile(cls, camera: dict[str, Any]) -> CameraModel:
        """Build from a robot profile's `camera:` block."""
        try:
            return cls(width=int(camera["width"]), height=int(camera["height"]),
                       fovy_deg=float(camera["fovy_deg"]),
                       position_base_m=tuple(float(v) for v in camera["position_base_m"]),
                       look_at_base_m=tuple(float(v) for v in camera["look_at_base_m"]),
                       frame_id=str(camera.get("frame_id", "camera_color_optical_frame")))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad camera block {camera!r}: {exc}") from exc

    @property
    def focal_px(self) -> float:
        return 0.5 * self.height / math.tan(math.radians(self.fovy_deg) / 2)

    @property
    def K(self) -> np.ndarray:
        """3x3 intrinsics; square pixels, principal point at the image centre."""
        f = self.focal_px
        cx, cy = self.principal_point_px
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])

    @property
    def principal_point_px(self) -> tuple[float, float]:
        return ((self.width - 1) / 2, (self.height - 1) / 2)

    @property
    def R_base_optical(self) -> np.ndarray:
        """Rotation whose columns are the optical x (right), y (down), z (forward) in base."""
        eye, target = np.asarray(self.position_base_m), np.asarray(self.look_at_base_m)
        z = (target - eye) / np.linalg.norm(target - eye)
        x = np.cross(z, [0.0, 0.0, 1.0])  # right = forward x up
        x /= np.linalg.norm(x)
        y = np.cross(z, x)  # down
        return np.column_stack([x, y, z])

    @property
    def T_base_optical(self) -> np.ndarray:
        """4x4 pose of the optical frame in the base frame."""
        t = np.eye(4)
        t[:3, :3] = self.R_base_optical
        t[:3, 3] = self.position_base_m
        return t

    def project(self, points_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points (N,3) or (3,) in base -> (pixels (N,2) as u, v; depth_m (N,) along the axis).

        Points behind the camera get NaN pixels.
        """
        pts = np.asarray(points_base, dtype=float)
        single = pts.ndim == 1
        pts = np.atleast_2d(pts)
        if pts.shape[1] != 3 or not np.all(np.isfinite(pts)):
            raise ValueError(f"points_base must be finite (N,3), got shape {pts.shape}")
        rot = self.R_base_optical
        pts_opt = (pts - np.asarray(self.position_base_m)) @ rot
        depth_m = pts_opt[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = pts_opt[:, :2] / depth_m[:, None] * self.focal_px
        uv += self.principal_point_px
        uv[depth_m <= 0] = np.nan
        return (uv[0], depth_m[0]) if single else (uv, depth_m)

    def deproject(self, u: np.ndarray | float, v: np.ndarray | float,
                  depth_m: np.ndarray | float) -> np.ndarray:
        """Pixels (u, v) and z-depth along the optical axis -> points in base, shape (..., 3)."""
        u, v, d = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float),
                                      np.asarray(depth_m, float))
        f = self.focal_px
        cx, cy = self.principal_point_px
        pts_opt = np.stack([(u - cx) / f * d, (v - cy) / f * d, d], -1)
        return pts_opt @ self.R_base_optical.T + np.asarray(self.position_base_m)
