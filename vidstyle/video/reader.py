"""Decode a video file into upright RGB frames with their original timestamps."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import VidstyleError
from ..fileio import Closing

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
    | {".3gp", ".ogv", ".mts", ".m2ts"}
)


@dataclass(frozen=True)
class VideoInfo:
    """What the rest of the pipeline needs to know about a video stream."""

    width: int  # display size, i.e. after applying ``rotation``
    height: int
    fps: float  # average frame rate: for progress/ETA and the encoder's nominal rate
    time_base: Fraction  # of the video stream; frame ``pts`` are in this unit
    frame_count: int | None  # None when the container does not say (e.g. mkv)
    duration: float | None  # seconds
    rotation: int  # counter-clockwise degrees from the display matrix: 0, 90, 180 or 270
    has_audio: bool
    codec: str


@dataclass
class VideoFrame:
    """One decoded frame, upright as a player shows it."""

    image: np.ndarray  # HxWx3 uint8 RGB, C-contiguous
    pts: int | None  # in VideoInfo.time_base; None when the stream has no timestamps
    time: float  # seconds


def is_video_file(path: Path) -> bool:
    """Whether ``path`` names a video by its suffix (images also decode with ffmpeg)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def probe(path: Path) -> VideoInfo:
    """Describe a video without decoding more than its first frame."""
    with VideoReader(path) as reader:
        return reader.info


class VideoReader(Closing):
    """Single-pass, threaded decoder that survives corrupt or truncated input.

    Mid-stream corruption never raises: bad packets are skipped and counted in
    ``decode_errors``, and a truncated file simply ends early.
    """

    def __init__(self, path: Path, max_frames: int | None = None) -> None:
        path = Path(path)
        if not path.exists():
            raise VidstyleError(f"input {path} does not exist")
        if path.is_dir():
            raise VidstyleError(f"input {path} is a directory, not a video")
        try:
            self._container = av.open(str(path))
        except (av.FFmpegError, OSError) as exc:
            raise VidstyleError(
                f"cannot read {path}: not a video file, or damaged ({_reason(exc)})"
            ) from None
        self.decode_errors = 0
        self.max_frames = max_frames
        self._started = False
        try:
            # Cover art in music files is a one-picture "video" stream; it does not count.
            videos = [
                stream
                for stream in self._container.streams.video
                if not stream.disposition & av.stream.Disposition.attached_pic
            ]
            if not videos:
                raise VidstyleError(f"input {path} has no video stream")
            self._stream = videos[0]
            self._stream.codec_context.thread_type = "AUTO"
            self._frames = self._decode()
            # The display matrix only reaches us on decoded frames, so peek at the first one.
            first = next(self._frames, None)
            if first is None:
                raise VidstyleError(f"cannot read {path}: no video frame could be decoded")
            self._first = first
            self.info = self._describe(first)
        except BaseException:
            self._container.close()
            raise

    @property
    def expected_frames(self) -> int | None:
        """How many frames iteration should yield, if known (for progress bars)."""
        counts = [n for n in (self.info.frame_count, self.max_frames) if n is not None]
        return min(counts) if counts else None

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._started:
            raise RuntimeError("a VideoReader can only be iterated once")
        self._started = True
        frames = itertools.chain([self._first], self._frames)
        turns = self.info.rotation // 90
        for index, frame in enumerate(itertools.islice(frames, self.max_frames)):
            # Odd widths come back as padded views; rot90 gives negative strides.
            image = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), turns))
            time = index / self.info.fps if frame.pts is None else float(frame.pts * self.info.time_base)
            yield VideoFrame(image, frame.pts, time)

    def close(self) -> None:
        self._container.close()

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Yield decoded frames, skipping undecodable packets and stopping at a broken end."""
        packets = self._container.demux(self._stream)
        while True:
            try:
                packet = next(packets, None)
            except av.FFmpegError:
                # The demuxer gave up (truncated or mangled container): drain the decoder.
                self.decode_errors += 1
                packet = None
            try:
                frames = self._stream.decode(packet)
            except av.FFmpegError:
                frames = []
                self.decode_errors += packet is not None
            for frame in frames:
                self.decode_errors += frame.is_corrupt
                yield frame
            if packet is None:
                return

    def _describe(self, first: av.VideoFrame) -> VideoInfo:
        stream = self._stream
        rotation = round(first.rotation / 90) * 90 % 360
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if stream.duration:
            duration: float | None = float(stream.duration * stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        else:
            duration = None
        return VideoInfo(
            width=width,
            height=height,
            fps=float(rate) if rate else 30.0,
            time_base=stream.time_base,
            frame_count=stream.frames or None,
            duration=duration,
            rotation=rotation,
            has_audio=bool(self._container.streams.audio),
            codec=stream.codec_context.name,
        )


def _reason(exc: BaseException) -> str:
    """The human part of a PyAV error, without errno and function noise."""
    return getattr(exc, "strerror", None) or str(exc)
