"""The live webcam session, driven by generated videos standing in for a camera."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

import cv2
import numpy as np
import pytest
import torch
from clirun import run_cli
from media import make_video, pattern

from vidstyle.errors import VidstyleError
from vidstyle.io import camera as camera_module
from vidstyle.io.camera import Camera, CameraLost
from vidstyle.io.frames import Frame
from vidstyle.io.images import read_image
from vidstyle.io.video import VideoReader
from vidstyle.jobs.webcam import (
    KEYS,
    STYLE_SCALE,
    WINDOW_TITLE,
    Command,
    LiveView,
    Painter,
    Recorder,
    ViewState,
    camera_image,
    compose_view,
    draw_overlay,
    fit_frame,
    key_help,
    load_stylizers,
    parse_size,
    run_webcam,
)
from vidstyle.models.transformer import TransformerNet
from vidstyle.settings import Look
from vidstyle.stylizers.base import preserve_colors
from vidstyle.stylizers.fast import FastStylizer
from vidstyle.weights import save_style

# Mean absolute difference (0-255) that separates "the same picture after lossy coding and
# scaling" from "a different picture": the random test networks change colours wholesale.
SAME_PICTURE = 12.0
CAMERA_FPS = 20


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def styles(tmp_path: Path) -> list[Path]:
    """Two tiny random style networks that produce clearly different pictures."""
    paths = []
    for seed, name in enumerate(("alpha", "beta")):
        torch.manual_seed(seed)
        path = tmp_path / f"{name}.safetensors"
        save_style(path, TransformerNet(8, 1), name=name, style_image=pattern(0, 16, 16))
        paths.append(path)
    return paths


@pytest.fixture
def camera_video(tmp_path: Path) -> Path:
    path = tmp_path / "camera.mp4"
    make_video(path, width=96, height=64, frames=20, fps=CAMERA_FPS)
    return path


def source_frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.image for frame in reader]


def distance(image: np.ndarray, candidates: list[np.ndarray]) -> float:
    """Mean absolute difference to the closest candidate (the camera moves on meanwhile)."""
    return min(float(np.abs(image.astype(np.float32) - c.astype(np.float32)).mean()) for c in candidates)



# --- headless sessions -------------------------------------------------------------------


def test_headless_recording_is_stylized_with_real_timestamps(
    tmp_path: Path, styles: list[Path], camera_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mp4"
    max_frames = 8
    code, stdout, _ = run_cli(
        ["webcam", "--camera", str(camera_video), "--loop", "--no-window", "--record", str(out)]
        + ["--max-frames", str(max_frames), "-s", str(styles[0])],
        capsys,
    )
    assert code == 0
    assert "stopped by max frames" in stdout
    with VideoReader(out) as reader:
        assert (reader.info.width, reader.info.height) == (96, 64)
        recorded = list(reader)
    assert 1 <= len(recorded) <= max_frames
    times = [frame.time for frame in recorded]
    assert all(later > earlier for earlier, later in zip(times, times[1:], strict=False))
    # Real capture times: the camera runs at CAMERA_FPS, so frames are at least ~1/fps apart.
    assert times[-1] >= 0.8 * (len(times) - 1) / CAMERA_FPS
    source = source_frames(camera_video)
    assert all(distance(frame.image, source) > 3 * SAME_PICTURE for frame in recorded)
    expected = FastStylizer(styles[0], device="cpu", style_scale=STYLE_SCALE)(source)
    assert distance(recorded[0].image, expected) < SAME_PICTURE


def test_a_slow_network_paints_smaller_to_keep_the_frame_rate(
    styles: list[Path], camera_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network that shows only half the camera's frames paints a smaller picture; with
    neither limit (latency, frame rate) it keeps the full size however slow it is."""
    from vidstyle.jobs import pace

    full = pace.painted

    def slow(stylizer: FastStylizer, image: np.ndarray, factor: float, look: Look) -> np.ndarray:
        time.sleep(0.1 * factor**2)  # like a network: time grows with the painted area
        return full(stylizer, image, factor, look)

    monkeypatch.setattr(pace, "painted", slow)
    session = dict(camera=str(camera_video), loop=True, window=False, device="cpu", max_frames=40)
    kept = run_webcam([str(styles[0])], min_fps=CAMERA_FPS, max_latency=0, **session)
    assert kept.scale < 1.0 and kept.fps > 8
    fixed = run_webcam([str(styles[0])], min_fps=0, max_latency=0, **session)
    assert fixed.scale == 1.0


