"""Pixel colour naming for the scene palette (red green blue yellow orange purple white black).

Chromatic colours are told apart by hue, which survives the shading of side faces much
better than an RGB or Lab distance does; white and black by brightness among the
unsaturated pixels. Mid-grey pixels (the robot, the table, shadows) get no colour at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Label 0 is "no colour"; the palette's labels are 1..8 in this order.
COLOR_NAMES: tuple[str, ...] = (
    "red", "orange", "yellow", "green", "blue", "purple", "white", "black",
)
NO_COLOR = 0
# Over-exposed colourful pixels: one channel clipped, so the hue is shifted (a lit orange
# top reads yellow). They take the colour of the nearest trustworthy pixel instead.
UNCERTAIN = 255

# Display colours (0..1) for markers and SceneObject.rgba; not used for classification.
PALETTE_RGB: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.10, 0.10),
    "orange": (1.00, 0.50, 0.05),
    "yellow": (0.95, 0.85, 0.10),
    "green": (0.10, 0.70, 0.15),
    "blue": (0.10, 0.25, 0.85),
    "purple": (0.55, 0.15, 0.70),
    "white": (0.95, 0.95, 0.95),
    "black": (0.05, 0.05, 0.05),
}


@dataclass(frozen=True)
class ColorThresholds:
    """Hue boundaries (degrees, 0..360) and brightness limits, all tunable per camera."""

    # Upper hue bound of each chromatic colour, walking the hue circle from red upwards;
    # hues above the last bound wrap back to red.
    red_max_deg: float = 16.0
    orange_max_deg: float = 42.0
    yellow_max_deg: float = 80.0
    green_max_deg: float = 175.0
    blue_max_deg: float = 258.0
    purple_max_deg: float = 335.0
    min_saturation: float = 0.35   # below this a pixel is white, black or grey
    min_value_chromatic: float = 0.12
    black_max_value: float = 0.16  # darker than this is black whatever the hue
    white_min_value: float = 0.62
    white_max_saturation: float = 0.22
    clip_level: int = 250           # a channel at or above this is taken as clipped


def _hue_lut(th: ColorThresholds) -> np.ndarray:
    """256-entry table: OpenCV's full-range hue byte -> colour label."""
    hue_deg = np.arange(256) * (360.0 / 256.0)
    bounds = [th.red_max_deg, th.orange_max_deg, th.yellow_max_deg, th.green_max_deg,
              th.blue_max_deg, th.purple_max_deg]
    lut = np.searchsorted(np.asarray(bounds), hue_deg, side="right") + 1
    lut[lut == 7] = 1  # wrap-around: past purple is red again
    return lut.astype(np.uint8)


class PixelColorizer:
    """Labels pixels with palette indices; keeps its lookup table between frames."""

    def __init__(self, thresholds: ColorThresholds | None = None) -> None:
        self.thresholds = thresholds or ColorThresholds()
        self._lut = _hue_lut(self.thresholds)

    def classify(self, pix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, hue_deg) of (N, 3) uint8 RGB pixels.

        Labels: 0 none, 1..8 COLOR_NAMES index + 1, UNCERTAIN (colourful but clipped).
        """
        pix = np.ascontiguousarray(pix, dtype=np.uint8).reshape(-1, 1, 3)
        hsv = cv2.cvtColor(pix, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3)
        th = self.thresholds
        sat = hsv[:, 1].astype(np.float32) / 255.0
        val = hsv[:, 2].astype(np.float32) / 255.0
        labels = np.zeros(len(hsv), dtype=np.uint8)
        chroma = (sat >= th.min_saturation) & (val >= th.min_value_chromatic)
        labels[chroma] = self._lut[hsv[chroma, 0]]
        clipped = chroma & (pix.reshape(-1, 3).max(axis=1) >= th.clip_level)
        labels[clipped] = UNCERTAIN
        white = ~chroma & (sat <= th.white_max_saturation) & (val >= th.white_min_value)
        labels[white] = COLOR_NAMES.index("white") + 1
        labels[val < th.black_max_value] = COLOR_NAMES.index("black") + 1
        return labels, hsv[:, 0].astype(np.float32) * (360.0 / 256.0)

    def label_pixels(self, rgb: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Colour labels (see `classify`) of the given pixels of an H x W x 3 image."""
        return self.classify(rgb[rows, cols])[0]

    def hue_labels(self, hue_deg: np.ndarray) -> np.ndarray:
        """Palette labels of hues (degrees), ignoring saturation and exposure."""
        idx = (np.asarray(hue_deg) * (256.0 / 360.0)).astype(np.int32) % 256
        return self._lut[idx]

    def hue_label(self, hue_deg: float) -> int:
        """Palette label of a hue, ignoring saturation and exposure."""
        return int(self._lut[int(hue_deg * 256.0 / 360.0) % 256])


def circular_mean_deg(hue_deg: np.ndarray) -> float:
    rad = np.deg2rad(np.asarray(hue_deg, dtype=np.float64))
    return float(np.rad2deg(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())) % 360.0)


def clip_compatible(seen_hue_deg: float, true_hue_deg: float, tol_deg: float = 10.0) -> bool:
    """Could a pixel of hue true_hue_deg read as seen_hue_deg once its top channel clipped?

    Clipping the largest channel raises the middle one relative to it, which drags the hue
    towards the nearest secondary colour (yellow 60, cyan 180, magenta 300) of its sector.
    """
    secondary = 60.0 * (2 * (int(true_hue_deg // 60) // 2) + 1)
    span = (secondary - true_hue_deg + 180.0) % 360.0 - 180.0  # signed, true -> secondary
    off = (seen_hue_deg - true_hue_deg + 180.0) % 360.0 - 180.0
    if span < 0:
        span, off = -span, -off
    return -tol_deg <= off <= span + tol_deg


def color_name(label: int) -> str:
    """Palette name of a label from `PixelColorizer.label_pixels` ("" for no colour)."""
    return COLOR_NAMES[label - 1] if 1 <= label <= len(COLOR_NAMES) else ""


def nearest_palette_name(rgb01: tuple[float, float, float] | np.ndarray) -> str:
    """Palette name for an arbitrary colour given as RGB in 0..1 (scene files allow those)."""
    arr = np.clip(np.asarray(rgb01, dtype=np.float64).reshape(3), 0.0, 1.0)
    pix = (arr * 255.0 + 0.5).astype(np.uint8).reshape(1, 1, 3)
    label = int(PixelColorizer().label_pixels(pix, np.array([0]), np.array([0]))[0])
    if label == UNCERTAIN:
        label = int(PixelColorizer(ColorThresholds(clip_level=256)).label_pixels(
            pix, np.array([0]), np.array([0]))[0])
    if label:
        return color_name(label)
    return "white" if arr.mean() >= 0.5 else "black"  # greys: whichever end is nearer
