"""Live frame sources: a camera, a stream URL or a video file played as if it were a camera.

Frames are read by OpenCV in a thread that keeps only the newest one, so a consumer that
is slower than the camera always gets the latest picture instead of a growing backlog.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from ..errors import VidstyleError
from .fileio import Closing
from .frames import Frame
from .locations import is_camera, is_url, special_file_problem

#: seconds to wait for a frame before the camera counts as silent (first frame) or lost
DEFAULT_TIMEOUT = 5.0
FALLBACK_FPS = 30.0


class CameraLost(VidstyleError):
    """The source delivered frames, then stopped (unplugged, stream dropped)."""


@dataclass(frozen=True)
class SourceSpec:
    """What ``--camera`` names, resolved to what OpenCV opens."""

    target: int | str  # camera index, device path, URL or file path
    kind: str  # "camera", "url" or "file"
    label: str  # for messages


def parse_source(source: str) -> SourceSpec:
    """Classify a camera index, device path, stream URL or video file; reject missing paths."""
    text = source.strip()
    if text.isdigit():
        return SourceSpec(int(text), "camera", f"camera {text}")
    if is_url(text):
        return SourceSpec(text, "url", text)
    path = Path(text)
    if not path.exists():
        what = "no such device" if text.startswith("/dev/") else "no such file, camera index or stream URL"
        raise VidstyleError(f"no camera at {text}: {what}")
    if path.is_dir():
        raise VidstyleError(f"no camera at {text}: it is a directory")
    problem = special_file_problem(text)
    if problem:
        raise VidstyleError(problem)
    if is_camera(text):
        return SourceSpec(text, "camera", f"camera {text}")
    return SourceSpec(text, "file", text)


def _open_capture(spec: SourceSpec, size: tuple[int, int] | None, timeout: float) -> cv2.VideoCapture:
    """Open ``spec`` quietly: OpenCV logs every backend it tries, our error message says it once."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        if spec.kind == "camera":
            cap = cv2.VideoCapture(spec.target, cv2.CAP_ANY)
            if cap.isOpened() and size is not None:  # a request: cameras pick their nearest mode
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        else:
            ms = round(timeout * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG, params)
    finally:
        logging.setLogLevel(previous)
    return cap


class Camera(Closing):
    """A frame source read in its own thread; :meth:`read` returns the newest frame.

    Video files are paced at their own timestamps (so they behave like a camera: frames
    are dropped, not queued, when the consumer is slow) and restart at the end with
    ``loop=True``. ``size`` is the capture resolution requested from real cameras.
    """

    def __init__(
        self,
        source: str,
        *,
        loop: bool = False,
        size: tuple[int, int] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.spec = parse_source(source)
        self.loop = loop and self.spec.kind == "file"
        self.timeout = timeout
        self._cap = _open_capture(self.spec, size, timeout)
        if not self._cap.isOpened():
            hint = {
                "file": "cannot open it as a video",
                "url": "cannot connect, or not a video stream",
            }.get(self.spec.kind, "nothing answered (is it connected, or busy in another program?)")
            raise VidstyleError(f"no camera at {self.spec.target}: {hint}")
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._taken = -1  # index of the last frame handed out
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidstyle-camera", daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self.spec.label

    @property
    def delivered(self) -> int:
        """Frames the source produced so far (shown or dropped)."""
        latest = self._latest
        return 0 if latest is None else latest.index + 1

    def read(self) -> Frame | None:
        """The newest frame not returned before; None once a video file (not looping) has ended.

        Raises :class:`VidstyleError` when the source never delivers a frame and
        :class:`CameraLost` when it stops delivering them.
        """
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                latest = self._latest
                if latest is not None and latest.index > self._taken:
                    self._taken = latest.index
                    return latest
                if self._error is not None:
                    raise VidstyleError(f"{self.name}: capture failed: {self._error}")
                if self._ended and latest is not None and self.spec.kind == "file":
                    return None
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    raise self._silence_error(latest is None)
                self._cond.wait(remaining)

    def _silence_error(self, never_delivered: bool) -> VidstyleError:
        if never_delivered and self.spec.kind == "file":
            return VidstyleError(f"no camera at {self.name}: no frame of it could be decoded")
        if never_delivered:
            return VidstyleError(
                f"{self.name} opened but delivered no frames within {self.timeout:g} s "
                "(is it in use by another program?)"
            )
        return CameraLost(f"{self.name} stopped delivering frames (disconnected?)")

    def _run(self) -> None:
        """Capture loop: read, pace files to their timestamps, publish the newest frame."""
        index, since_rewind, offset, clock_start, last_media = 0, 0, 0.0, None, 0.0
        try:
            while not self._stop.is_set():
                ok, bgr = self._cap.read()
                if not ok:
                    # A rewind that yields nothing again means the file cannot loop.
                    if self.loop and since_rewind and self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0):
                        offset, since_rewind = last_media + 1 / self.fps, 0
                        continue
                    break
                since_rewind += 1
                if self.spec.kind == "file":
                    last_media = offset + self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000
                    delay = 0.0 if clock_start is None else clock_start + last_media - time.monotonic()
                    if delay < -1 / self.fps:  # decoding fell behind: drop the lag, a camera never bursts
                        clock_start, delay = None, 0.0
                    if clock_start is None:
                        clock_start = time.monotonic() - last_media
                    if self._stop.wait(max(0.0, delay)):
                        break
                frame = Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.monotonic(), index)
                index += 1
                with self._cond:
                    self._latest = frame
                    self._cond.notify_all()
        except Exception as exc:  # handed to the reader
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def close(self) -> None:
        """Stop the capture thread and release the device (left to exit if the driver hangs)."""
        self._stop.set()
        self._thread.join(timeout=2)
        if not self._thread.is_alive():
            self._cap.release()