def test_video_source_ends_the_session_unless_looped(
    tmp_path: Path, styles: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short.mp4"
    make_video(short, width=64, height=48, frames=4, fps=CAMERA_FPS)
    ended = run_webcam([str(styles[0])], camera=str(short), window=False, device="cpu")
    assert ended.stopped_by == "end of video"
    assert 1 <= ended.frames <= 4
    looped = run_webcam(
        [str(styles[0])], camera=str(short), window=False, device="cpu", loop=True, max_frames=7
    )
    assert (looped.stopped_by, looped.frames) == ("max frames", 7)


def test_duration_mirror_and_size(styles: list[Path], camera_video: Path) -> None:
    result = run_webcam(
        [str(styles[0])], camera=str(camera_video), window=False, device="cpu",
        duration=0.3, mirror=True, size=(40, 40),
    )  # fmt: skip
    assert result.stopped_by == "duration"
    assert result.frames >= 1


def test_default_styles_are_the_installed_ones(monkeypatch: pytest.MonkeyPatch, styles: list[Path]) -> None:
    monkeypatch.setenv("VIDSTYLE_STYLES", str(styles[0].parent))
    names = [stylizer.name for stylizer in load_stylizers(None, "cpu")]
    assert {"alpha", "beta"} <= set(names)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ("missing.mp4", "no camera at missing.mp4"),
        ("99", "no camera at 99"),
        ("/dev/video99", "no camera at /dev/video99"),
        ("not_a_video.txt", "cannot open it as a video"),
        (".", "is a directory"),
    ],
)
def test_bad_camera_source_is_a_one_line_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    styles: list[Path],
    capsys: pytest.CaptureFixture[str],
    camera: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not_a_video.txt").write_text("hello")
    code, _, err = run_cli(["webcam", "--camera", camera, "--no-window", "-s", str(styles[0])], capsys)
    assert code != 0
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="X11 display check is for Linux/BSD")
@pytest.mark.parametrize("display", [None, ":4321"])
def test_window_without_display_suggests_no_window(
    monkeypatch: pytest.MonkeyPatch,
    styles: list[Path],
    camera_video: Path,
    capsys: pytest.CaptureFixture[str],
    display: str | None,
) -> None:
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    code, _, err = run_cli(["webcam", "--camera", str(camera_video), "-s", str(styles[0])], capsys)
    assert code != 0
    assert "--no-window" in err and len(err.strip().splitlines()) == 1


def test_no_display_names_the_setting_in_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python caller is told the keyword to pass, not the command line's flag."""
    from vidstyle.jobs.webcam import check_display

    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(VidstyleError, match=r"use window=False to run without") as caught:
        check_display()
    assert "--" not in str(caught.value)


def test_existing_recording_is_not_overwritten(
    tmp_path: Path, styles: list[Path], camera_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    args = ["webcam", "--camera", str(camera_video), "--no-window", "--record", str(out)]
    code, _, err = run_cli(args + ["-s", str(styles[0]), "--max-frames", "1"], capsys)
    assert code != 0 and "already exists" in err
    assert out.read_bytes() == b"precious"


class FakeCapture:
    """A camera that delivers ``frames`` frames and then fails (unplugged) or stalls."""

    def __init__(self, frames: int, stall: bool = False) -> None:
        self.frames, self.stall, self.read_count = frames, stall, 0
        self.released = threading.Event()

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def get(self, prop: int) -> float:
        return 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.read_count += 1
        if self.read_count > self.frames:
            if self.stall:  # blocks like a dead driver, then gives up
                self.released.wait(0.5)
            return False, None
        time.sleep(0.01)
        return True, np.ascontiguousarray(pattern(self.read_count, 64, 48)[..., ::-1])

    def release(self) -> None:
        self.released.set()


def fake_camera(monkeypatch: pytest.MonkeyPatch, capture: FakeCapture) -> None:
    monkeypatch.setattr(camera_module, "_open_capture", lambda spec, size, timeout: capture)


def test_camera_lost_mid_run_keeps_the_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, styles: list[Path]
) -> None:
    fake_camera(monkeypatch, FakeCapture(frames=5))
    out = tmp_path / "lost.mp4"
    with pytest.raises(CameraLost, match="stopped delivering frames.*recording kept"):
        run_webcam([str(styles[0])], camera="0", window=False, device="cpu", record=out)
    with VideoReader(out) as reader:
        assert 1 <= len(list(reader)) <= 5
    assert not list(tmp_path.glob("*.partial*"))


