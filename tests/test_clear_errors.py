"""Bad inputs, outputs and styles: one ``error:`` line each, and nothing the user gave touched."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from clirun import run_cli
from conftest import make_style
from media import make_video
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from vidstyle.errors import VidstyleError, signals_as_interrupts
from vidstyle.io import fileio
from vidstyle.io.sources import open_source


def one_error(code: int, stderr: str, *words: str) -> None:
    """A refusal: exit 1 and a single ``error:`` line holding each of ``words``."""
    assert code == 1, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    for word in words:
        assert word in stderr, stderr


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    make_video(path, frames=4)
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(path)
    return path


def damaged_copy(source: Path, target: Path, change: str) -> Path:
    """``source``'s weights with one network tensor dropped (``missing``) or reshaped."""
    with safe_open(str(source), "pt") as f:
        metadata, tensors = f.metadata(), {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    key = sorted(k for k in tensors if k.startswith("net."))[-1]
    if change == "missing":
        del tensors[key]
    else:
        tensors[key] = torch.zeros(3)
    save_file(tensors, str(target), metadata=metadata)
    return target


# --- styles -------------------------------------------------------------------------------


@pytest.fixture
def styles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$VIDSTYLE_STYLES holding one good style and three that cannot load."""
    folder = tmp_path / "styles"
    folder.mkdir()
    good = make_style(folder / "good.safetensors")
    (folder / "noarch.safetensors").write_bytes(b"not weights")
    damaged_copy(good, folder / "missing.safetensors", "missing")
    damaged_copy(good, folder / "shape.safetensors", "shape")
    monkeypatch.setenv("VIDSTYLE_STYLES", str(folder))
    return folder


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("noarch", ["noarch.safetensors", "not a vidstyle weights file"]),
        ("missing", ["missing.safetensors", "lacks the tensor net."]),
        ("shape", ["shape.safetensors", "tensor net.", "has shape [3]"]),
    ],
)
def test_a_named_style_that_cannot_load_is_one_line_naming_it(
    styles_dir: Path, photo: Path, tmp_path: Path, capsys, name: str, words: list[str]
) -> None:
    code, _, err = run_cli(["stylize", photo, "-s", name, "-o", tmp_path / "o.png"], capsys)
    one_error(code, err, *words)
    assert "unknown style" not in err


def test_styles_that_cannot_load_are_never_offered(
    styles_dir: Path, photo: Path, tmp_path: Path, capsys
) -> None:
    code, _, err = run_cli(["stylize", photo, "-s", "nope", "-o", tmp_path / "o.png"], capsys)
    one_error(code, err, "unknown style 'nope'", "good")
    available = err.split("available:")[1]
    assert not any(word in available for word in ("noarch", "missing", "shape"))
    code, out, err = run_cli(["styles", "--json"], capsys)
    assert code == 0 and err.count("warning: ") == 3
    assert "missing.safetensors" not in out and "shape.safetensors" not in out


@pytest.mark.parametrize("change", ["missing", "shape"])
def test_a_weights_file_with_a_bad_tensor_is_one_line(
    tiny_style: Path, photo: Path, tmp_path: Path, capsys, change: str
) -> None:
    bad = damaged_copy(tiny_style, tmp_path / "bad.safetensors", change)
    code, _, err = run_cli(["stylize", photo, "-s", bad, "-o", tmp_path / "o.png"], capsys)
    one_error(code, err, str(bad), "net.")


def test_an_empty_style_name_is_refused(photo: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(["stylize", photo, "-s", "", "-o", tmp_path / "o.png"], capsys)
    one_error(code, err, "no style given")


@pytest.mark.slow  # loads every shipped style
def test_webcam_skips_styles_that_cannot_load(styles_dir: Path, tmp_path: Path, capsys) -> None:
    clip = tmp_path / "cam.mp4"
    make_video(clip, frames=3)
    args = ["webcam", "--camera", clip, "--no-window", "--max-frames", "1", "--output-dir", tmp_path]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "1 frame(s)" in out and err.count("(skipped)") == 3


# --- outputs ------------------------------------------------------------------------------


def test_a_new_output_without_a_type_is_refused_with_a_hint(clip: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli(["stylize", clip, "-o", out], capsys)
    one_error(code, err, "no file type", f"{out}/", "out.mp4")
    assert not out.exists()


def test_an_empty_output_or_input_is_refused(clip: Path, capsys) -> None:
    one_error(*run_cli(["stylize", clip, "-o", ""], capsys)[::2], "empty")
    one_error(*run_cli(["stylize", "", "-o", "x.mp4"], capsys)[::2], "empty")


def test_an_output_folder_that_is_the_input_folder_says_so(photo: Path, capsys) -> None:
    folder = photo.parent
    code, _, err = run_cli(["stylize", folder, "-o", f"{folder}/"], capsys)
    one_error(code, err, "is the input folder")
    code, _, err = run_cli(["stylize", folder / ".", "-o", f"{folder.parent}/"], capsys)
    one_error(code, err, "holds the input folder")


@pytest.mark.parametrize("below", ["", "sub/"])
def test_an_output_folder_that_is_a_file_is_one_line(
    photo: Path, tmp_path: Path, capsys, below: str
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    code, _, err = run_cli(["stylize", photo, "-o", f"{blocker}/{below}"], capsys)
    one_error(code, err, "not a directory")
    assert "Errno" not in err and blocker.read_text() == "keep me"


def test_an_unwritable_sequence_folder_is_named(
    clip: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    real_access = os.access
    denied = lambda path, mode: Path(path) != folder and real_access(path, mode)  # noqa: E731
    monkeypatch.setattr(fileio.os, "access", denied)
    code, _, err = run_cli(["stylize", clip, "-o", f"{folder}/%04d.png"], capsys)
    one_error(code, err, str(folder), "permission denied")
    assert ".partial" not in err and not any(folder.iterdir())


def test_a_hidden_temporary_name_never_stands_for_the_output(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught, fileio.atomic_output(tmp_path / "missing" / "out.png"):
        pass
    assert caught.value.filename == str(tmp_path / "missing" / "out.png")


def test_training_data_that_is_a_file_is_not_a_directory(
    photo: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDSTYLE_DATA", str(photo))
    code, _, err = run_cli(["train", photo, "-o", tmp_path / "net.safetensors"], capsys)
    one_error(code, err, "is a file, not a directory", str(photo))


# --- several styles -----------------------------------------------------------------------


def test_every_style_given_makes_its_own_file(
    clip: Path, photo: Path, tmp_path: Path, capsys, one_thread
) -> None:
    a, b = make_style(tmp_path / "a.safetensors"), make_style(tmp_path / "b.safetensors", seed=1)
    out = tmp_path / "out"
    code, stdout, err = run_cli(["stylize", clip, photo, "-s", a, "-s", b, "-o", f"{out}/"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["clip.a.mp4", "clip.b.mp4", "photo.a.png", "photo.b.png"]
    assert "4 stylized, 0 skipped, 0 failed" in stdout
    pictures = [np.asarray(Image.open(out / f"photo.{name}.png")) for name in "ab"]
    assert not np.array_equal(*pictures)


def test_several_styles_into_one_file_are_refused(clip: Path, tmp_path: Path, capsys) -> None:
    a, b = make_style(tmp_path / "a.safetensors"), make_style(tmp_path / "b.safetensors", seed=1)
    code, _, err = run_cli(["stylize", clip, "-s", a, "-s", b, "-o", tmp_path / "o.mp4"], capsys)
    one_error(code, err, "2 styles", "output folder")
    code, _, err = run_cli(["stylize", clip, "-s", a, "-s", a, "-o", f"{tmp_path}/o/"], capsys)
    one_error(code, err, "both named a")


# --- inputs -------------------------------------------------------------------------------


def test_a_fifo_input_is_refused_at_once(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    start = time.monotonic()
    code, _, err = run_cli(["stylize", fifo, "-o", tmp_path / "o.mp4"], capsys)
    one_error(code, err, "named pipe")
    code, _, err = run_cli(["webcam", "--camera", fifo, "--no-window"], capsys)
    one_error(code, err, "named pipe")
    assert time.monotonic() - start < 10


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """A valid video sent 200 bytes at a time, 0.2 s apart: far too slow to open in time."""

    data = b""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        try:
            for start in range(0, len(self.data), 200):
                self.wfile.write(self.data[start : start + 200])
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass


@pytest.fixture
def slow_stream(clip: Path) -> Iterator[str]:
    handler = type("Handler", (_SlowHandler,), {"data": clip.read_bytes()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    server.shutdown()
    server.server_close()


def test_a_slow_stream_is_said_to_time_out(slow_stream: str) -> None:
    with pytest.raises(VidstyleError, match=r"timed out after 1 s"):
        open_source(slow_stream, timeout=1.0)


def test_ctrl_c_stops_a_stream_while_it_opens(slow_stream: str) -> None:
    restore = signals_as_interrupts()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            open_source(slow_stream, timeout=30.0)
    finally:
        timer.cancel()
        restore()
    assert time.monotonic() - start < 2


def test_an_unreachable_ray_cluster_is_one_line_within_30_s(
    clip: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    start = time.monotonic()
    code, _, err = run_cli(["stylize", clip, "--backend", "ray", "-o", tmp_path / "o.mp4"], capsys)
    one_error(code, err, f"cannot reach the Ray cluster at 127.0.0.1:{port}")
    assert time.monotonic() - start < 30
    assert not (tmp_path / "o.mp4").exists()


# --- resumable work -----------------------------------------------------------------------


def segment_work(folder: Path, frames: int = 6) -> tuple[dict, Path]:
    """A work folder with segments 1 and 2 finished (``frames`` frames each), as a stopped
    Ray job leaves it; the job's manifest entry and the second segment's file."""
    from vidstyle.jobs import segments as seg

    job = {"version": seg.MANIFEST_VERSION, "input": "clip.mp4"}
    work = seg.WorkDir(folder, job, ".mp4")
    for index in range(2):
        make_video(work.file(index), frames=frames)
        work.finish_segment(index, {"frames": frames, "lost": 0, "device": "cpu", "head": [], "tail": []})
    return job, work.file(1)


def test_a_damaged_finished_segment_is_made_again(tmp_path: Path) -> None:
    from vidstyle.jobs import segments as seg

    job, second = segment_work(tmp_path / "out.mp4.segments")
    second.write_bytes(second.read_bytes()[: second.stat().st_size // 2])
    work = seg.WorkDir(tmp_path / "out.mp4.segments", job, ".mp4")
    assert work.damaged == ["2"]
    assert work.record(0) is not None and work.record(1) is None and not second.exists()
    assert seg.WorkDir(tmp_path / "out.mp4.segments", job, ".mp4").damaged == []  # recorded


def test_a_segment_with_fewer_frames_than_recorded_is_made_again(tmp_path: Path) -> None:
    from vidstyle.jobs import segments as seg

    job, second = segment_work(tmp_path / "w")
    make_video(second, frames=3)  # replaced by a shorter file since it was recorded
    assert seg.WorkDir(tmp_path / "w", job, ".mp4").damaged == ["2"]


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_a_damaged_manifest_says_so_and_offers_restart(tmp_path: Path, keep: float) -> None:
    from vidstyle.jobs import segments as seg
    from vidstyle.jobs.workdir import MANIFEST_NAME

    job, second = segment_work(tmp_path / "w")
    manifest = tmp_path / "w" / MANIFEST_NAME
    text = manifest.read_bytes()
    manifest.write_bytes(text[: int(len(text) * keep)])  # cut short
    with pytest.raises(VidstyleError, match=r"damaged manifest.json .*use restart to start over") as caught:
        seg.WorkDir(tmp_path / "w", job, ".mp4")
    assert "other settings" not in str(caught.value) and second.exists()
    assert seg.WorkDir(tmp_path / "w", job, ".mp4", restart=True).done == {}


@pytest.mark.parametrize("manifest", [b"", b"[1, 2]", b"\xff\xfe", b'{"job": {}}'])
def test_a_manifest_not_of_vidstyle_is_another_programs_and_kept(tmp_path: Path, manifest: bytes) -> None:
    from vidstyle.jobs import segments as seg
    from vidstyle.jobs.workdir import MANIFEST_NAME

    job, second = segment_work(tmp_path / "w")
    (tmp_path / "w" / MANIFEST_NAME).write_bytes(manifest)
    for restart in (False, True):
        with pytest.raises(VidstyleError, match="holds other files"):
            seg.WorkDir(tmp_path / "w", job, ".mp4", restart=restart)
    assert second.exists() and (tmp_path / "w" / MANIFEST_NAME).read_bytes() == manifest


def test_lasting_file_system_errors_are_not_run_again() -> None:
    import errno

    from vidstyle.jobs.distributed import _failure

    reason, final = _failure(OSError(errno.ENOSPC, "No space left on device", "/w/segment-00002.mp4"))
    assert (reason, final) == ("No space left on device: /w/segment-00002.mp4", True)
    assert _failure(RuntimeError("flaky"))[1] is False
