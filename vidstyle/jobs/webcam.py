"""The live webcam session: a camera in, a stylized preview window, recordings and a
virtual camera out.

A session is the threaded pipeline of :mod:`vidstyle.jobs.pipeline` (:func:`live_session`):
the camera's frames are its source, brought to the processing size (and mirrored) in the
decode thread (:func:`camera_image`); :class:`Painter` paints each in the current style and
look on the network thread; :class:`LiveView`, the sink stage, runs in the main thread
(OpenCV's window needs it), where it composes the view, sends it to the virtual camera,
records it, shows it with the overlay and carries out keys, ending the session with
:class:`~vidstyle.jobs.pipeline.StopRun` (quit, window closed, a frame or time limit).
Frame dropping is the pipeline's ``latest_only`` policy: only the newest frame waits for
the network, so the picture shown is about one frame's work behind the camera.

The pure parts (key bindings and the view state they change, view composition, overlay
drawing) are kept apart from :class:`PreviewWindow`, the only code that needs a display,
so they can be tested headless.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from fractions import Fraction
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from ..defaults import WEBCAM_MAX_LATENCY as DEFAULT_MAX_LATENCY
from ..defaults import WEBCAM_MIN_FPS as DEFAULT_MIN_FPS
from ..defaults import WEBCAM_SIZE as DEFAULT_SIZE
from ..defaults import WEBCAM_STYLE_SCALE as STYLE_SCALE
from ..device import select_device
from ..errors import SettingsError, VidstyleError
from ..io.camera import Camera, CameraLost
from ..io.fileio import check_output_path, require_folder
from ..io.frames import Frame, FrameSink, SourceInfo
from ..io.images import resize_max, write_image
from ..io.sinks import VideoFileSink
from ..io.vcam import VirtualCamera, load_pyvirtualcam
from ..io.video import FORMATS
from ..settings import Look, NetworkSettings
from ..stylizers.factory import make_stylizer
from ..stylizers.fast import FastStylizer
from ..weights import DEFAULT_STYLE, list_styles
from . import pipeline
from .pace import LivePace, PaintScale, live_pace
from .pipeline import StopRun

WINDOW_TITLE = "vidstyle"
STRENGTH_STEP = 0.1
LOG_EVERY = 2.0  # seconds between headless fps lines
FPS_WINDOW = 30  # frames the fps meter averages over
TOAST_SECONDS = 2.5
MIN_TEXT_SCALE = 0.25  # smaller Hershey text is unreadable


def _no_window_error(problem: str) -> VidstyleError:
    """``problem`` with the way round it: a session without the preview window."""
    hint = "use {window=False} to run without a preview window"
    return VidstyleError(f"{problem}; {hint}", settings=("window",))


class Command(Enum):
    """What a key asks for; the value is its help text."""

    NEXT = "next style"
    PREVIOUS = "previous style"
    JUMP = "jump to style N"
    ORIGINAL = "original on/off"
    SPLIT = "split view: original | stylized"
    STRONGER = "strength +10%"
    WEAKER = "strength -10%"
    COLORS = "preserve colours on/off"
    SNAPSHOT = "save a snapshot PNG"
    RECORD = "start/stop recording"
    FULLSCREEN = "fullscreen on/off"
    HELP = "this help"
    QUIT = "quit"


KEYS: dict[str, Command] = {
    "n": Command.NEXT,
    "p": Command.PREVIOUS,
    **{str(digit): Command.JUMP for digit in range(1, 10)},
    "o": Command.ORIGINAL,
    "v": Command.SPLIT,
    "+": Command.STRONGER,
    "=": Command.STRONGER,  # "+" without shift on most layouts
    "-": Command.WEAKER,
    "c": Command.COLORS,
    "s": Command.SNAPSHOT,
    "r": Command.RECORD,
    "f": Command.FULLSCREEN,
    "h": Command.HELP,
    "q": Command.QUIT,
    "\x1b": Command.QUIT,
}
_KEY_LABELS = {"\x1b": "Esc"}


def key_help() -> list[tuple[str, str]]:
    """(keys, what they do) per command, derived from :data:`KEYS` so help matches the bindings."""
    rows = []
    for command in Command:
        keys = [_KEY_LABELS.get(k, k) for k, c in KEYS.items() if c is command]
        label = f"{keys[0]}-{keys[-1]}" if command is Command.JUMP else " ".join(keys)
        rows.append((label, command.value))
    return rows


@dataclass
class ViewState:
    """What the preview shows. Only keys change it, so it is testable without a window.

    The ``look`` (strength, colours) is the value each frame is finished in: keys replace
    it, and the stylizers stay as they were made.
    """

    styles: list[str]
    style: int = 0
    original: bool = False
    split: bool = False
    look: Look = Look()
    help: bool = False
    fullscreen: bool = False

    @property
    def style_name(self) -> str:
        return self.styles[self.style]

    def press(self, key: int) -> Command | None:
        """Apply a key code from ``cv2.waitKeyEx``; return its command (None: unbound or no key).

        Commands with effects outside the view (snapshot, record, quit...) are only returned;
        the session carries them out.
        """
        if not 0 <= key < 256:  # -1 (no key), arrows, function keys
            return None
        char = chr(key).lower()
        command = KEYS.get(char)
        count = len(self.styles)
        if command is Command.NEXT:
            self._show_style((self.style + 1) % count)
        elif command is Command.PREVIOUS:
            self._show_style((self.style - 1) % count)
        elif command is Command.JUMP:
            if int(char) > count:
                return None
            self._show_style(int(char) - 1)
        elif command is Command.ORIGINAL:
            self.original, self.split = not self.original, False
        elif command is Command.SPLIT:
            self.split, self.original = not self.split, False
        elif command in (Command.STRONGER, Command.WEAKER):
            step = STRENGTH_STEP if command is Command.STRONGER else -STRENGTH_STEP
            self.look = replace(self.look, strength=round(min(1.0, max(0.0, self.look.strength + step)), 2))
        elif command is Command.COLORS:
            self.look = replace(self.look, preserve_color=not self.look.preserve_color)
        elif command is Command.HELP:
            self.help = not self.help
        elif command is Command.FULLSCREEN:
            self.fullscreen = not self.fullscreen
        return command

    def _show_style(self, index: int) -> None:
        """Switching style leaves "original" mode: the user wants to see the new style."""
        self.style, self.original = index, False


def parse_size(text: str) -> tuple[int, int] | int:
    """``640x480`` (exact, cropped to that aspect) or ``640`` (longest side, keeps the aspect)."""
    parts = text.lower().split("x")
    if len(parts) in (1, 2) and all(p.strip().isdigit() and int(p) >= 16 for p in parts):
        numbers = [int(p) for p in parts]
        return (numbers[0], numbers[1]) if len(numbers) == 2 else numbers[0]
    problem = "use WIDTHxHEIGHT (e.g. 640x480) or a longest side (e.g. 640)"
    raise SettingsError("size", f"{{name}} {text!r}: {problem}")


def fit_frame(image: np.ndarray, size: tuple[int, int] | int | None) -> np.ndarray:
    """Bring a camera frame to the processing size (centre crop when the aspect differs)."""
    if not isinstance(size, tuple):
        return resize_max(image, size)
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)  # cover the target, then crop the excess
    crop_w, crop_h = min(w, round(width / scale)), min(h, round(height / scale))
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    crop = image[top : top + crop_h, left : left + crop_w]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (width, height), interpolation=interpolation)


def compose_view(state: ViewState, original: np.ndarray, stylized: np.ndarray | None) -> np.ndarray:
    """The picture to show and record: original, stylized, or split with a divider."""
    if state.original or stylized is None:
        return original
    if not state.split:
        return stylized
    view = stylized.copy()
    half = view.shape[1] // 2
    view[:, :half] = original[:, :half]
    view[:, max(0, half - 1) : half + 1] = 255
    return view


def status_line(state: ViewState, fps: float, width: int, height: int) -> str:
    """The overlay's first line: style, speed, resolution and whatever is not default."""
    parts = [
        f"{state.style_name} ({state.style + 1}/{len(state.styles)})",
        f"{fps:.1f} fps",
        f"{width}x{height}",
    ]
    if state.original:
        parts.append("original")
    if state.split:
        parts.append("split")
    if state.look.strength < 1:
        parts.append(f"strength {state.look.strength:.0%}")
    if state.look.preserve_color:
        parts.append("colours kept")
    if not state.help:
        parts.append("h: help")
    return " | ".join(parts)


