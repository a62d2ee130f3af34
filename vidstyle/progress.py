"""Progress display: a rich bar on a terminal, periodic log lines otherwise (nohup, CI).

Both say the same: done/total, percentage, the job's own figures, elapsed time and one
ETA. The rate shown and the ETA come from the same measure: this run's progress over its
last :data:`RATE_WINDOW` seconds (work resumed from a checkpoint or a work directory does not
count as fast progress; a machine that got busier shows within a minute). HQ mode gives its
own ETA, as its frames take different numbers of steps.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


def clock(seconds: float | None) -> str:
    """``M:SS`` or ``H:MM:SS``; ``?`` while unknown."""
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


#: called with (done, total, info, eta seconds) by every display made while it is set
Listener = Callable[[int, "int | None", str, "float | None"], None]
_LISTENER: ContextVar[Listener | None] = ContextVar("vidstyle_progress_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the progress of the jobs started in this context to ``listener`` too.

    For a front end other than the terminal (the web app): a display keeps the listener
    it was made with, so reports from a job's worker threads reach it, and an exception
    the listener raises stops the job as an error in that stage would.
    """
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def notify(done: int, total: int | None, info: str = "", eta: float | None = None) -> None:
    """Report progress to this context's listener, if any: for work with a progress
    callback of its own rather than a display (training)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(done, total, info, eta)


#: seconds of recent progress that the rate and the ETA are measured over
RATE_WINDOW = 60.0


class _Display:
    """Shared machinery: a rich bar when stderr is a terminal, else a line every few seconds."""

    log_interval = 30.0

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.enabled = enabled
        self.description = description
        self._bar: Progress | None = None
        self._task: Any = None
        self._last_log = 0.0
        self._start = time.monotonic()
        self._marks: deque[tuple[int, float]] = deque()  # (done, time) of recent reports
        self._listener = _LISTENER.get()

    def __enter__(self) -> _Display:
        self._start = time.monotonic()
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TextColumn("{task.fields[times]}"),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=None, info="", times="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def rate(self, done: int) -> float | None:
        """Items a second over the last :data:`RATE_WINDOW` seconds of reports (None before
        a second report has moved on)."""
        now = time.monotonic()
        if not self._marks or done != self._marks[-1][0]:
            self._marks.append((done, now))
        while len(self._marks) > 2 and now - self._marks[1][1] >= RATE_WINDOW:
            self._marks.popleft()
        first_done, first_time = self._marks[0]
        if done <= first_done or now <= first_time:
            return None
        return (done - first_done) / (now - first_time)

    @staticmethod
    def eta(rate: float | None, done: int, total: int | None) -> float | None:
        """Seconds left at ``rate``."""
        return max(0, total - done) / rate if rate and total else None

    def show(self, done: int, total: int | None, info: str, eta: float | None = None) -> None:
        """Report progress; ``eta`` in seconds if the caller knows it, else from the rate."""
        if self._listener is None and not self.enabled:
            return
        eta = eta if eta is not None else self.eta(self.rate(done), done, total)
        if self._listener is not None:
            self._listener(done, total, info, eta)
        if not self.enabled:
            return
        times = f"{clock(time.monotonic() - self._start)} elapsed, eta {clock(eta)}"
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, info=info, times=times)
            return
        now = time.monotonic()
        if now - self._last_log >= self.log_interval or (total is not None and done >= total):
            self._last_log = now
            of = f"/{total} ({100 * done / total:.0f}%)" if total else ""
            self.note(f"{self.description} {done}{of} {info} | {times}")

    def note(self, line: str) -> None:
        """A line of its own (a checkpoint written, a warning), above a live bar."""
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        elif self.enabled:
            print(line, file=sys.stderr, flush=True)


class TrainProgress(_Display):
    """Iteration, losses, iterations/s, elapsed time and ETA."""

    def __init__(self) -> None:
        super().__init__("train")

    def __enter__(self) -> TrainProgress:
        super().__enter__()
        return self

    def update(self, done: int, total: int, losses: Any, elapsed: float) -> None:
        """Show iteration ``done``; the rate is measured here (``elapsed``, the run's training
        seconds, leaves out the checkpoints, samples and probes that the ETA must count)."""
        rate = self.rate(done)
        self.show(
            done,
            total,
            f"content {losses.content:.3f} style {losses.style:.3f} tv {losses.tv:.4f}"
            + (f" stab {losses.stability:.4f}" if losses.stability else "")
            + (f" distill {losses.distill:.5f}" if losses.distill else "")
            + (f" palette {losses.palette:.2f}" if getattr(losses, "palette", 0) else "")
            + f" | {_figure(rate, '.2f')} it/s",
            eta=self.eta(rate, done, total),
        )


class FrameProgress(_Display):
    """Frames done, fps, elapsed time and ETA for video jobs."""

    def __init__(self, total: int | None, description: str = "stylize", enabled: bool = True) -> None:
        super().__init__(description, enabled)
        self.total = total

    def __enter__(self) -> FrameProgress:
        super().__enter__()
        return self

    def update(self, done: int, extra: str = "") -> None:
        fps = self.rate(done)
        info = f"{_figure(fps, '.1f')} fps{' ' + extra if extra else ''}"
        self.show(done, self.total, info, eta=self.eta(fps, done, self.total))


def _figure(value: float | None, spec: str) -> str:
    return "?" if value is None else format(value, spec)
