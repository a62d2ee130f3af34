"""The threaded source -> stylizer -> sink pipeline."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vidstyle.jobs import pipeline


def frames(n: int):
    for i in range(n):
        yield i, np.full((4, 4, 3), i, np.uint8)


def test_order_batches_and_count() -> None:
    """Frames arrive in order, in batches, and each stage's seconds are its own work: the
    time spent in ``image_of`` counts as decoding, in the sink as encoding."""
    seen: list[int] = []
    calls: list[int] = []

    def image_of(frame):
        time.sleep(0.002)
        return frame[1]

    def stylize(images):
        time.sleep(0.01)
        calls.append(len(images))
        return [255 - im for im in images]

    def sink(image, frame):
        time.sleep(0.004)
        seen.append(frame[0])

    stats = pipeline.run(frames(10), image_of, stylize, sink, batch_size=4)
    assert stats.frames == 10 and seen == list(range(10)) and calls == [4, 4, 2]
    assert stats.decode >= 10 * 0.002 and stats.stylize >= 3 * 0.01 and stats.encode >= 10 * 0.004
    assert stats.post == 0 and stats.stopped_by is None


@pytest.mark.parametrize(
    ("stage", "error", "message"),
    [("source", OSError, "disk gone"), ("stylize", RuntimeError, "boom"), ("sink", ValueError, "full")],
)
def test_errors_in_any_stage_reach_the_caller_and_stop_threads(
    stage: str, error: type[Exception], message: str
) -> None:
    """The caller gets the failing stage's own exception, and no thread outlives the call."""
    def source():
        for i, frame in frames(50):
            if stage == "source" and i == 5:
                raise OSError("disk gone")
            yield i, frame

    def stylize(images):
        if stage == "stylize":
            raise RuntimeError("boom")
        return images

    def sink(image, frame):
        if stage == "sink" and frame[0] == 3:
            raise ValueError("full")

    with pytest.raises(error, match=f"^{message}$"):
        pipeline.run(source(), lambda f: f[1], stylize, sink, queue_size=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("vidstyle-")]


def test_keyboard_interrupt_stops_everything() -> None:
    def stylize(images):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run(frames(100), lambda f: f[1], stylize, lambda im, f: None, queue_size=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("vidstyle-")]


def test_post_stage_sees_sources_in_order() -> None:
    """The post stage (temporal blending) gets each frame's source, in display order."""
    seen: list[int] = []

    def finish(stylized: np.ndarray, source: np.ndarray) -> np.ndarray:
        seen.append(int(source[0, 0, 0]))
        return stylized + 1

    written: list[int] = []

    def sink(image: np.ndarray, item: tuple) -> None:
        written.append(int(image[0, 0, 0]))

    def double(images: list[np.ndarray]) -> list[np.ndarray]:
        return [im * 2 for im in images]

    stats = pipeline.run(frames(9), lambda f: f[1], double, sink, batch_size=2, finish=finish)
    assert seen == list(range(9)) and written == [2 * i + 1 for i in range(9)]
    assert stats.frames == 9 and stats.post > 0


def test_several_workers_keep_the_order_and_run_side_by_side() -> None:
    """Workers stylize alternate batches at the same time; the sink still sees every frame
    once, in order, and errors in any worker still reach the caller."""
    barrier = threading.Barrier(3, timeout=5)  # passes only if three calls are in flight at once
    names: set[str] = set()

    def stylize(images):
        names.add(threading.current_thread().name)
        if int(images[0][0, 0, 0]) < 6:
            barrier.wait()
        return [255 - im for im in images]

    seen: list[int] = []
    values: list[int] = []

    def sink(image, item) -> None:
        seen.append(item[0])
        values.append(int(image[0, 0, 0]))

    stats = pipeline.run(frames(20), lambda f: f[1], stylize, sink, batch_size=2, workers=3)
    assert seen == list(range(20)) and values == [255 - i for i in range(20)]
    assert stats.frames == 20 and len(names) == 3

    def fail(images):
        if int(images[0][0, 0, 0]) == 7:
            raise RuntimeError("boom")
        return images

    with pytest.raises(RuntimeError, match="boom"):
        pipeline.run(frames(30), lambda f: f[1], fail, lambda im, f: None, workers=2, queue_size=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("vidstyle-")]


def test_large_frames_wait_in_shorter_queues() -> None:
    """Frames waiting between stages stay within QUEUE_BYTES: 8 at HD, fewer at 4K, never
    fewer than one per worker."""
    from vidstyle.jobs.stylize import QUEUE_BYTES, queue_size

    assert queue_size(1920, 1080, 2) == pipeline.DEFAULT_QUEUE_SIZE
    four_k = queue_size(3840, 2160, 2)
    assert 2 <= four_k < pipeline.DEFAULT_QUEUE_SIZE and four_k * 3840 * 2160 * 3 <= QUEUE_BYTES
    assert queue_size(20000, 20000, 3) == 3