def draw_panel(image: np.ndarray, rows: list[tuple[str, ...]], top: int) -> int:
    """Write ``rows`` (cells in aligned columns) on a darkened box, in place; return the y below it."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, min(image.shape[1] / 1280, image.shape[0] / 720))
    left, pad, gap = 8, 6, 10
    while True:  # shrink the text until the rows fit below ``top`` (help on a small frame)
        sizes = [[cv2.getTextSize(cell, font, scale, 1) for cell in row] for row in rows]
        line_height = max(h + baseline for row in sizes for (_, h), baseline in row) + 4
        if top + line_height * len(rows) + pad <= image.shape[0] or scale <= MIN_TEXT_SCALE:
            break
        scale *= 0.9
    widths = [0] * max(len(row) for row in rows)
    for row in sizes:
        for column, ((w, _), _) in enumerate(row):
            widths[column] = max(widths[column], w)
    starts = [left + pad + sum(widths[:i]) + gap * i for i in range(len(widths))]
    right = min(image.shape[1], starts[-1] + widths[-1] + pad)
    bottom = min(image.shape[0], top + line_height * len(rows) + pad)
    box = image[top:bottom, left:right]
    box[:] = (box * 0.35).astype(np.uint8)  # darken rather than cover: the picture stays visible
    for i, row in enumerate(rows):
        y = top + pad // 2 + line_height * (i + 1) - 4
        for x, cell in zip(starts, row, strict=False):
            cv2.putText(image, cell, (x, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return bottom


def draw_overlay(
    view: np.ndarray, state: ViewState, fps: float, recording: bool, toast: str | None = None
) -> np.ndarray:
    """The displayed frame: ``view`` with status, messages, help and a recording dot on top."""
    out = view.copy()
    height, width = out.shape[:2]
    rows = [(status_line(state, fps, width, height),)] + ([(toast,)] if toast else [])
    below = draw_panel(out, rows, top=8)
    if state.help:
        draw_panel(out, key_help(), top=below + 6)
    if recording:
        radius = max(6, width // 80)
        cv2.circle(out, (width - 2 * radius, 2 * radius), radius, (255, 0, 0), -1, cv2.LINE_AA)
    return out


def check_display() -> None:
    """Fail with a hint before OpenCV's GUI backend aborts the whole process on a missing X server."""
    if sys.platform in ("win32", "darwin"):
        return
    display = os.environ.get("DISPLAY", "")
    if not display:
        raise _no_window_error("no display available for the preview window (DISPLAY is not set)")
    if not _x_server_answers(display):
        raise _no_window_error(f"cannot connect to the X display {display}")


