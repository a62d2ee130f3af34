"""Unusual inputs end to end: 16-bit and large images, tiny or thin frames, and files that
are not media at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from clirun import run_cli
from media import make_size_change, make_video, pattern
from PIL import Image

from vidstyle.io.images import read_image
from vidstyle.io.video import VideoReader


def frames_of(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.image for frame in reader]


def sixteen_bit(width: int = 64, height: int = 48) -> np.ndarray:
    """An RGB uint16 test image using the whole 16-bit range."""
    ramp = np.linspace(0, 65535, width * height).reshape(height, width).astype(np.uint16)
    return np.dstack([ramp, ramp[::-1], np.full_like(ramp, 30000)])


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", ["grey", "rgb", "rgba"])
def test_16_bit_png_keeps_its_content(tmp_path: Path, channels: str, tiny_style: Path, capsys) -> None:
    rgb = sixteen_bit()
    stored = {"grey": rgb[..., 0], "rgb": rgb[..., ::-1], "rgba": np.dstack([rgb[..., ::-1], rgb[..., 0]])}
    path = tmp_path / f"{channels}16.png"
    cv2.imwrite(str(path), stored[channels])  # OpenCV writes 16-bit PNGs, in BGR order
    expected = np.round((rgb if channels == "rgb" else np.dstack([rgb[..., 0]] * 3)) / 257)
    if channels == "rgba":  # composited on white by the alpha ramp
        alpha = rgb[..., :1] / 65535
        expected = np.round(rgb / 257 * alpha + 255 * (1 - alpha))
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (48, 64, 3)
    assert np.abs(image.astype(int) - expected).max() <= 2
    out = tmp_path / "out.png"
    assert run_cli(["stylize", path, "-s", tiny_style, "-o", out, "--strength", "0"], capsys)[0] == 0
    assert np.abs(np.asarray(Image.open(out)).astype(int) - expected).max() <= 2


def test_max_size_decodes_reduced_and_keeps_orientation(tmp_path: Path) -> None:
    big = pattern(5, 1600, 1200)
    path = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: shown rotated 90 degrees clockwise
    Image.fromarray(big).save(path, quality=95, exif=exif)
    image = read_image(path, max_size=100)
    assert image.shape == (100, 75, 3)  # upright: portrait
    upright = np.rot90(big, -1)
    reference = cv2.resize(upright, (75, 100), interpolation=cv2.INTER_AREA)
    assert np.abs(image.astype(int) - reference.astype(int)).mean() < 4
    assert read_image(path).shape == (1600, 1200, 3)


def test_large_image_is_scaled_as_it_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "large.png"
    cv2.imwrite(str(path), pattern(0, 3000, 3000), [cv2.IMWRITE_PNG_COMPRESSION, 1])  # 27 MB of pixels
    # A fresh process, for its peak memory (VmHWM, reset once the imports are done).
    script = (
        "from vidstyle.io.images import read_image\n"
        "def kb(key):\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    return next(int(line.split()[1]) for line in lines if line.startswith(key))\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "held = kb('VmRSS:')\n"
        f"image = read_image({str(path)!r}, max_size=256)\n"
        "print(image.shape, (kb('VmHWM:') - held) // 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    shape, extra_mb = result.stdout.rsplit(" ", 1)
    assert shape == "(256, 256, 3)"
    assert int(extra_mb) < 60  # the decoded image and a little more (37 MB measured), not two copies


# --- tiny and thin frames ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "max_size", "size"),
    [(2, 2, None, (2, 2)), (3, 3, None, (2, 2)), (16, 720, None, (16, 720)), (720, 16, 100, (100, 2))],
)
def test_tiny_and_thin_videos_are_stylized(
    tmp_path: Path, tiny_style: Path, capsys, width: int, height: int, max_size: int | None, size: tuple
) -> None:
    src = tmp_path / "in.mp4"
    make_video(src, width=width, height=height, frames=4, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    scale = ["--max-size", max_size] if max_size else []
    code, _, err = run_cli(["stylize", src, "-s", tiny_style, "-o", out, *scale], capsys)  # temporal on
    assert code == 0, err
    frames = frames_of(out)
    assert len(frames) == 4
    assert frames[0].shape == (size[1], size[0], 3)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (2, 3), (5, 700)])
def test_tiny_and_thin_images_are_stylized(
    tmp_path: Path, tiny_style: Path, capsys, width: int, height: int
) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(pattern(0, width, height)).save(src)
    out = tmp_path / "out.png"
    assert run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)[0] == 0
    assert Image.open(out).size == (width, height)


def test_frames_too_small_to_encode_give_one_line(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "in.mp4"
    make_video(src, width=720, height=16, frames=2)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli(["stylize", src, "-s", tiny_style, "-o", out, "--max-size", "1"], capsys)
    assert code == 1
    assert err.startswith("error: ") and "too small to encode" in err and err.count("\n") == 1


def test_video_changing_size_midway_is_stylized(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "switch.ts"
    make_size_change(src, [(64, 48), (96, 72)])
    out = tmp_path / "out.mp4"
    code, _, err = run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)
    assert code == 0, err
    assert [frame.shape for frame in frames_of(out)] == [(48, 64, 3)] * 10


# --- not media at all ----------------------------------------------------------------------


def _text(path: Path) -> None:
    path.write_text("these are not the frames you are looking for\n" * 20)


def _cut_png(path: Path) -> None:
    Image.new("RGB", (300, 200), "red").save(path)
    path.write_bytes(path.read_bytes()[:120])


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("notes.mp4", _text, "not a video file"),
        ("empty.mp4", lambda p: p.write_bytes(b""), "not a video file"),
        ("noext", _text, "not a video file"),
        ("folder.mp4", Path.mkdir, "no images in"),
        ("notes.png", _text, "cannot read image"),
        ("empty.jpg", lambda p: p.write_bytes(b""), "cannot read image"),
        ("cut.png", _cut_png, "cannot read image"),
        ("folder.png", Path.mkdir, "no images in"),
    ],
)
def test_not_media_gives_one_line(
    tmp_path: Path, tiny_style: Path, capsys, name: str, make, message: str
) -> None:
    src = tmp_path / name
    make(src)
    suffix = ".png" if name.endswith((".png", ".jpg")) else ".mp4"
    out = tmp_path / f"out{suffix}"
    code, _, err = run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)
    assert code == 1
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 3), (2, 700)])
def test_network_pads_tiny_frames_itself(tiny_style: Path, height: int, width: int) -> None:
    """Any caller (the webcam too) may hand the network a frame smaller than it takes."""
    from vidstyle.stylizers.fast import FastStylizer

    out = FastStylizer(tiny_style, device="cpu", style_scale=1.0)([np.zeros((height, width, 3), np.uint8)])[0]
    assert out.shape == (height, width, 3)
