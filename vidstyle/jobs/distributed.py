"""Videos and batches on Ray: the segments of :mod:`vidstyle.jobs.segments`, and whole images, as
Ray tasks.

:func:`stylize_on_ray` cuts a video, runs a task per segment (on a local Ray started for
the job, or the cluster ``RAY_ADDRESS`` names), keeps each finished segment in a work
directory, retries a failed one, and joins them with the source's audio.
:func:`stylize_batch_on_ray` does the same for every video of a batch, and runs each image
as one task, all through one queue. Ray is an optional dependency: ``pip install
'vidstyle[ray]'``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import SettingsError, VidstyleError
from ..io.fileio import check_output_path
from ..io.images import is_image_path, scaled_size
from ..io.video import FORMATS, probe
from ..progress import FrameProgress
from ..settings import EncodingSettings, Limits, Look, NetworkSettings
from ..weights import find_style, read_info
from . import segments as seg
from .batch import BatchItem, attempt, run_batch
from .stylize import StylizeResult, cpu_cores, share_cores, stylize_media

#: times a task that raised is run again before its file fails (a task whose worker
#: process died is restarted by Ray itself, :data:`CRASH_RETRIES` times)
RETRIES = 1
CRASH_RETRIES = 2
#: object store of a local Ray: tasks exchange only small records, so a little will do
#: (Ray's default takes 30% of the memory)
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
#: errors of the file system that another try would meet again (a full disk, a quota,
#: a read-only or forbidden folder): a task failing with one is not run again
LASTING_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
#: seconds between checks for finished tasks (and for Ctrl-C)
POLL_SECONDS = 0.5
#: seconds that cancelled tasks have to end before Ray stops
CANCEL_SECONDS = 3.0
#: seconds a cluster's address has to answer before the job is refused, and the tries,
#: a second apart, that Ray then makes to reach its GCS (Ray's default of 20 takes 20 s)
CONNECT_SECONDS = 5.0
CONNECT_RETRIES = 10

#: what a task runs: the job, the segment (None: the whole file) and the file to write
Task = Callable[[seg.SegmentJob, Any, str], Any]
Log = Callable[[str], None]


def import_ray() -> ModuleType:
    """The ray module; a one-line error saying how to install it when it is missing."""
    os.environ.setdefault("RAY_NUM_REDIS_GET_RETRIES", str(CONNECT_RETRIES))  # read on import
    try:
        import ray
    except ImportError:
        hint = "{backend} ray needs Ray: pip install 'vidstyle[ray]'"
        raise VidstyleError(hint, settings=("backend",)) from None
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
        check_reachable(address)
        options["address"] = address
    with _signal_handlers_kept(), _stderr_silenced():
        try:
            ray.init(**options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            if address and isinstance(exc, ConnectionError):
                raise VidstyleError(f"cannot reach the Ray cluster at {address} (no Ray there)") from None
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise VidstyleError(f"cannot start {where}: {str(exc).strip().splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """Refuse, within :data:`CONNECT_SECONDS`, a cluster address that nothing answers at:
    Ray itself retries such an address for minutes, printing each try."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():  # "auto", or an address for Ray to read
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or ("timed out" if isinstance(exc, TimeoutError) else str(exc))
        raise VidstyleError(f"cannot reach the Ray cluster at {address} ({reason})") from None


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Keep Ray's C++ core, which writes each failed try to connect straight to file
    descriptor 2, off the terminal while Ray starts (its errors are raised, and said once)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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