def _x_server_answers(display: str) -> bool:
    """Whether something listens where ``DISPLAY`` points (unix socket or TCP 6000+N)."""
    host, _, screen = display.rpartition(":")
    number = screen.split(".")[0]
    if not number.isdigit() or host.startswith("/"):  # a form we cannot probe: let the backend try
        return True
    if host and host != "unix":
        try:
            socket.create_connection((host, 6000 + int(number)), timeout=2).close()
            return True
        except OSError:
            return False
    for address in (f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"):
        with socket.socket(socket.AF_UNIX) as sock, contextlib.suppress(OSError):
            sock.settimeout(2)
            sock.connect(address)
            return True
    return False


class PreviewWindow:
    """The OpenCV window: shows RGB frames, reports keys and whether the user closed it."""

    def __init__(self, title: str = WINDOW_TITLE) -> None:
        check_display()
        self.title = title
        self._sized = False
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise _no_window_error(f"cannot open a preview window ({reason})") from None

    def show(self, image: np.ndarray) -> None:
        if not self._sized:  # start at the frame's own size; the user may resize later
            cv2.resizeWindow(self.title, image.shape[1], image.shape[0])
            self._sized = True
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def key(self) -> int:
        """The key pressed since the last call, -1 for none (also runs the GUI event loop)."""
        return cv2.waitKeyEx(1)

    @property
    def closed(self) -> bool:
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def set_fullscreen(self, on: bool) -> None:
        mode = cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL
        cv2.setWindowProperty(self.title, cv2.WND_PROP_FULLSCREEN, mode)

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)  # let the backend process the close


