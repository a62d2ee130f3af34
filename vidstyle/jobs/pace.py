"""Keeping a live session in real time beside other programs: the network's threads and
the size it paints at.

A live session (webcam, virtual camera) runs beside other programs: a video call takes a
core of its own. Threads of one network pass wait for each other at every layer, so one
descheduled thread holds up the rest; on a busy machine fewer threads paint faster. The
session starts with the cores that the last fraction of a second left free
(:func:`free_threads`) and then keeps trying its neighbouring counts against measured frame
times (:class:`ThreadTuner`), since other programs come and go. Where even that leaves the picture later than
``max_latency`` after its capture, or shows fewer frames than ``min_fps``, the network paints
a smaller picture (:class:`PaintScale`) until it catches up. Frames that arrive while a
frame is painted are dropped, not queued:
the session's pipeline lets only the newest frame wait for the network (its ``latest_only``
policy, :func:`vidstyle.jobs.pipeline.run`), so latency is about one frame's work.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .stylize import cpu_cores

if TYPE_CHECKING:
    from ..settings import Look
    from ..stylizers.fast import FastStylizer

#: seconds over which the busy cores are measured at the start of a session
SAMPLE_SECONDS = 0.2
PROC_STAT = "/proc/stat"


def read_cpu_times(cpus: set[int], path: str = PROC_STAT) -> tuple[float, float] | None:
    """(busy, total) jiffies of the CPUs numbered ``cpus`` together, from their ``cpuN``
    lines of /proc/stat (programs on CPUs this process may not use do not count); None
    where there is no such file (not Linux) or it names none of them."""
    try:
        with open(path, encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("cpu")]
    except OSError:
        return None
    busy = total = 0.0
    for fields in lines:
        if fields[0][3:].isdigit() and int(fields[0][3:]) in cpus:
            ticks = [float(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    return (busy, total) if total else None


def busy_cores(before: tuple[float, float], after: tuple[float, float], cpus: int, own: float) -> float:
    """Of ``cpus`` cores, those kept busy by other programs between two :func:`read_cpu_times`
    readings, given the share ``own`` of them that this process used meanwhile."""
    busy, total = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return 0.0
    return max(0.0, (busy / total - own) * cpus)


def others_busy(seconds: float = SAMPLE_SECONDS, path: str = PROC_STAT) -> float:
    """Cores other programs keep busy now, of those this process may use: measured from
    /proc/stat over ``seconds``, else the 1-minute load average (which counts this process
    too, and every CPU, and reacts slowly)."""
    cpus = _allowed_cpus()
    before, mine, start = read_cpu_times(cpus, path), time.process_time(), time.monotonic()
    if before is None:
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0
    time.sleep(seconds)
    after = read_cpu_times(cpus, path)
    wall = max(1e-6, time.monotonic() - start)
    own = (time.process_time() - mine) / wall / len(cpus)
    return busy_cores(before, after, len(cpus), own) if after is not None else 0.0


def _allowed_cpus() -> set[int]:
    try:
        return os.sched_getaffinity(0)
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def free_threads(cores: int, busy: float) -> int:
    """The threads the network gets: the cores that ``busy`` other programs leave, at least
    one. A core counts as taken from half a core busy on."""
    return max(1, min(cores, cores - round(busy + 1e-9)))


def start_threads(threads: int | None = None) -> int:
    """The thread count a live session starts with: ``threads`` as given, else the cores
    free now (:func:`free_threads`) of those this process may use."""
    return threads or free_threads(cpu_cores(), others_busy())


#: network frames measured per thread count before counts are compared
WINDOW = 10
#: frames at one count between two tries of a neighbouring count
TRY_EVERY = 120


@dataclass
class ThreadTuner:
    """Keeps the network's thread count at the fastest as other programs come and go.

    Every :data:`TRY_EVERY` frames it runs :data:`WINDOW` frames at a neighbouring count
    (up and down in turn, within ``1..most``) and keeps whichever count took less time
    per frame, compared with the window just before the try (so both saw the same load).
    ``apply`` sets a count (``torch.set_num_threads``).
    """

    threads: int
    most: int
    apply: Callable[[int], None]
    window: int = WINDOW
    every: int = TRY_EVERY
    _times: list[float] = field(default_factory=list)
    _steady: float | None = None  # median seconds per frame of the last window at ``threads``
    _trying: int | None = None  # the count on trial, held by ``threads`` meanwhile
    _since: int = 0
    _up: bool = True

    def __post_init__(self) -> None:
        self.apply(self.threads)

    def record(self, seconds: float) -> None:
        """One frame's network time at the current count."""
        self._times.append(seconds)
        self._since += 1
        if len(self._times) < self.window:
            return
        median, self._times = statistics.median(self._times), []
        if self._trying is not None:
            self._decide(median)
        else:
            self._steady = median
            if self._since >= self.every:
                self._try()

    def _try(self) -> None:
        """Switch to a neighbouring count for one window."""
        options = [n for n in (self.threads + 1, self.threads - 1) if 1 <= n <= self.most]
        if not options:
            return
        pick = options[0] if len(options) == 1 or self._up else options[1]
        self._up = not self._up
        self._trying, self.threads = self.threads, pick
        self.apply(pick)

    def _decide(self, median: float) -> None:
        """Keep the tried count if it was faster, else go back."""
        previous, self._trying, self._since = self._trying, None, 0
        if self._steady is not None and median >= self._steady:
            self.threads = previous
            self.apply(previous)
        else:
            self._steady = median


