"""The threaded source -> stylizer -> sink pipeline."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


# --- live runs: the newest frame only, a sink that stops the run, the sink in the caller --------


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (rather than hang) when the block takes longer than ``seconds``."""

    def hung(signum: int, frame: object) -> None:
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def no_threads_left() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("vidstyle-")]


def camera(n: int, interval: float = 0.004) -> Iterator[tuple[int, float]]:
    """A live source: frame ``i`` with its capture time, one every ``interval`` seconds."""
    for i in range(n):
        time.sleep(interval)
        yield i, time.monotonic()


@pytest.mark.parametrize("latest_only", [True, False])
def test_latest_only_drops_the_frames_the_network_cannot_keep_up_with(latest_only: bool) -> None:
    """A network several times slower than the source: with ``latest_only`` the sink gets
    only the frames that were newest when the network took one, in order, the last one too,
    each about one frame's work after its capture; without it every frame waits its turn and
    they fall behind by as many frames as the queues hold."""
    seen: list[int] = []
    latencies: list[float] = []

    def slow(images):
        time.sleep(0.03)
        return images

    def sink(image, item) -> None:
        seen.append(item[0])
        latencies.append(time.monotonic() - item[1])

    image = np.zeros((4, 4, 3), np.uint8)
    stats = pipeline.run(camera(20), lambda item: image, slow, sink, live=True, latest_only=latest_only)
    assert seen == sorted(set(seen)) and seen[-1] == 19 and stats.frames == len(seen)
    assert stats.stopped_by is None
    if latest_only:
        assert 2 <= len(seen) < 15 and stats.dropped == 20 - len(seen)
        assert max(latencies) < 0.15  # one frame painted (0.03 s), one waiting: not a queue of them
    else:
        assert seen == list(range(20)) and stats.dropped == 0
        assert max(latencies) > 0.2  # the later frames waited for a queue of others


def test_latest_only_with_a_slow_sink_paints_no_frame_ahead() -> None:
    """A sink slower than the network holds the network back: it paints the newest frame
    once the sink has taken its last one, so painted frames never queue for the sink."""
    painted: list[int] = []
    latencies: list[float] = []

    def stylize(images):
        painted.append(len(images))
        return images

    def slow_sink(image, item) -> None:
        time.sleep(0.03)
        latencies.append(time.monotonic() - item[1])

    image = np.zeros((4, 4, 3), np.uint8)
    stats = pipeline.run(camera(40), lambda item: image, stylize, slow_sink, live=True, latest_only=True)
    assert 2 <= stats.frames < 30 and stats.dropped == 40 - stats.frames
    assert len(painted) == stats.frames
    assert max(latencies) < 0.15  # two sink calls at most (0.03 s each), not a queue of them


def test_latest_only_needs_one_worker() -> None:
    with pytest.raises(ValueError, match="one worker"):
        pipeline.run(frames(2), lambda f: f[1], lambda b: b, lambda im, f: None, workers=2, latest_only=True)


@pytest.mark.parametrize("sink_in_caller", [False, True])
def test_a_sink_ends_the_run_with_stop_run(sink_in_caller: bool) -> None:
    """StopRun from the sink ends the run after that frame: it counts, nothing follows it,
    no stage outlives the call, and the reason is what stopped the run."""
    seen: list[int] = []

    def sink(image, item) -> None:
        seen.append(item[0])
        if item[0] == 3:
            raise pipeline.StopRun("enough")

    with deadline(5):
        stats = pipeline.run(
            frames(1000), lambda f: f[1], lambda b: b, sink, queue_size=2, sink_in_caller=sink_in_caller
        )
    assert stats.stopped_by == "enough" and stats.frames == 4 and seen == [0, 1, 2, 3]
    assert no_threads_left()


def test_sink_in_the_caller_runs_on_the_main_thread() -> None:
    """The sink stage (finish and sink) runs in the calling thread, here the main one, where
    OpenCV's window must stay; the other stages still run in threads of their own."""
    threads: set[tuple[str, bool]] = set()

    def note(stage: str) -> None:
        threads.add((stage, threading.current_thread() is threading.main_thread()))

    def stylize(images):
        note("network")
        return images

    def finish(image, source):
        note("finish")
        return image

    with deadline(5):
        stats = pipeline.run(
            frames(10), lambda f: f[1], stylize, lambda im, f: note("sink"),
            finish=finish, sink_in_caller=True,
        )  # fmt: skip
    assert stats.frames == 10
    assert threads == {("network", False), ("finish", True), ("sink", True)}
    assert no_threads_left()


@pytest.mark.parametrize("stage", ["source", "network"])
def test_sink_in_the_caller_still_gets_the_other_stages_errors(stage: str) -> None:
    """A stage that fails while the caller waits for frames is raised there at once, not a
    run that waits for ever on a network that is gone."""

    def source():
        for i, frame in frames(10_000):
            if stage == "source" and i == 3:
                raise OSError("camera gone")
            time.sleep(0.002)
            yield i, frame

    def stylize(images):
        if stage == "network" and int(images[0][0, 0, 0]) == 3:
            raise RuntimeError("boom")
        return images

    error = OSError if stage == "source" else RuntimeError
    start = time.monotonic()
    with deadline(5), pytest.raises(error):
        pipeline.run(
            source(), lambda f: f[1], stylize, lambda im, f: None, live=True, latest_only=True,
            sink_in_caller=True,
        )  # fmt: skip
    assert time.monotonic() - start < 1
    assert no_threads_left()


def test_ctrl_c_in_the_caller_ends_a_live_run() -> None:
    """Ctrl-C while the sink runs in the caller is a live run's normal end there too."""

    def sink(image, item) -> None:
        if item[0] == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with deadline(5):
        stats = pipeline.run(
            camera(1000), lambda item: np.zeros((4, 4, 3), np.uint8), lambda b: b, sink,
            live=True, latest_only=True, sink_in_caller=True,
        )  # fmt: skip
    assert stats.stopped_by == "Ctrl-C" and 3 <= stats.frames <= 4  # frame 3 was interrupted, or just done
    assert no_threads_left()


def test_a_finished_worker_holds_nothing_of_its_work() -> None:
    """A stage thread drops its work (the model, frames in flight) before it ends: a daemon
    thread that frees tensors after being joined can still be at it while the interpreter
    shuts down, which aborts the process."""
    import weakref

    class Work:
        def __call__(self) -> None:
            pass

    work = Work()
    alive = weakref.ref(work)
    worker = pipeline._Worker(work, "test-worker")
    worker.start()
    worker.join()
    del work
    assert alive() is None, "the joined thread still holds its work"