def test_camera_that_delivers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_camera(monkeypatch, FakeCapture(frames=0))
    with Camera("0") as camera, pytest.raises(VidstyleError, match="opened but delivered no frames"):
        camera.read()
    capture = FakeCapture(frames=0, stall=True)
    fake_camera(monkeypatch, capture)
    start = time.monotonic()
    with Camera("0", timeout=0.3) as camera, pytest.raises(VidstyleError, match="no frames within 0.3 s"):
        camera.read()
    assert time.monotonic() - start < 5


def test_camera_stalling_mid_run_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_camera(monkeypatch, FakeCapture(frames=2, stall=True))
    with Camera("0", timeout=0.3) as camera:
        assert camera.read() is not None
        with pytest.raises(CameraLost):
            for _ in range(3):
                camera.read()


def test_camera_keeps_only_the_newest_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_camera(monkeypatch, FakeCapture(frames=1000))
    with Camera("0") as camera:
        first = camera.read()
        time.sleep(0.2)  # a slow consumer: about 20 frames arrive meanwhile
        second = camera.read()
    assert first is not None and second is not None
    assert second.index > first.index + 5
    assert second.time > first.time
    assert second.image.shape == (48, 64, 3)
    assert np.array_equal(second.image, pattern(second.index + 1, 64, 48))  # BGR turned into RGB


# --- pure logic: keys, view, overlay, recorder ---------------------------------------------


def press(state: ViewState, keys: str) -> list[Command | None]:
    return [state.press(ord(key)) for key in keys]


def test_style_keys_cycle_and_jump() -> None:
    state = ViewState(["a", "b", "c"])
    press(state, "n")
    assert state.style_name == "b"
    press(state, "nn")
    assert state.style_name == "a"  # wraps around
    press(state, "p")
    assert state.style_name == "c"
    assert press(state, "2") == [Command.JUMP] and state.style_name == "b"
    assert press(state, "9") == [None] and state.style_name == "b"  # no 9th style
    press(state, "N")  # shift does not matter
    assert state.style_name == "c"


def test_view_toggles_and_strength() -> None:
    state = ViewState(["a", "b"])
    press(state, "o")
    assert state.original
    press(state, "v")
    assert state.split and not state.original  # the two views exclude each other
    press(state, "o")
    assert state.original and not state.split
    press(state, "n")
    assert not state.original  # a new style is shown, not hidden
    press(state, "---")
    assert state.look.strength == pytest.approx(0.7)
    press(state, "+=+++++")
    assert state.look.strength == 1.0  # clamped
    press(state, "-" * 15)
    assert state.look.strength == 0.0
    press(state, "chf")
    assert state.look.preserve_color and state.help and state.fullscreen


def test_keys_change_the_look_not_the_stylizer(tmp_path: Path, styles: list[Path]) -> None:
    """Strength and colours are the view's :class:`Look`, passed with each frame: the
    stylizer (shared by every frame, its network loaded once) is never touched."""
    stylizer = load_stylizers([str(styles[0])], "cpu")[0]
    before = dict(vars(stylizer))
    state = ViewState([stylizer.name])
    paint = Painter([stylizer], state)
    view = LiveView(state, window=None, output_dir=tmp_path, log=None, fps=30)
    frame = Frame(pattern(1, 64, 48), 0.0, 0)

    def render() -> np.ndarray:
        """One frame through the session's stages (scaled, painted, composed), as the pipeline runs them."""
        image = camera_image(frame, None, mirror=False)
        return view.compose(paint([image])[0], image)

    styled = render()
    assert np.abs(styled.astype(int) - frame.image).mean() > SAME_PICTURE
    press(state, "-" * 10)
    assert state.look == Look(strength=0.0)
    assert np.array_equal(render(), frame.image)
    press(state, "+" * 10 + "c")
    assert state.look == Look(preserve_color=True)
    assert np.array_equal(render(), preserve_colors(styled, frame.image))
    press(state, "o")
    image = camera_image(frame, None, mirror=False)
    assert paint([image])[0] is image and np.array_equal(render(), frame.image)  # no network for "original"
    assert vars(stylizer).keys() == before.keys()
    assert all(vars(stylizer)[name] is value for name, value in before.items())


