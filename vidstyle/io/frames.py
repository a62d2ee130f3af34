"""The seams between inputs, the stylizer and outputs: one frame type, a source, a
stylizer and a sink.

A :class:`FrameSource` yields :class:`Frame` objects (a video file, an image, a folder of
numbered frames, a camera, a stream); a :class:`Stylizer` paints their images; a
:class:`FrameSink` takes stylized images with the frame they came from (a video file, an
image sequence, a preview window, a virtual camera). ``vidstyle.io.sources.open_source`` and
``vidstyle.io.sinks.open_sink`` pick the right one from what the user typed;
``vidstyle.jobs.stylize.run_job`` joins them through the threaded pipeline. This module
imports nothing heavy, so any of them can name the types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..settings import Look


@dataclass(frozen=True)
class Frame:
    """One picture of a source, upright as a viewer shows it."""

    image: np.ndarray  # H x W x 3 uint8 RGB, C-contiguous
    #: seconds on the source's clock: from the start of a file, or ``time.monotonic()``
    #: when a camera captured it
    time: float
    #: how many frames the source delivered before this one (a live source may skip some)
    index: int
    #: presentation timestamp in :attr:`SourceInfo.time_base`; None where there is none
    pts: int | None = None
    #: the image file it was read from, relative to the folder given (image sources only)
    name: str | None = None


@dataclass(frozen=True)
class SourceInfo:
    """What a sink needs to know about a source before its first frame."""

    label: str  # for messages: a path, URL or camera name
    width: int
    height: int
    #: frames per second: the file's average, a camera's nominal rate, or the rate given
    #: for an image sequence
    fps: float
    #: the unit of :attr:`Frame.pts`; None when frames carry no timestamps
    time_base: Fraction | None = None
    #: how many frames iteration will yield, where known (progress and ETA)
    frame_count: int | None = None
    #: a file whose audio a video sink may carry over (None: no audio to keep)
    audio: Path | None = None
    #: frames are captured live (camera, stream): they arrive in real time and never end
    #: on their own
    live: bool = False
    #: the files it reads, which no output may replace
    files: tuple[Path, ...] = ()


@runtime_checkable
class FrameSource(Protocol):
    """An iterable of frames with a description; closed when done."""

    info: SourceInfo

    def __iter__(self) -> Iterator[Frame]: ...

    @property
    def lost_frames(self) -> int:
        """Frames of the input that could not be read (damaged or missing)."""
        ...

    def close(self) -> None: ...


class Stylizer(Protocol):
    """What paints frames (RGB uint8 images, H x W x 3), in two halves.

    :meth:`paint` makes the stylizer's pictures of a batch of images, at the size it paints
    at; the job runs it on its network threads, several batches at once where it has
    several workers. :meth:`finish` brings one picture to its source image: its size, and
    the :class:`~vidstyle.settings.Look` the job passes (a value apart from the stylizer,
    which a live session may change from frame to frame). Calling the stylizer does both.
    ``vidstyle.stylizers.base.BaseStylizer`` gives the defaults: nothing to reset or cancel,
    pictures finished in their look as they are.
    """

    #: a name for messages and results (a style's name)
    name: str
    #: where it runs: a ``torch.device`` or its name (``cpu``, ``cuda``...)
    device: Any
    #: whether :meth:`finish` carries state from frame to frame (temporal blending): the
    #: job then finishes frame by frame in display order, beside the painting; otherwise
    #: each network thread finishes the frames it painted
    sequential_finish: bool

    def reset(self) -> None:
        """Forget earlier frames: a new video starts."""
        ...

    def paint(self, images: list[np.ndarray]) -> list[np.ndarray]: ...

    def finish(self, painted: np.ndarray, source: np.ndarray, look: Look) -> np.ndarray: ...

    def cancel(self) -> None:
        """Stop the frame in progress soon (another thread calls it: Ctrl-C)."""
        ...

    def __call__(self, images: list[np.ndarray], look: Look = ...) -> list[np.ndarray]: ...


@runtime_checkable
class FrameSink(Protocol):
    """Where stylized images go, in order, each with the frame it was made from.

    Used as a context manager: leaving it normally finishes the output (a file appears
    whole, atomically); leaving it on an exception, Ctrl-C included, discards what was
    not finished, so no partial file is left behind.
    """

    def write(self, image: np.ndarray, frame: Frame) -> None: ...

    def cut_short(self, frame_seconds: float) -> None:
        """The input was cut short of its end (``max_frames``): end what the sink carries
        beside the frames (a video file's audio) one frame, ``frame_seconds``, after the last
        frame written. A sink that carries nothing else has nothing to cut."""
        ...

    def __enter__(self) -> FrameSink: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
