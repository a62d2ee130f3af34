"""Flow-guided temporal blending: steadier fast-mode video at little cost.

Each new stylized frame is blended with the previous output carried onto it by optical
flow, only where the flow passes the forward-backward consistency check, so moving edges
and disocclusions do not ghost. A scene cut (a large change between source frames) drops
the history. Flows and the check run on small grey copies of the frames (256 px); the
warp and the blend work on the network's pictures at the size it paints them (half size
for HD by default), a band of rows at a time (:func:`carry`), before they are scaled to
the frame; so the blending costs little next to the network and holds no full-size float
maps.
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np

from ..defaults import DEFAULT_WEIGHT
from ..io.frames import Stylizer
from ..io.images import resize_max
from ..settings import Look
from .base import BaseStylizer, Paint, as_stylizer
from .flow import consistency_mask, dis_flow, to_gray

#: mean absolute grey difference (0-255) between consecutive frames taken as a scene cut
SCENE_CUT = 40.0
#: pixels in a band of rows that :func:`carry` warps and blends at once: its float maps
#: (16 bytes a pixel) stay in the CPU's cache instead of 0.13 GB for a whole 4K frame
BAND_PIXELS = 2**16


def carry(previous: np.ndarray, stylized: np.ndarray, flow: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * previous + (1 - alpha) * stylized``, ``previous`` moved onto ``stylized``
    by ``flow``, where ``flow`` (this frame to the previous one, in its own pixels) and
    ``alpha`` are small fields that are scaled up to the frame as they are used.

    A band of rows at a time: each band's flow and weights are interpolated from the
    small fields as :func:`cv2.resize` would (bilinear, pixel centres aligned) and the
    previous output is sampled at the carried coordinates, so that no full-size float map
    is ever made.
    """
    height, width = stylized.shape[:2]
    sy, sx = flow.shape[0] / height, flow.shape[1] / width  # small pixels per full-size one
    displacement = flow * np.float32([1 / sx, 1 / sy])  # in full-size pixels
    rows = max(1, BAND_PIXELS // width)
    grid = _band_grid(width, rows)
    out = np.empty_like(stylized)
    for top in range(0, height, rows):
        n = min(rows, height - top)
        # full-size pixel (x, top + y) samples the small fields at ((x + .5) sx - .5, ...)
        to_small = np.float32([[sx, 0, 0.5 * sx - 0.5], [0, sy, (top + 0.5) * sy - 0.5]])
        flags, border = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, cv2.BORDER_REPLICATE
        where = cv2.warpAffine(displacement, to_small, (width, n), flags=flags, borderMode=border)
        keep = cv2.warpAffine(alpha, to_small, (width, n), flags=flags, borderMode=border)
        where += grid[:n]
        where[..., 1] += top
        moved = cv2.remap(previous, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[top : top + n] = cv2.blendLinear(moved, stylized[top : top + n], keep, 1 - keep)
    return out


@functools.lru_cache(maxsize=4)
def _band_grid(width: int, rows: int) -> np.ndarray:
    """``rows x width x 2`` pixel coordinates (x, y) of a band starting at row 0, read-only."""
    grid = np.dstack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(rows, dtype=np.float32)))
    grid.flags.writeable = False
    return grid


def is_scene_cut(a: np.ndarray, b: np.ndarray, threshold: float = SCENE_CUT) -> bool:
    """True when two source frames (RGB, or grey copies of any size) are too different to
    share history."""
    small = [cv2.resize(to_gray(x), (64, 36), interpolation=cv2.INTER_AREA) for x in (a, b)]
    return float(np.mean(cv2.absdiff(small[0], small[1]))) > threshold


class TemporalBlender(BaseStylizer):
    """Wraps a stylizer: paints with it, blends each picture with the previous output, then
    finishes with it; frames must arrive in display order (:attr:`sequential_finish`).

    Args:
        inner: the per-frame stylizer (a plain function paints, see
            :func:`~vidstyle.stylizers.base.as_stylizer`).
        weight: how much of the warped previous output to keep on consistent pixels
            (0 = off, per-frame output; towards 1 = steadier, slower to follow changes;
            :class:`~vidstyle.settings.NetworkSettings` checks the range users may give).
        flow_size: longest side at which the flow is computed.
    """

    sequential_finish = True

    def __init__(self, inner: Stylizer | Paint, weight: float = DEFAULT_WEIGHT, flow_size: int = 256) -> None:
        self.inner, self.weight, self.flow_size = as_stylizer(inner), weight, flow_size
        # ULTRAFAST at 256 px: 5 ms a frame; the consistency check rejects what it gets wrong
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        #: previous (frame shape, small grey source, output)
        self._prev: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def device(self) -> Any:
        return self.inner.device

    def reset(self) -> None:
        self._prev = None
        self.inner.reset()

    def cancel(self) -> None:
        self.inner.cancel()

    def blend(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """One frame's stylization blended with the previous one's (both at one size,
        any size: the flow follows ``source``)."""
        if self.weight == 0:
            return stylized
        prev = self._prev
        out = stylized
        small = resize_max(to_gray(source), self.flow_size)  # grey first: a third of the pixels
        if prev is not None and prev[0] == stylized.shape and not is_scene_cut(prev[1], small):
            forward = dis_flow(self._dis, small, prev[1])  # this frame -> the previous one
            backward = dis_flow(self._dis, prev[1], small)
            out = carry(prev[2], stylized, forward, self.weight * consistency_mask(forward, backward))
        self._prev = (stylized.shape, small, out)
        return out

    def paint(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """The inner stylizer's pictures before they are brought to the frames' size
        (:meth:`FastStylizer.paint`)."""
        return self.inner.paint(frames)

    def finish(self, painted: np.ndarray, source: np.ndarray, look: Look) -> np.ndarray:
        """The output for ``source``: its painted picture blended, then finished in ``look``
        by the inner stylizer (:meth:`FastStylizer.finish` brings it to the frame). The look
        comes after the blend, so the history is the style's alone whatever the look."""
        return self.inner.finish(self.blend(source, painted), source, look)
