"""A video in segments: cut at keyframes, stylized apart, joined into one seamless file.

A long video need not go through one process: :func:`plan` cuts it at keyframes into
segments of a few seconds, by source timestamps; :func:`stylize_segment` stylizes one of
them into a file of its own (any machine can, given the same paths); :func:`join` copies
the segments' packets into the output, unchanged, with the source's audio carried over
once. :mod:`vidstyle.jobs.distributed` runs the segments as Ray tasks.

Each segment starts stylizing a few frames before its first frame (the warm-up, see
:func:`warmup_frames`) so that the temporal blending carries the same history over the cut
as a one-process run would; frames before the segment are discarded. HQ mode's frames
carry more history than a warm-up can give, so there each join is also cross-faded over a
few frames (:func:`blend_join`), encoded as a file of its own between two segments. The
joined file has the frames and timestamps a one-process run writes. A :class:`WorkDir`
keeps finished segments with a manifest, so a stopped job goes on where it was.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..defaults import DEFAULT_SEGMENT_SECONDS
from ..device import DEVICES
from ..errors import SettingsError, VidstyleError
from ..io.fileio import Closing, atomic_output
from ..io.frames import Frame, SourceInfo
from ..io.images import is_image_path, read_image, write_image
from ..io.sinks import VideoFileSink
from ..io.video import FORMATS, VideoReader
from ..io.video.writer import _AudioCarrier
from ..settings import EncodingSettings, Limits, Look, NetworkSettings
from ..stylizers.factory import make_stylizer
from ..stylizers.fast import FastStylizer
from ..stylizers.temporal import TemporalBlender
from ..weights import read_info
from . import hq
from .stylize import MAX_WORKERS, run_job, share_cores
from .workdir import WorkDir as BaseWorkDir

#: the share of a warm-up's first frame (which has no history) left in a segment's first
#: frame: under one grey level in 255, so the cut cannot be seen
WARMUP_TOLERANCE = 1 / 255
MANIFEST_VERSION = 2


@dataclass(frozen=True)
class Segment:
    """Frames ``start <= pts < end`` of the source (``end`` None: to the end), stylized
    from frame ``warm`` on, decoded from the keyframe ``seek`` (None: the file's start).

    Where joins are blended (HQ mode, see :func:`blend_join`) the segment's file starts
    at ``body``: its frames before it (its head) are kept as images, and so are the next
    segment's frames it goes on to stylize up to ``stop`` (its tail), for the join to
    cross-fade one into the other. Without blending, ``body`` is ``start`` and ``stop``
    is ``end``.
    """

    index: int
    start: int
    end: int | None
    warm: int
    seek: int | None
    frames: int  # frames of the source in [start, end)
    body: int
    stop: int | None

    @property
    def number(self) -> int:
        """Counting from 1, as messages and file names show it."""
        return self.index + 1


@dataclass(frozen=True)
class Plan:
    """A video cut into segments, and where the output ends."""

    segments: tuple[Segment, ...]
    time_base: Fraction
    frames: int
    #: where the carried audio stops (seconds; None: with the source's), when
    #: ``max_frames`` cut the video short
    end_time: float | None


#: frames an HQ segment optimises before its own and drops: its first frame then starts from
#: the result of the frame before it, carried by the flow, as in one process (the warm-up
#: frame itself starts as a video's first)
HQ_WARMUP = 1
#: frames over which an HQ join cross-fades from one segment's chain of frames into the
#: next one's: two chains started apart paint their shapes in other places, a jump of
#: 24-28 grey levels between two frames (3-8 elsewhere); spread over this many, the join
#: is as steady as one process at the same frames (docs/ray.md, *HQ joins*)
HQ_BLEND = 12
#: the detail a cross-fade keeps the contrast of: finer than the frame's longest side over
#: this (2 px at 320 px, about a painted stroke)
CROSS_FADE_DETAIL = 160


def warmup_frames(weight: float) -> int:
    """Frames stylized before a segment so that its first frame is blended as in one run.

    The blending keeps ``weight`` of the previous output each frame, so what a warm-up's
    first frame lacks (its history) weighs ``weight ** n`` after ``n`` frames: ``n`` is
    the fewest that bring it under :data:`WARMUP_TOLERANCE` (7 frames at the default 0.4).
    A scene cut in the warm-up drops the history in both runs alike.
    """
    if weight <= 0:
        return 0
    return math.ceil(math.log(WARMUP_TOLERANCE) / math.log(weight))


def scan(path: Path) -> tuple[list[int], list[int], Fraction, float]:
    """The frames' timestamps (sorted), the keyframes' among them, the time base and the
    frame rate of the video stream, from its packets alone (nothing is decoded)."""
    with VideoReader(path) as reader:  # the one-line errors of a file that is no video
        info = reader.info
    with av.open(str(path)) as container:
        stream = next(
            s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
        )
        pts, keys = [], []
        try:
            for packet in container.demux(stream):
                if not packet.size or packet.is_discard:
                    continue
                if packet.pts is None:
                    raise VidstyleError(f"cannot cut {path} into segments: its frames carry no timestamps")
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        except av.FFmpegError:
            pass  # a damaged end: the segments cover what is there, as one run would
    if not pts:
        raise VidstyleError(f"cannot read {path}: no video frame")
    return sorted(pts), sorted(keys), info.time_base, info.fps


def plan(
    path: Path,
    seconds: float = DEFAULT_SEGMENT_SECONDS,
    *,
    warmup: int = 0,
    blend: int = 0,
    max_frames: int | None = None,
) -> Plan:
    """Cut the video at ``path`` into segments of about ``seconds`` (see :func:`cut`)."""
    pts, keys, time_base, fps = scan(path)
    end_time, stop = None, None
    if max_frames is not None and max_frames < len(pts):
        pts, stop = pts[:max_frames], pts[max_frames]
        end_time = float(pts[-1] * time_base) + 1 / max(fps, 1e-6)  # as a one-process run cuts it
    segments = cut(pts, keys, time_base, seconds, warmup, stop, blend)
    return Plan(tuple(segments), time_base, len(pts), end_time)


def cut(
    pts: list[int],
    keys: list[int],
    time_base: Fraction,
    seconds: float,
    warmup: int,
    stop: int | None = None,
    blend: int = 0,
) -> list[Segment]:
    """Segments of the frames ``pts`` (sorted; the file's frames from ``stop`` on are left
    out): each starts at the first keyframe of ``keys`` at least ``seconds`` after the
    previous start, unless less than half a segment would follow it (the rest then stays
    with the last segment). Each join is blended over ``blend`` frames, or over all of
    the later segment's frames but its last where it has fewer."""
    if not seconds > 0:
        raise SettingsError("segment_seconds", f"must be above 0, not {seconds:g}")
    step = seconds / time_base
    starts = [pts[0]]
    for key in keys:
        if key >= starts[-1] + step and pts[-1] - key >= step / 2:
            starts.append(key)
    ends: list[int | None] = [*starts[1:], stop]
    firsts = [bisect.bisect_left(pts, start) for start in starts]
    lasts = [len(pts) if end is None else bisect.bisect_left(pts, end) for end in ends]
    # where each segment's file starts: after the frames its join blends
    bodies = [
        pts[first + (max(0, min(blend, last - first - 1)) if index else 0)]
        for index, (first, last) in enumerate(zip(firsts, lasts, strict=True))
    ]
    segments = []
    for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
        warm = pts[max(0, firsts[index] - warmup)]
        seek = None if warm == pts[0] else keys[max(0, bisect.bisect_right(keys, warm) - 1)]
        stop_at = bodies[index + 1] if end is not None and index + 1 < len(starts) else end
        frames = lasts[index] - firsts[index]
        segments.append(Segment(index, start, end, warm, seek, frames, bodies[index], stop_at))
    return segments


@dataclass(frozen=True)
class SegmentJob:
    """What a segment's frames depend on, as plain values: a task builds its stylizer from
    them (the weights file is read where the task runs).

    ``network.style`` is a weights file's path (in HQ mode a painting's, or a style's whose
    painting HQ optimises towards); ``network.device`` is where each task runs, never
    ``auto`` (the job resolves it, see :meth:`~vidstyle.jobs.distributed.RayOptions.job`).
    """

    input: str
    network: NetworkSettings
    look: Look = Look()
    encoding: EncodingSettings = EncodingSettings()
    limits: Limits = Limits()
    #: the segments' container, the output's suffix (the join copies their packets)
    suffix: str = ".mp4"
    #: cores a task may use: its network workers, PyTorch and encoder threads share them
    cpus: int = 1
    #: HQ mode's settings (the fields of :class:`~vidstyle.jobs.hq.HQConfig`): each frame is
    #: optimised towards ``network.style`` instead of going through a network; None: fast mode
    hq: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        """Refuse settings that no segment could run with, before any task starts (each
        dataclass has checked its own values)."""
        if self.hq is not None:
            hq.HQConfig(**self.hq)
            if self.network.temporal:
                problem = "{name} is fast mode's blending; HQ mode ties frames together itself"
                raise SettingsError("temporal", problem)
        device = self.network.device
        if device.split(":")[0] not in DEVICES or device == "auto":
            raise SettingsError("device", f"{{name}} {device!r}: a segment runs on cpu, cuda or mps")

    def stylizer(self, frames: Path | None = None) -> FastStylizer | TemporalBlender | hq.HQStylizer:
        """The job's stylizer; in HQ mode finished frames are kept in the folder ``frames``
        where one is given, so that a stopped segment goes on at its next frame."""
        if self.hq is not None:
            # the folder belongs to one segment of one job (the segments' manifest holds
            # the job), so frames of other settings in it are a restarted job's: dropped
            return hq.open_hq_stylizer(
                self.network.style,
                hq.HQConfig(**self.hq),
                input=Path(self.input),
                device=self.network.device,
                max_size=self.limits.max_size,
                work_dir=frames,
                restart=True,
            )
        return make_stylizer(self.network)

    @property
    def warmup(self) -> int:
        """Frames each segment starts early: the blending's history, or HQ's one frame."""
        return HQ_WARMUP if self.hq is not None else warmup_frames(self.network.temporal)

    @property
    def blend(self) -> int:
        """Frames each join cross-fades over: HQ's :data:`HQ_BLEND`; none in fast mode,
        whose warm-up already gives a segment's first frame the history of one run."""
        return HQ_BLEND if self.hq is not None else 0

    @property
    def style_name(self) -> str:
        """The style as results name it: ``hq:NAME`` in HQ mode, as in one process."""
        style = Path(self.network.style)
        name = style.stem if is_image_path(style) else read_info(style).name
        return f"hq:{name}" if self.hq is not None else name

    def settings(self) -> dict[str, Any]:
        """The settings a finished segment was made with, in one flat record (not the
        input and style, which the manifest records by content; cores do not change its
        frames)."""
        network = asdict(self.network)
        del network["style"]
        parts = (network, asdict(self.look), asdict(self.encoding), asdict(self.limits))
        return {key: value for part in parts for key, value in part.items()} | {
            "suffix": self.suffix,
            "hq": self.hq,
        }


class SegmentSource(Closing):
    """The frames a segment stylizes: its warm-up, its own, then its tail (the next
    segment's first frames, where joins are blended), with the source's pts."""

    def __init__(self, path: Path | str, segment: Segment, max_size: int | None = None) -> None:
        self.path, self.segment, self.max_size = path, segment, max_size
        self._reader = VideoReader(path, max_size=max_size, seek=segment.seek)
        video = self._reader.info
        self.info = SourceInfo(
            f"{path} (segment {segment.number})",
            video.width,
            video.height,
            video.fps,
            video.time_base,
            files=(Path(path),),
        )

    def __iter__(self) -> Iterator[Frame]:
        segment, count = self.segment, 0
        for frame in self._frames():
            if frame.pts is None:
                raise VidstyleError(f"cannot cut {self.path} into segments: a frame carries no timestamp")
            if segment.stop is not None and frame.pts >= segment.stop:
                return
            if frame.pts >= segment.warm:
                yield Frame(frame.image, frame.time, count, frame.pts)
                count += 1

    def _frames(self) -> Iterator[Frame]:
        """The reader's frames; from the file's start if the seek went past the warm-up
        (a container whose index is too coarse), so that no frame is ever missed."""
        frames = iter(self._reader)
        first = next(frames, None)
        if first is None:
            return
        if self.segment.seek is not None and first.pts is not None and first.pts > self.segment.warm:
            self._reader.close()
            self._reader = VideoReader(self.path, max_size=self.max_size)
            yield from self._reader
            return
        yield first
        yield from frames

    @property
    def lost_frames(self) -> int:
        return self._reader.lost_frames

    def close(self) -> None:
        self._reader.close()


class _Routed:
    """Each frame a segment's task stylizes, to where it goes: the warm-up's nowhere, its
    head's and tail's to images kept for the joins, the rest to the segment's file."""

    def __init__(self, sink: VideoFileSink, segment: Segment, folder: Path) -> None:
        self.sink, self.segment, self.count = sink, segment, 0
        self.head = JoinFrames(folder, segment.number, "head")
        self.tail = JoinFrames(folder, segment.number + 1, "tail")

    def write(self, image: np.ndarray, frame: Frame) -> None:
        segment, pts = self.segment, frame.pts
        if pts is None or pts < segment.start:
            return
        if segment.end is not None and pts >= segment.end:
            self.tail.write(image, pts)
            return
        self.count += 1
        if pts < segment.body:
            self.head.write(image, pts)
        else:
            self.sink.write(image, frame)


class JoinFrames:
    """The frames of one side of a join (``head`` or ``tail``), kept losslessly as PNGs in
    ``join-NNNNN/`` of a work directory, NNNNN the number of the segment after the join."""

    def __init__(self, folder: Path, number: int, side: str) -> None:
        self.path, self.side = Path(folder) / f"join-{number:05d}", side
        self.pts: list[int] = []

    def image(self, position: int) -> Path:
        return self.path / f"{self.side}_{position + 1:06d}.png"

    def write(self, image: np.ndarray, pts: int) -> None:
        self.path.mkdir(exist_ok=True)
        write_image(self.image(len(self.pts)), image)
        self.pts.append(pts)

    def read(self, position: int) -> np.ndarray:
        return read_image(self.image(position))


def blend_join(
    folder: Path, segment: Segment, head: list[int], tail: list[int], job: SegmentJob, info: SourceInfo
) -> Path:
    """The join before ``segment``, encoded as a file of its own as the segments are (``info``:
    the source's, see :func:`encoder_info`): the
    segment's ``head`` frames (their timestamps), each cross-faded (:func:`cross_fade`)
    from the previous segment's ``tail`` frame of the same timestamp. The head's share
    rises evenly, 1/(n+1) ... n/(n+1) over n frames, so that the jump from one chain of
    frames to the other is spread evenly over them."""
    heads = JoinFrames(folder, segment.number, "head")
    tails = JoinFrames(folder, segment.number, "tail")
    tail_at = {pts: position for position, pts in enumerate(tail)}
    path = Path(folder) / f"join-{segment.number:05d}{job.suffix}"
    with VideoFileSink(path, info, encoding=job.encoding, encoder_threads=job.cpus) as sink:
        for position, pts in enumerate(head):
            image = heads.read(position)
            if pts in tail_at:
                image = cross_fade(tails.read(tail_at[pts]), image, (position + 1) / (len(head) + 1))
            sink.write(image, Frame(image, float(pts * info.time_base), position, pts))
    return path


def encoder_info(job: SegmentJob) -> SourceInfo:
    """What a sink encodes the job's frames with (size, rate, time base), as the segments'
    sinks had it from their sources."""
    with VideoReader(job.input, max_size=job.limits.max_size) as reader:
        video = reader.info
    return SourceInfo(job.input, video.width, video.height, video.fps, video.time_base)


def cross_fade(before: np.ndarray, after: np.ndarray, share: float) -> np.ndarray:
    """``share`` of ``after`` over ``before``, with the contrast of their fine detail kept.

    Two chains of frames paint unrelated strokes, and averaging unrelated textures flattens
    them (halfway, their detail's standard deviation falls to 1/sqrt(2), a visible dip in
    texture); so the detail above a blur about a stroke wide is scaled back up by
    ``1 / sqrt(share**2 + (1 - share)**2)``, the fall of unrelated detail.
    """
    mix = share * after.astype(np.float32) + (1 - share) * before.astype(np.float32)
    low = cv2.GaussianBlur(mix, (0, 0), max(mix.shape[:2]) / CROSS_FADE_DETAIL)
    mix = low + (mix - low) / math.hypot(share, 1 - share)
    return np.clip(mix.round(), 0, 255).astype(np.uint8)


def stylize_segment(job: SegmentJob, segment: Segment, path: str) -> dict[str, Any]:
    """Stylize one segment into the video file ``path`` (no audio; written atomically).

    Returns the record a work directory keeps: the frames made, those of the source
    that could not be decoded, the device, the seconds it took, and the timestamps of the
    frames kept for the joins (``head``, ``tail``). A file is written only when the
    segment has a frame to show.
    """
    began = time.perf_counter()
    frames = hq_frames_dir(Path(path).parent, segment) if job.hq is not None else None
    stylizer = job.stylizer(frames)
    device = str(stylizer.device)
    # an HQ frame starts from the one before it: one frame at a time
    workers = min(job.cpus, MAX_WORKERS) if device == "cpu" and job.hq is None else 1
    share_cores(stylizer, max(1, job.cpus // workers), workers)
    with SegmentSource(job.input, segment, job.limits.max_size) as source:
        sink = VideoFileSink(Path(path), source.info, encoding=job.encoding, encoder_threads=job.cpus)
        routed = _Routed(sink, segment, Path(path).parent)
        with sink:
            run_job(source, stylizer, [routed], look=job.look, workers=workers, progress=False)  # type: ignore[list-item]
    if isinstance(stylizer, hq.HQStylizer) and stylizer.work is not None:
        stylizer.work.remove()  # the segment's file holds its frames now
    return {
        "frames": routed.count,
        "lost": segment.frames - routed.count,
        "device": device,
        "seconds": time.perf_counter() - began,
        "head": routed.head.pts,
        "tail": routed.tail.pts,
    }


def join(
    paths: list[Path],
    output: Path,
    *,
    audio: Path | None = None,
    end_time: float | None = None,
    expected: int | None = None,
    overwrite: bool = True,
) -> int:
    """Copy the video packets of ``paths`` (segments with the source's timestamps), in order,
    into ``output``, and the audio of ``audio`` once, up to ``end_time``; returns the frames.

    Nothing is re-encoded but audio the output's container refuses, as in a one-process run.
    When the segments do not hold the ``expected`` frames, no output is written; nor,
    without ``overwrite``, when a file appeared at ``output`` meanwhile.
    """
    fmt = FORMATS[output.suffix.lower()]
    with atomic_output(output, replace=overwrite) as tmp, av.open(str(tmp), "w") as container:
        with av.open(str(paths[0])) as first:
            template = first.streams.video[0]
            extradata = template.codec_context.extradata
            stream = container.add_stream_from_template(template)
        carrier = _AudioCarrier(audio, container, fmt.audio_codec, end_time) if audio else None
        frames, dts = 0, None
        try:
            for packet in _video_packets(paths, extradata):
                dts = _increasing_dts(packet, dts)
                packet.stream = stream
                container.mux(packet)
                frames += 1
                if carrier is not None and packet.pts is not None:
                    carrier.mux_until(float(packet.pts * packet.time_base))
            if carrier is not None:
                carrier.finish()
            if expected is not None and frames != expected:
                raise VidstyleError(
                    f"the segments hold {frames} frames, not the {expected} in their manifest; "
                    "use {restart}",
                    settings=("restart",),
                )
        finally:
            if carrier is not None:
                carrier.close()
    return frames


def _video_packets(paths: list[Path], extradata: bytes | None) -> Iterator[av.Packet]:
    """The video packets of the segments, in order, each encoded as the first was."""
    for path in paths:
        try:
            with av.open(str(path)) as segment:
                source = segment.streams.video[0]
                if source.codec_context.extradata != extradata:
                    raise VidstyleError(
                        f"segment {path.name} was encoded with other settings; use {{restart}}",
                        settings=("restart",),
                    )
                yield from (packet for packet in segment.demux(source) if packet.size)
        except av.FFmpegError:
            raise VidstyleError(f"{path} is damaged: run the job again to make it again") from None


def _increasing_dts(packet: av.Packet, last: int | None) -> int | None:
    """Give ``packet`` a decode timestamp after ``last`` where it has none, or none after
    it: Matroska stores none, and its demuxer leaves a segment's first packets without, or
    guesses ones from before the previous segment's end. Returns the packet's."""
    if packet.dts is None or (last is not None and packet.dts <= last):
        packet.dts = packet.pts if last is None else last + 1
    return packet.dts


def decodable_frames(path: Path) -> int:
    """How many frames of the video file ``path`` decode; -1 where it cannot be opened."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))
    except (av.FFmpegError, OSError, IndexError):
        return -1


def hq_frames_dir(folder: Path, segment: Segment) -> Path:
    """Where an HQ segment keeps its finished frames until its file is written: beside it
    in the work directory ``folder`` (``hq-frames-00003`` for the third segment)."""
    return folder / f"hq-frames-{segment.number:05d}"


def default_work_dir(output: Path, hidden: bool = False) -> Path:
    """Beside the output: ``OUTPUT.segments``, or ``.OUTPUT.segments`` (``hidden``: in a
    batch's output folder, which a later batch may take as its input)."""
    return Path(output).with_name(f"{'.' if hidden else ''}{Path(output).name}.segments")


def job_manifest(job: SegmentJob, plan: Plan) -> dict[str, Any]:
    """Everything a finished segment depends on: the input and style files (by size, date
    and content), the settings and the plan."""
    source, style = Path(job.input), Path(job.network.style)
    stat = source.stat()
    return {
        "version": MANIFEST_VERSION,
        "input": {"path": str(source.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "style": {"path": str(style.resolve()), "sha256": hashlib.sha256(style.read_bytes()).hexdigest()},
        "settings": job.settings(),
        "segments": [asdict(segment) for segment in plan.segments],
    }


class WorkDir(BaseWorkDir):
    """Finished segments (video files without audio), numbered from 1 as messages count
    them; the manifest's ``done`` has each one's record (frames, timestamps) by number.
    A segment counts as done once the manifest lists it and its file is there.

    Every name a segment's task may write here (see :meth:`names`) is recorded before the
    tasks start (:meth:`claim_plan`).
    """

    noun = "segments"
    #: what a join's folder holds: each side's frames, and their writers' temporary files
    inner = ("head_*.png", "tail_*.png", ".head_*.partial.png", ".tail_*.partial.png")

    def __init__(self, path: Path, job: dict[str, Any], suffix: str, restart: bool = False) -> None:
        self.suffix = suffix
        super().__init__(path, job, restart)
        #: the numbers of finished segments whose files were damaged, to be made again
        self.damaged = sorted(key for key, record in self.done.items() if not self._intact(key, record))
        for key in self.damaged:
            del self.done[key]
            if key.isdigit():
                self.file(int(key) - 1).unlink(missing_ok=True)
        if self.damaged:
            self._write()
        if not self.done:  # the frames kept for joins, of a job started over
            self.discard(*(name for name in self.files if name.startswith("join-")))

    def names(self, segment: Segment) -> tuple[str, ...]:
        """What the task of ``segment`` and its join may write here: its file, its join's
        folder of frames and file (:func:`blend_join`), its HQ frames (:func:`hq_frames_dir`)."""
        number = segment.number
        join = f"join-{number:05d}"
        return (self.file(segment.index).name, f"{join}/", f"{join}{self.suffix}", f"hq-frames-{number:05d}/")

    def claim_plan(self, segments: list[Segment]) -> None:
        self.claim(*(name for segment in segments for name in self.names(segment)))

    def file(self, index: int) -> Path:
        return self.path / f"segment-{index + 1:05d}{self.suffix}"

    def _intact(self, key: str, record: dict[str, Any]) -> bool:
        """Whether the finished segment ``key``'s file decodes to the frames its record
        counts (those before its blended head are in the join instead): a file cut short or
        overwritten since is made again rather than joined."""
        try:
            expected = record["frames"] - len(record.get("head") or [])
            path = self.file(int(key) - 1)
        except (AttributeError, KeyError, TypeError, ValueError):  # a record not as written
            return False
        return decodable_frames(path) == expected if expected else True

    def record(self, index: int) -> dict[str, Any] | None:
        """The finished segment ``index``'s record, None if it is still to do."""
        return self.done.get(str(index + 1))

    def finish_segment(self, index: int, record: dict[str, Any]) -> None:
        self.finish(str(index + 1), record)

    def parts(self, plan: Plan, job: SegmentJob) -> list[Path]:
        """The files whose packets make the output, in order, once every segment is done:
        each segment's file, and before it its blended join where it has one (written
        here, see :func:`blend_join`)."""
        records = [self.record(segment.index) for segment in plan.segments]
        info = encoder_info(job) if any(record["head"] for record in records) else None
        files: list[Path] = []
        for segment, record in zip(plan.segments, records, strict=True):
            if record["head"]:
                tail = records[segment.index - 1]["tail"]
                files.append(blend_join(self.path, segment, record["head"], tail, job, info))
            if record["frames"] > len(record["head"]):
                files.append(self.file(segment.index))
        return files
