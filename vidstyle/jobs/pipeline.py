"""Joins a frame source, a stylizer and a frame sink, overlapping the three in threads.

Decoding, the network (one or more workers) and encoding each run in their own threads
with bounded queues, so the network never waits for I/O and memory stays bounded however
long the video is. A file's every frame is painted; a live source (the webcam) may ask
for the newest frame only (``latest_only``), so that frames the network cannot keep up
with are dropped rather than queued, and may keep the sink in the calling thread (a GUI
that must stay on the main thread). A sink ends a run early by raising :class:`StopRun`.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..errors import Terminated
from ..stylizers.base import Paint

#: frames that may wait between two stages, all workers' queues together
DEFAULT_QUEUE_SIZE = 8

T = TypeVar("T")
_DONE = object()
#: how long a stopping job waits for each stage: a network call or a cancelled step
_JOIN_SECONDS = 30


@dataclass
class PipelineStats:
    """Frames written and the seconds each stage spent working (not waiting on queues).

    The stages overlap, so the busiest one bounds the throughput: its seconds per frame
    show where a job's time goes.
    """

    frames: int = 0
    decode: float = 0.0
    stylize: float = 0.0
    post: float = 0.0
    encode: float = 0.0
    #: what ended the run early: "Ctrl-C" or "SIGTERM" (live runs), a :class:`StopRun`'s
    #: reason; None when the frames ran out
    stopped_by: str | None = None
    #: source frames replaced by newer ones before the network took them (``latest_only``)
    dropped: int = 0


class StopRun(Exception):
    """Raised by the sink (or ``on_frame``) to end a run after the frame it was given:
    :func:`run` stops every stage and returns normally, ``stats.stopped_by`` = ``reason``
    (a quit key, a closed window, a frame or time limit)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Worker(threading.Thread):
    """A daemon thread whose exception is re-raised by :meth:`check`.

    It lets go of its work (and with it the model and the frames in flight) before it
    ends, and the pipeline takes its error back after joining it. A daemon thread that
    frees a tensor after the join can still be doing so when the interpreter shuts down,
    and a thread that waits for the GIL then is torn down mid-C++ (``terminate called``).
    """

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # handed to the main thread
            self.error = exc
        finally:
            self._target_fn = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _wait(event: threading.Event, stop: threading.Event) -> bool:
    """Wait for ``event``; False once ``stop`` is set."""
    while not event.wait(0.1):
        if stop.is_set():
            return False
    return not stop.is_set()


def _replace(q: queue.Queue, item: list, stop: threading.Event) -> int:
    """Put ``item`` in ``q`` (one place) at once, taking out the item waiting there; return
    the frames of the one taken out (dropped), -1 once ``stop`` is set."""
    dropped = 0
    while not stop.is_set():
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            pass
        try:
            dropped += len(q.get_nowait())
        except queue.Empty:  # the network took it meanwhile
            continue
    return -1


