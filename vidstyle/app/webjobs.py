"""The web app's work, apart from the page (``vidstyle.app.ui``): the CLI's jobs run in threads
of their own, report progress for the page to poll, and stop when asked as Ctrl-C stops
them on the command line (partial outputs removed, a training's weights kept)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..defaults import DATA_ENV_VAR
from ..errors import VidstyleError
from ..io.frames import Stylizer
from ..io.images import is_image_path, resize_max
from ..jobs.stylize import StylizeResult, default_output, plan_fast_job, stylize_media
from ..progress import clock, listening, notify
from ..settings import Look, NetworkSettings
from ..stylizers.base import apply_look
from ..stylizers.factory import make_stylizer
from ..stylizers.fast import resize_to
from ..weights import ENV_VAR
from .sheet import first_frame

#: the longest side of the pictures the page shows
SHOW_SIDE = 1024


class Stopped(KeyboardInterrupt):
    """The page's Stop: raised in the job's own progress report, so the job ends as on Ctrl-C."""


def one_line(exc: BaseException) -> str:
    """What the page says about a failed job: the CLI's one-line message where there is one."""
    if isinstance(exc, Stopped):
        return "stopped"
    if isinstance(exc, VidstyleError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller photo or video)"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@dataclass(frozen=True)
class Report:
    """A job's latest progress: units done of ``total``, the job's own figures, seconds left."""

    done: int = 0
    total: int | None = None
    info: str = ""
    eta: float | None = None


class Job:
    """``work()`` in a daemon thread, with every progress display it makes reporting here."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.report = Report()
        self.result: Any = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(work,), name="vidstyle-ui-job", daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    def _run(self, work: Callable[[], Any]) -> None:
        with listening(self.update):
            try:
                self.result = work()
            except BaseException as exc:  # shown on the page, never a traceback
                self.error = exc

    def update(self, done: int, total: int | None, info: str = "", eta: float | None = None) -> None:
        """Called by the job's displays (from any of its threads); raises :class:`Stopped`
        once :meth:`stop` was called, which ends the job where it reports."""
        if self._stop.is_set():
            raise Stopped
        self.report = Report(done, total, info, eta)

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the job to end; whether it has."""
        self._thread.join(seconds)
        return not self.running

    def fraction(self) -> float | None:
        report = self.report
        return min(1.0, report.done / report.total) if report.total else None

    def describe(self) -> str:
        """``12/50 (24%) · 2.1 fps · eta 0:18``: the progress as the terminal bar says it."""
        report = self.report
        if report.total is None:
            return f"{report.done} done · {report.info}"
        parts = [f"{report.done}/{report.total} ({100 * (self.fraction() or 0):.0f}%)"]
        parts += [report.info] if report.info else []
        return " · ".join([*parts, f"eta {clock(report.eta)}"])


@lru_cache(maxsize=4)
def _stylizer(network: NetworkSettings) -> Stylizer:
    return make_stylizer(network)


@lru_cache(maxsize=2)
def _frame(path: str) -> np.ndarray:
    return first_frame(path)


@lru_cache(maxsize=8)
def _painted(path: str, network: NetworkSettings) -> np.ndarray:
    return _stylizer(network).paint([_frame(path)])[0]


def preview(path: str | Path, network: NetworkSettings, look: Look) -> tuple[np.ndarray, np.ndarray]:
    """The first frame of ``path`` and its stylized picture, as the whole job would paint
    it (the network's picture is kept, so a new ``look`` changes it at once)."""
    frame = _frame(str(path))
    picture = _painted(str(path), replace(network, temporal=0.0))  # one frame: nothing to blend
    out = apply_look(resize_to(picture, frame.shape[1], frame.shape[0]), frame, look)
    return resize_max(frame, SHOW_SIDE), resize_max(out, SHOW_SIDE)


def stylize_upload(path: str | Path, network: NetworkSettings, look: Look, folder: Path) -> StylizeResult:
    """Fast mode, as ``vidstyle stylize PATH -s STYLE`` runs it, into ``folder`` as
    ``NAME.STYLE.EXT`` (a video as MP4, for the browser to play)."""
    options = plan_fast_job(network)
    output = default_output(path, options["stylizer"].name, folder, playable=True)
    return stylize_media(path, output, look=look, progress=False, **options)


def stylize_upload_hq(path: str | Path, network: NetworkSettings, look: Look, folder: Path) -> StylizeResult:
    """HQ mode (``--mode hq``) for a photo: optimised towards the painting of
    ``network.style`` (HQ takes nothing else of the network's settings)."""
    from ..jobs.hq import stylize_hq

    if not is_image_path(Path(path)):
        raise VidstyleError("HQ mode here takes a photo (a video: vidstyle stylize --mode hq)")
    output = default_output(path, f"hq-{Path(network.style).stem}", folder)
    return stylize_hq(
        Path(path),
        output,
        network.style,
        look=look,
        progress=False,
        work_dir=folder / "hq-work",
    )


def user_styles_dir() -> Path:
    """Where trained styles go: the first folder of ``$VIDSTYLE_STYLES``, else
    ``$XDG_DATA_HOME/vidstyle/styles`` (default ``~/.local/share/vidstyle/styles``)."""
    listed = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    if listed:
        return Path(listed[0])
    root = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(root) / "vidstyle" / "styles"


def train_style(
    painting: Path, name: str, quality: str, data: Path | None, folder: Path, **settings: Any
) -> Path:
    """``vidstyle train PAINTING --quality Q -o FOLDER/NAME.safetensors``: fine-tunes the
    default style; progress samples go to the output's samples folder as they are made."""
    from ..training.train import TrainConfig, train

    data = data or (Path(os.environ[DATA_ENV_VAR]) if os.environ.get(DATA_ENV_VAR) else None)
    if data is None or not data.is_dir():
        raise VidstyleError(
            f"name a folder of training photos (or set {DATA_ENV_VAR}=DIR before `vidstyle ui`)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(
        style_image=painting,
        data=data,
        output=folder / f"{name}.safetensors",
        name=name,
        quality=quality,
        **settings,
    )
    started = time.monotonic()

    def progress(done: int, total: int, losses: Any, elapsed: float) -> None:
        left = (time.monotonic() - started) / done * (total - done) if done else None
        notify(done, total, f"style loss {losses.style:.3f}", left)

    return train(config, progress=progress)


def samples_of(output: Path) -> list[Path]:
    """A training run's progress samples so far, oldest first."""
    folder = output.with_suffix(".samples")  # TrainConfig.samples_dir
    return sorted(folder.glob("iter_*.jpg")) if folder.is_dir() else []
