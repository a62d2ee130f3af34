"""Joins a frame source, a stylizer and a frame sink, overlapping the three in threads.

Decoding, the network (one or more workers) and encoding each run in their own threads
with bounded queues, so the network never waits for I/O and memory stays bounded however
long the video is.
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
    #: what ended a live run early ("Ctrl-C", "SIGTERM"); None when the frames ran out
    stopped_by: str | None = None


class _Worker(threading.Thread):
    """A daemon thread whose exception is re-raised by :meth:`check`."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # handed to the main thread
            self.error = exc

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
) -> PipelineStats:
    """Stylize every item of ``frames`` and hand each result with its item to ``sink``.

    ``image_of`` extracts the RGB image of an item (a decoded frame keeps its timestamp);
    it runs in the decode thread, so scaling there does not hold up the network.
    ``workers`` threads call ``stylize`` on alternate batches (it must be thread-safe when
    there are several): on a CPU whose cores the network cannot fill alone, frames in
    flight side by side keep every core busy. The sink still gets the frames in order.
    ``finish(stylized, source)``, if given, finishes each frame in the encode thread, in
    order (temporal blending), overlapping with the network's work on the next frames.
    Returns the frames written and per-stage working times (summed over the workers).
    Errors from any stage stop all stages and are raised here; so is KeyboardInterrupt.
    ``cancel()``, if given, tells the stylizer to stop then (a long per-frame optimisation),
    so that no stage outlives the call however long its frame takes.
    ``live`` frames (a camera, a stream) have no end of their own: there KeyboardInterrupt
    (Ctrl-C, or SIGTERM as :class:`~vidstyle.errors.Terminated`) is the normal end, and the
    call returns with the frames written so far (``stats.stopped_by`` says which).
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    stop = threading.Event()
    depth = max(1, queue_size // workers)
    decoded: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in range(workers)]
    stylized: list[queue.Queue] = [queue.Queue(maxsize=depth) for _ in range(workers)]
    stats = PipelineStats()
    lock = threading.Lock()

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
                if not _put(decoded[sent % workers], batch, stop):
                    return
                batch, sent = [], sent + 1
        if batch:
            _put(decoded[sent % workers], batch, stop)
        for q in decoded:
            _put(q, _DONE, stop)

    def network(index: int) -> None:
        while True:
            batch = _get(decoded[index], stop)
            if batch is None or batch is _DONE:
                _put(stylized[index], _DONE, stop)
                return
            start = time.perf_counter()
            outputs = stylize([image for _, image in batch])
            with lock:
                stats.stylize += time.perf_counter() - start
            done = [(out, item, image) for out, (item, image) in zip(outputs, batch, strict=True)]
            if not _put(stylized[index], done, stop):
                return

    def encode() -> None:
        turn = 0
        while True:
            got = _get(stylized[turn % workers], stop)
            if got is None or got is _DONE:
                return
            turn += 1
            for image, item, source in got:
                if finish is not None:
                    start = time.perf_counter()
                    image = finish(image, source)
                    stats.post += time.perf_counter() - start
                start = time.perf_counter()
                sink(image, item)
                stats.encode += time.perf_counter() - start
                stats.frames += 1
                if on_frame is not None:
                    on_frame(stats.frames)

    threads = [
        _Worker(decode, "vidstyle-decode"),
        *(_Worker(lambda i=i: network(i), f"vidstyle-network-{i}") for i in range(workers)),
        _Worker(encode, "vidstyle-encode"),
    ]
    for thread in threads:
        thread.start()
    writer = threads[-1]
    try:
        while writer.is_alive():
            writer.join(timeout=0.1)
            for thread in threads:
                thread.check()
        for thread in threads:
            thread.check()
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
    return stats


def _get(q: queue.Queue, stop: threading.Event) -> object | None:
    """The next item of ``q``, or None once ``stop`` is set."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return None
