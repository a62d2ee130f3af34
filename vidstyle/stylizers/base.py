"""The defaults of the :class:`~vidstyle.io.frames.Stylizer` contract, the
:class:`~vidstyle.settings.Look` that every stylizer's pictures are finished with, and plain
functions as stylizers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from ..io.frames import Stylizer
from ..settings import Look

#: a function from a batch of images to their stylized images, which jobs accept as a stylizer
Paint = Callable[[list[np.ndarray]], list[np.ndarray]]


def preserve_colors(stylized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Keep the stylized luminance and the original's colour (chroma), in YCrCb."""
    out = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    out[..., 1:] = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2RGB)


def blend(stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` of the stylized frame over the original (1 = fully stylized)."""
    if strength >= 1:
        return stylized
    return cv2.addWeighted(stylized, strength, original, 1 - strength, 0)


def apply_look(stylized: np.ndarray, original: np.ndarray, look: Look) -> np.ndarray:
    """``stylized`` finished over ``original`` (both of one size) as ``look`` says: colour
    preservation, then strength. The default look hands it on as it is."""
    if look.preserve_color:
        stylized = preserve_colors(stylized, original)
    return blend(stylized, original, look.strength)


class BaseStylizer:
    """A :class:`~vidstyle.io.frames.Stylizer` with no-op defaults: subclasses implement
    :meth:`paint`, and :meth:`finish` where a picture needs more than its look (bringing it
    to the frame's size)."""

    name: str = "stylizer"
    device: Any = "cpu"
    sequential_finish = False

    def reset(self) -> None:
        """Nothing to forget."""

    def paint(self, images: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def finish(self, painted: np.ndarray, source: np.ndarray, look: Look) -> np.ndarray:
        """The picture as it was painted (at its frame's size), in ``look``."""
        return apply_look(painted, source, look)

    def cancel(self) -> None:
        """Nothing in progress to stop."""

    def __call__(self, images: list[np.ndarray], look: Look = Look()) -> list[np.ndarray]:
        return [self.finish(p, s, look) for p, s in zip(self.paint(images), images, strict=True)]


class FunctionStylizer(BaseStylizer):
    """A plain function as a stylizer: it paints, the pictures (of their frames' size) are
    finished in the look asked for.

    The function's ``name`` and ``device`` attributes, where it has them (a callable
    object), name the stylizer; otherwise its type does, on the CPU.
    """

    def __init__(self, paint: Paint) -> None:
        self.function = paint
        self.name = str(getattr(paint, "name", type(paint).__name__))
        self.device = getattr(paint, "device", "cpu")

    def paint(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return self.function(images)


def as_stylizer(stylizer: Stylizer | Paint) -> Stylizer:
    """``stylizer`` itself where it is a :class:`BaseStylizer`, a plain function as a
    :class:`FunctionStylizer`."""
    return stylizer if isinstance(stylizer, BaseStylizer) else FunctionStylizer(stylizer)
