"""Frame sources and sinks: image sequences in and out, batches of files, stream URLs."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from clirun import run_cli
from media import make_video, pattern
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.io.frames import Frame, FrameSink
from vidstyle.io.locations import names_folder, natural_key
from vidstyle.io.sinks import ImageFileSink, ImageSequenceSink, VideoFileSink, open_sink
from vidstyle.io.sources import ImageSequence, ImageSource, VideoSource, open_source
from vidstyle.io.video import VideoReader, probe
from vidstyle.jobs import pipeline


def make_frames(folder: Path, names: list[str], width: int = 40, height: int = 30) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(names):
        paths.append(folder / name)
        Image.fromarray(pattern(index, width, height)).save(paths[-1])
    return paths


def test_every_source_and_sink_meets_its_interface(tmp_path: Path) -> None:
    """Each source describes itself as its frames are (size, rate, count, timestamps) and
    yields them in order; each sink writes what it is given, whole, on leaving it."""
    make_video(tmp_path / "clip.mp4", frames=10, fps=10)
    stills = [pattern(i, 40, 30) for i in range(2)]
    make_frames(tmp_path / "frames", ["1.png", "2.png"])
    sources = [
        open_source(tmp_path / "clip.mp4"),
        open_source(tmp_path / "frames" / "1.png"),
        open_source(tmp_path / "frames"),
    ]
    assert [type(s) for s in sources] == [VideoSource, ImageSource, ImageSequence]
    read = []
    for source in sources:
        frames = list(source)
        info = source.info
        assert (info.width, info.height, info.frame_count) == (
            frames[0].image.shape[1], frames[0].image.shape[0], len(frames)
        )
        assert [f.index for f in frames] == list(range(len(frames)))
        assert [f.time for f in frames] == pytest.approx([i / info.fps for i in range(len(frames))])
        assert source.lost_frames == 0
        read.append(frames)
        source.close()
    video, image, sequence = read
    assert len(video) == 10 and video[0].image.shape == (48, 64, 3) and sources[0].info.fps == 10
    assert [f.pts for f in video] == sorted({f.pts for f in video})  # timestamps, rising
    assert [f.name for f in image] == ["1.png"] and np.array_equal(image[0].image, stills[0])
    assert [f.name for f in sequence] == ["1.png", "2.png"]
    assert all(np.array_equal(f.image, still) for f, still in zip(sequence, stills, strict=True))

    outputs = [tmp_path / "a.mp4", tmp_path / "a.png", tmp_path / "seq" / "%04d.png"]
    sinks = [open_sink(out, source.info) for out, source in zip(outputs, sources, strict=True)]
    assert [type(s) for s in sinks] == [VideoFileSink, ImageFileSink, ImageSequenceSink]
    for sink, frames in zip(sinks, (video, image, sequence), strict=True):
        with sink:
            for f in frames:
                sink.write(255 - f.image, f)
    with VideoReader(tmp_path / "a.mp4") as reader:
        written = list(reader)
    assert len(written) == 10 and written[0].image.shape == (48, 64, 3)
    assert np.abs(written[0].image.astype(int) - (255 - video[0].image)).mean() < 3  # H.264
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), 255 - stills[0])
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["0001.png", "0002.png"]
    for index, still in enumerate(stills, 1):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "seq" / f"{index:04d}.png")), 255 - still)


def test_sinks_cut_short_what_they_carry(tmp_path: Path) -> None:
    """A job cut short (``max_frames``) tells its sink; a video file ends its audio with its
    last frame, image files (carrying nothing else) stay as written."""
    import av

    make_video(tmp_path / "clip.mp4", frames=20, fps=10, audio=True)
    with open_source(tmp_path / "clip.mp4", max_frames=5) as source:
        frames, info = list(source), source.info
    outputs = [tmp_path / "cut.mp4", tmp_path / "whole.mp4", tmp_path / "seq" / "%02d.png"]
    for output, cut in zip(outputs, (True, False, True), strict=True):
        sink = open_sink(output, info)
        assert isinstance(sink, FrameSink)
        with sink:
            for frame in frames:
                sink.write(frame.image, frame)
            if cut:
                sink.cut_short(1 / info.fps)

    def audio_end(path: Path) -> float:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return max(float((p.pts + p.duration) * p.time_base) for p in container.demux(stream) if p.size)

    assert audio_end(outputs[0]) == pytest.approx(0.5, abs=0.05)
    assert audio_end(outputs[1]) == pytest.approx(2.0, abs=0.05)
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == [f"{i:02d}.png" for i in range(1, 6)]


def test_folder_of_frames_in_natural_order_to_video_at_fps(tmp_path: Path, tiny_style: Path, capsys) -> None:
    names = [f"frame{i}.png" for i in (1, 2, 10, 3, 11)]  # frame2 must come before frame10
    make_frames(tmp_path / "frames", names)
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    out = tmp_path / "out.mp4"
    code, _, err = run_cli(
        ["stylize", tmp_path / "frames", "-s", tiny_style, "-o", out, "--fps", 5, "--temporal", 0], capsys
    )
    assert code == 0, err
    info = probe(out)
    assert (info.width, info.height) == (40, 30) and abs(info.fps - 5) < 1e-6
    with VideoReader(out) as reader:
        times = [f.time for f in reader]
    assert times == pytest.approx([0, 0.2, 0.4, 0.6, 0.8], abs=1e-3)
    assert [p.name for p in open_source(tmp_path / "frames").paths] == [
        "frame1.png",
        "frame2.png",
        "frame3.png",
        "frame10.png",
        "frame11.png",
    ]


def test_natural_key_orders_numbers_by_value() -> None:
    assert sorted(["b10", "b9", "a100", "a20"], key=natural_key) == ["a20", "a100", "b9", "b10"]


def test_pattern_input_matches_any_number_width(tmp_path: Path) -> None:
    make_frames(tmp_path / "f", ["img_7.png", "img_0008.png", "img_10.png", "other_1.png", "img_x.png"])
    with open_source(str(tmp_path / "f" / "img_%03d.png"), fps=12) as source:
        assert [f.name for f in source] == ["img_7.png", "img_0008.png", "img_10.png"]
        assert source.info.fps == 12 and source.info.frame_count == 3


def test_video_to_numbered_images_and_back(tmp_path: Path, tiny_style: Path, capsys) -> None:
    make_video(tmp_path / "clip.mp4", frames=12)
    pattern_out = tmp_path / "out" / "%05d.png"
    code, _, err = run_cli(["stylize", tmp_path / "clip.mp4", "-s", tiny_style, "-o", pattern_out], capsys)
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"{n:05d}.png" for n in range(1, 13)]  # numbered from 1, as FFmpeg numbers
    assert Image.open(tmp_path / "out" / "00001.png").size == (64, 48)

    code, _, err = run_cli(["stylize", tmp_path / "clip.mp4", "-s", tiny_style, "-o", pattern_out], capsys)
    assert code == 1 and "already holds frames" in err and err.count("\n") == 1
    code, _, err = run_cli(
        [
            "stylize",
            tmp_path / "clip.mp4",
            "-s",
            tiny_style,
            "-o",
            pattern_out,
            "--max-frames",
            3,
            "--overwrite",
        ],
        capsys,
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00001.png", "00002.png", "00003.png"]

    back = tmp_path / "back.mp4"
    code, _, err = run_cli(["stylize", pattern_out, "-s", tiny_style, "-o", back, "--fps", 10], capsys)
    assert code == 0, err
    assert probe(back).frame_count == 3


def test_sequence_output_never_replaces_its_input(tmp_path: Path, tiny_style: Path, capsys) -> None:
    frames = make_frames(tmp_path / "f", ["00001.png", "00002.png"])
    before = [p.read_bytes() for p in frames]
    spec = tmp_path / "f" / "%05d.png"
    code, _, err = run_cli(["stylize", spec, "-s", tiny_style, "-o", spec, "--overwrite"], capsys)
    assert code == 1 and "input's own files" in err
    assert [p.read_bytes() for p in frames] == before


def test_one_image_output_for_several_frames_is_refused(tmp_path: Path, tiny_style: Path, capsys) -> None:
    make_video(tmp_path / "clip.mp4", frames=4)
    code, _, err = run_cli(
        ["stylize", tmp_path / "clip.mp4", "-s", tiny_style, "-o", tmp_path / "o.png"], capsys
    )
    assert code == 1 and "%05d" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_names_folder() -> None:
    assert names_folder("out/") and not names_folder("out") and not names_folder("out.mp4")
    assert not names_folder("out/%05d.png") and not names_folder("a.png")


@pytest.fixture
def media_tree(tmp_path: Path) -> Path:
    """A folder of what users keep: images and videos in sub-folders, a damaged video, notes."""
    root = tmp_path / "in"
    make_frames(root, ["a.png"])
    make_frames(root / "trip", ["b.jpg"])
    make_video(root / "trip" / "clip.mp4", frames=5)
    make_video(root / "old.mkv", frames=3)
    (root / "trip" / "broken.mp4").write_text("not a video: the download failed")
    (root / "notes.txt").write_text("not media")
    (root / ".hidden.png").write_bytes((root / "a.png").read_bytes())
    return root


def test_batch_keeps_names_reports_failures_and_goes_on(
    media_tree: Path, tmp_path: Path, tiny_style: Path, capsys
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli(["stylize", media_tree, "-s", tiny_style, "-o", f"{out}/"], capsys)
    assert code == 1  # one file failed
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "broken.mp4" in errors[0]
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["a.png", "old.mkv", "trip/b.jpg", "trip/clip.mp4"]
    assert probe(out / "trip" / "clip.mp4").frame_count == 5
    assert "4 stylized, 0 skipped, 1 failed" in stdout

    code, stdout, err = run_cli(["stylize", media_tree, "-s", tiny_style, "-o", out, "--json"], capsys)
    items = json.loads(stdout)
    assert code == 1
    assert sorted(i["status"] for i in items) == ["failed", "skipped", "skipped", "skipped", "skipped"]


def test_batch_of_files_loads_the_model_once(
    media_tree: Path, tmp_path: Path, tiny_style: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vidstyle.stylizers.fast as stylizer_module

    loads = []
    real = stylizer_module.load_style
    monkeypatch.setattr(stylizer_module, "load_style", lambda *a, **k: loads.append(a) or real(*a, **k))
    files = [media_tree / "a.png", media_tree / "trip" / "clip.mp4", media_tree / "old.mkv"]
    args = ["stylize", *files, "-s", tiny_style, "-o", f"{tmp_path}/o/", "--json"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert [i["status"] for i in json.loads(stdout)] == ["done"] * 3
    assert len(loads) == 1


def test_several_inputs_into_one_file_is_refused(
    media_tree: Path, tmp_path: Path, tiny_style: Path, capsys
) -> None:
    code, _, err = run_cli(
        [
            "stylize",
            media_tree / "a.png",
            media_tree / "trip" / "b.jpg",
            "-s",
            tiny_style,
            "-o",
            tmp_path / "x.png",
        ],
        capsys,
    )
    assert code == 1 and err.count("\n") == 1


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server of tmp_path, as a stream URL prefix."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_stream_url_is_stylized(tmp_path: Path, tiny_style: Path, http_server: str, capsys) -> None:
    make_video(tmp_path / "clip.mp4", frames=8, audio=True)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli(["stylize", f"{http_server}/clip.mp4", "-s", tiny_style, "-o", out], capsys)
    assert code == 0, err
    assert probe(out).frame_count == 8


def test_unreachable_stream_is_one_line(tmp_path: Path, tiny_style: Path, capsys) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run_cli(
        ["stylize", f"http://127.0.0.1:{port}/x.mp4", "-s", tiny_style, "-o", tmp_path / "o.mp4"], capsys
    )
    assert code == 1 and "unreachable" in err and err.count("\n") == 1
    assert not (tmp_path / "o.mp4").exists()


def test_silent_stream_times_out() -> None:
    """A server that accepts the connection and never answers: an error after the timeout."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        start = time.monotonic()
        with pytest.raises(VidstyleError, match="timed out after 1 s"):
            open_source(f"http://127.0.0.1:{server.getsockname()[1]}/live", timeout=1.0)
        assert time.monotonic() - start < 10


