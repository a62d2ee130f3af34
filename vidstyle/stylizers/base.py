"""The defaults of the :class:`~vidstyle.io.frames.Stylizer` contract, and plain functions
as stylizers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..io.frames import Stylizer

#: a function from a batch of images to their stylized images, which jobs accept as a stylizer
Paint = Callable[[list[np.ndarray]], list[np.ndarray]]


class BaseStylizer:
    """A :class:`~vidstyle.io.frames.Stylizer` with no-op defaults: subclasses implement
    :meth:`paint`, and :meth:`finish` where a picture needs more than handing on."""

    name: str = "stylizer"
    device: Any = "cpu"
    sequential_finish = False

    def reset(self) -> None:
        """Nothing to forget."""

    def paint(self, images: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def finish(self, painted: np.ndarray, source: np.ndarray) -> np.ndarray:
        """The picture as it was painted."""
        return painted

    def cancel(self) -> None:
        """Nothing in progress to stop."""

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return [self.finish(p, s) for p, s in zip(self.paint(images), images, strict=True)]


class FunctionStylizer(BaseStylizer):
    """A plain function as a stylizer: it paints, the pictures are finished as they are.

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
