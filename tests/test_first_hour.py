"""A newcomer's first commands: quick answers from --version and --help, and `stylize`
without -o."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.clirun import run_cli

HEAVY = ("torch", "av", "cv2", "gradio")


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["stylize", "--help"]])
def test_quick_answers_load_no_heavy_module(args: list[str]) -> None:
    """--version and --help come from the command line alone: no PyTorch, PyAV or OpenCV."""
    code = (
        "import sys\nfrom vidstyle.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('loaded:', *sorted(m for m in " + repr(HEAVY) + " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    loaded = done.stdout.rsplit("loaded:", 1)[1].split()
    assert loaded == [], done.stdout


def test_stylize_without_output_writes_beside_the_input(
    tmp_path: Path, tiny_style: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(photo)
    for expected in ("photo.tiny.png", "photo.tiny.2.png"):
        code, out, err = run_cli(["stylize", photo, "-s", tiny_style], capsys)
        assert code == 0, err
        assert out.startswith(f"wrote {tmp_path / expected} ")
    code, _, err = run_cli(["stylize", photo, photo, "-s", tiny_style], capsys)
    assert code == 1 and "-o FOLDER/" in err


def test_styles_fit_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names whole, lines within 80 columns, and a stopped training said to be one."""
    from vidstyle.models import ARCHITECTURES
    from vidstyle.weights import save_style

    training = {"iterations": 300, "planned_iterations": 1200, "seconds": 120.0}
    save_style(
        tmp_path / "half_done.safetensors",
        ARCHITECTURES["lite"](8, 1),
        name="half_done",
        style_image=np.zeros((8, 8, 3), np.uint8),
        metadata={"training": training},
    )
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(["styles", tmp_path], capsys)
    assert code == 0 and max(map(len, out.splitlines()[1:])) <= 80
    names = {line.split()[0] for line in out.splitlines()[1:] if line.strip() and line[1] != " "}
    assert {"half_done", "shipwreck_minotaur", "starry_night_lite"} <= names
    assert "stopped at 300/1200" in out and "steps" in out
