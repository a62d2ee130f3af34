"""`vidstyle stylize` end to end on synthetic videos and images, and its error handling."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from clirun import run_cli
from media import make_audio, make_corrupt_video, make_video, pattern
from PIL import Image

from vidstyle.io.video import VideoReader
from vidstyle.settings import Look
from vidstyle.stylizers.base import preserve_colors
from vidstyle.stylizers.fast import FastStylizer


def read_all(path: Path) -> tuple[list[float], list[np.ndarray]]:
    with VideoReader(path) as reader:
        frames = list(reader)
    return [f.time for f in frames], [f.image for f in frames]


def audio_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        end = 0.0
        for packet in container.demux(stream):
            if packet.pts is not None and packet.duration:
                end = max(end, float((packet.pts + packet.duration) * packet.time_base))
        return end


def test_video_keeps_frames_timestamps_and_audio(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "in.mp4"
    times = make_video(src, frames=12, fps=12, audio=True, vfr=True)
    out = tmp_path / "out.mp4"
    code, stdout, _ = run_cli(["stylize", src, "-s", tiny_style, "-o", out, "--json"], capsys)
    assert code == 0
    summary = json.loads(stdout)
    assert summary["frames"] == 12 and summary["output"] == str(out) and summary["device"] == "cpu"
    out_times, images = read_all(out)
    assert out_times == pytest.approx(times, abs=1e-3)
    _, originals = read_all(src)
    assert np.abs(images[3].astype(int) - originals[3].astype(int)).mean() > 10
    assert audio_duration(out) == pytest.approx(audio_duration(src), abs=0.05)
    assert not list(tmp_path.glob(".*partial*"))


def test_max_frames_cuts_audio(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "in.mkv"
    make_video(src, frames=20, fps=10, audio=True)
    out = tmp_path / "out.mp4"
    code, _, _ = run_cli(["stylize", src, "-s", tiny_style, "-o", out, "--max-frames", "5"], capsys)
    assert code == 0
    times, _ = read_all(out)
    assert len(times) == 5
    assert audio_duration(out) == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("suffix", [".mkv", ".mov", ".webm"])
def test_container_follows_output_suffix(tmp_path: Path, tiny_style: Path, suffix: str, capsys) -> None:
    src = tmp_path / "in.mp4"
    make_video(src, frames=4)
    out = tmp_path / f"out{suffix}"
    assert run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)[0] == 0
    assert len(read_all(out)[0]) == 4


def test_odd_size_rotation_and_max_size(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "rot.mp4"
    make_video(src, width=65, height=49, frames=3, rotation=90, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    code, _, _ = run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)
    assert code == 0
    _, images = read_all(out)
    assert images[0].shape == (64, 48, 3)  # upright (rotated) and cropped to even
    small = tmp_path / "small.mp4"
    assert run_cli(["stylize", src, "-s", tiny_style, "-o", small, "--max-size", "32"], capsys)[0] == 0
    assert read_all(small)[1][0].shape[0] == 32


def test_full_range_mkv(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "cam.mkv"
    make_video(src, frames=3, pix_fmt="yuvj420p", codec="mjpeg")
    out = tmp_path / "out.mp4"
    assert run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)[0] == 0
    assert len(read_all(out)[0]) == 3


def test_corrupt_video_keeps_what_decodes(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "bad.mkv"
    make_corrupt_video(src, mode="garbage", frames=20)
    out = tmp_path / "out.mp4"
    code, stdout, err = run_cli(["stylize", src, "-s", tiny_style, "-o", out], capsys)
    assert code == 0
    assert "damaged" in stdout and "warning: " in err
    assert 10 <= len(read_all(out)[0]) < 20


def test_image_input_strength_and_colors(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "photo.png"
    Image.fromarray(pattern(2, 50, 40)).save(src)
    full, none = tmp_path / "full.png", tmp_path / "none.png"
    assert run_cli(["stylize", src, "-s", tiny_style, "-o", full], capsys)[0] == 0
    assert run_cli(["stylize", src, "-s", tiny_style, "-o", none, "--strength", "0"], capsys)[0] == 0
    original = np.asarray(Image.open(src)).astype(int)
    assert np.abs(np.asarray(Image.open(none)).astype(int) - original).max() <= 1
    assert np.abs(np.asarray(Image.open(full)).astype(int) - original).mean() > 10


def test_preserve_color_keeps_chroma(tiny_style: Path) -> None:
    import cv2

    frame = pattern(0, 64, 48)
    mid_gray = np.full_like(frame, 128)
    kept = preserve_colors(mid_gray, frame)
    chroma = [cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int) for a in (frame, kept)]
    assert np.abs(chroma[0] - chroma[1]).mean() < 2
    assert np.abs(cv2.cvtColor(kept, cv2.COLOR_RGB2YCrCb)[..., 0].astype(int) - 128).mean() < 2
    stylizer = FastStylizer(tiny_style, device="cpu")
    plain, colored = stylizer([frame])[0], stylizer([frame], Look(preserve_color=True))[0]
    assert np.abs(plain.astype(int) - colored.astype(int)).mean() > 3


def test_precision_choice_and_reduced_precision_output(tiny_style: Path) -> None:
    import torch

    from vidstyle.device import cpu_has_native_bf16, select_dtype
    from vidstyle.errors import VidstyleError

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert select_dtype("auto", cuda) == torch.float16
    assert select_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    assert select_dtype("fp32", cuda) == torch.float32
    with pytest.raises(VidstyleError, match="fp16 needs a GPU"):
        select_dtype("fp16", cpu)
    with pytest.raises(VidstyleError, match="unknown precision 'int4'"):
        select_dtype("int4", cpu)
    frame = pattern(3, 96, 64)
    full = FastStylizer(tiny_style, device="cpu", precision="fp32")([frame])[0].astype(int)
    bf16 = FastStylizer(tiny_style, device="cpu", precision="bf16")
    assert bf16.net.encoder[0][0][1].weight.dtype == torch.bfloat16
    reduced = bf16([frame])[0].astype(int)
    assert reduced.shape == full.shape and np.abs(full - reduced).mean() < 2


@pytest.mark.parametrize(
    ("cores", "args", "plan"),
    [
        (2, [], (2, 1, 1)),  # a frame per core, the encoder on one thread beside them
        (4, [], (2, 2, 0)),  # at most 2 frames at once (memory); the cores shared out
        (16, [], (2, 8, 0)),
        (2, ["--workers", "1"], (1, 1, 1)),  # a lone worker leaves a core to the other stages
        (4, ["--workers", "3", "--threads", "2"], (3, 2, 0)),
    ],
)
def test_thread_plan_of_video_runs(
    tmp_path: Path, tiny_style: Path, capsys, monkeypatch: pytest.MonkeyPatch, cores, args, plan
) -> None:
    """On the CPU, frames go through the network side by side, each worker on its share of
    the cores; OpenCV (blending) keeps to one thread; the plan reaches the pipeline."""
    import cv2
    import torch

    import vidstyle.io.video.writer as writer
    import vidstyle.jobs.stylize as stylize_module
    from vidstyle.jobs import pipeline

    src = tmp_path / "in.mp4"
    make_video(src, frames=5)
    monkeypatch.setattr(stylize_module, "cpu_cores", lambda: cores)
    asked: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    opencv: list[int] = []
    monkeypatch.setattr(cv2, "setNumThreads", opencv.append)
    seen: dict[str, int] = {}
    real_init, real_run = writer.VideoWriter.__init__, pipeline.run

    def init(self, *a, **kwargs) -> None:
        seen["encoder"] = kwargs["encoder_threads"]
        real_init(self, *a, **kwargs)

    def run(*a, **kwargs):
        seen["workers"] = kwargs["workers"]
        return real_run(*a, **kwargs)

    monkeypatch.setattr(writer.VideoWriter, "__init__", init)
    monkeypatch.setattr(pipeline, "run", run)
    out = tmp_path / "a.mp4"
    code, stdout, _ = run_cli(["stylize", src, "-s", tiny_style, "-o", out, "--json", *args], capsys)
    assert code == 0 and json.loads(stdout)["frames"] == 5 and len(read_all(out)[1]) == 5
    assert (seen["workers"], asked[-1], seen["encoder"]) == plan and opencv == [1]


def test_batching_gives_the_same_frames(tmp_path: Path, tiny_style: Path, capsys) -> None:
    src = tmp_path / "in.mp4"
    make_video(src, frames=7)
    one, four = tmp_path / "one.mkv", tmp_path / "four.mkv"
    # the network alone, in fp32: blending and bf16 would carry rounding differences on
    plain = ["--crf", "0", "--temporal", "0", "--precision", "fp32"]
    run_cli(["stylize", src, "-s", tiny_style, "-o", one, *plain], capsys)
    run_cli(["stylize", src, "-s", tiny_style, "-o", four, *plain, "--batch-size", "4"], capsys)
    a, b = read_all(one)[1], read_all(four)[1]
    assert len(a) == len(b) == 7
    assert max(np.abs(x.astype(int) - y.astype(int)).max() for x, y in zip(a, b, strict=True)) <= 2


def bad_inputs(tmp_path: Path, tiny_style: Path) -> dict[str, tuple[list, str]]:
    video = tmp_path / "ok.mp4"
    make_video(video, frames=2)
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    sound = tmp_path / "sound.m4a"
    make_audio(sound)
    junk_weights = tmp_path / "junk.safetensors"
    junk_weights.write_bytes(b"\x00" * 64)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    return {
        "missing": ([tmp_path / "nope.mp4", "-s", tiny_style, "-o", tmp_path / "o.mp4"], "not found"),
        "not a video": ([text, "-s", tiny_style, "-o", tmp_path / "o.mp4"], "not a video"),
        "no video stream": ([sound, "-s", tiny_style, "-o", tmp_path / "o.mp4"], "no video stream"),
        "unknown style": ([video, "-s", "no_such_style", "-o", tmp_path / "o.mp4"], "unknown style"),
        "corrupt weights": ([video, "-s", junk_weights, "-o", tmp_path / "o.mp4"], "junk.safetensors"),
        "unwritable": ([video, "-s", tiny_style, "-o", tmp_path / "no" / "dir" / "o.mp4"], "cannot write"),
        "same file": ([video, "-s", tiny_style, "-o", video, "--overwrite"], "same file as the input"),
        "exists": ([video, "-s", tiny_style, "-o", existing], "already exists"),
        "bad suffix": ([video, "-s", tiny_style, "-o", tmp_path / "o.xyz"], "unsupported output"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "not a video", "no video stream", "unknown style", "corrupt weights",
     "unwritable", "same file", "exists", "bad suffix"],
)
def test_bad_input_one_line_error(tmp_path: Path, tiny_style: Path, case: str, capsys) -> None:
    args, message = bad_inputs(tmp_path, tiny_style)[case]
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, _, err = run_cli(["stylize", *args], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert {p: p.read_bytes() for p in before} == before  # inputs untouched
    assert not list(tmp_path.glob(".*partial*"))


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vidstyle", "stylize", str(tmp_path / "x.mp4"), "-s", "x", "-o",
         str(tmp_path / "y.mp4")], capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "input not found" in result.stderr


def test_styles_json_lists_given_directory(tmp_path: Path, tiny_style: Path, capsys) -> None:
    code, stdout, _ = run_cli(["styles", tmp_path, "--json"], capsys)
    assert code == 0
    entries = json.loads(stdout)
    mine = [e for e in entries if e["path"] == str(tiny_style)]
    assert mine and mine[0]["name"] == "tiny" and mine[0]["width"] == 8


def test_interrupted_video_leaves_no_output(tmp_path: Path, tiny_style: Path) -> None:
    from vidstyle.jobs.stylize import stylize_media

    src = tmp_path / "in.mp4"
    make_video(src, frames=20)
    inner = FastStylizer(tiny_style, device="cpu")
    calls = []

    def stylizer(images):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return inner(images)

    before = src.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        stylize_media(src, tmp_path / "out.mp4", stylizer, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "tiny.safetensors"]
    assert src.read_bytes() == before


def test_summary_lines_of_an_image_and_a_video(tmp_path: Path, tiny_style: Path, capsys) -> None:
    """An image run says its size and time, not a frame rate; a video run its frames and speed."""
    import re

    photo, video = tmp_path / "photo.png", tmp_path / "clip.mp4"
    Image.fromarray(pattern(0, 50, 40)).save(photo)
    make_video(video, width=96, height=64, frames=4)
    code, stdout, _ = run_cli(["stylize", photo, "-s", tiny_style, "-o", tmp_path / "o.png"], capsys)
    assert code == 0
    assert re.fullmatch(
        rf"wrote {re.escape(str(tmp_path / 'o.png'))} \(50x40, \d+\.\d s, style tiny\)\n", stdout
    )
    code, stdout, _ = run_cli(["stylize", video, "-s", tiny_style, "-o", tmp_path / "o.mp4"], capsys)
    assert code == 0
    assert re.fullmatch(
        rf"wrote {re.escape(str(tmp_path / 'o.mp4'))} \(96x64, 4 frames in \d+\.\d s, "
        r"\d+\.\d (fps|s/frame) on cpu, style tiny\)\n",
        stdout,
    )


def test_styles_table_shows_training_metadata_and_whole_paths(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table says what weights/README.md promises, under the folder's path printed
    whole even when it is wider than the terminal; --verbose adds the training command."""
    import torch

    from vidstyle.models import TransformerNet
    from vidstyle.weights import save_style

    folder = tmp_path / ("a-long-folder-name-" * 12)
    folder.mkdir()
    command = "vidstyle train starry.jpg --data photos -o mine.safetensors --iterations 1234"
    training = {
        "image_size": 256,
        "iterations": 1234,
        "seconds": 600.0,
        "command": command,
        "final_losses": {"style": 1.5},
    }
    torch.manual_seed(0)
    save_style(
        folder / "mine.safetensors",
        TransformerNet(8, 1),
        name="My Starry",
        style_image=pattern(0, 32, 24),
        metadata={"style_image_name": "starry.jpg", "description": "for tests", "training": training},
    )
    monkeypatch.setenv("COLUMNS", "200")
    assert len(str(folder)) > 200

    code, stdout, _ = run_cli(["styles", folder], capsys)
    assert code == 0 and f"in {folder}:" in stdout.splitlines()
    for shown in (
        "My Starry",
        "(file mine)",
        "johnson, width 8, 1 block",
        "starry.jpg",
        "1234",
        "10 min",
        "for tests",
    ):
        assert shown in stdout, shown
    code, stdout, _ = run_cli(["styles", folder, "--verbose"], capsys)
    mine = stdout.split("\n\n")[0]  # the given folder's styles come first
    assert mine.startswith("My Starry\n")
    lines = [line.split(":", 1) for line in mine.splitlines()[1:]]
    details = {label.strip(): value.strip() for label, value in lines}
    assert code == 0 and details["path"] == str(folder / "mine.safetensors")
    assert details["command"] == command and details["training"] == "1234 iterations, 10 min"
    assert "image_size=256" in details["settings"] and details["final losses"] == "style=1.5"
    code, stdout, _ = run_cli(["styles", folder, "--json"], capsys)
    (row,) = [row for row in json.loads(stdout) if row["file_stem"] == "mine"]
    assert row["training"] == training and row["training_seconds"] == 600.0
    assert row["name"] == "My Starry" and row["description"] == "for tests"


