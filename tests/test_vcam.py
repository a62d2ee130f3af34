"""The virtual camera sink, against pyvirtualcam's own ``Camera`` with its backend replaced.

No virtual camera device can be made where these tests were written (the kernel has no
module or V4L2 support), so what reaches apps through v4l2loopback or OBS is not tested
here; pyvirtualcam's checks of size and pixel format still run on every frame.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from clirun import run_cli
from conftest import make_style
from media import make_video, pattern

from vidstyle.errors import VidstyleError
from vidstyle.io.frames import Frame
from vidstyle.io.vcam import VirtualCamera
from vidstyle.io.video import VideoReader
from vidstyle.jobs import pipeline
from vidstyle.jobs.webcam import STYLE_SCALE, run_webcam
from vidstyle.stylizers.fast import FastStylizer

pyvirtualcam = pytest.importorskip("pyvirtualcam")

CAMERA_FPS = 20
SAME_PICTURE = 12.0  # mean absolute difference (0-255) within which two pictures are the same
NO_DEVICE = (
    "No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe v4l2loopback'? "
    "See also pyvirtualcam's documentation."
)

pytestmark = pytest.mark.usefixtures("one_thread")


class FakeBackend:
    """Stands in for the backend pyvirtualcam picks (v4l2loopback, OBS); keeps what it is sent."""

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.name = device or "/dev/video7"
        self.frames: list[np.ndarray] = []
        self.closed = False

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self.name

    def native_fourcc(self) -> int | None:
        return None


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[FakeBackend]:
    """The backends pyvirtualcam.Camera opens, in order (the only backend it knows is fake)."""
    backends: list[FakeBackend] = []

    def open_backend(**kwargs: Any) -> FakeBackend:
        backends.append(FakeBackend(**kwargs))
        return backends[-1]

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"fake": open_backend})
    return backends


@pytest.fixture
def no_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backends that find no device, as v4l2loopback without the module and OBS uninstalled."""

    def missing(**kwargs: Any) -> FakeBackend:
        raise RuntimeError(NO_DEVICE)

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": missing, "obs": missing})


@pytest.fixture
def style(tmp_path: Path) -> Path:
    return make_style(tmp_path / "alpha.safetensors")


@pytest.fixture
def camera_video(tmp_path: Path) -> Path:
    path = tmp_path / "camera.mp4"
    make_video(path, width=96, height=64, frames=20, fps=CAMERA_FPS)
    return path


def frame(index: int) -> Frame:
    return Frame(pattern(index, 64, 48), time=index / 30, index=index)


def distance(image: np.ndarray, candidates: list[np.ndarray]) -> float:
    """Mean absolute difference to the closest candidate (the camera moves on meanwhile)."""
    return min(float(np.abs(image.astype(np.float32) - c.astype(np.float32)).mean()) for c in candidates)


# --- the sink ---------------------------------------------------------------------------------


def test_sends_rgb_frames_at_the_first_frames_size(opened: list[FakeBackend]) -> None:
    lines: list[str] = []
    frames = [frame(i) for i in range(5)]
    images = [f.image for f in frames]
    with VirtualCamera(24.0, log=lines.append) as camera:
        assert not opened  # no size given: it opens at the first frame
        # as a job's sink: the pipeline hands it each (image, frame) in order
        pipeline.run(frames, lambda f: f.image, lambda batch: batch, camera.write)
    (backend,) = opened
    assert (backend.width, backend.height, backend.fps) == (64, 48, 24.0)
    assert backend.fourcc == pyvirtualcam.camera.encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert len(backend.frames) == camera.frames == 5
    assert all(np.array_equal(sent, image) for sent, image in zip(backend.frames, images, strict=True))
    assert backend.closed
    assert lines == ["virtual camera /dev/video7: 64x48 at 24 fps"]


def test_given_size_opens_on_entry_and_letterboxes_other_sizes(opened: list[FakeBackend]) -> None:
    with VirtualCamera(30, width=64, height=48, device="/dev/video10") as camera:
        (backend,) = opened  # before any frame: a missing device is the first error
        assert (backend.width, backend.height, backend.name) == (64, 48, "/dev/video10")
        camera.write(np.full((32, 32, 3), 200, np.uint8), frame(0))  # square: bars left and right
        camera.write(pattern(0, 128, 96), frame(1))  # the same aspect, twice the size
    square, large = backend.frames
    assert (square[:, :8] == 0).all() and (square[:, 56:] == 0).all()
    assert (square[:, 8:56] == 200).all()
    assert distance(large, [pattern(0, 64, 48)]) < 3


