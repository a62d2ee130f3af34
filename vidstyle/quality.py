"""Image measures of a stylized result that the VGG distances do not see."""

from __future__ import annotations

import cv2
import numpy as np

#: longest side at which edges are compared: the scene's shapes, not the brush strokes
STRUCTURE_SIZE = 128


def _edges(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy).ravel()


def structure(photo: np.ndarray, stylized: np.ndarray) -> float:
    """Pearson correlation of the Sobel gradient magnitudes of the grey photo and result.

    Both are resized (area interpolation) to :data:`STRUCTURE_SIZE` px on the longest side
    of the photo, so texture finer than that does not count. 1.0 keeps every edge of the
    scene; a flat image, or one whose edges are unrelated to the photo's, scores about 0.
    A style distance can be met by dissolving the scene; this cannot.
    """
    h, w = photo.shape[:2]
    scale = STRUCTURE_SIZE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    a, b = _edges(photo, size), _edges(stylized, size)
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0


#: longest side at which colours are compared: enough pixels for the palette, few enough to be quick
PALETTE_SIZE = 256
#: random unit directions in CIELAB onto which the two colour clouds are projected
PALETTE_DIRECTIONS = 256


def lab_pixels(image: np.ndarray, size: int = PALETTE_SIZE) -> np.ndarray:
    """The pixels of an RGB uint8 image, scaled to ``size`` px on its longest side, as CIELAB
    (L in 0..100, a and b about -128..127): N x 3 float32."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    size_wh = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab.reshape(-1, 3)


def palette_distance(result: np.ndarray, painting: np.ndarray, seed: int = 0) -> float:
    """Sliced Wasserstein distance, in CIELAB units, between the colours of two RGB images.

    Each image is scaled to :data:`PALETTE_SIZE` px on its longest side; both colour clouds
    are projected onto :data:`PALETTE_DIRECTIONS` random unit directions and the sorted
    projections compared at the same quantiles (mean absolute difference). 0 means the same
    colours in the same proportions, wherever they are; an orange wash scores far from a
    painting that is orange *and* blue-black, which a Gram ratio can miss.
    """
    a, b = lab_pixels(result), lab_pixels(painting)
    directions = np.random.default_rng(seed).normal(size=(PALETTE_DIRECTIONS, 3)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    n = min(len(a), len(b))
    pa, pb = (_sorted_at(np.sort(x @ directions.T, axis=0), n) for x in (a, b))
    return float(np.abs(pa - pb).mean())


def _sorted_at(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` evenly spaced quantiles of each column of the sorted ``values`` (linear interpolation)."""
    if len(values) == n:
        return values
    position = np.linspace(0, len(values) - 1, n)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(values) - 1)
    frac = (position - low)[:, None].astype(np.float32)
    return values[low] * (1 - frac) + values[high] * frac
