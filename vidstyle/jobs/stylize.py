"""The stylize job: a frame source through a stylizer into frame sinks (the CLI's engine)."""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VidstyleError
from ..io.frames import Frame, FrameSink, FrameSource, Stylizer
from ..io.images import is_image_path, scaled_size
from ..io.locations import beside
from ..io.sinks import open_sink
from ..io.sources import open_source
from ..io.video import FORMATS
from ..progress import FrameProgress
from ..settings import EncodingSettings, Limits, Look, NetworkSettings
from ..stylizers.base import Paint, as_stylizer
from ..stylizers.factory import make_stylizer
from . import pipeline
from .pipeline import PipelineStats

#: 4 s of cars in a car park, with sound, bundled with the package (see vidstyle/training/data/README.md)
DEMO_CLIP = Path(__file__).resolve().parent.parent / "data" / "demo.mp4"


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
    #: what ended a live input ("Ctrl-C", "SIGTERM"); None when it ran to its end
    stopped_by: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


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
#: glibc malloc arenas for a fast run's threads (glibc's default: 8 a core): each arena
#: keeps the frames its threads freed for their own reuse; with 2, a 4K video at full size
#: peaked at 2.74 GB instead of 3.10, at the same speed
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def cpu_cores() -> int:
    """The cores this process may run on (its affinity, as containers and taskset set it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def share_cores(
    stylizer: Stylizer | Paint, threads: int | None = None, workers: int | None = None
) -> ThreadPlan:
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

    if str(as_stylizer(stylizer).device) != "cpu":
        if threads:
            torch.set_num_threads(threads)
        return ThreadPlan(workers or 1, 0)
    limit_malloc_arenas()
    cores = cpu_cores()
    workers = workers or max(1, min(cores, MAX_WORKERS))
    # a lone worker leaves a core to decoding and encoding; several share all cores
    threads = threads or max(1, (cores - (workers == 1)) // workers)
    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    return ThreadPlan(workers, 1 if cores <= 2 else 0)


def limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at :data:`MALLOC_ARENAS` for the threads started from now
    on, unless ``MALLOC_ARENA_MAX`` says otherwise; nothing on other systems."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return
    mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


def default_output(input: str | Path, style: str, folder: Path | None = None, playable: bool = False) -> Path:
    """Where a file is stylized to when no output is named: ``NAME.STYLE.EXT`` beside it
    (see :func:`~vidstyle.io.locations.beside`). A video keeps its container where it can be
    written (``playable``: always MP4, which every browser plays), else becomes MP4."""
    suffix = Path(input).suffix.lower()
    keep = is_image_path(Path(input)) or (suffix in FORMATS and not playable)
    return beside(input, style, None if keep else ".mp4", folder)


def plan_fast_job(
    network: NetworkSettings, threads: int | None = None, workers: int | None = None
) -> dict[str, Any]:
    """The options of :func:`stylize_media` for a fast job, as the command line makes them:
    the stylizer ``network`` describes (:func:`~vidstyle.stylizers.factory.make_stylizer`)
    and the cores' plan for it."""
    stylizer = make_stylizer(network)
    plan = share_cores(stylizer, threads, workers)
    return {"stylizer": stylizer, "workers": plan.workers, "encoder_threads": plan.encoder_threads}


#: the most memory the frames waiting between two stages may take (a 4K video's peak was
#: 3.4 GB with 8 frames in each of the two queues)
QUEUE_BYTES = 100 * 2**20