def shapes(width: int, height: int) -> np.ndarray:
    """A picture with a subject: a red disc and a green block on a pale sky."""
    import cv2

    image = np.full((height, width, 3), (200, 220, 235), np.uint8)
    cv2.circle(image, (width // 3, height // 2), height // 4, (200, 60, 30), -1)
    cv2.rectangle(image, (width // 2, height // 4), (width * 7 // 8, height * 3 // 4), (30, 90, 40), -1)
    return image


def detail(image: np.ndarray) -> float:
    """High-frequency energy: the mean absolute Laplacian of the grey image (fine strokes)."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean())


def outline_kept(stylized: np.ndarray, source: np.ndarray) -> float:
    """How well the subject survives: correlation of the two edge maps on a coarse grid."""
    import cv2

    def edges(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        magnitude = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        return cv2.resize(magnitude, (16, 12), interpolation=cv2.INTER_AREA).ravel()

    return float(np.corrcoef(edges(stylized), edges(source))[0, 1])


def test_style_scale_keeps_the_output_size(tiny_style: Path) -> None:
    frame = pattern(0, 65, 49)
    for scale in ("auto", 0.25, 0.5, 1, 2.5):
        assert FastStylizer(tiny_style, device="cpu", style_scale=scale)([frame])[0].shape == frame.shape
    auto = FastStylizer(tiny_style, device="cpu")
    assert auto.network_size(256, 144) == (512, 288)  # small frames: up to the trained scale
    assert auto.network_size(600, 400) == (600, 400)  # up to 640 px: as they are
    assert auto.network_size(768, 432) == (640, 360)
    assert auto.network_size(1280, 720) == (640, 360)  # HD: at half size
    assert auto.network_size(1920, 1080) == (960, 540)
    assert auto.network_size(8000, 6000) == (4000, 3000)
    half = FastStylizer(tiny_style, device="cpu", style_scale=0.5)
    assert half.network_size(1920, 1080) == (960, 540)
    assert half.network_size(20, 12) == (20, 12)  # never below a few pixels for the network


def test_smaller_style_scale_paints_coarser_strokes() -> None:
    """With a shipped network on a generated picture: 0.5 paints coarser strokes than 1,
    and auto keeps a small picture's subject better than 1 (its strokes would be as wide
    as they are in a 512 px frame)."""
    source = shapes(128, 96)
    out = {
        scale: FastStylizer("starry_night_lite", device="cpu", precision="fp32", style_scale=scale)([source])[
            0
        ]
        for scale in ("auto", 1.0, 0.5)
    }
    assert detail(out[0.5]) < 0.6 * detail(out[1.0])
    assert outline_kept(out["auto"], source) > outline_kept(out[1.0], source) + 0.1


@pytest.mark.parametrize("bad", [0, -1, 4.5, "nan", "inf", "big"])
def test_bad_style_scale_is_refused(tmp_path: Path, tiny_style: Path, bad: object, capsys) -> None:
    from vidstyle.errors import VidstyleError

    with pytest.raises(VidstyleError, match="style_scale must be auto or a number"):
        FastStylizer(tiny_style, device="cpu", style_scale=bad)
    photo = tmp_path / "photo.png"
    Image.fromarray(pattern(0, 32, 24)).save(photo)
    code, _, err = run_cli(
        ["stylize", photo, "-s", tiny_style, "-o", tmp_path / "o.png", "--style-scale", bad], capsys
    )
    assert code == 1 and err.startswith("error: --style-scale must be") and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


def test_a_look_is_checked_once_and_names_its_field() -> None:
    from vidstyle.errors import SettingsError

    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(SettingsError) as caught:
            Look(strength=bad)
        assert caught.value.field == "strength"
        assert str(caught.value) == "strength must be between 0 and 1"
        assert caught.value.naming(lambda field: "--" + field) == "--strength must be between 0 and 1"
    assert Look(0.25, True) == Look(strength=0.25, preserve_color=True)


def test_library_errors_name_settings_as_fields_and_the_cli_as_flags(
    tmp_path: Path, tiny_style: Path, capsys
) -> None:
    """A message's ``{field}`` is the field in the library and the command's flag on the
    command line; braces that name no setting of the message (a user's file name) stay."""
    from vidstyle.errors import VidstyleError
    from vidstyle.io.fileio import check_output_path

    photo, out = tmp_path / "photo.png", tmp_path / "{name}.png"
    Image.fromarray(pattern(0, 32, 24)).save(photo)
    out.write_bytes(b"the user's")
    with pytest.raises(VidstyleError) as caught:
        check_output_path(out, overwrite=False)
    assert str(caught.value) == f"output {out} already exists (use overwrite to replace it)"
    assert caught.value.naming(str.upper) == f"output {out} already exists (use OVERWRITE to replace it)"
    code, _, err = run_cli(["stylize", photo, "-s", tiny_style, "-o", out], capsys)
    assert (code, err) == (1, f"error: output {out} already exists (use --overwrite to replace it)\n")
    assert out.read_bytes() == b"the user's"


def test_make_stylizer_blends_frames_when_temporal(tiny_style: Path) -> None:
    from vidstyle.errors import SettingsError
    from vidstyle.settings import MAX_TEMPORAL, NetworkSettings
    from vidstyle.stylizers.factory import make_stylizer
    from vidstyle.stylizers.temporal import TemporalBlender

    blended = make_stylizer(NetworkSettings(tiny_style, device="cpu", temporal=0.5, style_scale=0.5))
    assert isinstance(blended, TemporalBlender) and blended.sequential_finish and blended.weight == 0.5
    assert isinstance(blended.inner, FastStylizer) and blended.inner.style_scale == 0.5
    plain = make_stylizer(NetworkSettings(tiny_style, device="cpu", temporal=0.0, precision="fp32"))
    assert isinstance(plain, FastStylizer) and not plain.sequential_finish
    assert plain.name == blended.name == "tiny"
    with pytest.raises(SettingsError, match=f"^temporal must be from 0 \\(off\\) to {MAX_TEMPORAL:g}"):
        NetworkSettings(tiny_style, temporal=0.96)
