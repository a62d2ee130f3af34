"""Encode RGB frames to a video file, keeping source timestamps and carrying audio over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from ...errors import VidstyleError
from ...settings import X264_PRESETS, EncodingSettings


@dataclass(frozen=True)
class _Format:
    video_codec: str
    audio_codec: str  # used when the source's audio codec cannot go into this container
    frame_slots: bool = False  # no timestamps, only frames at a fixed rate (AVI)


FORMATS = {
    ".mp4": _Format("libx264", "aac"),
    ".mov": _Format("libx264", "aac"),
    ".mkv": _Format("libx264", "aac"),
    ".avi": _Format("libx264", "libmp3lame", frame_slots=True),
    ".webm": _Format("libvpx-vp9", "libopus"),  # WebM allows only VP8/VP9/AV1 video
}
BT709 = 1  # AVCOL_PRI_BT709 / AVCOL_TRC_BT709 / AVCOL_SPC_BT709
AVFMT_TS_NEGATIVE = 0x40000  # the muxer can store negative timestamps


class VideoWriter:
    """H.264 (VP9 for .webm) yuv420p writer; the container follows the suffix of ``path``.

    yuv420p needs even dimensions, so an odd ``width``/``height`` is cropped by one
    pixel (right column / bottom row); ``self.width``/``self.height`` are the output size.
    Frame timestamps are passed through in the source ``time_base``, so variable frame
    rate survives. Audio streams of ``audio_source`` are copied (or re-encoded when the
    container refuses their codec) and interleaved as video is written.
    """

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        *,
        time_base: Fraction,
        fps: float,
        encoding: EncodingSettings = EncodingSettings(),
        audio_source: Path | None = None,
        max_time: float | None = None,
        encoder_threads: int = 0,
    ) -> None:
        path = Path(path)
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            supported = ", ".join(FORMATS)
            raise VidstyleError(
                f"cannot write {path.name}: unsupported output format; use one of {supported}"
            )
        self.width, self.height = width - width % 2, height - height % 2
        if self.width < 2 or self.height < 2:
            raise VidstyleError(
                f"frame size {width}x{height} is too small to encode (video needs at least 2x2 pixels)"
            )
        self._input_shape = (height, width, 3)
        rate = Fraction(fps).limit_denominator(1001)
        self._source_time_base = time_base
        # AVI cannot keep source timestamps: frames snap to slots of its fixed rate instead.
        self._time_base = 1 / rate if fmt.frame_slots else time_base
        # One frame at the nominal rate, in time_base ticks: the step for frames without pts.
        self._frame_ticks = max(1, round(1 / (rate * self._time_base)))
        self._last_pts: int | None = None

        self._container = av.open(str(path), "w")
        try:
            self._stream = self._add_video_stream(fmt, rate, encoding, encoder_threads)
            self._audio = (
                _AudioCarrier(audio_source, self._container, fmt.audio_codec, max_time)
                if audio_source is not None
                else None
            )
        except BaseException:
            self._container.close()
            raise

    def _add_video_stream(
        self, fmt: _Format, rate: Fraction, encoding: EncodingSettings, threads: int
    ) -> av.video.stream.VideoStream:
        crf, preset = encoding.crf, encoding.preset
        stream = self._container.add_stream(fmt.video_codec, rate=rate)
        ctx = stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
        ctx.time_base = self._time_base
        stream.time_base = self._time_base  # a hint: mkv, for one, insists on 1/1000
        ctx.thread_count = threads
        # Tag what write() converts to, so players do not guess the matrix from the size.
        ctx.colorspace = ctx.color_primaries = ctx.color_trc = BT709
        ctx.color_range = ColorRange.MPEG
        if fmt.video_codec == "libx264":
            # Frame slots carry no timestamps to reorder by, so no B-frames: frames are
            # stored in display order or players show them shuffled.
            no_reorder = {"bf": "0"} if fmt.frame_slots else {}
            stream.options = {"crf": str(crf), "preset": preset, **no_reorder}
        else:
            # libvpx: bit_rate 0 + crf is constant quality; map x264 presets to cpu-used 8..0.
            speed = len(X264_PRESETS) - 1 - X264_PRESETS.index(preset)
            stream.options = {"crf": str(crf), "cpu-used": str(speed), "row-mt": "1"}
        return stream

    def write(self, image: np.ndarray, pts: int | None) -> None:
        """Encode one HxWx3 uint8 RGB frame shown at ``pts`` (in ``time_base``).

        ``pts=None`` places the frame one nominal frame after the previous one; a pts that
        does not increase (broken sources) is nudged forward one tick, as encoders require.
        """
        if image.shape != self._input_shape or image.dtype != np.uint8:
            raise ValueError(f"expected a {self._input_shape} uint8 image, got {image.shape} {image.dtype}")
        if pts is not None and self._time_base != self._source_time_base:
            pts = round(pts * self._source_time_base / self._time_base)
        if self._last_pts is None:
            pts = 0 if pts is None else pts
        elif pts is None:
            pts = self._last_pts + self._frame_ticks
        else:
            pts = max(pts, self._last_pts + 1)
        self._last_pts = pts
        rgb = np.ascontiguousarray(image[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
        )
        frame.pts, frame.time_base = pts, self._time_base
        self._container.mux(self._stream.encode(frame))
        if self._audio is not None:
            self._audio.mux_until(float(pts * self._time_base))

    def set_max_time(self, seconds: float) -> None:
        """Cut the audio at ``seconds`` (when the end of the video is known only at the end)."""
        if self._audio is not None:
            self._audio.max_time = seconds

    def close(self) -> None:
        """Flush the encoder, mux the remaining audio and finalise the file."""
        try:
            self._container.mux(self._stream.encode(None))
            if self._audio is not None:
                self._audio.finish()
        finally:
            if self._audio is not None:
                self._audio.close()
            self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # the caller's atomic_output discards the file; just release resources
            if self._audio is not None:
                self._audio.close()
            self._container.close()


@dataclass
class _Route:
    """Where packets of one source audio stream go, and whether they are re-encoded."""

    source: av.audio.stream.AudioStream
    output: av.audio.stream.AudioStream
    transcode: bool
    done: bool = False


class _AudioCarrier:
    """Moves the audio streams of a source file into the output in step with the video.

    Packets are read lazily, only up to the current video time, so memory stays bounded.
    Audio is copied untouched when the output container accepts its codec.
    """

    def __init__(
        self,
        source: Path,
        output: av.container.OutputContainer,
        fallback_codec: str,
        max_time: float | None,
    ) -> None:
        try:
            self._input = av.open(str(source))
        except (av.FFmpegError, OSError) as exc:
            raise VidstyleError(f"cannot read audio from {source}: {exc}") from None
        self._output = output
        self.max_time = max_time
        # Muxers that cannot store negative timestamps (mkv, webm, avi) would otherwise shift
        # every stream, video included, to fit the AAC/Opus priming packet before 0 s.
        self._drop_negative = not output.format.flags & AVFMT_TS_NEGATIVE
        try:
            self._routes = {
                stream.index: self._route(stream, fallback_codec)
                for stream in self._input.streams.audio
                if stream.codec_context is not None
            }
        except BaseException:
            self._input.close()
            raise
        self._packets = self._demux()
        self._pending: av.Packet | None = None

    def _route(self, stream: av.audio.stream.AudioStream, fallback_codec: str) -> _Route:
        try:
            return _Route(stream, self._output.add_stream_from_template(stream), transcode=False)
        except ValueError:  # "format does not support codec"
            pass
        ctx = stream.codec_context
        rates = av.Codec(fallback_codec, "w").audio_rates
        rate = ctx.sample_rate if not rates or ctx.sample_rate in rates else 48000
        output = self._output.add_stream(fallback_codec, rate=rate)
        output.layout = ctx.layout
        return _Route(stream, output, transcode=True)

    def _demux(self) -> Iterator[av.Packet]:
        """Source audio packets; a damaged source just ends the audio early."""
        if not self._routes:
            return
        packets = self._input.demux(*(route.source for route in self._routes.values()))
        try:
            yield from packets
        except av.FFmpegError:
            return

    def mux_until(self, time: float | None) -> None:
        """Mux source audio packets that start at or before ``time`` (None: all of them)."""
        while not all(route.done for route in self._routes.values()):
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                return
            start = _packet_time(packet)
            if time is not None and start is not None and start > time:
                self._pending = packet
                return
            route = self._routes[packet.stream.index]
            if self.max_time is not None and start is not None and start >= self.max_time:
                route.done = True
            elif packet.size:  # skip the demuxer's empty end-of-stream packets
                self._mux(route, packet)

    def finish(self) -> None:
        """Mux what is left (up to ``max_time``) and flush the audio encoders."""
        self.mux_until(None)
        for route in self._routes.values():
            if route.transcode:
                self._encode(route, route.source.decode(None))
                self._encode(route, [None])

    def close(self) -> None:
        self._input.close()

    def _mux(self, route: _Route, packet: av.Packet) -> None:
        if not route.transcode:
            packet.stream = route.output
            self._put(packet)
            return
        try:
            frames = route.source.decode(packet)
        except av.FFmpegError:
            return  # a damaged audio packet is a click, not a reason to fail
        self._encode(route, frames)

    def _encode(self, route: _Route, frames: list[av.AudioFrame | None]) -> None:
        for frame in frames:
            for packet in route.output.encode(frame):
                self._put(packet)

    def _put(self, packet: av.Packet) -> None:
        start = _packet_time(packet)
        if self._drop_negative and start is not None and start < 0:
            end = start + float((packet.duration or 0) * packet.time_base)
            if end <= 0:
                return
        self._output.mux(packet)


def _packet_time(packet: av.Packet) -> float | None:
    ticks = packet.pts if packet.pts is not None else packet.dts
    return None if ticks is None or packet.time_base is None else float(ticks * packet.time_base)
