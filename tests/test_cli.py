"""The command line's contract: one-line errors, exit codes, and clean stops on signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import run_cli
from conftest import make_style
from media import make_video

import vidstyle


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["stylize"],  # -o is optional (NAME.STYLE.EXT beside the input), INPUT is not
        ["stylize", "in.mp4", "-o", "out.mp4", "--strength", "2"],
        ["stylize", "in.mp4", "-o", "out.mp4", "--batch-size", "0"],
        ["stylize", "in.mp4", "-o", "out.mp4", "--max-size", "abc"],
        ["stylize", "in.mp4", "-o", "out.mp4", "--no-such-option"],
        ["no-such-command"],
        ["train"],
        ["webcam", "--strength", "-1"],
        ["vgg", "bogus"],
    ],
)
def test_usage_errors_are_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: ")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"vidstyle {vidstyle.__version__}"


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vidstyle", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_when(proc: subprocess.Popen[str], marker: str, sig: int, timeout: float = 120) -> str:
    """Send ``sig`` once ``marker`` shows on stderr (the job is under way); all stderr after."""
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen:
        line = proc.stderr.readline()
        assert line or proc.poll() is None, f"the job ended before {marker!r}: {seen}"
        assert time.monotonic() < deadline, f"no {marker!r} within {timeout} s: {seen}"
        seen += line
    proc.send_signal(sig)
    _, rest = proc.communicate(timeout=120)
    return seen + rest


def _partials(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial" in p.name]


@pytest.fixture
def slow_job(tmp_path: Path) -> list[str]:
    """A video long enough to be stopped mid-way, through a width-16 network."""
    make_video(tmp_path / "in.mp4", width=320, height=240, frames=150, fps=25, audio=True)
    make_style(tmp_path / "wide.safetensors", width=16, blocks=5)
    return ["stylize", "in.mp4", "-s", "wide.safetensors", "-o", "out.mp4", "--workers", "1"]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_signal_stops_stylize_without_output(
    tmp_path: Path, slow_job: list[str], sig: int, code: int, word: str
) -> None:
    proc = _start(slow_job, tmp_path)
    err = _signal_when(proc, "stylize 1/", sig)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == word and "Traceback" not in err
    assert not (tmp_path / "out.mp4").exists() and not _partials(tmp_path)


@pytest.mark.slow
def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path: Path, slow_job: list[str]) -> None:
    proc = _start(slow_job, tmp_path)
    _signal_when(proc, "stylize 1/", signal.SIGKILL)
    assert _partials(tmp_path), "a killed run leaves its temporary file"
    done = subprocess.run(
        [sys.executable, "-m", "vidstyle", *slow_job, "--max-frames", "2"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.mp4").is_file() and not _partials(tmp_path)


def test_partial_file_of_a_live_process_is_kept(tmp_path: Path, tiny_style: Path) -> None:
    """Two runs may write beside each other: only a dead writer's file is an orphan."""
    make_video(tmp_path / "in.mp4", frames=3)
    live = tmp_path / f".out.{os.getppid()}.abc123.partial.mp4"
    dead = tmp_path / ".out.999999999.abc123.partial.mp4"
    live.write_bytes(b"x")
    dead.write_bytes(b"x")
    vidstyle.stylize_media(tmp_path / "in.mp4", tmp_path / "out.mp4",
                           vidstyle.FastStylizer(tiny_style, device="cpu"), progress=False)
    assert live.exists() and not dead.exists()


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_hq_video_keeping_finished_frames(
    tmp_path: Path, random_vgg: Path, sig: int, code: int
) -> None:
    """The optimiser thread stops within a step: no abort, finished frames kept for a rerun."""
    make_video(tmp_path / "in.mp4", width=96, height=96, frames=30)
    make_style(tmp_path / "s.safetensors")
    args = ["stylize", "in.mp4", "-o", "out.mp4", "--mode", "hq", "-s", "s.safetensors",
            "--size", "96", "--iterations", "4", "--iterations-next", "400"]
    proc = _start(args, tmp_path)
    work = tmp_path / "out.mp4.hq-work"
    deadline = time.monotonic() + 120
    while not (work / "frame_000001.png").is_file():  # the first frame done, the second under way
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and "terminate called" not in err
    assert (work / "frame_000001.png").is_file() and not (tmp_path / "out.mp4").exists()
    assert not _partials(tmp_path)