def test_device_is_released_when_the_output_fails(opened: list[FakeBackend]) -> None:
    with pytest.raises(OSError), VirtualCamera(30) as camera:
        camera.write(frame(0).image, frame(0))
        raise OSError("disk full")
    assert opened[0].closed


def test_missing_pyvirtualcam_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails as if not installed
    with pytest.raises(VidstyleError) as error:
        VirtualCamera(30)
    assert str(error.value) == "the virtual camera needs pyvirtualcam: pip install 'vidstyle[vcam]'"


@pytest.mark.usefixtures("no_device")
def test_no_device_is_a_one_line_error_with_the_setup() -> None:
    with pytest.raises(VidstyleError) as error, VirtualCamera(30, width=64, height=48):
        pass
    message = str(error.value)
    assert message.startswith("cannot open a virtual camera ('v4l2loopback' backend: No v4l2 loopback")
    assert "'obs' backend" in message and "\n" not in message
    linux = "load v4l2loopback: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vidstyle"
    obs = "install OBS Studio and start and stop its virtual camera once"
    assert message.endswith(f"; to make one, {linux if sys.platform.startswith('linux') else obs}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pyvirtualcam's v4l2loopback backend")
def test_missing_device_with_the_real_backend(tmp_path: Path) -> None:
    device = str(tmp_path / "video42")
    expected = f"cannot open {re.escape(device)} .*does not exist.*modprobe v4l2loopback"
    with pytest.raises(VidstyleError, match=expected):
        VirtualCamera(30, device=device).write(frame(0).image, frame(0))


# --- the webcam session -------------------------------------------------------------------


def test_webcam_sends_the_stylized_view_without_overlay(
    opened: list[FakeBackend], style: Path, camera_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["webcam", "--no-window", "--virtual-cam", "--camera", camera_video, "--max-frames", 5]
    code, stdout, stderr = run_cli([*args, "-s", style], capsys)
    assert code == 0, stderr
    assert "stopped by max frames" in stdout
    assert "virtual camera /dev/video7: 96x64 at 20 fps" in stderr
    (backend,) = opened
    assert (backend.width, backend.height, backend.fps) == (96, 64, CAMERA_FPS)
    assert len(backend.frames) == 5 and backend.closed
    with VideoReader(camera_video) as reader:
        source = [f.image for f in reader]
    expected = FastStylizer(style, device="cpu", style_scale=STYLE_SCALE)(source)
    for sent in backend.frames:
        assert distance(sent, expected) < SAME_PICTURE
        assert distance(sent[:24], [e[:24] for e in expected]) < SAME_PICTURE  # no status text
        assert distance(sent, source) > 3 * SAME_PICTURE  # stylized, not the camera's picture


def test_webcam_device_and_exact_size(opened: list[FakeBackend], style: Path, camera_video: Path) -> None:
    result = run_webcam(
        [str(style)], camera=str(camera_video), window=False, device="cpu",
        size=(48, 32), max_frames=2, virtual_cam="/dev/video10",
    )  # fmt: skip
    assert result.frames == 2
    (backend,) = opened
    assert (backend.name, backend.width, backend.height, len(backend.frames)) == ("/dev/video10", 48, 32, 2)


@pytest.mark.usefixtures("no_device")
def test_webcam_without_a_device_fails_before_recording(
    tmp_path: Path, style: Path, camera_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mp4"
    args = ["webcam", "--no-window", "--virtual-cam-device", "/dev/video10", "--camera", camera_video]
    code, _, stderr = run_cli([*args, "--record", out, "-s", style], capsys)
    assert code == 1
    assert stderr.startswith("error: cannot open /dev/video10 (") and len(stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("out*"))  # the recording never started


def test_webcam_without_pyvirtualcam(
    monkeypatch: pytest.MonkeyPatch, style: Path, camera_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    args = ["webcam", "--no-window", "--virtual-cam", "--camera", camera_video, "-s", style]
    code, _, stderr = run_cli(args, capsys)
    assert code == 1
    assert stderr == "error: the virtual camera needs pyvirtualcam: pip install 'vidstyle[vcam]'\n"
