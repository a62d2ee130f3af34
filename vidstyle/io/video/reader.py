"""Decode a video file into upright RGB frames with their original timestamps."""

from __future__ import annotations

import itertools
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ...errors import VidstyleError
from ..fileio import Closing
from ..frames import Frame
from ..images import resize_max

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}
    | {".3gp", ".ogv", ".mts", ".m2ts"}
)
#: the largest frame decoded (pixels), 8192 x 8192: twice the largest frame of the top levels
#: of H.264, HEVC and AV1 (8192 x 4352), so a forged header cannot ask for gigabytes a frame
MAX_FRAME_PIXELS = 8192 * 8192
#: seconds a stream URL has to connect, and to deliver data once connected
STREAM_TIMEOUT = 10.0
#: how far (in frame spacings) a packet may sit off the regular grid of a constant-rate
#: video (timestamps rounded to a coarse time base: 33, 34, 33 ms), and the largest share of
#: spacings that may be gaps before the spacing counts as variable (no loss read from gaps)
GAP_TOLERANCE = 0.25
GAP_SHARE = 0.1


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
class _Tally:
    """What went through the demuxer and the decoder: the evidence for ``lost_frames``."""

    packets: int = 0  # video packets holding a frame to show
    packet_pts: array = field(default_factory=lambda: array("q"))  # theirs, where known
    end: int | None = None  # the latest end (pts + duration) of those packets
    decoded: int = 0  # frames out of the decoder and handed on
    corrupt: int = 0  # of those, the ones the decoder flagged as damaged (errors concealed)
    last_pts: int | None = None  # of the latest of those
    finished: bool = False  # the decoder was drained: reading was not cut short

    def add(self, packet: av.Packet) -> None:
        """Count a packet that should come out of the decoder as a frame."""
        self.packets += 1
        if packet.pts is not None:
            self.packet_pts.append(packet.pts)
            end = packet.pts + (packet.duration or 0)
            self.end = end if self.end is None else max(self.end, end)

    def gaps(self, until: int | None = None) -> int:
        """Frames missing between the packets (up to pts ``until``): a demuxer that loses
        sync (MPEG-TS) drops damaged packets whole, leaving a gap of several frame spacings.
        Counted only where the spacing is regular (all but a few gaps whole multiples of the
        commonest spacing): in a variable-rate video a long gap is no evidence of a loss."""
        pts = np.unique(np.frombuffer(self.packet_pts, np.int64))
        if until is not None:
            pts = pts[pts <= until]
        if len(pts) < 3:
            return 0
        diffs = np.diff(pts)
        values, counts = np.unique(diffs, return_counts=True)
        steps = diffs / values[counts.argmax()]
        whole = np.rint(steps)
        irregular = np.abs(steps - whole) > GAP_TOLERANCE
        if irregular.any() or np.count_nonzero(whole > 1) > GAP_SHARE * len(diffs):
            return 0
        return int((whole - 1).sum())

    def missing_end(self, declared_end: float | None) -> int:
        """Frames between the last packet and ``declared_end`` (pts), at the average spacing
        of the packets; rounded down, so a last frame longer than average counts nothing."""
        if declared_end is None or len(self.packet_pts) < 2:
            return 0
        pts = np.frombuffer(self.packet_pts, np.int64)
        first, last = int(pts.min()), int(pts.max())
        interval = (last - first) / (len(pts) - 1)
        covered = max(last + interval, self.end or last)
        return max(0, int((declared_end - covered) / interval + 1e-6)) if interval > 0 else 0