def test_demo_refuses_to_replace_its_output(
    tmp_path: Path, tiny_style: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.mp4"
    out.write_bytes(b"an earlier result")
    code, _, err = run_cli(["demo", "-s", tiny_style, "-o", out], capsys)
    assert code == 1 and "already exists" in err and out.read_bytes() == b"an earlier result"


def test_python_warnings_print_as_one_line(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    import warnings

    from vidstyle import cli

    def warn_then_fail() -> None:
        warnings.warn("something odd\nwith a second line of detail", UserWarning, stacklevel=1)
        raise vidstyle.VidstyleError("stop here")

    monkeypatch.setattr(cli, "app", lambda **_: warn_then_fail())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run_cli(["anything"], capsys)
    assert code == 1
    assert err.splitlines()[0] == "warning: something odd" and err.splitlines()[-1] == "error: stop here"


HELP_PAGES = [
    [],
    ["stylize"],
    ["demo"],
    ["styles"],
    ["train"],
    ["webcam"],
    ["vgg"],
    ["vgg", "install"],
    ["vgg", "status"],
]


@pytest.mark.parametrize("command", HELP_PAGES, ids=lambda words: " ".join(words) or "vidstyle")
def test_help_names_values_not_python_types(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values are named by a metavar (N, INPUT, WxH|N...) and flags by their names alone:
    no typer type labels such as <bool> or <list[Path]>, no {input} in the usage line."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli([*command, "--help"], capsys)
    assert code == 0 and out.count("Usage: vidstyle") == 1
    assert not re.search(r"<\w", out) and "{" not in out, out


def test_help_usage_lines_and_command_summaries(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arguments by name in the usage line; every command's summary (the first paragraph of
    its docstring, which the command list shows) one short sentence on one line."""
    import typer

    from vidstyle.cli import app

    monkeypatch.setenv("COLUMNS", "200")
    usage = {
        "stylize": "vidstyle stylize [OPTIONS] INPUT...",
        "styles": "vidstyle styles [OPTIONS] [DIR]...",
        "train": "vidstyle train [OPTIONS] [PAINTING]",
    }
    for command, line in usage.items():
        out = run_cli([command, "--help"], capsys)[1]
        assert f"Usage: {line}" in [text.strip() for text in out.splitlines()]
    groups, summaries = [typer.main.get_command(app)], {}
    while groups:
        for name, command in groups.pop().commands.items():
            summaries[name] = command.help.split("\n\n")[0]
            groups += [command] if hasattr(command, "commands") else []
    assert {"stylize", "demo", "styles", "train", "webcam", "vgg", "install", "status"} <= set(summaries)
    for name, summary in summaries.items():
        assert "\n" not in summary and summary.endswith(".") and len(summary) <= 90, name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "256"], "--size applies to --mode hq only (the output's size is --max-size)"),
        (["--iterations", "5"], "--iterations applies to --mode hq only"),
        (["--palette-weight", "0.1"], "--palette-weight applies to --mode hq only"),
        (["--mode", "hq", "--temporal", "0.5"], "--temporal applies to fast mode only"),
        (["--mode", "hq", "--style-scale", "0.5"], "--style-scale applies to fast mode only"),
        (["--mode", "hq", "--batch-size", "1"], "--batch-size applies to fast mode only"),
        (
            ["--mode", "hq", "--size", "600", "--max-size", "300"],
            "--size 600 is above --max-size 300: HQ optimises at the output size at most",
        ),
        (["--mode", "sideways"], "--mode must be fast or hq, not 'sideways'"),
    ],
)
def test_options_the_mode_would_ignore_are_refused(
    tmp_path: Path, tiny_style: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A size or setting that cannot apply is a usage error naming it, before any work."""
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 24), "white").save(photo)
    code, out, err = run_cli(["stylize", photo, "-s", tiny_style, "-o", tmp_path / "o.png", *args], capsys)
    assert (code, out, err) == (1, "", f"error: {message}\n")
    assert not (tmp_path / "o.png").exists()


def test_settings_errors_name_the_option_that_sets_them(
    tmp_path: Path, tiny_style: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The library names a bad setting by its field; each command says it with its own flag,
    in one line, exit status 1, before any output is made."""
    import typer
    from PIL import Image

    import vidstyle.cli
    from vidstyle.settings import X264_PRESETS

    photo, out = tmp_path / "photo.png", tmp_path / "out.png"
    Image.new("RGB", (32, 24)).save(photo)
    common = ["stylize", photo, "-s", tiny_style, "-o", out]
    presets = ", ".join(X264_PRESETS)
    cases = [
        (["--preset", "sluggish"], f"error: unknown --preset 'sluggish'; use one of {presets}\n"),
        (["--style-scale", "big"], "error: --style-scale must be auto or a number in (0, 4], not 'big'\n"),
        (
            ["--mode", "hq", "--content-layers", "relu9_9"],
            "error: --content-layers: unknown vgg16 layer(s) relu9_9\n",
        ),
    ]
    for args, message in cases:
        assert run_cli([*common, *args], capsys)[::2] == (1, message)
        assert not out.exists()
    code, _, err = run_cli(["webcam", "--size", "huge", "--no-window"], capsys)
    size = "error: --size 'huge': use WIDTHxHEIGHT (e.g. 640x480) or a longest side (e.g. 640)\n"
    assert (code, err) == (1, size)
    # the flag comes from the command's own options; a field that no option sets keeps its name
    command = typer.main.get_command(vidstyle.cli.app).commands["stylize"]  # type: ignore[attr-defined]
    names = ("style_scale", "preserve_color", "style", "tile")
    assert [command.flag(name) for name in names] == ["--style-scale", "--preserve-color", "--style", "tile"]


def test_a_setting_with_its_value_is_said_as_the_flag_that_gives_it() -> None:
    import typer

    from vidstyle.cli import app

    commands = typer.main.get_command(app).commands
    webcam, train = commands["webcam"], commands["train"]
    assert webcam.flag("window=False") == "--no-window" and webcam.flag("window=True") == "--window"
    assert train.flag("style_weight=30") == "--style-weight 30" and train.flag("output") == "--output"
    assert train.flag("no_such_field") == "no_such_field"