def run(
    frames: Iterable[T],
    image_of: Callable[[T], np.ndarray],
    stylize: Paint,
    sink: Callable[[np.ndarray, T], None],
    batch_size: int = 1,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_frame: Callable[[int], None] | None = None,
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    workers: int = 1,
    live: bool = False,
    cancel: Callable[[], None] | None = None,
    latest_only: bool = False,
    sink_in_caller: bool = False,
) -> PipelineStats:
    """Stylize every item of ``frames`` and hand each result with its item to ``sink``.

    ``image_of`` extracts the RGB image of an item (a decoded frame keeps its timestamp);
    it runs in the decode thread, so scaling there does not hold up the network.
    ``workers`` threads call ``stylize`` on alternate batches (it must be thread-safe when
    there are several): on a CPU whose cores the network cannot fill alone, frames in
    flight side by side keep every core busy. The sink still gets the frames in order.
    ``finish(stylized, source)``, if given, finishes each frame in the sink stage (the
    encode thread), in order (temporal blending), overlapping with the network's work on
    the next frames.
    Returns the frames written and per-stage working times (summed over the workers).
    Errors from any stage stop all stages and are raised here; so is KeyboardInterrupt.
    ``cancel()``, if given, tells the stylizer to stop then (a long per-frame optimisation),
    so that no stage outlives the call however long its frame takes.
    ``live`` frames (a camera, a stream) have no end of their own: there KeyboardInterrupt
    (Ctrl-C, or SIGTERM as :class:`~vidstyle.errors.Terminated`) is the normal end, and the
    call returns with the frames written so far (``stats.stopped_by`` says which).

    ``latest_only`` is the frame-dropping policy of a live source that makes frames faster
    than the network paints them (a camera): the network gets the newest batch only. One
    batch at most waits for it, and a newer one replaces it (the replaced frames are never
    painted; ``stats.dropped`` counts them); the end of the frames is never dropped, so the
    last frame is painted. The network takes the next batch only once the sink has taken
    its last one, so a sink slower than the network holds the network back (and more frames
    are dropped) rather than painted frames queueing for it: a frame is shown about one
    frame's work after the source gave it. It needs one worker (``workers=1``).

    ``sink_in_caller`` runs the sink stage (``finish``, ``sink``, ``on_frame``) in the
    calling thread instead of a thread of its own, for sinks that must stay there (OpenCV's
    window on macOS); errors in the other stages are still raised while it waits for frames.

    The sink (or ``on_frame``) ends the run after a frame by raising :class:`StopRun`:
    that frame counts, no later one reaches the sink, and the call returns normally with
    ``stats.stopped_by`` set to its reason.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if latest_only and workers != 1:
        raise ValueError("latest_only needs one worker: the network takes the newest frame")
    stop = threading.Event()
    depth = 1 if latest_only else max(1, queue_size // workers)
    decoded: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in range(workers)]
    stylized: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in range(workers)]
    stats = PipelineStats()
    lock = threading.Lock()
    taken = threading.Event()  # the sink has taken the network's last batch (``latest_only``)
    taken.set()

    def decode() -> None:
        """Batches go to the workers in turn; each gets the end marker after its last."""
        batch: list[tuple[T, np.ndarray]] = []
        items, sent = iter(frames), 0
        while True:
            start = time.perf_counter()
            item = next(items, _DONE)
            if item is _DONE:
                break
            batch.append((item, image_of(item)))
            stats.decode += time.perf_counter() - start
            if len(batch) >= batch_size:
                if latest_only:
                    dropped = _replace(decoded[0], batch, stop)
                    if dropped < 0:
                        return
                    stats.dropped += dropped
                elif not _put(decoded[sent % workers], batch, stop):
                    return
                batch, sent = [], sent + 1
        if batch:
            _put(decoded[sent % workers], batch, stop)
        for q in decoded:
            _put(q, _DONE, stop)

    def network(index: int) -> None:
        while True:
            if latest_only and not _wait(taken, stop):  # the sink's turn: the next frame is newer then
                return
            batch = _get(decoded[index], stop)
            if batch is None or batch is _DONE:
                _put(stylized[index], _DONE, stop)
                return
            start = time.perf_counter()
            outputs = stylize([image for _, image in batch])
            with lock:
                stats.stylize += time.perf_counter() - start
            done = [(out, item, image) for out, (item, image) in zip(outputs, batch, strict=True)]
            taken.clear()
            if not _put(stylized[index], done, stop):
                return

    def encode(check: Callable[[], None] | None = None) -> None:
        turn = 0
        while True:
            got = _get(stylized[turn % workers], stop, check)
            if got is None or got is _DONE:
                return
            taken.set()
            turn += 1
            for image, item, source in got:
                if finish is not None:
                    start = time.perf_counter()
                    image = finish(image, source)
                    stats.post += time.perf_counter() - start
                start = time.perf_counter()
                ending = None
                try:
                    sink(image, item)
                except StopRun as exc:  # after this frame, which counts
                    ending = exc
                stats.encode += time.perf_counter() - start
                stats.frames += 1
                if on_frame is not None:
                    on_frame(stats.frames)
                if ending is not None:
                    raise ending

    threads = [
        _Worker(decode, "vidstyle-decode"),
        *(_Worker(lambda i=i: network(i), f"vidstyle-network-{i}") for i in range(workers)),
    ]
    if not sink_in_caller:
        threads.append(_Worker(encode, "vidstyle-encode"))

    def check() -> None:
        for thread in threads:
            thread.check()

    for thread in threads:
        thread.start()
    try:
        if sink_in_caller:
            encode(check)
        else:
            writer = threads[-1]
            while writer.is_alive():
                writer.join(timeout=0.1)
                check()
        check()
    except StopRun as exc:
        stats.stopped_by = exc.reason
    except KeyboardInterrupt as exc:
        if not live:
            raise
        stats.stopped_by = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
    finally:  # on errors and Ctrl-C too: no stage may outlive the call (the sink closes next)
        stop.set()
        if cancel is not None and any(thread.is_alive() for thread in threads):
            cancel()
        for thread in threads:
            thread.join(timeout=_JOIN_SECONDS)
            thread.error = None  # freed here, not by the thread on its way out
    return stats


def _get(q: queue.Queue, stop: threading.Event, check: Callable[[], None] | None = None) -> object | None:
    """The next item of ``q``, or None once ``stop`` is set; ``check()``, if given, runs
    while it waits (raising the other stages' errors)."""
    while not stop.is_set():
        if check is not None:
            check()
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return None
