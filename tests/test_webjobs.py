"""The web app's work without the page: previews, jobs that stop when asked, thumbnails,
and `vidstyle sheet`, which shares their machinery."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.clirun import run_cli
from tests.conftest import make_style
from tests.media import make_video
from vidstyle.app.sheet import thumbnail
from vidstyle.app.webjobs import Job, Stopped, one_line, preview, stylize_upload
from vidstyle.errors import VidstyleError
from vidstyle.io.locations import beside
from vidstyle.progress import FrameProgress, listening
from vidstyle.settings import Look, NetworkSettings
from vidstyle.weights import read_info


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def test_preview_follows_strength(photo: Path, tiny_style: Path, one_thread: None) -> None:
    network = NetworkSettings(str(tiny_style))
    original, styled = preview(photo, network, Look())
    assert original.shape == styled.shape == (48, 64, 3)
    assert np.abs(styled.astype(int) - original).mean() > 10
    _, unstyled = preview(photo, network, Look(strength=0.0))
    assert np.array_equal(unstyled, original)


def test_job_reports_and_stops(tmp_path: Path, tiny_style: Path, one_thread: None) -> None:
    """Stop ends a video job as Ctrl-C does: no partial output is left."""
    clip = tmp_path / "clip.mp4"
    make_video(clip, frames=300, fps=25)
    out = tmp_path / "out"
    out.mkdir()
    network = NetworkSettings(str(tiny_style), temporal=0.4)
    job = Job(lambda: stylize_upload(clip, network, Look(), out)).start()
    while job.report.done < 3 and job.running:
        job.wait(0.05)
    assert job.report.total == 300 and job.fraction() > 0 and "eta" in job.describe()
    job.stop()
    assert job.wait(60)
    assert isinstance(job.error, Stopped) and one_line(job.error) == "stopped"
    assert list(out.iterdir()) == []


def test_job_result_and_name(photo: Path, tiny_style: Path, tmp_path: Path, one_thread: None) -> None:
    job = Job(lambda: stylize_upload(photo, NetworkSettings(str(tiny_style)), Look(), tmp_path)).start()
    assert job.wait(60) and job.error is None
    assert Path(job.result.output) == tmp_path / "photo.tiny.png"


def test_listener_hears_a_quiet_display_from_any_thread() -> None:
    """A display made in ``listening`` reports there, even with its terminal bar off and
    from a worker thread; one made outside reports nowhere."""
    heard: list[tuple[int, int | None]] = []
    with listening(lambda done, total, info, eta: heard.append((done, total))):
        bar = FrameProgress(4, enabled=False)
    thread = threading.Thread(target=bar.update, args=(2,))
    thread.start()
    thread.join()
    FrameProgress(4, enabled=False).update(3)
    assert heard == [(2, 4)]


def test_one_line_messages() -> None:
    assert one_line(VidstyleError("input not found: x")) == "input not found: x"
    assert (
        one_line(FileNotFoundError(2, "No such file or directory", "a.mp4"))
        == "No such file or directory: a.mp4"
    )
    assert one_line(RuntimeError("first\nsecond")) == "RuntimeError: first"


def test_thumbnail_is_made_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    info = read_info(make_style(tmp_path / "tiny.safetensors"))
    photo = np.zeros((32, 48, 3), np.uint8)
    first = thumbnail(info, photo)
    made = first.stat().st_mtime_ns
    assert thumbnail(info, photo) == first and first.stat().st_mtime_ns == made
    assert first.is_relative_to(tmp_path / "cache" / "vidstyle")


def test_beside_never_replaces(photo: Path) -> None:
    assert beside(photo, "candy") == photo.with_name("photo.candy.png")
    photo.with_name("photo.candy.png").touch()
    assert beside(photo, "weights/candy.safetensors") == photo.with_name("photo.candy.2.png")
    with pytest.raises(VidstyleError, match="-o"):
        beside(photo.parent, "candy")


def test_sheet(photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None) -> None:
    styles = tmp_path / "styles"
    styles.mkdir()
    make_style(styles / "aaa.safetensors")
    code, out, err = run_cli(["sheet", photo, "--styles", styles, "--size", 64, "--columns", 3], capsys)
    assert code == 0, err
    sheet = photo.with_name("photo.sheet.jpg")
    count = int(out.split("(")[1].split()[0])
    assert out.startswith(f"wrote {sheet}") and count >= 2  # aaa and the shipped styles
    rows = -(-(count + 1) // 3)
    width, height = Image.open(sheet).size
    assert width == 3 * (64 + 6) + 6 and rows * (48 + 18) < height  # tiles 64x48 with labels
    code, out, _ = run_cli(["sheet", photo, "-o", sheet], capsys)
    assert code == 1


def test_closing_the_app_stops_running_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's Ctrl-C waits for each session's job to stop, so no job is still working
    when the process ends."""
    from vidstyle.app import ui

    monkeypatch.setattr(ui, "list_styles", lambda *args, **kwargs: [])

    def endless() -> None:
        bar = FrameProgress(10**6, enabled=False)
        while True:
            bar.update(1)
            threading.Event().wait(0.01)

    studio = ui.Studio(tmp_path)
    jobs = [studio.start(session, endless) for session in ("a", "b")]
    assert all(job.running for job in jobs)
    studio.stop_all()
    assert not any(job.running for job in jobs)
    assert all(isinstance(job.error, Stopped) for job in jobs)