def test_live_run_ends_on_ctrl_c_with_what_it_has() -> None:
    """A camera or live stream has no end: Ctrl-C is its normal stop, and frames are kept."""
    written = []

    def frames() -> Iterator[int]:
        for index in range(1000):
            if index == 5:
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            yield index

    stats = pipeline.run(
        frames(),
        lambda i: np.full((4, 4, 3), i, np.uint8),
        lambda batch: batch,
        lambda image, item: written.append(item),
        live=True,
    )
    assert stats.stopped_by == "Ctrl-C"
    assert 1 <= stats.frames < 1000 and written == list(range(stats.frames))


def test_camera_source_stamps_capture_times(tmp_path: Path, tiny_style: Path) -> None:
    """A camera (here a video file played in real time, as the webcam plays one) through the
    job: frames stamped in milliseconds of capture, a live source that ends with its frames."""
    from vidstyle.io.sources import CameraSource
    from vidstyle.jobs.stylize import run_job
    from vidstyle.stylizers.fast import FastStylizer

    make_video(tmp_path / "cam.mp4", frames=10, fps=20)
    out = tmp_path / "rec.mp4"
    with CameraSource(str(tmp_path / "cam.mp4"), max_frames=6) as source:
        assert source.info.live and source.info.frame_count == 6
        with VideoFileSink(out, source.info) as sink:
            stats = run_job(source, FastStylizer(tiny_style), [sink], progress=False)
    assert stats.frames == 6 and stats.stopped_by is None
    with VideoReader(out) as reader:
        times = [f.time for f in reader]
    assert times[0] == 0 and all(b > a for a, b in zip(times, times[1:], strict=False))
    assert 0.15 < times[-1] < 1.0  # 5 gaps of about 50 ms, at the pace of capture