class Recorder(VideoFileSink):
    """One recording of the live view, stamped with capture times.

    Timestamps are milliseconds since the first recorded capture, so the file plays at
    real speed however irregularly frames arrived.
    """

    def __init__(self, path: Path, fps: float) -> None:
        super().__init__(path, SourceInfo(str(path), 0, 0, fps, time_base=Fraction(1, 1000)))
        self.frames = 0
        self._start: float | None = None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        if self._start is None:
            self._start = frame.time
        super().write(image, replace(frame, pts=round((frame.time - self._start) * 1000)))
        self.frames += 1

    def close(self) -> None:
        """Finalise the file and move it into place."""
        self.__exit__(None, None, None)


def check_record_path(path: Path, overwrite: bool) -> None:
    """Refuse a recording path before the session starts, not after the first frame."""
    check_output_path(path, overwrite=overwrite)
    if path.suffix.lower() not in FORMATS:
        raise VidstyleError(f"cannot record to {path.name}: use one of {', '.join(FORMATS)}")


def unique_path(directory: Path, stem: str, suffix: str) -> Path:
    """``directory/stem.suffix``, numbered when that exists (several snapshots in one second)."""
    path = directory / f"{stem}{suffix}"
    number = 2
    while path.exists():
        path = directory / f"{stem}-{number}{suffix}"
        number += 1
    return path


def load_stylizers(
    styles: list[str] | None, device: str, style_scale: float | str = STYLE_SCALE
) -> list[FastStylizer]:
    """The given style names/paths, or every installed style; all on one device.

    Installed styles come in the order that keeps the preview live: the default style
    first, then the other real-time (lite) networks, then the heavier ones.
    """
    installed = sorted(
        list_styles(), key=lambda i: (i.name != DEFAULT_STYLE, i.arch.get("type") != "lite", i.name)
    )
    names = list(styles or []) or [str(info.path) for info in installed]
    if not names:
        raise VidstyleError("no styles installed; pass -s NAME_OR_PATH (see `vidstyle styles`)")
    network = NetworkSettings(device=str(select_device(device)), style_scale=style_scale, temporal=0.0)
    return [make_stylizer(replace(network, style=name)) for name in names]


@dataclass
class WebcamResult:
    """What a session did, for the CLI summary and the benchmark."""

    frames: int  # frames shown
    seconds: float
    fps: float
    latency_ms: float  # mean time from capture to display
    dropped: int  # camera frames replaced by newer ones before they could be shown
    stopped_by: str
    threads: int = 1  # the network's CPU threads at the end
    scale: float = 1.0  # the painted size at the end, as a factor of the usual one
    recordings: list[Path] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)


def camera_image(frame: Frame, size: tuple[int, int] | int | None, mirror: bool) -> np.ndarray:
    """The picture of a camera frame that is painted and shown: brought to the processing
    ``size`` (:func:`fit_frame`), mirrored if asked."""
    image = fit_frame(frame.image, size)
    return cv2.flip(image, 1) if mirror else image


class Painter:
    """The network stage: each picture in the style and look that ``state`` has when it is
    painted (keys change them between frames; the stylizers stay as they were made), through
    ``pace`` (threads, painted size). With "original" on the network is skipped and the
    picture passes as it is."""

    def __init__(self, stylizers: list[FastStylizer], state: ViewState, pace: LivePace | None = None) -> None:
        self.stylizers, self.state = stylizers, state
        self.pace = pace or LivePace(None, PaintScale(None))

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        if self.state.original:
            return images
        stylizer, look = self.stylizers[self.state.style], self.state.look
        return [self.pace.paint(stylizer, image, look) for image in images]