def is_video_file(path: Path) -> bool:
    """Whether ``path`` names a video by its suffix (images also decode with ffmpeg)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def probe(path: Path) -> VideoInfo:
    """Describe a video without decoding more than its first frame."""
    with VideoReader(path) as reader:
        return reader.info


class VideoReader(Closing):
    """Single-pass, threaded decoder that survives corrupt or truncated input.

    Mid-stream corruption never raises: bad packets are skipped, a truncated file simply
    ends early, and :attr:`lost_frames` says how many frames went missing either way.
    ``max_size`` scales frames (longest side, in uint8, as soon as they are decoded) so
    that full-size frames are never held beyond the one being converted. ``seek`` (a pts of
    the video stream) starts decoding at the keyframe at or before it, as the container's
    index finds it (a segment of a longer job; callers check the first frame's pts).
    """

    def __init__(
        self,
        path: Path | str,
        max_frames: int | None = None,
        max_size: int | None = None,
        timeout: float = STREAM_TIMEOUT,
        seek: int | None = None,
    ) -> None:
        self._container = _open(path, timeout)
        self.max_frames, self.max_size = max_frames, max_size
        self._tally = _Tally()
        self._started = False
        try:
            self._stream = self._video_stream(path)
            if seek is not None:  # to the keyframe at or before it
                self._container.seek(seek, stream=self._stream)
            self._declared_end = _declared_end(self._container, self._stream)
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

    def _video_stream(self, path: Path) -> av.video.stream.VideoStream:
        """The first real video stream, its decoder set up (threads, frame size cap)."""
        # Cover art in music files is a one-picture "video" stream; it does not count.
        videos = [
            stream
            for stream in self._container.streams.video
            if not stream.disposition & av.stream.Disposition.attached_pic
        ]
        if not videos:
            raise VidstyleError(f"input {path} has no video stream")
        stream = videos[0]
        ctx = stream.codec_context
        if ctx is None:
            raise VidstyleError(f"cannot read {path}: no decoder for its video codec")
        if ctx.width * ctx.height > MAX_FRAME_PIXELS:
            raise VidstyleError(
                f"cannot read {path}: its frames ({ctx.width}x{ctx.height}) are larger than "
                f"the limit of {MAX_FRAME_PIXELS:,} pixels"
            )
        ctx.thread_type = "AUTO"
        # The header can understate the size: the decoder itself refuses larger frames.
        ctx.options = {"max_pixels": str(MAX_FRAME_PIXELS)}
        return stream

    @property
    def expected_frames(self) -> int | None:
        """How many frames iteration should yield, if known (for progress bars)."""
        counts = [n for n in (self.info.frame_count, self.max_frames) if n is not None]
        return min(counts) if counts else None

    @property
    def lost_frames(self) -> int:
        """Frames of the file, up to where reading stopped, that are missing from the output.

        A video packet holds one frame, so every packet the decoder made nothing of is
        lost: damaged, or depending on a damaged one; so is a frame the decoder made from
        damaged data (flagged corrupt: shown, with its errors concealed), and each frame a
        gap in the packets' regular spacing leaves out (:meth:`_Tally.gaps`). After the last
        packet, the duration the container declares for the stream tells how much of the
        end is missing (a truncated download). A stop at ``max_frames`` counts only what
        fell before it.
        """
        tally = self._tally
        if tally.finished:
            missing = max(0, tally.packets - tally.decoded) + tally.gaps()
            missing += tally.missing_end(self._declared_end)
            if self.max_frames is not None:  # frames past max_frames were not wanted, present or not
                missing = min(missing, max(0, self.max_frames - tally.decoded))
            return missing + tally.corrupt
        if tally.last_pts is None:
            return 0
        due = np.count_nonzero(np.frombuffer(tally.packet_pts, np.int64) <= tally.last_pts)
        return max(0, int(due) - tally.decoded) + tally.gaps(tally.last_pts) + tally.corrupt

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError("a VideoReader can only be iterated once")
        self._started = True
        frames = itertools.chain([self._first], self._frames)
        for index, frame in enumerate(itertools.islice(frames, self.max_frames)):
            time = index / self.info.fps if frame.pts is None else float(frame.pts * self.info.time_base)
            yield Frame(self._image(frame), time, index, frame.pts)

    def _image(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame as upright RGB at the first frame's size (a stream may change size
        midway; FFmpeg scales it back), scaled down to ``max_size``."""
        width, height = self._first.width, self._first.height
        image = resize_max(frame.to_ndarray(format="rgb24", width=width, height=height), self.max_size)
        # Odd widths come back as padded views; rot90 gives negative strides.
        return np.ascontiguousarray(np.rot90(image, self.info.rotation // 90))

    def close(self) -> None:
        self._container.close()

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Yield decoded frames, skipping undecodable packets and stopping at a broken end."""
        packets = self._container.demux(self._stream)
        tally = self._tally
        while True:
            try:
                packet = next(packets, None)
            except av.FFmpegError:
                # The demuxer gave up (truncated or mangled container): drain the decoder.
                packet = None
            if packet is not None and packet.size and not packet.is_discard:
                tally.add(packet)
            try:
                frames = self._stream.decode(packet)
            except av.FFmpegError:
                frames = []
            for frame in frames:
                tally.decoded += 1
                tally.corrupt += frame.is_corrupt
                tally.last_pts = frame.pts
                yield frame
            if packet is None:
                tally.finished = True
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


def _open(location: Path | str, timeout: float) -> av.container.InputContainer:
    """Open a file, or a stream URL (rtsp, http...) that must answer within ``timeout`` s."""
    if "://" in str(location):
        return _open_url(str(location), timeout)
    path = Path(location)
    if not path.exists():
        raise VidstyleError(f"input {path} does not exist")
    if path.is_dir():
        raise VidstyleError(f"input {path} is a directory, not a video")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise VidstyleError(f"cannot read {path}: not a video file, or damaged ({_reason(exc)})") from None


def _open_url(url: str, timeout: float) -> av.container.InputContainer:
    """Open a stream URL in a thread of its own: FFmpeg holds the thread that opens until
    it answers or ``timeout`` passes, and the main thread stays free for Ctrl-C (an
    abandoned opening closes what it opens). A stream that has not sent enough to be
    recognised by then is said to have timed out, whatever FFmpeg made of the part it had."""
    outcome: dict[str, Any] = {}
    abandoned = threading.Event()

    def attempt() -> None:
        try:
            outcome["container"] = av.open(url, timeout=timeout)
        except (av.FFmpegError, OSError) as exc:
            outcome["error"] = exc
        if abandoned.is_set() and "container" in outcome:
            outcome["container"].close()

    began = time.monotonic()
    opener = threading.Thread(target=attempt, name="vidstyle-open-url", daemon=True)
    opener.start()
    try:
        while opener.is_alive():
            opener.join(0.05)
    except BaseException:  # Ctrl-C, SIGTERM: leave the opening to end by itself
        abandoned.set()
        raise
    container = outcome.get("container")
    seconds = time.monotonic() - began
    if seconds >= timeout * 0.95 and (container is None or not container.streams.video):
        if container is not None:  # what FFmpeg made of the start it had: no video yet
            container.close()
        raise VidstyleError(
            f"cannot read {url}: timed out after {seconds:.0f} s (the stream did not send enough "
            "to be recognised as a video in time)"
        )
    if container is None:
        reason = _reason(outcome["error"])
        raise VidstyleError(f"cannot read {url}: unreachable or not a video stream ({reason})")
    return container


def _declared_end(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """Where the stream ends (in its pts) by the container's header, or None where it does
    not say: MPEG-TS only estimates from what is there, and a file-wide duration can be an
    audio track's when the video has none of its own."""
    start = stream.start_time or 0
    if stream.duration:
        return start + stream.duration
    seconds = _clock_seconds(stream.metadata.get("DURATION", ""))  # Matroska's per-track tag
    if seconds is None and len(container.streams) == 1 and container.duration:
        seconds = container.duration / av.time_base
    return None if seconds is None else start + seconds / stream.time_base


def _clock_seconds(text: str) -> float | None:
    """``HH:MM:SS.fraction`` in seconds; None when ``text`` is not such a time."""
    try:
        hours, minutes, seconds = text.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    """The human part of a PyAV error, without errno and function noise."""
    return getattr(exc, "strerror", None) or str(exc)