# -- a user's files next to an image sequence --------------------------------------------


def stylize_cli(capsys, source: Path, output: object, style: Path, *more: object) -> tuple[int, str, str]:
    return run_cli(["stylize", source, "-s", style, "-o", output, *more], capsys)


def test_overwrite_replaces_only_names_the_pattern_writes(tmp_path: Path, tiny_style: Path, capsys) -> None:
    """``-o out/%05d.png --overwrite`` replaces 00001.png..., removes an earlier, longer
    sequence's 00009.png, and keeps every name the pattern does not write."""
    make_video(tmp_path / "clip.mp4", frames=3)
    users = ["2024.png", "0001.png", "000002.png", "x00001.png", "00001.png.bak", "00001.jpg", "1.png"]
    (tmp_path / "out").mkdir()
    for name in [*users, "00001.png", "00009.png"]:
        (tmp_path / "out" / name).write_bytes(f"the user's {name}".encode())
    before = {name: (tmp_path / "out" / name).read_bytes() for name in users}
    out = tmp_path / "out/%05d.png"
    code, _, err = stylize_cli(capsys, tmp_path / "clip.mp4", out, tiny_style, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [*users, "00001.png", "00002.png", "00003.png"]
    )
    assert {name: (tmp_path / "out" / name).read_bytes() for name in users} == before