class LiveView:
    """The sink stage, in the main thread (OpenCV's window must stay there): each painted
    frame composed into the view (:meth:`compose`) and (:meth:`write`) sent to ``sinks`` (a
    virtual camera gets the clean view, without the overlay), recorded, shown with the
    overlay; keys carried out; the counters of the :class:`WebcamResult` kept.

    :meth:`write` ends the session (:class:`~vidstyle.jobs.pipeline.StopRun`) after a frame
    on quit, a closed window, ``max_frames`` shown or ``duration`` seconds; ``record``
    starts a recording at the first frame. ``pace`` hears each frame's latency.
    """

    def __init__(
        self,
        state: ViewState,
        *,
        window: PreviewWindow | None,
        output_dir: Path,
        log: Callable[[str], None] | None,
        fps: float,
        sinks: Sequence[FrameSink] = (),
        pace: LivePace | None = None,
        record: Path | None = None,
        max_frames: int | None = None,
        duration: float | None = None,
    ) -> None:
        self.state, self.window, self.output_dir, self.log = state, window, output_dir, log
        self.camera_fps, self.sinks = fps, sinks
        self.pace = pace or LivePace(None, PaintScale(None))
        self.max_frames, self.duration = max_frames, duration
        self.recorder: Recorder | None = None
        self.recordings: list[Path] = []
        self.snapshots: list[Path] = []
        self.frames = self.dropped = 0
        self.latency_total = 0.0
        self.start = time.monotonic()
        self._record = record
        self._shown: deque[float] = deque(maxlen=FPS_WINDOW)
        self._last_index = -1
        self._toast: tuple[str, float] | None = None
        self._next_log = self.start + LOG_EVERY

    @property
    def fps(self) -> float:
        if len(self._shown) < 2:
            return 0.0
        return (len(self._shown) - 1) / max(1e-6, self._shown[-1] - self._shown[0])

    def compose(self, stylized: np.ndarray, source: np.ndarray) -> np.ndarray:
        """The view of a painted frame (the pipeline's ``finish``), as the keys have set it now."""
        return compose_view(self.state, source, stylized)

    def write(self, view: np.ndarray, frame: Frame) -> None:
        """Send, record and show one frame's view, then carry out a key."""
        for sink in self.sinks:  # first: a virtual camera that cannot open fails before any output
            sink.write(view, frame)
        if self._record is not None:
            path, self._record = self._record, None
            self._start_recording(path, view, frame)
        elif self.recorder is not None:
            self.recorder.write(view, frame)
        self._present(view, frame)
        reason = self._handle_keys(view, frame) or self.limit()
        if reason is not None:
            raise StopRun(reason)

    def limit(self) -> str | None:
        """The limit (``max_frames``, ``duration``) the session has reached, if any."""
        if self.max_frames is not None and self.frames >= self.max_frames:
            return "max frames"
        if self.duration is not None and time.monotonic() - self.start >= self.duration:
            return "duration"
        return None

    def close(self) -> None:
        """Finalise a recording in progress."""
        self._stop_recording()

    def result(self, stopped_by: str) -> WebcamResult:
        seconds = time.monotonic() - self.start
        return WebcamResult(
            frames=self.frames,
            seconds=round(seconds, 3),
            fps=round(self.frames / seconds, 2) if seconds > 0 else 0.0,
            latency_ms=round(1000 * self.latency_total / max(1, self.frames), 1),
            dropped=self.dropped,
            stopped_by=stopped_by,
            threads=self.pace.threads,
            scale=self.pace.scale.factor,
            recordings=self.recordings,
            snapshots=self.snapshots,
        )

    def _present(self, view: np.ndarray, frame: Frame) -> None:
        toast = self._toast[0] if self._toast and self._toast[1] > time.monotonic() else None
        shown = draw_overlay(view, self.state, self.fps, self.recorder is not None, toast)
        if self.window is not None:
            self.window.show(shown)
        now = time.monotonic()
        self._shown.append(now)
        self.frames += 1
        self.latency_total += now - frame.time
        self.pace.shown(now - frame.time, now, frame.index)
        self.dropped += max(0, frame.index - self._last_index - 1)
        self._last_index = frame.index
        if self.window is None and self.log is not None and now >= self._next_log:
            self._next_log = now + LOG_EVERY
            rec = ", recording" if self.recorder is not None else ""
            factor = self.pace.scale.factor
            smaller = f", painted at {factor:.0%}" if factor < 1 else ""
            self.log(
                f"{self.fps:.1f} fps, latency {1000 * (now - frame.time):.0f} ms, "
                f"{self.state.style_name}, {view.shape[1]}x{view.shape[0]}{smaller}, "
                f"{self.pace.threads} thread(s){rec}"
            )

    def _handle_keys(self, view: np.ndarray, frame: Frame) -> str | None:
        """Carry out a key's command; return why the session stops, if it does."""
        if self.window is None:
            return None
        command = self.state.press(self.window.key())
        if command is Command.QUIT:
            return "quit"
        if self.window.closed:
            return "window closed"
        if command is Command.FULLSCREEN:
            self.window.set_fullscreen(self.state.fullscreen)
        elif command is Command.SNAPSHOT:
            self._attempt("snapshot", lambda: self._snapshot(view))
        elif command is Command.RECORD and self.recorder is not None:
            self._stop_recording()
        elif command is Command.RECORD:
            path = unique_path(self.output_dir, f"vidstyle-{_stamp()}", ".mp4")
            self._attempt("recording", lambda: self._start_recording(path, view, frame))
        return None

    def _attempt(self, what: str, action: Callable[[], None]) -> None:
        """Run a key's file action; a failure is a message in the window, not the end of the session."""
        try:
            action()
        except (VidstyleError, OSError) as exc:
            self._notify(f"{what} failed: {exc}")

    def _notify(self, message: str) -> None:
        self._toast = (message, time.monotonic() + TOAST_SECONDS)
        if self.log is not None:
            self.log(message)

    def _snapshot(self, view: np.ndarray) -> None:
        path = unique_path(self.output_dir, f"vidstyle-{_stamp()}-{self.state.style_name}", ".png")
        write_image(path, view)
        self.snapshots.append(path)
        self._notify(f"saved {path}")

    def _start_recording(self, path: Path, view: np.ndarray, frame: Frame) -> None:
        recorder = Recorder(path, self.camera_fps)
        recorder.write(view, frame)  # a file that cannot be written fails here, before it counts
        self.recorder = recorder
        self._notify(f"recording to {path}")

    def _stop_recording(self) -> None:
        if self.recorder is None:
            return
        recorder, self.recorder = self.recorder, None
        recorder.close()
        self.recordings.append(recorder.path)
        self._notify(f"saved {recorder.path} ({recorder.frames} frames)")