#: the factors of its usual size that the network paints at, stepped through while behind
SCALES = (1.0, 0.85, 0.7, 0.6, 0.5)
#: a smaller picture goes back up a step once the latency is under this share of the target
RELAX = 0.6
#: behind on frame rate: fewer frames shown than this share of the rate to keep
SLOW = 0.9
#: ... and back up a step only where the network's time per frame, scaled to the larger
#: picture, leaves this share of the frame interval free
ROOM = 0.8
#: windows before a size that was too slow for the frame rate is tried again
HOLD = 12


@dataclass
class PaintScale:
    """The painted size's factor (:data:`SCALES`), decided after each window of shown frames.

    A step down when the window's median latency was over ``target`` seconds, or when fewer
    frames were shown than :data:`SLOW` of ``fps`` (or of the rate the camera delivered, if
    lower); a step up when the latency is under :data:`RELAX` of the target and the
    network's time per frame, scaled to the larger picture, fits the frame interval with
    :data:`ROOM` to spare. A size left for the frame rate is not tried again for
    :data:`HOLD` windows. ``target`` and ``fps`` None: the full size always.
    """

    target: float | None
    fps: float | None = None
    window: int = WINDOW
    step: int = 0
    _latencies: list[float] = field(default_factory=list)
    _shown: list[tuple[float, int]] = field(default_factory=list)  # (when, camera frame index)
    _work: list[float] = field(default_factory=list)  # network seconds per frame at this size
    _hold: int = 0  # windows left before stepping up to a size that was too slow

    @property
    def factor(self) -> float:
        return SCALES[self.step]

    def painted(self, seconds: float) -> None:
        """One frame's network time at the current size (kept only for the frame-rate rule,
        whose window empties the list)."""
        if self.fps:
            self._work.append(seconds)

    def record(self, latency: float, when: float | None = None, index: int | None = None) -> None:
        """One shown frame: seconds from capture to display, and (for the frame rate) the
        time it was shown and the camera's number for it."""
        if not self.target and not self.fps:
            return
        self._latencies.append(latency)
        if when is not None and index is not None:
            self._shown.append((when, index))
        if len(self._latencies) < self.window:
            return
        latency, goal = statistics.median(self._latencies), self._goal()
        work = statistics.median(self._work) if self._work else None
        shown = len(self._shown)
        rate = (shown - 1) / (self._shown[-1][0] - self._shown[0][0]) if goal else None
        self._latencies, self._shown, self._work = [], [], []
        self._hold = max(0, self._hold - 1)
        late = self.target is not None and latency > self.target
        slow = goal is not None and rate is not None and rate < SLOW * goal
        if (late or slow) and self.step < len(SCALES) - 1:
            self.step += 1
            self._hold = HOLD if slow else self._hold
        elif self.step > 0 and self._can_grow(latency, goal, work):
            self.step -= 1

    def _goal(self) -> float | None:
        """The frame rate to keep over the window: ``fps``, or the camera's if lower."""
        if not self.fps or len(self._shown) < 2:
            return None
        (first, start), (last, end) = self._shown[0], self._shown[-1]
        if last <= first:
            return None
        return min(self.fps, (end - start) / (last - first))

    def _can_grow(self, latency: float, goal: float | None, work: float | None) -> bool:
        if self.target and latency >= RELAX * self.target:
            return False
        if not self.fps:
            return True
        if self._hold or goal is None or work is None:
            return False
        larger = work * (SCALES[self.step - 1] / SCALES[self.step]) ** 2
        return larger < ROOM / goal


class LivePace:
    """A live session's frame work, timed: the network at the tuned thread count
    (``tuner``, None: as set) and at the painted size its latency allows."""

    def __init__(self, tuner: ThreadTuner | None, scale: PaintScale) -> None:
        self.tuner, self.scale = tuner, scale

    @property
    def threads(self) -> int:
        import torch

        return torch.get_num_threads() if self.tuner is None else self.tuner.threads

    def paint(self, stylizer: FastStylizer, image: np.ndarray, look: Look) -> np.ndarray:
        """``stylizer``'s picture of ``image`` in ``look``; its network time goes to the
        tuner, per painted pixel so that a change of size does not count as a change of speed."""
        factor = self.scale.factor
        start = time.perf_counter()
        out = painted(stylizer, image, factor, look)
        seconds = time.perf_counter() - start
        self.scale.painted(seconds)
        if self.tuner is not None:
            self.tuner.record(seconds / factor**2)
        return out

    def shown(self, latency: float, when: float | None = None, index: int | None = None) -> None:
        self.scale.record(latency, when, index)


def live_pace(
    device: str, threads: int | None = None, max_latency: float | None = None, min_fps: float | None = None
) -> LivePace:
    """The pace of a live session on ``device`` (a torch device type): ``threads`` fixed
    as given, or on a CPU tuned from the cores free now; the painted size kept within
    ``max_latency`` seconds and at ``min_fps`` frames per second (None or 0: no such
    limit; neither: full size always)."""
    import torch

    scale = PaintScale(max_latency or None, min_fps or None)
    if threads or device != "cpu":
        if threads:
            torch.set_num_threads(threads)
        return LivePace(None, scale)
    return LivePace(ThreadTuner(start_threads(), cpu_cores(), torch.set_num_threads), scale)


def painted(stylizer: FastStylizer, image: np.ndarray, factor: float, look: Look) -> np.ndarray:
    """``stylizer``'s output for ``image`` in ``look``, painted at ``factor`` of its usual
    size (and brought back to the frame's size)."""
    if factor >= 1:
        return stylizer([image], look)[0]
    base = stylizer.style_scale
    height, width = image.shape[:2]
    stylizer.style_scale = factor * stylizer.network_size(width, height)[0] / width
    try:
        return stylizer([image], look)[0]
    finally:
        stylizer.style_scale = base