def test_action_keys_are_returned_for_the_session() -> None:
    state = ViewState(["a"])
    assert press(state, "srq") == [Command.SNAPSHOT, Command.RECORD, Command.QUIT]
    assert state.press(27) is Command.QUIT  # Esc
    assert state.press(-1) is None  # no key
    assert state.press(0xFF51) is None  # an arrow key from waitKeyEx
    assert press(state, "z") == [None]


def test_help_lists_every_binding() -> None:
    rows = dict(key_help())
    assert set(rows.values()) == {command.value for command in Command}
    assert rows["1-9"] == Command.JUMP.value
    assert rows["q Esc"] == Command.QUIT.value
    assert set(KEYS.values()) == set(Command)


def test_compose_view_split_and_original() -> None:
    original = np.zeros((4, 8, 3), np.uint8)
    stylized = np.full((4, 8, 3), 200, np.uint8)
    state = ViewState(["a"])
    assert compose_view(state, original, stylized) is stylized
    assert compose_view(state, original, None) is original
    state.split = True
    view = compose_view(state, original, stylized)
    assert (view[:, :3] == 0).all() and (view[:, 5:] == 200).all()
    assert (view[:, 3:5] == 255).all()  # the divider
    state.original = True
    assert compose_view(state, original, stylized) is original


def test_overlay_draws_on_a_copy() -> None:
    view = np.full((240, 320, 3), 128, np.uint8)
    state = ViewState(["starry"], help=True)
    shown = draw_overlay(view, state, fps=12.5, recording=True, toast="saved x.png")
    assert (view == 128).all()
    assert (shown[:20, :60] != 128).any()  # status text at the top left
    assert (shown[150:, :60] != 128).any()  # help box below it
    assert tuple(shown[8, 320 - 8]) == (255, 0, 0)  # red recording dot at the top right
    assert (shown[200:, 200:] == 128).all()  # the rest of the picture is untouched


def test_parse_and_fit_size() -> None:
    assert parse_size("640x480") == (640, 480)
    assert parse_size("320") == 320
    for bad in ("big", "0x0", "640x", "1x2x3"):
        with pytest.raises(VidstyleError, match="^size "):
            parse_size(bad)
    wide = pattern(0, 160, 90)
    assert fit_frame(wide, (64, 48)).shape == (48, 64, 3)
    assert fit_frame(wide, 80).shape == (45, 80, 3)
    assert fit_frame(wide, None) is wide


def test_recorder_uses_capture_times(tmp_path: Path) -> None:
    out = tmp_path / "rec.mp4"
    recorder = Recorder(out, fps=30)
    for i, captured in enumerate((100.0, 100.1, 100.35, 100.4)):
        recorder.write(pattern(i, 64, 48), Frame(pattern(i, 64, 48), captured, i))
    assert not out.exists()  # written beside it until finalised
    recorder.close()
    with VideoReader(out) as reader:
        times = [frame.time for frame in reader]
    assert times == pytest.approx([0.0, 0.1, 0.35, 0.4], abs=1e-3)