def test_percent_signs_in_sequence_names(tmp_path: Path, tiny_style: Path, capsys) -> None:
    """``%%`` is a literal %; a pattern with anything else is one error line and makes no
    folder; a file that exists is itself, whatever % its name holds."""
    make_video(tmp_path / "clip.mp4", frames=2)
    for bad in ["100%_%05d.png", "%05d_%d.png", "%5d.png", "%05d%.png", "%1$d.png"]:
        code, _, err = stylize_cli(capsys, tmp_path / "clip.mp4", tmp_path / "out" / bad, tiny_style)
        assert code == 1 and err.startswith("error: image sequence") and err.count("\n") == 1, (bad, err)
        assert not (tmp_path / "out").exists()
    code, _, err = stylize_cli(capsys, tmp_path / "clip.mp4", tmp_path / "out/100%%_%03d.png", tiny_style)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["100%_001.png", "100%_002.png"]
    code, _, err = stylize_cli(capsys, tmp_path / "out/100%%_%03d.png", tmp_path / "back.mp4", tiny_style)
    assert code == 0, err

    odd = tmp_path / "50%done.mp4"  # reads as a %d pattern, but it is a file
    make_video(odd, frames=2)
    code, _, err = stylize_cli(capsys, odd, tmp_path / "from-odd.mp4", tiny_style)
    assert code == 0, err
    before = odd.read_bytes()
    code, _, err = stylize_cli(capsys, tmp_path / "clip.mp4", odd, tiny_style)
    assert (code, err) == (1, f"error: output {odd} already exists (use --overwrite to replace it)\n")
    assert odd.read_bytes() == before
    code, _, err = stylize_cli(capsys, tmp_path / "clip.mp4", odd, tiny_style, "--overwrite")
    assert code == 0 and probe(odd).frame_count == 2


