"""Dense optical flow between frames, warping, and the flow consistency check.

Used to carry a stylized frame onto the next one (HQ mode's warm start and temporal
loss) and to measure temporal stability (:func:`warping_error`).

Convention: a flow ``f`` from image ``a`` to image ``b`` is an ``H x W x 2`` float32 array
(x, y displacements in pixels of ``a``) with ``a[y, x] ~ b[y + f[y, x, 1], x + f[y, x, 0]]``,
so :func:`warp` ``(b, f)`` resamples ``b`` onto ``a``'s pixel grid.
Only OpenCV's DIS and Farneback methods are used: no model to download.
"""

from __future__ import annotations

import functools
from typing import Literal

import cv2
import numpy as np

from ..io.images import pad_min, resize_max

FlowMethod = Literal["dis", "farneback"]
FLOW_METHODS: tuple[str, ...] = ("dis", "farneback")
#: the smallest side given to OpenCV's DIS optical flow: it refuses frames under 12 pixels
#: and (OpenCV 5.0) crashes on ones under 32 when the other side is a few times longer;
#: 32 held for every length tried, up to 16384
DIS_MIN_SIDE = 32


def to_gray(image: np.ndarray) -> np.ndarray:
    """A grey copy of an RGB image; a grey image as it is."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def compute_flow(
    a: np.ndarray, b: np.ndarray, method: FlowMethod = "dis", max_size: int | None = None
) -> np.ndarray:
    """The flow from ``a`` to ``b`` (RGB or grey uint8, same size), at ``a``'s full size.

    ``max_size`` computes it on copies downscaled to that longest side (faster, and
    smoother on large frames), then scales the field back up.
    """
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"flow needs images of the same size, got {a.shape[:2]} and {b.shape[:2]}")
    h, w = a.shape[:2]
    small_a, small_b = to_gray(resize_max(a, max_size)), to_gray(resize_max(b, max_size))
    if method == "dis":
        flow = dis_flow(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), small_a, small_b)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(small_a, small_b, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    else:
        raise ValueError(f"unknown flow method {method!r} (choose from {', '.join(FLOW_METHODS)})")
    return resize_flow(flow, w, h)


def dis_flow(dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``dis.calc(a, b)`` for grey images of any size: ones thinner than
    :data:`DIS_MIN_SIDE` are padded and the flow cropped back."""
    height, width = a.shape[:2]
    flow = dis.calc(pad_min(a, DIS_MIN_SIDE), pad_min(b, DIS_MIN_SIDE), None)
    return flow[:height, :width]


def resize_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """A flow field resampled to ``width x height``, its displacements scaled to match."""
    sh, sw = flow.shape[:2]
    if (sh, sw) != (height, width):  # scale the small field, then resize: cheaper
        scale = np.array([width / sw, height / sh], np.float32)
        flow = cv2.resize(flow * scale, (width, height), interpolation=cv2.INTER_LINEAR)
    return flow.astype(np.float32, copy=False)


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> np.ndarray:
    """``H x W x 2`` pixel coordinates (x, y), read-only."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.dstack([grid_x, grid_y])
    grid.flags.writeable = False
    return grid


def warp(image: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Sample ``image`` at ``p + flow[p]`` for every pixel ``p`` (bilinear, same dtype).

    With ``flow`` from ``a`` to ``b``, ``warp(b, flow)`` is ``b`` moved onto ``a``.
    """
    coords = _pixel_grid(*flow.shape[:2]) + flow  # one two-channel map: no strided copies
    return cv2.remap(image, coords, None, cv2.INTER_LINEAR, borderMode=border)


#: central differences, as np.gradient inside the image (borders reflect)
_DX = np.array([[-0.5, 0.0, 0.5]], np.float32)
_DY = _DX.T.copy()


def _sq_norm(field: np.ndarray) -> np.ndarray:
    """Per-pixel squared length of an ``H x W x 2`` field."""
    return np.square(field[..., 0]) + np.square(field[..., 1])  # ~10x faster than einsum here


def consistency_mask(forward: np.ndarray, backward: np.ndarray, motion_boundaries: bool = True) -> np.ndarray:
    """Where the flow ``a -> b`` (``forward``) can be trusted: a float32 ``H x W`` mask of 0/1.

    Forward-backward check (Sundaram et al. 2010, as used by Ruder et al. 2016): following
    ``forward`` and then ``backward`` (the flow ``b -> a``) must come back, up to
    ``|f + b'|^2 <= 0.01 (|f|^2 + |b'|^2) + 0.5`` where ``b'`` is ``backward`` warped onto
    ``a``. It fails on pixels of ``a`` hidden in ``b`` (occlusions) and where the flow is
    wrong. ``motion_boundaries`` also rejects ``|grad b'|^2 > 0.01 |b'|^2 + 0.002``, where
    the flow is unreliable.
    """
    back = warp(backward, forward)
    round_trip = _sq_norm(forward + back)
    ok = round_trip <= 0.01 * (_sq_norm(forward) + _sq_norm(back)) + 0.5
    if motion_boundaries:
        gradient = _sq_norm(cv2.filter2D(back, -1, _DX)) + _sq_norm(cv2.filter2D(back, -1, _DY))
        ok &= gradient <= 0.01 * _sq_norm(back) + 0.002
    return ok.astype(np.float32)


def consistent_flow(
    a: np.ndarray, b: np.ndarray, method: FlowMethod = "dis", max_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The flow from ``a`` to ``b`` and its :func:`consistency_mask` (on ``a``'s grid)."""
    forward = compute_flow(a, b, method, max_size)
    backward = compute_flow(b, a, method, max_size)
    return forward, consistency_mask(forward, backward)


def warping_error(
    prev_stylized: np.ndarray,
    next_stylized: np.ndarray,
    prev_src: np.ndarray,
    next_src: np.ndarray,
    method: FlowMethod = "dis",
    max_size: int | None = None,
) -> float:
    """Temporal instability of a stylized pair: mean squared RGB difference (in [0, 1] units).

    The next stylized frame is warped back onto the previous one with the flow of the
    *source* frames and compared on the pixels passing the consistency check, so real
    motion costs nothing and only flicker or popping counts. 0.0 when no pixel passes.
    """
    flow, mask = consistent_flow(prev_src, next_src, method, max_size)
    warped = warp(next_stylized, flow).astype(np.float32) / 255.0
    diff = np.mean((warped - prev_stylized.astype(np.float32) / 255.0) ** 2, axis=2)
    count = float(mask.sum())
    return float((diff * mask).sum() / count) if count else 0.0