@dataclass(frozen=True)
class RayOptions:
    """How a job on Ray runs: the keyword options of :func:`stylize_on_ray` and
    :func:`stylize_batch_on_ray` beside the settings its frames depend on (those of a
    :class:`~vidstyle.jobs.segments.SegmentJob`: network, look, encoding, limits).

    Each task declares ``task_cpus`` cores and ``task_gpus`` GPUs (default: one where the
    network's device is cuda, else none); with a GPU it stylizes there (device auto). At most
    ``tasks`` tasks run at once (default: as many as the cluster has room for). Each
    segment starts ``warmup`` frames early, and each join cross-fades over ``blend``
    frames (defaults: the job's, :attr:`~vidstyle.jobs.segments.SegmentJob.warmup` and
    :attr:`~vidstyle.jobs.segments.SegmentJob.blend`). ``restart`` empties a work directory of
    other settings, ``keep_work`` keeps it once the output is written. ``log`` hears about
    resumed and retried work; ``task`` is the function a segment's task runs
    (:func:`~vidstyle.jobs.segments.stylize_segment`).
    """

    warmup: int | None = None
    blend: int | None = None
    segment_seconds: float = seg.DEFAULT_SEGMENT_SECONDS
    task_cpus: int = 1
    task_gpus: float | None = None
    tasks: int | None = None
    address: str | None = None
    restart: bool = False
    keep_work: bool = False
    progress: bool = True
    log: Log | None = None
    task: Task = seg.stylize_segment

    def __post_init__(self) -> None:
        if self.task_cpus < 1:
            raise SettingsError("task_cpus", "must be at least 1")
        if self.task_gpus is not None and not self.task_gpus >= 0:
            raise SettingsError("task_gpus", "must be at least 0")

    def for_device(self, device: str) -> RayOptions:
        """These options with ``task_gpus`` decided for a network on ``device``."""
        return self if self.task_gpus is not None else replace(self, task_gpus=float(device == "cuda"))

    @property
    def gpus(self) -> float:
        """The GPUs each task takes, once :meth:`for_device` has decided them."""
        return self.task_gpus or 0.0

    def job(self, network: NetworkSettings, **frames: Any) -> seg.SegmentJob:
        """The settings every task runs with: ``network`` on the tasks' device (a GPU where
        they take one, for ``auto``), and ``frames``, the rest of the frames' settings; each
        file's own input and container go in with :func:`dataclasses.replace`."""
        device = network.device if network.device != "auto" else ("cuda" if self.gpus else "cpu")
        return seg.SegmentJob("", replace(network, device=device), cpus=self.task_cpus, **frames)

    def say(self, line: str) -> None:
        if self.log is not None:
            self.log(line)


def stylize_on_ray(
    input: str | Path,
    output: str | Path,
    network: NetworkSettings = NetworkSettings(),
    *,
    look: Look = Look(),
    encoding: EncodingSettings = EncodingSettings(),
    limits: Limits = Limits(),
    hq: dict[str, Any] | None = None,
    work_dir: Path | None = None,
    overwrite: bool = False,
    **options: Any,
) -> StylizeResult:
    """Stylize the video ``input`` into the video ``output``, a Ray task per segment; the
    output has the frames, timestamps and audio of a one-process run. Fast mode, or HQ
    mode with ``hq`` (:class:`~vidstyle.jobs.hq.HQConfig`'s fields as a dict, ``temporal``
    0, and ``network.style`` a painting or a style whose painting HQ optimises towards).

    The frames' settings are those of a :class:`~vidstyle.jobs.segments.SegmentJob`;
    ``options`` those of :class:`RayOptions`. Finished segments stay in ``work_dir``
    (default ``OUTPUT.segments``) until the output is written, so a stopped job goes on
    where it was. (An image ``input`` is one task.)
    """
    settings, job = _prepare(network, options, look=look, encoding=encoding, limits=limits, hq=hq)
    input, output = Path(input), Path(output)
    if not input.is_file():
        raise VidstyleError(f"input not found: {input}")
    file = _open(input, output, job, settings, overwrite, work_dir or seg.default_work_dir(output))
    _run_files([file], settings, settle=lambda _: None)
    return file.result()


def stylize_batch_on_ray(
    inputs: list[Path],
    output_dir: Path,
    network: NetworkSettings = NetworkSettings(),
    *,
    look: Look = Look(),
    encoding: EncodingSettings = EncodingSettings(),
    limits: Limits = Limits(),
    hq: dict[str, Any] | None = None,
    overwrite: bool = False,
    on_item: Callable[[int, int, BatchItem], None] | None = None,
    tag: str | None = None,
    **options: Any,
) -> list[BatchItem]:
    """Stylize every image and video of ``inputs`` into ``output_dir`` as
    :func:`~vidstyle.jobs.batch.stylize_batch` does, on Ray: a task per image and a task per
    segment of each video, all in one queue so that the cluster stays busy across files.

    Each video is joined as soon as its last segment is done. Its finished segments wait in
    ``.NAME.segments`` beside its output (hidden, so that no later batch over the folder
    takes them for inputs), so a stopped batch goes on where it was. The settings and
    ``options`` are those of :func:`stylize_on_ray`; ``tag`` marks the outputs' names (see
    :func:`~vidstyle.jobs.batch.output_for`).
    """
    settings, job = _prepare(network, options, look=look, encoding=encoding, limits=limits, hq=hq)

    def on_ray(pairs: list[tuple[Path, Path]], report: Callable[[BatchItem], None]) -> None:
        files = []
        for source, target in pairs:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                work_dir = seg.default_work_dir(target, hidden=True)
                files.append(_open(source, target, job, settings, overwrite, work_dir))
            except (VidstyleError, OSError) as exc:
                report(BatchItem.failed(source, target, exc))
        _run_files(files, settings, settle=lambda file: report(attempt(file.input, file.output, file.result)))

    return run_batch(inputs, output_dir, on_ray, overwrite=overwrite, on_item=on_item, tag=tag)


