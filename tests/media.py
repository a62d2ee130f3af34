"""Synthesize tiny test videos with PyAV so tests need no media files on disk."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48000


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of a test pattern: colour gradients plus a moving white square.

    The gradients make colour/orientation errors visible; the square makes frames differ.
    """
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = x[None, :]
    image[..., 1] = y[:, None]
    image[..., 2] = 64
    side = max(4, min(width, height) // 4)
    left = (index * 3) % max(1, width - side)
    image[height // 4 : height // 4 + side, left : left + side] = 255
    return image


def frame_times(frames: int, fps: float, vfr: bool) -> tuple[list[int], Fraction]:
    """Presentation timestamps and their time base: regular, or irregular (cycling gaps)."""
    if not vfr:
        rate = Fraction(fps).limit_denominator(1001)
        return list(range(frames)), 1 / rate
    step = round(1000 / fps)
    gaps = (step, 2 * step, step // 2 or 1, 3 * step)
    pts = [0]
    for i in range(1, frames):
        pts.append(pts[-1] + gaps[i % len(gaps)])
    return pts, Fraction(1, 1000)


def make_video(
    path: Path,
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 10,
    fps: float = 10,
    audio: bool = False,
    vfr: bool = False,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    gray: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> list[float]:
    """Write a small video (optionally with a sine-tone AAC track); return its frame times.

    ``rotation`` is stored as a display matrix (counter-clockwise degrees, as ffmpeg reads
    it); ``gray`` makes every frame that solid grey level instead of the moving pattern;
    ``options`` are encoder options (e.g. ``{"g": "1"}`` for intra-only), and
    ``container_options`` the muxer's (e.g. ``{"movflags": "faststart"}``).
    """
    pts_list, time_base = frame_times(frames, fps, vfr)
    with av.open(str(path), "w", container_options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = time_base
        stream.options = options or {}
        if pix_fmt.startswith("yuvj"):
            stream.codec_context.color_range = av.video.reformatter.ColorRange.JPEG
        if rotation:
            stream.set_display_rotation(rotation)
        tone = _add_tone_stream(container) if audio else None
        for i, pts in enumerate(pts_list):
            image = pattern(i, width, height) if gray is None else _solid(gray, width, height)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
            frame.pts, frame.time_base = pts, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if tone is not None:
            _write_tone(container, tone, float(pts_list[-1] * time_base) + 1 / fps)
    return [float(p * time_base) for p in pts_list]


def make_audio(path: Path, *, seconds: float = 1.0) -> None:
    """Write an audio-only file (AAC sine tone)."""
    with av.open(str(path), "w") as container:
        _write_tone(container, _add_tone_stream(container), seconds)


def make_corrupt_video(path: Path, *, mode: str, frames: int = 30, intra: bool = True) -> None:
    """Write a video (10 fps, the container follows the suffix), then damage it.

    ``mode="truncate"`` cuts the file in the middle of a packet (a download that stopped);
    ``mode="garbage"`` overwrites the payload of 4 packets in the middle with random
    bytes while keeping the container intact, so the decoder itself hits bad data.
    ``intra`` makes every frame a keyframe; otherwise later frames depend on the damaged
    ones. MP4 and MOV get their index first, as files made for streaming have it.
    """
    make_video(
        path,
        frames=frames,
        width=96,
        height=64,
        options={"g": "1"} if intra else None,
        container_options={"movflags": "faststart"} if path.suffix in (".mp4", ".mov") else None,
    )
    data = bytearray(path.read_bytes())
    if mode == "truncate":
        del data[len(data) // 2 + 37 :]
    elif mode == "garbage":
        with av.open(str(path)) as container:
            packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
        rng = np.random.default_rng(0)
        middle = len(packets) // 2
        for pos, size in packets[middle - 2 : middle + 2]:
            data[pos + 10 : pos + size] = rng.integers(0, 256, size - 10, dtype=np.uint8).tobytes()
    else:
        raise ValueError(f"unknown corruption mode {mode!r}")
    path.write_bytes(bytes(data))


def make_size_change(path: Path, sizes: list[tuple[int, int]], frames: int = 5) -> None:
    """Write an MPEG-TS whose frame size changes midway: one clip of ``frames`` frames per
    ``(width, height)``, joined byte for byte as a broadcast that switches resolution."""
    parts = []
    for i, (width, height) in enumerate(sizes):
        part = path.with_name(f"{path.stem}.part{i}.ts")
        make_video(part, width=width, height=height, frames=frames)
        parts.append(part.read_bytes())
        part.unlink()
    path.write_bytes(b"".join(parts))


def _solid(level: int, width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), level, np.uint8)


def _add_tone_stream(container: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    stream = container.add_stream("aac", rate=AUDIO_RATE)
    stream.layout = "stereo"
    return stream


def _write_tone(
    container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    """Encode ``seconds`` of a 440 Hz stereo tone into ``stream``."""
    samples = round(seconds * AUDIO_RATE)
    t = np.arange(samples, dtype=np.float32) / AUDIO_RATE
    tone = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
    chunk = 1024
    for start in range(0, samples, chunk):
        block = tone[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(np.stack([block, block]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
