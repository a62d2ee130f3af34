"""Shared fixtures: tiny random networks and VGG weights so tests need no downloads."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from media import make_video
from safetensors.torch import save_file

from vidstyle.models import ARCHITECTURES
from vidstyle.models.vgg import build_features
from vidstyle.weights import save_style

#: the segment tests' clip: 3 s at 10 fps, a keyframe every 5 frames (segments of 1 s start
#: at frames 10 and 20)
FPS = 10
FRAMES, GOP = 30, 5


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_raises() -> None:
    """Ctrl-C raises KeyboardInterrupt in the tests that send it, however the suite was
    started: a shell starts a background job (``pytest ... &``) with SIGINT ignored, and
    Python then keeps it ignored."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def make_style(
    path: Path,
    seed: int = 0,
    width: int = 8,
    blocks: int = 1,
    name: str | None = None,
    arch: str = "johnson",
    dilation: tuple[int, ...] | None = None,
) -> Path:
    """A randomly initialised style network saved in the weights format, named ``name``
    (default: the file's stem)."""
    torch.manual_seed(seed)
    net = ARCHITECTURES[arch](width, blocks, dilation)
    style_image = np.random.default_rng(seed).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    save_style(path, net, name=name or path.stem, style_image=style_image, metadata={"description": "test"})
    return path


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny networks run fastest on one thread, above all on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_style(tmp_path: Path) -> Path:
    return make_style(tmp_path / "tiny.safetensors")


@pytest.fixture
def random_vgg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Random VGG16 weights, selected through the environment variable the CLI honours."""
    torch.manual_seed(0)
    path = tmp_path / "vgg16-random.safetensors"
    save_file({k: v.contiguous() for k, v in build_features("vgg16").state_dict().items()}, str(path))
    monkeypatch.setenv("VIDSTYLE_VGG_WEIGHTS", str(path))
    return path


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder of small synthetic photos in assorted formats and modes."""
    from PIL import Image

    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(4):
        arr = rng.integers(0, 256, (48 + 8 * i, 64, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"rgb{i}.jpg")
    Image.fromarray(rng.integers(0, 256, (50, 50), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 256, (40, 70, 4), dtype=np.uint8), "RGBA").save(
        folder / "nested" / "alpha.png"
    )
    Image.fromarray(rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)).convert("CMYK").save(
        folder / "cmyk.jpg"
    )
    Image.fromarray(rng.integers(0, 256, (45, 45, 3), dtype=np.uint8)).convert("P").save(
        folder / "palette.png"
    )
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 96 x 64 video of :data:`FRAMES` frames with audio, keyframes every :data:`GOP`."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_video(path, frames=FRAMES, fps=FPS, width=96, height=64, audio=True, options={"g": str(GOP)})
    return path


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random style network, shared by a module's tests."""
    return make_style(tmp_path_factory.mktemp("style") / "tiny.safetensors")
