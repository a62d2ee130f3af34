"""ONNX export: the file runs in ONNX Runtime and OpenCV as the network runs in vidstyle."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from clirun import run_cli
from conftest import make_style

from vidstyle.errors import VidstyleError
from vidstyle.stylizers.export import INPUT, export_onnx
from vidstyle.stylizers.fast import FastStylizer
from vidstyle.weights import DEFAULT_STYLE

#: the largest difference allowed from vidstyle's own output (values in [0, 1]); measured:
#: about 1e-5 in ONNX Runtime, up to 8e-4 in OpenCV 4.x at 640x360 (its own convolutions)
ORT_TOLERANCE = 1e-4
#: half an 8-bit level: frames rounded to uint8 differ by one level at most
OPENCV_TOLERANCE = 2e-3
#: the real-time network and a classic one
STYLES = [DEFAULT_STYLE, "starry_night"]
#: two sizes (dynamic axes), batch 2 in the second
SHAPES = [(1, 3, 48, 64), (2, 3, 80, 96)]


@pytest.fixture(scope="module", params=[*STYLES, "dilated"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A shipped style, or a network with dilated blocks, and its ONNX file."""
    folder = tmp_path_factory.mktemp("onnx")
    style = request.param
    if style == "dilated":
        made = make_style(folder / "dilated.safetensors", width=4, blocks=3, arch="lite", dilation=(1, 2, 4))
        style = str(made)
    path = folder / f"{request.param}.onnx"
    export_onnx(style, path)
    return style, path


def _frames(shape: tuple[int, ...]) -> np.ndarray:
    """A smooth picture with noise, N x 3 x H x W in [0, 1]."""
    n, _, h, w = shape
    ramp = np.add.outer(np.linspace(0, 1, h), np.linspace(0, 1, w)) / 2
    noise = np.random.default_rng(sum(shape)).random(shape)
    return (0.7 * ramp + 0.3 * noise).astype(np.float32)


def _vidstyle(style: str, frames: np.ndarray) -> np.ndarray:
    stylizer = FastStylizer(style, device="cpu", precision="fp32")
    return stylizer.stylize_tensor(torch.from_numpy(frames)).numpy()


@pytest.mark.parametrize("shape", SHAPES)
def test_onnx_runtime_matches_pytorch(exported: tuple[str, Path], shape: tuple[int, ...]) -> None:
    style, path = exported
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    frames = _frames(shape)
    (out,) = session.run(None, {INPUT: frames})
    assert out.shape == frames.shape
    assert np.abs(out - _vidstyle(style, frames)).max() < ORT_TOLERANCE


@pytest.mark.parametrize("shape", SHAPES)
def test_opencv_dnn_matches_pytorch(exported: tuple[str, Path], shape: tuple[int, ...]) -> None:
    style, path = exported
    net = cv2.dnn.readNetFromONNX(str(path))
    frames = _frames(shape)
    net.setInput(frames)
    out = net.forward()
    assert out.shape == frames.shape
    assert np.abs(out - _vidstyle(style, frames)).max() < OPENCV_TOLERANCE


def test_file_describes_itself(exported: tuple[str, Path]) -> None:
    style, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.shape for i in session.get_inputs()] == [["batch", 3, "height", "width"]]
    assert [o.shape for o in session.get_outputs()] == [["batch", 3, "height", "width"]]
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["vidstyle.style"] == Path(style).stem  # a shipped name, or the file's
    assert "[0, 1]" in metadata["vidstyle.convention"]


def test_cli_exports_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "style.onnx"
    code, stdout, _ = run_cli(["export", DEFAULT_STYLE, "-o", out, "--opset", 17], capsys)
    assert code == 0 and stdout.startswith(f"wrote {out} (style {DEFAULT_STYLE}: lite")
    assert "opset 17" in stdout
    written = out.read_bytes()
    code, _, err = run_cli(["export", "starry_night", "-o", out], capsys)
    assert code == 1 and err.strip() == f"error: output {out} already exists (use --overwrite to replace it)"
    assert out.read_bytes() == written
    code, stdout, _ = run_cli(["export", "starry_night", "-o", out, "--overwrite", "--json"], capsys)
    summary = json.loads(stdout)
    assert code == 0 and summary["style"] == "starry_night" and summary["bytes"] == out.stat().st_size
    assert [p.name for p in tmp_path.iterdir()] == ["style.onnx"]  # no partial file left


def test_cli_help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(["export", "--help"], capsys)
    assert code == 0 and "Usage: vidstyle export [OPTIONS] STYLE" in out
    assert not re.search(r"<\w", out), out  # values named by metavar, not typer's <int>


def test_cli_unknown_style_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["export", "no_such_style", "-o", tmp_path / "x.onnx"], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: unknown style 'no_such_style'")
    assert not list(tmp_path.iterdir())


def test_bad_opset_and_missing_onnx_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(VidstyleError, match="from 11 to 20"):
        export_onnx(DEFAULT_STYLE, tmp_path / "x.onnx", opset=9)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(VidstyleError, match=r"pip install 'vidstyle\[onnx\]'"):
        export_onnx(DEFAULT_STYLE, tmp_path / "x.onnx")


def test_weights_file_is_never_written(tiny_style: Path) -> None:
    with pytest.raises(VidstyleError, match="same file as the input"):
        export_onnx(tiny_style, tiny_style, overwrite=True)
    result = export_onnx(tiny_style, tiny_style.with_suffix(".onnx"))
    assert result.style == "tiny" and result.network.startswith("johnson")
