"""`vidstyle ui` in a real browser: headless Chromium (Debian's) driven by Playwright.

The server runs as `vidstyle ui` would for a user, with a tiny style of its own in
$VIDSTYLE_STYLES and its caches in a temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.clirun import run_cli
from tests.conftest import make_style
from tests.media import make_video

pytest.importorskip("gradio", reason="the ui extra (gradio) is not installed")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_MS = 120_000


def _browser() -> str:
    """Chromium's executable: $VIDSTYLE_TEST_BROWSER, else the first on PATH."""
    found = os.environ.get("VIDSTYLE_TEST_BROWSER") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        pytest.skip("no Chromium to drive (apt-get install chromium)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a `vidstyle ui` started for these tests (stopped with them)."""
    home = tmp_path_factory.mktemp("ui")
    (home / "styles").mkdir()
    make_style(home / "styles" / "tiny.safetensors")
    env = os.environ | {
        "VIDSTYLE_STYLES": str(home / "styles"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidstyle", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()  # the thumbnails are made before the address is printed
    assert f"http://127.0.0.1:{port}" in line, line + proc.stdout.read() if proc.poll() is not None else line
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(30)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=_browser(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, server: str) -> Iterator[object]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server)
    page.wait_for_selector("#styles img")
    yield page
    page.close()


def _stylize(page: object, upload: Path, tmp_path: Path) -> tuple[str, Path]:
    """Upload, pick the first style (the tiny one), see the preview, press Stylize; the
    status line and the downloaded result."""
    page.set_input_files("#upload input[type=file]", str(upload))
    page.wait_for_selector("#preview img")  # uploaded, and one frame stylized
    page.locator("#styles .thumbnail-item").first.click()
    page.wait_for_function("document.querySelector('#style input').value === 'tiny'")
    page.click("#run")
    page.wait_for_selector("#status:has-text('100%'), #status:has-text('error')")
    status = page.inner_text("#status")
    assert "100%" in status, status
    with page.expect_download() as download:
        page.click("#download a")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    return status, path


def test_page_shows_every_style(page: object) -> None:
    assert page.title() == "vidstyle"
    thumbnails = page.locator("#styles .thumbnail-item")
    captions = [thumbnails.nth(i).inner_text().strip() for i in range(thumbnails.count())]
    captions = [caption.replace("\u200b", "") for caption in captions]  # break opportunities
    assert "tiny" in captions and "starry_night_lite" in captions


def test_photo_is_stylized(page: object, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    status, result = _stylize(page, photo, tmp_path)
    assert result.name == "photo.tiny.png" and "style tiny" in status
    before, after = np.asarray(Image.open(photo)), np.asarray(Image.open(result).convert("RGB"))
    assert after.shape == before.shape
    assert np.abs(after.astype(int) - before).mean() > 10
    assert page.locator("#preview img").count() == 1  # the preview of one frame came first


def test_video_runs_to_the_end(page: object, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_video(clip, frames=20, fps=10)  # 2 seconds
    status, result = _stylize(page, clip, tmp_path)
    assert "20 frames" in status
    with av.open(str(result)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20


def test_bad_upload_says_what_the_cli_says(
    page: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not really a jpeg")
    page.set_input_files("#upload input[type=file]", str(broken))
    page.wait_for_selector("#status:has-text('error:')")
    shown = page.inner_text("#status").strip()
    code, _, err = run_cli(["stylize", broken, "-o", tmp_path / "out.jpg"], capsys)
    assert code == 1

    def anywhere(line: str) -> str:  # the page names its own copy of the upload
        return re.sub(r"\S*broken\.jpg", "FILE", line.strip())

    assert anywhere(shown) == anywhere(err) and "cannot read image" in shown