def _prepare(
    network: NetworkSettings, options: dict[str, Any], **frames: Any
) -> tuple[RayOptions, seg.SegmentJob]:
    """The job's :class:`RayOptions` (from ``options``) and the tasks' settings, checked
    before anything is written: Ray installed, the style a weights file (not a painting or
    another program's file)."""
    import_ray()
    settings = RayOptions(**options).for_device(network.device)
    style_path = _style_file(network.style, hq_mode=frames["hq"] is not None)
    return settings, settings.job(replace(network, style=str(style_path)), **frames)


def _style_file(style: str | Path, hq_mode: bool) -> Path:
    """The file the tasks read the style from, checked here: a weights file, or in HQ mode
    also a painting (the image HQ optimises towards)."""
    if hq_mode and is_image_path(Path(style)):
        if not Path(style).is_file():
            raise VidstyleError(f"style image not found: {style}")
        return Path(style).resolve()
    style_path = find_style(style).resolve()
    read_info(style_path)
    return style_path


def _open(
    input: Path, output: Path, job: seg.SegmentJob, settings: RayOptions, overwrite: bool, work_dir: Path
) -> _File:
    """A file of the job, its output checked and its tasks planned: an image is one, a video
    is cut into segments (those ``work_dir`` holds are done)."""
    image = is_image_path(input)
    if not image and output.suffix.lower() not in FORMATS:
        raise VidstyleError(
            f"{{backend}} ray writes a video file ({', '.join(FORMATS)}), not {output}", settings=("backend",)
        )
    check_output_path(output, inputs=(input, Path(job.network.style)), overwrite=overwrite)
    job = replace(job, input=str(input.resolve()), suffix=output.suffix.lower())
    if image:
        return _Image(input, output, job, overwrite)
    return _Video(input, output, job, settings, work_dir, overwrite)


@dataclass(frozen=True, eq=False)
class _Piece:
    """The work of one task: a segment of a video, or a whole image (``segment`` None)."""

    file: _File
    segment: seg.Segment | None
    path: str  # the file the task writes
    frames: int
    name: str  # for messages


class _File(ABC):
    """A file of a job on Ray: the tasks it takes, told how each ended, and the result once
    all have (:attr:`left` is how many are still to end)."""

    input: Path
    output: Path
    job: seg.SegmentJob
    task: Task
    frames: int
    left: int

    @abstractmethod
    def pieces(self) -> list[_Piece]: ...

    @abstractmethod
    def ray_started(self, seconds: float) -> None:
        """Ray is up for the file's tasks, after ``seconds``."""

    @abstractmethod
    def finish(self, piece: _Piece, value: Any) -> None: ...

    @abstractmethod
    def fail(self, piece: _Piece, reason: str) -> None: ...

    @abstractmethod
    def result(self) -> StylizeResult: ...


class _Image(_File):
    """An image: one task stylizes it whole, as the local batch does."""

    def __init__(self, input: Path, output: Path, job: seg.SegmentJob, overwrite: bool) -> None:
        self.input, self.output, self.job = input, output, job
        self.task, self.frames, self.left = partial(_stylize_image, overwrite=overwrite), 1, 1
        self._result: StylizeResult | None = None
        self._error = ""

    def pieces(self) -> list[_Piece]:
        return [_Piece(self, None, str(self.output), 1, str(self.input))]

    def ray_started(self, seconds: float) -> None:
        """Nothing to note: the image's task times itself."""

    def finish(self, piece: _Piece, value: StylizeResult) -> None:
        self._result, self.left = value, 0

    def fail(self, piece: _Piece, reason: str) -> None:
        self._error, self.left = reason, 0

    def result(self) -> StylizeResult:
        if self._result is None:
            raise VidstyleError(self._error)
        return self._result