def test_a_failed_sequence_removes_what_it_made_and_nothing_else(
    tmp_path: Path, tiny_style: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full at the third frame: the frames and folders this run made are gone, the
    user's files (in a folder it did not make) are not."""
    import errno

    from vidstyle.io import sinks

    make_video(tmp_path / "clip.mp4", frames=5)
    make_frames(tmp_path / "out", ["mine.png", "00009.png"])
    real, written = sinks.write_image, []

    def full_at_third(path: Path, image: np.ndarray, **kw: object) -> None:
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, image, **kw)
        written.append(path)

    monkeypatch.setattr(sinks, "write_image", full_at_third)
    for pattern_out in ["out/new/deeper/%05d.png", "out/%05d.png"]:
        written.clear()
        out = tmp_path / pattern_out
        code, _, err = stylize_cli(capsys, tmp_path / "clip.mp4", out, tiny_style, "--overwrite")
        assert code == 1 and err.splitlines()[-1] == "error: No space left on device"
        assert len(written) == 2
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00009.png", "mine.png"]


def test_one_run_at_a_time_writes_a_sequence(tmp_path: Path) -> None:
    """A second writer of the same pattern is refused while the first writes (its lock file
    is gone after); without --overwrite a frame that appeared meanwhile is kept, and the
    run fails, removing its own frames."""
    frame = Frame(pattern(0, 40, 30), 0.0, 0, 0)
    first = ImageSequenceSink(str(tmp_path / "out" / "%03d.png"), overwrite=False)
    with first:
        with pytest.raises(VidstyleError, match="being written by another run"):
            ImageSequenceSink(str(tmp_path / "out" / "%03d.png"))
        first.write(frame.image, frame)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["001.png"]

    second = ImageSequenceSink(str(tmp_path / "again" / "%03d.png"), overwrite=False)
    with pytest.raises(VidstyleError, match="already exists"), second:
        second.write(frame.image, frame)
        make_frames(tmp_path / "again", ["002.png"])  # another program's, meanwhile
        before = (tmp_path / "again" / "002.png").read_bytes()
        second.write(frame.image, frame)
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == ["002.png"]
    assert (tmp_path / "again" / "002.png").read_bytes() == before
