"""Joins a frame source, a stylizer and a frame sink, overlapping the three in threads.

Decoding and encoding each run in their own thread with bounded queues, so the network
never waits for I/O and memory stays bounded however long the video is.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from .stylizer import Stylizer

T = TypeVar("T")
_DONE = object()


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
    stylize: Stylizer,
    sink: Callable[[np.ndarray, T], None],
    batch_size: int = 1,
    queue_size: int = 8,
    on_frame: Callable[[int], None] | None = None,
    post: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> PipelineStats:
    """Stylize every item of ``frames`` and hand each result with its item to ``sink``.

    ``image_of`` extracts the RGB image of an item (a decoded frame keeps its timestamp);
    it runs in the decode thread, so scaling there does not hold up the network.
    ``post(source, stylized)``, if given, finishes each frame in the encode thread, in
    order (temporal blending), overlapping with the network's work on the next frames.
    Returns the frames written and per-stage times. Errors from any stage stop all stages
    and are raised here; so is KeyboardInterrupt.
    """
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=queue_size)
    stylized: queue.Queue = queue.Queue(maxsize=queue_size)
    stats = PipelineStats()

    def decode() -> None:
        batch: list[tuple[T, np.ndarray]] = []
        items = iter(frames)
        while True:
            start = time.perf_counter()
            item = next(items, _DONE)
            if item is _DONE:
                break
            batch.append((item, image_of(item)))
            stats.decode += time.perf_counter() - start
            if len(batch) >= batch_size:
                if not _put(decoded, batch, stop):
                    return
                batch = []
        if batch:
            _put(decoded, batch, stop)
        _put(decoded, _DONE, stop)

    def encode() -> None:
        while not stop.is_set():
            try:
                got = stylized.get(timeout=0.1)
            except queue.Empty:
                continue
            if got is _DONE:
                return
            for image, item, source in got:
                if post is not None:
                    start = time.perf_counter()
                    image = post(source, image)
                    stats.post += time.perf_counter() - start
                start = time.perf_counter()
                sink(image, item)
                stats.encode += time.perf_counter() - start
                stats.frames += 1
                if on_frame is not None:
                    on_frame(stats.frames)

    reader, writer = _Worker(decode, "vidstyle-decode"), _Worker(encode, "vidstyle-encode")
    reader.start()
    writer.start()
    try:
        for batch in _drain(decoded, reader, writer):
            start = time.perf_counter()
            outputs = stylize([image for _, image in batch])
            stats.stylize += time.perf_counter() - start
            while True:
                writer.check()
                try:
                    done = [(out, item, image) for out, (item, image) in zip(outputs, batch, strict=True)]
                    stylized.put(done, timeout=0.1)
                    break
                except queue.Full:
                    continue
        while writer.is_alive():
            try:
                stylized.put(_DONE, timeout=0.1)
                break
            except queue.Full:
                writer.check()
        writer.join()
        writer.check()
    finally:  # on errors and Ctrl-C too: no stage may outlive the call (the sink closes next)
        stop.set()
        reader.join(timeout=5)
        writer.join(timeout=5)
    return stats


def _drain(q: queue.Queue, producer: _Worker, consumer: _Worker) -> Iterator[list]:
    """Items from ``q`` until the producer's end marker, watching both threads for errors."""
    while True:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            producer.check()
            consumer.check()
            if not producer.is_alive() and q.empty():
                producer.check()
                return
            continue
        if item is _DONE:
            producer.check()
            return
        yield item
