"""Long videos on Ray: the segments of :mod:`vidstyle.segments` as Ray tasks, one output.

:func:`stylize_on_ray` cuts the video, runs a task per segment (on a local Ray started for
the job, or the cluster ``RAY_ADDRESS`` names), keeps each finished segment in a work
directory, retries a failed one, and joins them with the source's audio. Ray is an
optional dependency: ``pip install 'vidstyle[ray]'``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from . import segments as seg
from .errors import VidstyleError
from .fileio import check_output_path
from .images import scaled_size
from .progress import FrameProgress
from .stylize import StylizeResult, cpu_cores
from .stylizer import DEFAULT_STYLE_SCALE
from .temporal import DEFAULT_WEIGHT
from .video import DEFAULT_CRF, DEFAULT_PRESET, FORMATS, probe
from .weights import DEFAULT_STYLE, find_style, read_info

#: times a segment whose task raised is run again before the job fails (a task whose worker
#: process died is restarted by Ray itself, :data:`CRASH_RETRIES` times)
RETRIES = 1
CRASH_RETRIES = 2
#: object store of a local Ray: tasks exchange only small records, so a little will do
#: (Ray's default takes 30% of the memory)
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
#: seconds between checks for finished tasks (and for Ctrl-C)
POLL_SECONDS = 0.5
#: seconds that cancelled tasks have to end before Ray stops
CANCEL_SECONDS = 3.0

Task = Callable[[seg.SegmentJob, seg.Segment, str], dict[str, Any]]
Log = Callable[[str], None]


def import_ray() -> ModuleType:
    """The ray module; a one-line error saying how to install it when it is missing."""
    try:
        import ray
    except ImportError:
        raise VidstyleError("--backend ray needs Ray: pip install 'vidstyle[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[ModuleType]:
    """Ray, connected: to ``address`` or ``RAY_ADDRESS`` if either is set (``auto``: a
    cluster this machine belongs to), else to a local Ray started for the job on this
    machine's cores and stopped afterwards. A session already open is used as it is.

    Ray's own log lines stay in its log files, off the terminal, and vidstyle keeps its
    handling of SIGTERM and Ctrl-C (which ``ray.init`` replaces).
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS")
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if not address:
        options.update(address="local", num_cpus=cpu_cores(), object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    else:
        options["address"] = address
    with _signal_handlers_kept():
        try:
            ray.init(**options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise VidstyleError(f"cannot start {where}: {str(exc).strip().splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def stylize_on_ray(
    input: str | Path,
    output: str | Path,
    style: str | Path = DEFAULT_STYLE,
    *,
    device: str = "auto",
    precision: str = "auto",
    strength: float = 1.0,
    preserve_color: bool = False,
    style_scale: str = DEFAULT_STYLE_SCALE,
    temporal: float = DEFAULT_WEIGHT,
    warmup: int | None = None,
    max_size: int | None = None,
    max_frames: int | None = None,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    segment_seconds: float = seg.DEFAULT_SEGMENT_SECONDS,
    task_cpus: int = 1,
    task_gpus: float | None = None,
    tasks: int | None = None,
    address: str | None = None,
    work_dir: Path | None = None,
    restart: bool = False,
    keep_work: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    log: Log | None = None,
    task: Task = seg.stylize_segment,
) -> StylizeResult:
    """Stylize the video ``input`` into the video ``output`` in fast mode, a Ray task per
    segment; the output has the frames, timestamps and audio of a one-process run.

    Each task declares ``task_cpus`` cores and ``task_gpus`` GPUs (default: one with
    ``--device cuda``, else none); with a GPU it stylizes there (``device`` auto). At most
    ``tasks`` segments run at once (default: as many as the cluster has room for). Each
    segment starts ``warmup`` frames early (default: :func:`~vidstyle.segments.warmup_frames`
    of ``temporal``). Finished segments stay in ``work_dir`` (default ``OUTPUT.segments``)
    until the output is written, so a stopped job goes on where it was; ``keep_work``
    keeps them afterwards.
    ``log`` hears about resumed and retried segments; ``task`` is the function each Ray
    task runs (:func:`~vidstyle.segments.stylize_segment`).
    """
    began = time.perf_counter()
    import_ray()  # before anything is written
    input, output = Path(input), Path(output)
    gpus = task_gpus if task_gpus is not None else float(device == "cuda")
    if gpus < 0:
        raise VidstyleError("--task-gpus must be at least 0")
    job = seg.SegmentJob(
        str(input.resolve()),
        str(_check_files(input, output, style, overwrite)),
        device=device if device != "auto" else ("cuda" if gpus else "cpu"),
        precision=precision,
        strength=strength,
        preserve_color=preserve_color,
        style_scale=style_scale,
        temporal=temporal,
        max_size=max_size,
        crf=crf,
        preset=preset,
        suffix=output.suffix.lower(),
        cpus=task_cpus,
    )
    warmup = seg.warmup_frames(temporal) if warmup is None else warmup
    plan = seg.plan(input, segment_seconds, warmup=warmup, max_frames=max_frames)
    work = seg.WorkDir(
        work_dir or seg.default_work_dir(output), seg.job_manifest(job, plan, max_frames), job.suffix, restart
    )
    todo = [s for s in plan.segments if work.record(s.index) is None]
    if log and len(todo) < len(plan.segments):
        log(f"resuming: {len(plan.segments) - len(todo)} of {len(plan.segments)} segments already done")
    stages = {"split": time.perf_counter() - began}
    if todo:
        with FrameProgress(plan.frames, "ray", enabled=progress) as bar:
            stages |= _run_segments(address, task, job, todo, work, plan, gpus, tasks, bar, log)
    start = time.perf_counter()
    frames, records = _join(input, output, plan, work)
    stages["join"] = time.perf_counter() - start
    if not keep_work:
        work.remove()
    return _result(output, input, job, frames, records, began, stages)


def _run_segments(
    address: str | None,
    task: Task,
    job: seg.SegmentJob,
    todo: list[seg.Segment],
    work: seg.WorkDir,
    plan: seg.Plan,
    gpus: float,
    tasks: int | None,
    bar: FrameProgress,
    log: Log | None,
) -> dict[str, float]:
    """Run the segments ``todo`` on Ray; the seconds of Ray's start and of the segments."""
    start = time.perf_counter()
    with ray_session(address) as ray:
        started = time.perf_counter()
        remote = ray.remote(_call).options(num_cpus=job.cpus, num_gpus=gpus, max_retries=CRASH_RETRIES)
        submit = partial(remote.remote, task, job)
        _run(ray, submit, todo, work, len(plan.segments), tasks or len(todo), bar, log)
    return {"ray_start": started - start, "segments": time.perf_counter() - started}


def _join(input: Path, output: Path, plan: seg.Plan, work: seg.WorkDir) -> tuple[int, list[dict[str, Any]]]:
    """Join the finished segments into ``output``; the frames, and each segment's record."""
    records = [work.record(s.index) for s in plan.segments]
    files = [work.file(s.index) for s, record in zip(plan.segments, records, strict=True) if record["frames"]]
    if not files:
        raise VidstyleError(f"no frame of {input} could be decoded")
    audio = input if probe(input).has_audio else None
    expected = sum(record["frames"] for record in records)
    return seg.join(files, output, audio=audio, end_time=plan.end_time, expected=expected), records


def _check_files(input: Path, output: Path, style: str | Path, overwrite: bool) -> Path:
    """The style's weights file, once the input, the style and the output are checked."""
    if not input.is_file():
        raise VidstyleError(f"input not found: {input}")
    if output.suffix.lower() not in FORMATS:
        raise VidstyleError(f"--backend ray writes a video file ({', '.join(FORMATS)}), not {output}")
    style_path = find_style(style).resolve()
    read_info(style_path)  # a weights file, not a painting or another program's file
    check_output_path(output, inputs=(input, style_path), overwrite=overwrite)
    return style_path


def _call(task: Task, job: seg.SegmentJob, segment: seg.Segment, path: str) -> dict[str, Any]:
    """What each Ray task runs: ``task`` travels as an argument, so any callable will do."""
    return task(job, segment, path)


def _run(
    ray: ModuleType,
    submit: Callable[[seg.Segment, str], Any],
    todo: list[seg.Segment],
    work: seg.WorkDir,
    total: int,
    limit: int,
    bar: FrameProgress,
    log: Log | None,
) -> None:
    """Run the segments ``todo``, ``limit`` at a time, recording each as it finishes.

    A segment whose task failed runs again (:data:`RETRIES` times); the other segments go
    on meanwhile, and the job fails at the end with the first failure. Ctrl-C, SIGTERM or
    an error here cancels the tasks still running; finished segments are kept.
    """
    queue, pending = deque(todo), {}
    attempts: dict[int, int] = {}
    failures: list[str] = []
    done_frames = sum(record["frames"] for record in work.done.values())
    bar.update(done_frames, f"{len(work.done)}/{total} segments")
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                segment = queue.popleft()
                pending[submit(segment, str(work.file(segment.index)))] = segment
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                segment = pending.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason, final = _failure(exc)
                    attempts[segment.index] = attempts.get(segment.index, 0) + 1
                    if final or attempts[segment.index] > RETRIES:
                        failures.append(f"segment {segment.number} of {total} failed: {reason}")
                    else:
                        if log:
                            log(f"warning: segment {segment.number} failed ({reason}); running it again")
                        queue.append(segment)
                    continue
                work.finish_segment(segment.index, record)
                done_frames += record["frames"]
                bar.update(done_frames, f"{len(work.done)}/{total} segments")
    finally:
        for ref in pending:
            ray.cancel(ref)
        if pending:  # a moment for the tasks to remove their partial files
            ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_SECONDS)
    if failures:
        more = f" ({len(failures)} segments failed)" if len(failures) > 1 else ""
        raise VidstyleError(
            f"{failures[0]}{more}; finished segments are kept in {work.path}: run again to resume"
        )


def _failure(exc: Exception) -> tuple[str, bool]:
    """What made a task fail, in one line, and whether running it again is pointless (a
    :class:`VidstyleError`: the input or the settings, the same next time)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, VidstyleError):
        return str(cause), True
    text = next(iter(str(cause).strip().splitlines()), "")
    return (f"{type(cause).__name__}: {text}" if text else type(cause).__name__), False


def _result(
    output: Path,
    input: Path,
    job: seg.SegmentJob,
    frames: int,
    records: list[dict[str, Any]],
    began: float,
    stages: dict[str, float],
) -> StylizeResult:
    """What the job did, as a one-process run says it (``stages``: the seconds of cutting,
    starting Ray, running the segments and joining them)."""
    seconds = time.perf_counter() - began
    info = probe(input)
    width, height = scaled_size(info.width, info.height, job.max_size)
    return StylizeResult(
        str(output),
        width,
        height,
        frames,
        round(seconds, 3),
        round(frames / seconds, 2),
        ",".join(sorted({record["device"] for record in records})),
        read_info(Path(job.style)).name,
        sum(record["lost"] for record in records),
        {name: round(value, 3) for name, value in stages.items()},
    )
