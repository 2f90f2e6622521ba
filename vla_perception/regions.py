"""Colour regions of one frame: connected components per colour, plus over-exposed blobs.

Lit top faces often clip (a channel at 255), which shifts their hue: an orange top reads
yellow. Such blobs are given to the neighbouring region they are continuous with in depth
and whose hue clipping could have turned into theirs; only if there is none do they stand
as a region of the colour they show.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import find_objects

from vla_perception.colors import (
    COLOR_NAMES,
    UNCERTAIN,
    PixelColorizer,
    circular_mean_deg,
    clip_compatible,
)

_CHROMATIC = {COLOR_NAMES.index(c) + 1 for c in COLOR_NAMES if c not in ("white", "black")}
_SHIFTS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass
class Regions:
    ids: np.ndarray            # (H, W) int32 region id per pixel, 0 = none
    labels: list[int]          # colour label per region id (index 0 unused)


def colour_regions(labels: np.ndarray, hue_deg: np.ndarray, depth_m: np.ndarray,
                   colorizer: PixelColorizer, depth_step_m: float = 0.012,
                   foreground: np.ndarray | None = None) -> Regions:
    """Regions of one colour each from a label image (see `PixelColorizer.classify`).

    foreground marks the pixels that may belong to objects; its colourless ones are given
    to the regions they adjoin.
    """
    ids = np.zeros(labels.shape, dtype=np.int32)
    region_labels = [0]
    region_hues = [np.nan]
    for label in np.unique(labels):
        if label in (0, UNCERTAIN):
            continue
        n, cc = cv2.connectedComponents((labels == label).astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        mask = cc > 0
        ids[mask] = cc[mask] + (len(region_labels) - 1)
        region_labels.extend([int(label)] * (n - 1))
        if label in _CHROMATIC:
            region_hues.extend(_region_hues(cc, n, hue_deg))
        else:
            region_hues.extend([np.nan] * (n - 1))
    if (labels == UNCERTAIN).any():
        clipped = np.where(labels == UNCERTAIN, colorizer.hue_labels(hue_deg), 0)
        blobs, count = _blobs(clipped.astype(np.uint8), depth_m, depth_step_m)
        _attach(ids, region_labels, region_hues, blobs, count, hue_deg, depth_m, colorizer,
                depth_step_m)
    if foreground is not None:
        grey = (foreground & (labels == 0)).astype(np.uint8)
        if grey.any():
            blobs, count = _blobs(grey, depth_m, depth_step_m)
            _attach(ids, region_labels, region_hues, blobs, count, None, depth_m, colorizer,
                    depth_step_m)
    _merge_touching(ids, np.asarray(region_labels), depth_m, depth_step_m)
    return Regions(ids, region_labels)


def _merge_touching(ids: np.ndarray, region_labels: np.ndarray, depth_m: np.ndarray,
                    depth_step_m: float) -> None:
    """Join same-coloured regions that touch without a depth jump (e.g. a bin's outer and
    inner walls, which only its clipped rim connects)."""
    pairs = []
    with np.errstate(invalid="ignore"):
        for a, b in (((slice(None), slice(0, -1)), (slice(None), slice(1, None))),
                     ((slice(0, -1), slice(None)), (slice(1, None), slice(None)))):
            ia, ib = ids[a], ids[b]
            m = (ia > 0) & (ib > 0) & (ia != ib)
            m[m] &= region_labels[ia[m]] == region_labels[ib[m]]
            m[m] &= np.abs(depth_m[a][m] - depth_m[b][m]) <= depth_step_m
            if m.any():
                pairs.append(np.unique(np.stack([ia[m], ib[m]], axis=1), axis=0))
    if not pairs:
        return
    parent = np.arange(len(region_labels))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in np.concatenate(pairs):
        ri, rj = root(int(i)), root(int(j))
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([root(i) for i in range(len(parent))])
    ids[:] = roots[ids]


def _region_hues(cc: np.ndarray, n: int, hue_deg: np.ndarray) -> list[float]:
    """Circular mean hue per component 1..n-1 (vectorised over components)."""
    mask = cc > 0
    k = cc[mask]
    rad = np.deg2rad(hue_deg[mask].astype(np.float64))
    s = np.bincount(k, np.sin(rad), minlength=n)[1:]
    c = np.bincount(k, np.cos(rad), minlength=n)[1:]
    return list(np.rad2deg(np.arctan2(s, c)) % 360.0)


def _blobs(classes: np.ndarray, depth_m: np.ndarray,
           depth_step_m: float) -> tuple[np.ndarray, int]:
    """Connected blobs of equal class (0 = none) that are continuous in depth.

    Where two neighbours of one class jump in depth, the farther pixel is cut, so a blob
    never spans a front object and the one behind it.
    """
    classes = classes.copy()
    cut = np.zeros(classes.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = (slice(0, classes.shape[0] - dy),
                 slice(max(-dx, 0), classes.shape[1] - max(dx, 0)))
            b = (slice(dy, None), slice(max(dx, 0), classes.shape[1] - max(-dx, 0) or None))
            jump = (classes[a] > 0) & (classes[a] == classes[b]) & (
                np.abs(depth_m[a] - depth_m[b]) > depth_step_m)
            a_far = depth_m[a] > depth_m[b]
            cut[a] |= jump & a_far
            cut[b] |= jump & ~a_far
    classes[cut] = 0
    blobs = np.zeros(classes.shape, dtype=np.int32)
    count = 0
    for label in np.unique(classes):
        if label == 0:
            continue
        n, cc = cv2.connectedComponents((classes == label).astype(np.uint8), connectivity=4)
        mask = cc > 0
        blobs[mask] = cc[mask] + count
        count += n - 1
    return blobs, count


def _attach(ids: np.ndarray, region_labels: list[int], region_hues: list[float],
            blobs: np.ndarray, count: int, hue_deg: np.ndarray | None, depth_m: np.ndarray,
            colorizer: PixelColorizer, depth_step_m: float) -> None:
    """Give each blob to the region it touches most without a depth jump.

    Clipped blobs (hue_deg given) only join regions whose hue clipping could have turned
    into theirs, and otherwise stand alone with the colour they show. Colourless blobs
    (shaded sides of white objects, highlights on black ones) join any region not much
    smaller than themselves, and otherwise stay out.
    """
    height, width = ids.shape
    kernel = np.ones((3, 3), np.uint8)
    sizes = np.bincount(ids.ravel()) if hue_deg is None else None
    for b, sl in enumerate(find_objects(blobs, count), start=1):
        if sl is None:
            continue
        y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, height)
        x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, width)
        blob = blobs[y0:y1, x0:x1] == b
        blob_hue = None if hue_deg is None else circular_mean_deg(hue_deg[y0:y1, x0:x1][blob])
        ring = (cv2.dilate(blob.astype(np.uint8), kernel) > 0) & ~blob
        local_ids = ids[y0:y1, x0:x1]
        ring &= local_ids > 0
        best = 0
        if ring.any():
            continuous = ring & (_depth_gap_to(blob, depth_m[y0:y1, x0:x1]) <= depth_step_m)
            cand, counts = np.unique(local_ids[continuous], return_counts=True)
            for rid in cand[np.argsort(-counts)]:
                if blob_hue is None:
                    ok = 2 * sizes[rid] >= blob.sum() if rid < len(sizes) else False
                else:
                    ok = not np.isnan(region_hues[rid]) and clip_compatible(
                        blob_hue, region_hues[rid])
                if ok:
                    best = int(rid)
                    break
        if best == 0 and blob_hue is not None:
            region_labels.append(colorizer.hue_label(blob_hue))
            region_hues.append(blob_hue)
            best = len(region_labels) - 1
        if best:
            local_ids[blob] = best


def _depth_gap_to(blob: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Per pixel, the smallest depth difference to an 8-neighbour inside the blob."""
    padded = np.pad(np.where(blob, depth, np.nan), 1, constant_values=np.nan)
    h, w = blob.shape
    gap = np.full(blob.shape, np.inf, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        for dy, dx in _SHIFTS:
            neighbour = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            diff = np.abs(depth - neighbour)
            gap = np.where(diff < gap, diff, gap)  # NaN comparisons are False: kept inf
    return gap
