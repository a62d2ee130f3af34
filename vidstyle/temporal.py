"""Flow-guided temporal blending: steadier fast-mode video at little cost.

Each new stylized frame is blended with the previous output carried onto it by optical
flow, only where the flow passes the forward-backward consistency check, so moving edges
and disocclusions do not ghost. A scene cut (a large change between source frames) drops
the history. Flows and the check run on small grey copies of the frames (256 px) and only
the warp and the blend touch full-size pixels, so the blending costs little next to the
network.
"""

from __future__ import annotations

import cv2
import numpy as np

from .flow import consistency_mask, dis_flow, resize_flow, to_gray, warp
from .images import resize_max
from .stylizer import Stylizer

#: the blending weight used unless told otherwise (``vidstyle stylize --temporal``, ``demo``):
#: the steadiest that keeps the style distance within 1.2x of per-frame output (README, Flicker)
DEFAULT_WEIGHT = 0.4
#: mean absolute grey difference (0-255) between consecutive frames taken as a scene cut
SCENE_CUT = 40.0


def is_scene_cut(a: np.ndarray, b: np.ndarray, threshold: float = SCENE_CUT) -> bool:
    """True when two source frames (RGB, or grey copies of any size) are too different to
    share history."""
    small = [cv2.resize(to_gray(x), (64, 36), interpolation=cv2.INTER_AREA) for x in (a, b)]
    return float(np.mean(cv2.absdiff(small[0], small[1]))) > threshold


class TemporalBlender:
    """Wraps a stylizer; frames must arrive in display order.

    Args:
        inner: the per-frame stylizer.
        weight: how much of the warped previous output to keep on consistent pixels
            (0 = off, per-frame output; towards 1 = steadier, slower to follow changes).
        flow_size: longest side at which the flow is computed.
    """

    def __init__(self, inner: Stylizer, weight: float = DEFAULT_WEIGHT, flow_size: int = 256) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError("temporal weight must be in [0, 1)")
        self.inner, self.weight, self.flow_size = inner, weight, flow_size
        # ULTRAFAST at 256 px: 5 ms a frame; the consistency check rejects what it gets wrong
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        #: previous (frame shape, small grey source, output)
        self._prev: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None

    def __getattr__(self, name: str):  # name, device... of the wrapped stylizer
        return getattr(self.inner, name)

    def reset(self) -> None:
        self._prev = None

    def blend(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The output for one frame given its per-frame stylization."""
        if self.weight == 0:
            return stylized
        prev = self._prev
        out = stylized
        small = resize_max(to_gray(source), self.flow_size)  # grey first: a third of the pixels
        if prev is not None and prev[0] == source.shape and not is_scene_cut(prev[1], small):
            h, w = source.shape[:2]
            forward = dis_flow(self._dis, small, prev[1])  # this frame -> the previous one
            backward = dis_flow(self._dis, prev[1], small)
            alpha = cv2.resize(self.weight * consistency_mask(forward, backward), (w, h))
            carried = warp(prev[2], resize_flow(forward, w, h))
            out = cv2.blendLinear(carried, stylized, alpha, 1 - alpha)
        self._prev = (source.shape, small, out)
        return out

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        outputs = self.inner(frames)
        return [self.blend(f, o) for f, o in zip(frames, outputs, strict=True)]
