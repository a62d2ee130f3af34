"""A virtual webcam as a frame sink, so stylized frames show up as a camera in other apps.

pyvirtualcam (the optional extra ``vidstyle[vcam]``) drives v4l2loopback on Linux and OBS's
virtual camera on Windows and macOS; video-call and streaming apps then list it like any
webcam. It is imported only when a virtual camera is asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import cv2
import numpy as np

from ..errors import VidstyleError
from .fileio import Closing
from .frames import Frame

INSTALL_HINT = "pip install 'vidstyle[vcam]'"
LINUX_SETUP = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vidstyle"
OBS_SETUP = "install OBS Studio and start and stop its virtual camera once"


def load_pyvirtualcam() -> ModuleType:
    """pyvirtualcam, or a one-line error naming the extra that installs it."""
    try:
        import pyvirtualcam
    except ImportError:
        raise VidstyleError(f"the virtual camera needs pyvirtualcam: {INSTALL_HINT}") from None
    return pyvirtualcam


def setup_hint() -> str:
    """How to make a virtual camera device on this system, for the error when there is none."""
    if sys.platform.startswith("linux"):
        return f"to make one, load v4l2loopback: {LINUX_SETUP}"
    return f"to make one, {OBS_SETUP}"


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled to fit inside ``width`` x ``height``, aspect kept, centred on black."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    fit_w, fit_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    fitted = cv2.resize(image, (fit_w, fit_h), interpolation=interpolation)
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fit_h) // 2, (width - fit_w) // 2
    out[top : top + fit_h, left : left + fit_w] = fitted
    return out


class VirtualCamera(Closing):
    """A :class:`~vidstyle.io.frames.FrameSink` that sends RGB frames to a virtual webcam.

    A virtual camera has one picture size for as long as it is open (apps negotiate it
    once), so the size is fixed when it opens: on entry when ``width`` and ``height`` are
    given (errors then come before any frame), else at the first frame's size. Later frames
    of another size are letterboxed into it. Frames are sent as they are written: the
    source sets the pace, and ``fps`` is only the rate announced to apps.

    Args:
        fps: the source's frame rate.
        width, height: the picture size, where known before the first frame.
        device: which virtual camera (``/dev/video10``; on Windows/macOS ``OBS Virtual
            Camera``); None: the first free one.
        log: receives a line naming the device once it is open.
    """

    def __init__(
        self,
        fps: float,
        *,
        width: int | None = None,
        height: int | None = None,
        device: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._pyvirtualcam = load_pyvirtualcam()
        self.fps, self.width, self.height, self.device, self.log = fps, width, height, device, log
        self.frames = 0
        self._camera = None

    def __enter__(self) -> VirtualCamera:
        if self.width and self.height:
            self._open(self.width, self.height)
        return self


    def _open(self, width: int, height: int) -> None:
        """Claim the device; pyvirtualcam's RuntimeError (one line per backend) becomes one line."""
        try:
            self._camera = self._pyvirtualcam.Camera(width, height, self.fps, device=self.device)
        except RuntimeError as exc:
            reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            where = self.device or "a virtual camera"
            raise VidstyleError(
                f"cannot open {where} ({reason or 'no backend for this system'}); {setup_hint()}"
            ) from None
        self.width, self.height, self.device = width, height, self._camera.device
        if self.log is not None:
            self.log(f"virtual camera {self.device}: {width}x{height} at {self.fps:g} fps")

    def write(self, image: np.ndarray, frame: Frame) -> None:
        """Send ``image`` (H x W x 3 uint8 RGB), opening the device at its size if not yet open."""
        if self._camera is None:
            self._open(image.shape[1], image.shape[0])
        self._camera.send(letterbox(image, self.width, self.height))
        self.frames += 1

    def cut_short(self, frame_seconds: float) -> None:
        """A live picture carries nothing beside its frames."""

    def close(self) -> None:
        """Release the device, so other programs (or a next session) can send to it."""
        if self._camera is not None:
            camera, self._camera = self._camera, None
            camera.close()
