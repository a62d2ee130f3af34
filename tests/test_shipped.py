"""The styles that ship in weights/ and the README's main command, `vidstyle demo`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from clirun import run_cli
from media import pattern
from test_stylize import read_all

from vidstyle.jobs.stylize import DEMO_CLIP
from vidstyle.stylizers.fast import FastStylizer
from vidstyle.weights import DEFAULT_STYLE, SHIPPED_DIR, list_styles

SHIPPED = [info for info in list_styles() if info.path.parent == SHIPPED_DIR]


def test_default_style_ships() -> None:
    assert DEFAULT_STYLE in {info.name for info in SHIPPED}


@pytest.mark.parametrize("info", SHIPPED, ids=lambda i: i.name)
def test_shipped_style_is_small_documented_and_paints(info) -> None:
    assert info.path.stat().st_size <= 7 * 1024 * 1024
    training = info.metadata["training"]
    assert training["command"] and training["seconds"] > 0 and training["iterations"] > 0
    assert info.name in (SHIPPED_DIR / "README.md").read_text()
    photo = pattern(0, 96, 64)
    out = FastStylizer(info.path, device="cpu")([photo])[0]
    assert out.shape == photo.shape
    assert np.abs(out.astype(int) - photo.astype(int)).mean() > 20


def test_demo_writes_a_stylized_clip_with_sound(tmp_path: Path, tiny_style: Path, capsys) -> None:
    out = tmp_path / "demo.mp4"
    code, stdout, _ = run_cli(["demo", "-s", tiny_style, "-o", out], capsys)
    assert code == 0
    # the wording of `stylize` for a video
    assert re.fullmatch(
        rf"wrote {re.escape(str(out))} \(480x270, 50 frames in \d+\.\d s, \d+\.\d (fps|s/frame) on cpu, "
        r"style tiny\)",
        stdout.splitlines()[0],
    )
    times, _ = read_all(out)
    assert times == pytest.approx(read_all(DEMO_CLIP)[0], abs=1e-3)
    import av

    with av.open(str(out)) as container:
        assert container.streams.audio


def test_temporal_option_steadies_video(tmp_path: Path, tiny_style: Path, capsys) -> None:
    from media import make_video

    from vidstyle.stylizers.flow import warping_error

    src = tmp_path / "in.mp4"
    make_video(src, frames=8, width=96, height=64)
    errors = {}
    for weight in ("0", "0.8"):
        out = tmp_path / f"t{weight}.mp4"
        code, _, _ = run_cli(
            ["stylize", src, "-s", tiny_style, "-o", out, "--temporal", weight, "--crf", "0"], capsys
        )
        assert code == 0
        _, frames = read_all(out)
        _, sources = read_all(src)
        errors[weight] = np.mean(
            [
                warping_error(frames[i], frames[i + 1], sources[i], sources[i + 1])
                for i in range(len(frames) - 1)
            ]
        )
    assert errors["0.8"] < errors["0"]


def test_fast_stylizer_accepts_names_from_the_shipped_folder() -> None:
    if not SHIPPED:
        pytest.fail("no shipped styles in weights/")
    assert FastStylizer(SHIPPED[0].name, device="cpu").name == SHIPPED[0].name


def test_every_shipped_file_is_found_where_the_install_puts_it() -> None:
    """Editable installs and source trees see the repository's weights/ folder; a wheel
    carries the files as the package vidstyle._shipped (see tests/test_packaging.py)."""
    import importlib.util

    from vidstyle.weights import SHIPPED_PACKAGE

    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    if spec is not None:  # installed with the current packaging settings
        assert Path(next(iter(spec.submodule_search_locations))) == SHIPPED_DIR
    files = sorted(p.stem for p in SHIPPED_DIR.glob("*.safetensors"))
    assert len(files) >= 6 and files == sorted(info.name for info in SHIPPED)


def test_styles_json_marks_the_default(capsys) -> None:
    import json

    code, stdout, _ = run_cli(["styles", "--json"], capsys)
    rows = json.loads(stdout)
    assert code == 0
    assert [row["name"] for row in rows if row["default"]] == [DEFAULT_STYLE]
    assert {info.name for info in SHIPPED} <= {row["name"] for row in rows}


def test_styles_in_a_missing_directory_is_an_error(tmp_path: Path, capsys) -> None:
    code, stdout, stderr = run_cli(["styles", tmp_path / "missing"], capsys)
    assert code == 1 and not stdout
    assert stderr == f"error: styles directory not found: {tmp_path / 'missing'}\n"