def run_job(
    source: FrameSource,
    stylizer: Stylizer | Paint,
    sinks: list[FrameSink],
    *,
    look: Look = Look(),
    batch_size: int = 1,
    workers: int = 1,
    progress: bool = True,
) -> PipelineStats:
    """Stylize every frame of ``source`` into every sink, in order, through the threaded
    pipeline (decode, ``workers`` network threads, encode), each finished in ``look``.

    The stylizer starts afresh. One whose finishing carries state from frame to frame
    (:class:`~vidstyle.stylizers.temporal.TemporalBlender`) paints on the network threads
    and finishes in the encode thread, in order, beside the network; any other paints and
    finishes on the network threads. A live source ends on Ctrl-C or ``kill`` with what it
    captured so far.
    """
    stylizer = as_stylizer(stylizer)
    stylizer.reset()
    sequential = stylizer.sequential_finish
    network = stylizer.paint if sequential else partial(stylizer, look=look)
    finish = partial(stylizer.finish, look=look) if sequential else None

    def write(image: np.ndarray, frame: Frame) -> None:
        for sink in sinks:
            sink.write(image, frame)

    count = source.info.frame_count
    with FrameProgress(count, enabled=progress and count != 1) as bar:
        return pipeline.run(
            source,
            _image_of,
            network,
            write,
            batch_size=batch_size,
            on_frame=bar.update,
            finish=finish,
            workers=workers,
            live=source.info.live,
            cancel=stylizer.cancel,
            queue_size=queue_size(source.info.width, source.info.height, workers),
        )


def queue_size(width: int, height: int, workers: int) -> int:
    """Frames that may wait between two stages: 8, or fewer where that many would take more
    than :data:`QUEUE_BYTES` (at 4K each frame is 25 MB), but at least one per worker."""
    frame = max(1, width * height * 3)
    return max(workers, min(pipeline.DEFAULT_QUEUE_SIZE, QUEUE_BYTES // frame))


def _image_of(frame: Frame) -> np.ndarray:
    return frame.image


def stylize_media(
    input: str | Path,
    output: str | Path,
    stylizer: Stylizer | Paint,
    *,
    look: Look = Look(),
    limits: Limits = Limits(),
    encoding: EncodingSettings = EncodingSettings(),
    fps: float | None = None,
    batch_size: int = 1,
    workers: int = 1,
    encoder_threads: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> StylizeResult:
    """Stylize what ``input`` names into what ``output`` names (see
    :func:`~vidstyle.io.sources.open_source` and :func:`~vidstyle.io.sinks.open_sink`): a video
    keeps its timestamps and audio, every file is written atomically.

    Frames are finished in ``look``, taken within ``limits``, and a video encoded with
    ``encoding``. ``fps`` is the rate of an image-sequence input. ``workers`` threads stylize alternate
    frames; ``encoder_threads`` 0 lets the encoder choose (:func:`share_cores` plans both).
    Frames that fail to decode (a damaged file) or are missing (a truncated one) are counted
    in ``lost_frames``; the output is still a valid video of what decoded.
    """
    stylizer = as_stylizer(stylizer)
    start = time.perf_counter()
    max_size, max_frames = limits.max_size, limits.max_frames
    with open_source(input, max_size=max_size, max_frames=max_frames, fps=fps) as source:
        info = source.info
        sink = open_sink(
            output,
            info,
            inputs=info.files,
            overwrite=overwrite,
            encoding=encoding,
            encoder_threads=encoder_threads,
        )
        with sink:
            stats = run_job(
                source, stylizer, [sink], look=look, batch_size=batch_size, workers=workers, progress=progress
            )
            if stats.frames == 0:
                raise VidstyleError(f"no frame of {info.label} could be decoded")
            if max_frames is not None and stats.frames >= max_frames:
                sink.cut_short(1 / max(info.fps, 1e-6))  # a video's audio ends with its frames
        lost = source.lost_frames
    seconds = time.perf_counter() - start
    width, height = scaled_size(info.width, info.height, max_size)
    return StylizeResult(
        str(output),
        width,
        height,
        stats.frames,
        round(seconds, 3),
        round(stats.frames / seconds, 2),
        str(stylizer.device),
        stylizer.name,
        lost,
        {k: round(getattr(stats, k), 3) for k in ("decode", "stylize", "post", "encode")},
        stats.stopped_by,
    )

