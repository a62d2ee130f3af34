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
