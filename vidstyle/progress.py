"""Progress display: a rich bar on a terminal, periodic log lines otherwise (nohup, CI)."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Display:
    """Shared machinery: a rich bar when stderr is a terminal, else a line every few seconds."""

    log_interval = 30.0

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.live = enabled and self.console.is_terminal
        self.enabled = enabled
        self._bar: Progress | None = None
        self._task: Any = None
        self._last_log = 0.0
        self.description = description

    def __enter__(self) -> _Display:
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=None, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def show(self, done: int, total: int | None, info: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, info=info)
            return
        now = time.monotonic()
        if now - self._last_log >= self.log_interval or (total is not None and done >= total):
            self._last_log = now
            of = f"/{total}" if total else ""
            print(f"{self.description} {done}{of} {info}", file=sys.stderr, flush=True)


class TrainProgress(_Display):
    """Iteration, losses, iterations/s and ETA."""

    def __init__(self) -> None:
        super().__init__("train")

    def __enter__(self) -> TrainProgress:
        super().__enter__()
        return self

    def update(self, done: int, total: int, losses: Any, elapsed: float) -> None:
        rate = done / elapsed if elapsed else 0.0
        self.show(
            done,
            total,
            f"content {losses.content:.3f} style {losses.style:.3f} tv {losses.tv:.4f}"
            + (f" stab {losses.stability:.4f}" if losses.stability else "")
            + (f" distill {losses.distill:.5f}" if losses.distill else "")
            + f" | {rate:.2f} it/s",
        )


class FrameProgress(_Display):
    """Frames done, fps and ETA for video jobs."""

    def __init__(self, total: int | None, description: str = "stylize", enabled: bool = True) -> None:
        super().__init__(description, enabled)
        self.total = total
        self._start = time.monotonic()

    def __enter__(self) -> FrameProgress:
        super().__enter__()
        self._start = time.monotonic()
        return self

    def update(self, done: int, extra: str = "") -> None:
        elapsed = time.monotonic() - self._start
        fps = done / elapsed if elapsed > 0 else 0.0
        self.show(done, self.total, f"{fps:.1f} fps{' ' + extra if extra else ''}")
