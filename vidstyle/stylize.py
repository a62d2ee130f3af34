"""The stylize job: a video or image file in, a stylized file out (the CLI's engine)."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import pipeline
from .errors import VidstyleError
from .fileio import atomic_output, check_output_path
from .images import is_image_path, read_image, scaled_size, write_image
from .progress import FrameProgress
from .stylizer import Stylizer
from .temporal import TemporalBlender
from .video import DEFAULT_CRF, DEFAULT_PRESET, FORMATS, VideoFrame, VideoReader, VideoWriter

#: 4 s of cars in a car park, with sound, bundled with the package (see vidstyle/data/README.md)
DEMO_CLIP = Path(__file__).resolve().parent / "data" / "demo.mp4"


@dataclass
class StylizeResult:
    """What a stylize job did, as printed by ``vidstyle stylize --json``."""

    output: str
    #: the output's size in pixels
    width: int
    height: int
    frames: int
    seconds: float
    fps: float
    device: str
    style: str
    lost_frames: int = 0
    #: seconds each stage spent working: decode (incl. scaling), stylize, post (temporal
    #: blending, in the encode thread), encode
    stages: dict[str, float] | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _check_input(path: Path) -> None:
    if not path.exists():
        raise VidstyleError(f"input not found: {path}")
    if path.is_dir():
        raise VidstyleError(f"input {path} is a directory, not a video or image")


def stylize_image(
    input: Path,
    output: Path,
    stylizer: Stylizer,
    *,
    max_size: int | None = None,
    overwrite: bool = False,
) -> StylizeResult:
    """Stylize one image file; the output format follows ``output``'s suffix."""
    input, output = Path(input), Path(output)
    _check_input(input)
    check_output_path(output, inputs=(input,), overwrite=overwrite)
    if not is_image_path(output):
        raise VidstyleError(f"output {output} must be an image file (.png, .jpg...) for an image input")
    start = time.perf_counter()
    image = read_image(input, max_size=max_size)
    height, width = image.shape[:2]
    result = stylizer([image])[0]
    write_image(output, result)
    seconds = time.perf_counter() - start
    return StylizeResult(
        str(output),
        width,
        height,
        1,
        round(seconds, 3),
        round(1 / seconds, 2),
        _device_of(stylizer),
        _name_of(stylizer),
    )


@dataclass(frozen=True)
class ThreadPlan:
    """How a fast video run shares the machine: what :func:`share_cores` decided.

    ``workers`` network threads stylize alternate frames (``stylize_video(workers=...)``),
    each on the PyTorch threads that :func:`share_cores` set; ``encoder_threads`` goes to
    ``stylize_video(encoder_threads=...)`` (0: the encoder chooses).
    """

    workers: int
    encoder_threads: int


#: network workers at most by default: each holds its own activations (about 0.35 GB for
#: 1080p frames), and two keep a 1080p run within 2 GB
MAX_WORKERS = 2


def cpu_cores() -> int:
    """The cores this process may run on (its affinity, as containers and taskset set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def share_cores(stylizer: Stylizer, threads: int | None = None, workers: int | None = None) -> ThreadPlan:
    """Set the threads of a fast video run and return the plan for :func:`stylize_video`.

    On the CPU the network is too small to keep several threads of one frame busy (they
    wait for each other whenever the encoder takes a core), so by default each core runs
    its own frame through the network (up to :data:`MAX_WORKERS` frames at once, the
    cores shared out between them), beside the decode and encode threads, and OpenCV
    (blending) keeps to one thread.
    On 2 cores the encoder keeps to one thread too. Elsewhere (CUDA, MPS) one worker feeds
    the device and only an explicit ``threads`` is applied.
    """
    import cv2
    import torch

    if _device_of(stylizer) != "cpu":
        if threads:
            torch.set_num_threads(threads)
        return ThreadPlan(workers or 1, 0)
    cores = cpu_cores()
    workers = workers or max(1, min(cores, MAX_WORKERS))
    # a lone worker leaves a core to decoding and encoding; several share all cores
    threads = threads or max(1, (cores - (workers == 1)) // workers)
    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    return ThreadPlan(workers, 1 if cores <= 2 else 0)


def stylize_video(
    input: Path,
    output: Path,
    stylizer: Stylizer,
    *,
    max_size: int | None = None,
    max_frames: int | None = None,
    batch_size: int = 1,
    workers: int = 1,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    encoder_threads: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> StylizeResult:
    """Stylize a video: same timestamps, audio carried over, written atomically.

    ``workers`` threads stylize alternate frames; ``encoder_threads`` 0 lets the encoder
    choose (:func:`share_cores` plans both for the machine).

    Frames that fail to decode (a damaged file) or are missing (a truncated one) are
    counted in ``lost_frames``; the output is still a valid video of what decoded.
    """
    input, output = Path(input), Path(output)
    _check_input(input)
    check_output_path(output, inputs=(input,), overwrite=overwrite)
    if output.suffix.lower() not in FORMATS:
        raise VidstyleError(
            f"unsupported output type {output.suffix or '(none)'!r} for a video; "
            f"use one of {', '.join(FORMATS)}"
        )
    start = time.perf_counter()
    with VideoReader(input, max_frames=max_frames, max_size=max_size) as reader:
        info = reader.info
        width, height = scaled_size(info.width, info.height, max_size)
        with atomic_output(output) as tmp:
            writer = VideoWriter(
                tmp,
                width,
                height,
                time_base=info.time_base,
                fps=info.fps,
                crf=crf,
                preset=preset,
                audio_source=input if info.has_audio else None,
                encoder_threads=encoder_threads,
            )
            last_time = [0.0]

            def sink(image: np.ndarray, frame: VideoFrame) -> None:
                writer.write(image, frame.pts)
                last_time[0] = frame.time

            def image_of(frame: VideoFrame) -> np.ndarray:
                return frame.image

            network, post = stylizer, None
            if isinstance(stylizer, TemporalBlender):  # blend in the encode thread, beside the network
                network, post = stylizer.inner, stylizer.blend
            with writer, FrameProgress(reader.expected_frames, enabled=progress) as bar:
                stats = pipeline.run(
                    reader,
                    image_of,
                    network,
                    sink,
                    batch_size=batch_size,
                    on_frame=bar.update,
                    post=post,
                    workers=workers,
                )
                frames = stats.frames
                if max_frames is not None and frames >= max_frames:  # cut the audio to match
                    writer.set_max_time(last_time[0] + 1 / max(info.fps, 1e-6))
            if frames == 0:
                raise VidstyleError(f"no frame of {input} could be decoded")
        lost = reader.lost_frames
    seconds = time.perf_counter() - start
    return StylizeResult(
        str(output),
        width,
        height,
        frames,
        round(seconds, 3),
        round(frames / seconds, 2),
        _device_of(stylizer),
        _name_of(stylizer),
        lost,
        {k: round(getattr(stats, k), 3) for k in ("decode", "stylize", "post", "encode")},
    )


def _device_of(stylizer: Stylizer) -> str:
    return str(getattr(stylizer, "device", "cpu"))


def _name_of(stylizer: Stylizer) -> str:
    return str(getattr(stylizer, "name", type(stylizer).__name__))