def live_session(
    camera: Camera, painter: Painter, view: LiveView, *, size: tuple[int, int] | int | None, mirror: bool
) -> WebcamResult:
    """The camera's frames through the pipeline: brought to ``size`` (and mirrored) in the
    decode thread, painted by ``painter`` on the network thread, shown by ``view`` in this
    one. Only the newest frame waits for the network (``latest_only``): the ones it cannot
    keep up with are dropped, not queued. Ctrl-C and SIGTERM end the session normally.

    The recording is finalised whatever ends the session; a lost camera is raised
    afterwards, as :class:`CameraLost` naming the recordings kept.
    """
    stopped_by, lost = view.limit(), None
    try:
        if stopped_by is None:
            stats = pipeline.run(
                iter(camera.read, None),
                partial(camera_image, size=size, mirror=mirror),
                painter,
                view.write,
                finish=view.compose,
                live=True,
                latest_only=True,
                sink_in_caller=True,
            )
            stopped_by = stats.stopped_by or "end of video"
    except CameraLost as exc:
        lost = exc
    finally:
        view.close()
    if lost is not None:
        kept = f"; recording kept: {', '.join(map(str, view.recordings))}" if view.recordings else ""
        raise CameraLost(f"{lost}{kept}")
    return view.result(stopped_by)


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def run_webcam(
    styles: list[str] | None = None,
    *,
    camera: str = "0",
    size: tuple[int, int] | int | None = DEFAULT_SIZE,
    style_scale: float | str = STYLE_SCALE,
    device: str = "auto",
    mirror: bool = False,
    record: Path | None = None,
    output_dir: Path = Path("."),
    window: bool = True,
    max_frames: int | None = None,
    duration: float | None = None,
    loop: bool = False,
    look: Look = Look(),
    overwrite: bool = False,
    virtual_cam: bool | str = False,
    threads: int | None = None,
    max_latency: float | None = DEFAULT_MAX_LATENCY,
    min_fps: float | None = DEFAULT_MIN_FPS,
    log: Callable[[str], None] | None = None,
) -> WebcamResult:
    """Run a live session until quit, window close, Ctrl-C, the end of a video source or a limit.

    Args:
        styles: style names or weights paths (default: every shipped style); keys switch.
        camera: camera index, device path, stream URL or video file (played in real time).
        size: processing resolution, ``(width, height)`` or the longest side: the size of
            the frames stylized, shown, snapshotted and recorded.
        style_scale: the brush-stroke size (see :class:`~vidstyle.stylizers.fast.FastStylizer`).
        record: record the shown stream from the first frame (more with the ``r`` key).
        output_dir: where snapshots and ``r`` recordings go.
        window: show the preview window (False: headless, ``log`` gets periodic fps lines).
        loop: restart a video file source at its end.
        look: the strength and colours the session starts with (keys change them).
        virtual_cam: also send each shown frame, without the overlay, to a virtual camera
            (:class:`~vidstyle.io.vcam.VirtualCamera`): True for the first free one, or its
            device (``/dev/video10``, ``OBS Virtual Camera``).
        threads: the network's CPU threads (default: the cores other programs leave free,
            retuned from frame times while the session runs; see :mod:`vidstyle.jobs.pace`).
        max_latency: seconds from capture to display over which the network paints a
            smaller picture until it catches up (None or 0: no latency limit).
        min_fps: frames per second (or the camera's rate, if lower) under which the
            network paints a smaller picture (None or 0: no frame-rate limit). With neither
            limit the picture is always painted at full size.
        log: receives status lines (snapshots, recordings; headless: fps every few seconds).

    Recordings are finalised and the virtual camera released whatever ends the session; a
    lost camera is raised as :class:`CameraLost` afterwards.
    """
    if virtual_cam:
        load_pyvirtualcam()  # a missing extra is the first error, not one after the models load
    if record is not None:
        check_record_path(Path(record), overwrite)
    output_dir = Path(output_dir)
    require_folder(output_dir, "output directory")
    pace = live_pace(select_device(device).type, threads, max_latency, min_fps)  # before the models load
    stylizers = load_stylizers(styles, device, style_scale)
    state = ViewState([s.name for s in stylizers], look=look)
    preview = PreviewWindow() if window else None
    try:
        with (
            Camera(camera, loop=loop, size=size if isinstance(size, tuple) else None) as source,
            contextlib.ExitStack() as outputs,
        ):
            sinks: list[FrameSink] = []
            if virtual_cam:
                sinks.append(outputs.enter_context(_virtual_camera(virtual_cam, source.fps, size, log)))
            view = LiveView(
                state,
                window=preview,
                output_dir=output_dir,
                log=log,
                fps=source.fps,
                sinks=sinks,
                pace=pace,
                record=None if record is None else Path(record),
                max_frames=max_frames,
                duration=duration,
            )
            return live_session(source, Painter(stylizers, state, pace), view, size=size, mirror=mirror)
    finally:
        if preview is not None:
            preview.close()


def _virtual_camera(
    target: bool | str, fps: float, size: tuple[int, int] | int | None, log: Callable[[str], None] | None
) -> VirtualCamera:
    """The ``virtual_cam`` sink; an exact ``size`` lets it open before the first frame."""
    width, height = size if isinstance(size, tuple) else (None, None)
    device = None if target is True else str(target)
    return VirtualCamera(fps, width=width, height=height, device=device, log=log)