class _Video(_File):
    """A video cut into segments, the finished ones kept in a work directory; joined into
    the output once every segment's task has ended, if none failed."""

    def __init__(
        self,
        input: Path,
        output: Path,
        job: seg.SegmentJob,
        settings: RayOptions,
        work_dir: Path,
        overwrite: bool,
    ) -> None:
        self.began = time.perf_counter()
        self.input, self.output, self.job, self.overwrite = input, output, job, overwrite
        self.task, self.keep_work = settings.task, settings.keep_work
        warmup = job.warmup if settings.warmup is None else settings.warmup
        blend = job.blend if settings.blend is None else settings.blend
        self.plan = seg.plan(
            input, settings.segment_seconds, warmup=warmup, blend=blend, max_frames=job.limits.max_frames
        )
        manifest = seg.job_manifest(job, self.plan)
        self.work = seg.WorkDir(work_dir, manifest, job.suffix, settings.restart)
        self.work.claim_plan(self.plan.segments)
        self.todo = [s for s in self.plan.segments if self.work.record(s.index) is None]
        self.frames, self.left, self.failures = self.plan.frames, len(self.todo), []
        self.stages = {"split": time.perf_counter() - self.began}
        self._ray_up = self.began
        done, total = len(self.plan.segments) - len(self.todo), len(self.plan.segments)
        if self.work.damaged:
            numbers = ", ".join(map(str, self.work.damaged))
            settings.say(f"warning: finished segment(s) {numbers} of {input} were damaged: made again")
        if done:
            settings.say(f"resuming {input}: {done} of {total} segments already done")

    def pieces(self) -> list[_Piece]:
        return [
            _Piece(self, s, str(self.work.file(s.index)), s.frames, f"segment {s.number} of {self.input}")
            for s in self.todo
        ]

    def ray_started(self, seconds: float) -> None:
        self.stages["ray_start"] = seconds
        self._ray_up = time.perf_counter()

    def finish(self, piece: _Piece, value: dict[str, Any]) -> None:
        self.work.finish_segment(piece.segment.index, value)
        self._ended()

    def fail(self, piece: _Piece, reason: str) -> None:
        self.failures.append(f"segment {piece.segment.number} of {len(self.plan.segments)} failed: {reason}")
        self._ended()

    def _ended(self) -> None:
        self.left -= 1
        if not self.left:
            self.stages["segments"] = time.perf_counter() - self._ray_up

    def result(self) -> StylizeResult:
        """The output, joined (the work directory then removed, unless kept), as a
        one-process run describes it; a one-line error if a segment failed."""
        if self.failures:
            more = f" ({len(self.failures)} segments failed)" if len(self.failures) > 1 else ""
            kept = f"finished segments are kept in {self.work.path}: run again to resume"
            raise VidstyleError(f"{self.failures[0]}{more}; {kept}")
        start = time.perf_counter()
        frames, records = _join(self.input, self.output, self.plan, self.work, self.job, self.overwrite)
        self.stages["join"] = time.perf_counter() - start
        if not self.keep_work:
            self.work.remove()
        return self._summary(frames, records)

    def _summary(self, frames: int, records: list[dict[str, Any]]) -> StylizeResult:
        """What the job did, as a one-process run says it (``stages``: the seconds of cutting,
        starting Ray, running the segments and joining them)."""
        seconds = time.perf_counter() - self.began
        info = probe(self.input)
        width, height = scaled_size(info.width, info.height, self.job.limits.max_size)
        return StylizeResult(
            str(self.output),
            width,
            height,
            frames,
            round(seconds, 3),
            round(frames / seconds, 2),
            ",".join(sorted({record["device"] for record in records})),
            self.job.style_name,
            sum(record["lost"] for record in records),
            {name: round(value, 3) for name, value in self.stages.items()},
        )