# --- the window, under a virtual X display --------------------------------------------------


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private Xvfb display; skips when Xvfb, xdotool or ImageMagick's import are missing."""
    missing = [tool for tool in ("Xvfb", "xdotool", "import") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"window test needs {', '.join(missing)} (apt-get install xvfb xdotool imagemagick)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def start_session(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "vidstyle", "webcam", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(session: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for the session to exit (killing it on timeout); return code, stdout, stderr."""
    try:
        stdout, stderr = session.communicate(timeout=30)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    return session.returncode, stdout, stderr


def find_window(env: dict[str, str]) -> str:
    found = subprocess.run(
        ["timeout", "60", "xdotool", "search", "--sync", "--name", f"^{WINDOW_TITLE}$"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return found.stdout.split()[0]


def close_window(window: str, display: str) -> None:
    """Send WM_DELETE_WINDOW, as a window manager does when the user clicks the close button."""
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

    class ClientMessage(ctypes.Structure):  # XClientMessageEvent, padded to sizeof(XEvent)
        _fields_ = [
            ("type", ctypes.c_int),
            ("serial", ctypes.c_ulong),
            ("send_event", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("window", ctypes.c_ulong),
            ("message_type", ctypes.c_ulong),
            ("format", ctypes.c_int),
            ("data", ctypes.c_long * 5),
            ("pad", ctypes.c_long * 12),
        ]

    connection = x11.XOpenDisplay(display.encode())
    event = ClientMessage(type=33, display=connection, window=int(window), format=32)  # 33: ClientMessage
    event.message_type = x11.XInternAtom(connection, b"WM_PROTOCOLS", 0)
    event.data[0] = x11.XInternAtom(connection, b"WM_DELETE_WINDOW", 0)
    x11.XSendEvent(connection, event.window, 0, 0, ctypes.byref(event))
    x11.XCloseDisplay(connection)  # flushes the event


@pytest.mark.slow
def test_window_shows_stylized_frames_and_obeys_keys(tmp_path: Path, styles: list[Path], xvfb: str) -> None:
    video = tmp_path / "camera.mp4"
    make_video(video, width=160, height=120, frames=40, fps=CAMERA_FPS)
    source = source_frames(video)
    expected = {
        path.stem: FastStylizer(path, device="cpu", style_scale=STYLE_SCALE)(source) for path in styles
    }
    env = {**os.environ, "DISPLAY": xvfb, "OMP_NUM_THREADS": "1"}
    session = start_session(
        ["--camera", str(video), "--loop", "-s", str(styles[0]), "-s", str(styles[1])]
        + ["--output-dir", str(tmp_path)],
        env,
    )
    try:
        window = find_window(env)
        shots = iter(range(1000))

        def screenshot() -> np.ndarray:
            path = tmp_path / f"shot{next(shots)}.png"
            subprocess.run(["import", "-window", window, str(path)], env=env, check=True)
            image = read_image(path)
            if image.shape[:2] != (120, 160):  # the window manager may have sized it
                image = cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)
            return image[60:, :]  # below the overlay text

        def shows(frames: list[np.ndarray]) -> bool:
            return distance(screenshot(), [frame[60:] for frame in frames]) < SAME_PICTURE

        def key(name: str) -> None:
            subprocess.run(["xdotool", "key", "--window", window, name], env=env, check=True)

        wait_for(lambda: shows(expected["alpha"]), 60, "the first style in the window")
        assert not shows(source)
        key("n")
        wait_for(lambda: shows(expected["beta"]), 10, "the second style after n")
        key("o")
        wait_for(lambda: shows(source), 10, "the original after o")
        key("s")
        wait_for(lambda: any(tmp_path.glob("vidstyle-*.png")), 10, "a snapshot")
        key("q")
    finally:
        code, stdout, stderr = finish(session)
    assert code == 0, stderr
    assert "stopped by quit" in stdout


@pytest.mark.slow
def test_closing_the_window_keeps_the_recording(
    tmp_path: Path, styles: list[Path], camera_video: Path, xvfb: str
) -> None:
    out = tmp_path / "out.mp4"
    env = {**os.environ, "DISPLAY": xvfb, "OMP_NUM_THREADS": "1"}
    session = start_session(
        ["--camera", str(camera_video), "--loop", "-s", str(styles[0]), "--record", str(out)], env
    )
    try:
        window = find_window(env)
        time.sleep(1.5)
        close_window(window, xvfb)
    finally:
        code, stdout, stderr = finish(session)
    assert code == 0, stderr
    assert "stopped by window closed" in stdout
    with VideoReader(out) as reader:
        assert len(list(reader)) >= 1


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_and_kill_keep_the_recording(
    tmp_path: Path, styles: list[Path], camera_video: Path, sig: int, name: str
) -> None:
    """Both are the headless session's way to stop: a normal end, the recording finalised."""
    out = tmp_path / "out.mp4"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    session = start_session(
        ["--camera", str(camera_video), "--loop", "--no-window", "-s", str(styles[0]), "--record", str(out)],
        env,
    )
    try:
        first = cast(IO[str], session.stderr).readline()  # a pipe: Popen made it
        assert first == f"recording to {out}\n"  # the first frame is recorded
        session.send_signal(sig)
    finally:
        code, stdout, stderr = finish(session)
    assert code == 0, stderr
    assert f"stopped by {name}" in stdout
    with VideoReader(out) as reader:
        assert len(list(reader)) >= 1


def test_all_styles_start_with_the_default_then_real_time_ones() -> None:
    from vidstyle.jobs.webcam import load_stylizers
    from vidstyle.weights import DEFAULT_STYLE

    stylizers = load_stylizers(None, "cpu")
    kinds = [s.style.info.arch.get("type", "johnson") for s in stylizers]
    assert stylizers[0].name == DEFAULT_STYLE
    assert kinds == sorted(kinds, key=lambda kind: kind != "lite")
