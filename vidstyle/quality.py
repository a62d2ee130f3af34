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