def _run_files(files: list[_File], settings: RayOptions, settle: Callable[[_File], None]) -> None:
    """Run the tasks of ``files`` on Ray and ``settle`` each file once all its tasks have
    ended (a video whose segments were all done before: at once, without Ray)."""
    pieces = [piece for file in files for piece in file.pieces()]
    for file in files:
        if not file.left:
            settle(file)
    if not pieces:
        return
    with FrameProgress(sum(file.frames for file in files), "ray", enabled=settings.progress) as bar:
        start = time.perf_counter()
        with ray_session(settings.address) as ray:
            for file in {piece.file for piece in pieces}:
                file.ray_started(time.perf_counter() - start)
            remote = ray.remote(_call).options(
                num_cpus=settings.task_cpus, num_gpus=settings.gpus, max_retries=CRASH_RETRIES
            )
            _run(ray, remote.remote, pieces, settings.tasks or len(pieces), bar, settings.say, settle)


def _join(
    input: Path, output: Path, plan: seg.Plan, work: seg.WorkDir, job: seg.SegmentJob, overwrite: bool
) -> tuple[int, list[dict[str, Any]]]:
    """Join the finished segments into ``output`` (replacing a file there only with
    ``overwrite``); the frames, and each segment's record."""
    records = [work.record(s.index) for s in plan.segments]
    files = work.parts(plan, job)
    if not files:
        raise VidstyleError(f"no frame of {input} could be decoded")
    audio = input if probe(input).has_audio else None
    expected = sum(record["frames"] for record in records)
    frames = seg.join(
        files, output, audio=audio, end_time=plan.end_time, expected=expected, overwrite=overwrite
    )
    return frames, records


def _call(task: Task, job: seg.SegmentJob, segment: Any, path: str) -> Any:
    """What each Ray task runs: ``task`` travels as an argument, so any callable will do."""
    return task(job, segment, path)


def _stylize_image(job: seg.SegmentJob, segment: None, path: str, overwrite: bool) -> StylizeResult:
    """What a task runs for an image: the whole file through
    :func:`~vidstyle.jobs.stylize.stylize_media` on the task's cores (written atomically; the
    output was checked before the task started, and is replaced only with ``overwrite``)."""
    stylizer = job.stylizer()
    share_cores(stylizer, job.cpus, 1)
    return stylize_media(
        job.input, path, stylizer, look=job.look, limits=job.limits, overwrite=overwrite, progress=False
    )


def _run(
    ray: ModuleType,
    submit: Callable[..., Any],
    pieces: list[_Piece],
    limit: int,
    bar: FrameProgress,
    say: Log,
    settle: Callable[[_File], None],
) -> None:
    """Run the tasks of ``pieces``, ``limit`` at a time, telling each file how each of its
    tasks ended, and ``settle`` a file once all its tasks have.

    A task that failed runs again (:data:`RETRIES` times); the other tasks go on meanwhile.
    Ctrl-C, SIGTERM or an error here cancels the tasks still running; finished files and
    segments are kept.
    """
    queue, pending, attempts = deque(pieces), {}, Counter[_Piece]()
    frames = bar.total - sum(piece.frames for piece in pieces)
    bar.update(frames, f"0/{len(pieces)} tasks")
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                piece = queue.popleft()
                pending[submit(piece.file.task, piece.file.job, piece.segment, piece.path)] = piece
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                piece = pending.pop(ref)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason, final = _failure(exc)
                    attempts[piece] += 1
                    if not final and attempts[piece] <= RETRIES:
                        say(f"warning: {piece.name} failed ({reason}); running it again")
                        queue.append(piece)
                        continue
                    piece.file.fail(piece, reason)
                else:
                    piece.file.finish(piece, value)
                    frames += piece.frames
                    bar.update(frames, f"{len(pieces) - len(queue) - len(pending)}/{len(pieces)} tasks")
                if not piece.file.left:
                    settle(piece.file)
    finally:
        for ref in pending:
            ray.cancel(ref)
        if pending:  # a moment for the tasks to remove their partial files
            ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_SECONDS)


def _failure(exc: Exception) -> tuple[str, bool]:
    """What made a task fail, in one line, and whether running it again is pointless (a
    :class:`VidstyleError`: the input or the settings; a full disk or a folder it may not
    write: the same next time)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, VidstyleError):
        return str(cause), True
    if isinstance(cause, OSError) and cause.errno in LASTING_ERRNOS:
        where = f": {cause.filename}" if cause.filename else ""
        return f"{cause.strerror or cause}{where}", True
    text = next(iter(str(cause).strip().splitlines()), "")
    return (f"{type(cause).__name__}: {text}" if text else type(cause).__name__), False
