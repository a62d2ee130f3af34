"""HQ mode: the optimiser, NaN handling, video warm start, resume and the CLI.

A tiny randomly initialised VGG (two shallow layers) stands in for the real one: these
tests check the machinery, not the look.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from clirun import run_cli

from tests.media import make_video, pattern
from vidstyle.cli import main
from vidstyle.errors import VidstyleError
from vidstyle.io.images import read_image, to_tensor, write_image
from vidstyle.io.video import VideoReader
from vidstyle.jobs import hq
from vidstyle.jobs.hq import Gatys, HQConfig, WorkDir, stylize_hq
from vidstyle.models.vgg import VGGFeatures
from vidstyle.quality import palette_distance
from vidstyle.settings import Look

TINY = {
    "content_layers": "relu2_1",
    "style_layers": "relu1_1,relu2_1",
    "init": "content",
    "iterations": 6,
    "iterations_next": 3,
    "optimizer": "adam",
    "scales": 1,
    "precision": "fp32",
}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_vgg() -> VGGFeatures:
    torch.manual_seed(0)
    return VGGFeatures("vgg16", ["relu1_1", "relu2_1"], state_dict=None, pool="avg")


@pytest.fixture
def style_path(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    stripes = np.zeros((40, 40, 3), np.uint8)
    stripes[::4] = (200, 40, 20)
    stripes[1::4] = (20, 60, 220)
    write_image(path, stripes)
    return path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "in.mp4"
    make_video(path, width=64, height=48, frames=5, fps=10, audio=True)
    return path


@pytest.fixture
def use_tiny_vgg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the CLI and stylize_hq to the tiny VGG (no weights needed)."""
    monkeypatch.setattr(hq, "load_vgg", lambda config, layers, device: tiny_vgg())


def count_frames(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(1 for _ in reader)


def engine(style: np.ndarray, **overrides: object) -> Gatys:
    return Gatys(HQConfig(**{**TINY, **overrides}), style, torch.device("cpu"), tiny_vgg())


def test_adam_moves_pixels_of_tiny_gradients_in_proportion(style_path: Path) -> None:
    """With Adam's epsilon scaled to the gradients, a flat half of the picture (tiny
    gradients) changes far less than the textured half; with PyTorch's epsilon every pixel
    moves about a full step and the flat half grows texture."""
    content = pattern(0, 48, 40)
    content[:, 24:] = 128  # flat right half
    changes = {}
    for eps in (0.0, 3.0):
        settings = {"optimizer": "adam", "iterations": 10, "adam_eps": eps, "palette_weight": 0}
        gatys = engine(read_image(style_path), **settings)
        result = gatys.stylize(content)[0].astype(int)
        changes[eps] = [np.abs(result - content)[:, cols].mean() for cols in (slice(2, 22), slice(26, 46))]
    textured, flat = changes[3.0]
    assert flat < 0.5 * textured
    assert flat < 0.7 * changes[0.0][1]
    with pytest.raises(VidstyleError, match="adam_eps must be >= 0"):
        HQConfig(adam_eps=-1)
    with pytest.raises(VidstyleError, match="palette_weight must be >= 0"):
        HQConfig(palette_weight=-0.1)


def test_optimiser_lowers_the_loss(style_path: Path) -> None:
    gatys = engine(read_image(style_path), iterations=20)
    content = pattern(0, 48, 40)
    start = gatys.loss(to_tensor(content), gatys.targets(to_tensor(content))).item()
    result, loss = gatys.stylize(content)
    assert result.shape == content.shape and result.dtype == np.uint8
    assert loss < 0.8 * start


def test_palette_term_brings_the_paintings_colours(style_path: Path) -> None:
    """The painting is half red, half blue stripes; a grey photo gains both colours."""
    painting = read_image(style_path)
    grey = np.full((32, 32, 3), 128, np.uint8)
    settings = {"iterations": 10, "scales": 1, "optimizer": "lbfgs"}
    plain, _ = engine(painting, **settings).stylize(grey)
    coloured, _ = engine(painting, **settings, palette_weight=0.5).stylize(grey)
    assert palette_distance(coloured, painting) < 0.7 * palette_distance(plain, painting)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_coarse_to_fine_and_noise_init(style_path: Path, optimizer: str) -> None:
    gatys = engine(read_image(style_path), scales=2, init="blend:0.5", optimizer=optimizer)
    seen: list[tuple[int, int]] = []
    result, loss = gatys.stylize(
        pattern(0, 64, 48), report=lambda done, total, value: seen.append((done, total))
    )
    assert result.shape == (48, 64, 3) and np.isfinite(loss)
    assert seen[-1] == (12, 12)  # two scales of 6 iterations


def test_bf16_vgg_passes_still_lower_the_loss(style_path: Path) -> None:
    gatys = engine(read_image(style_path), iterations=20, precision="bf16")
    content = pattern(0, 48, 40)
    start = gatys.loss(to_tensor(content), gatys.targets(to_tensor(content))).item()
    assert gatys.features(to_tensor(content))["relu2_1"].dtype == torch.bfloat16
    result, loss = gatys.stylize(content)
    assert np.isfinite(loss) and loss < 0.8 * start


def test_nan_loss_is_retried_with_a_smaller_step(style_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_tv = hq.tv_loss

    def flaky_tv(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return real_tv(x) * (float("nan") if calls["n"] <= 2 else 1.0)

    monkeypatch.setattr(hq, "tv_loss", flaky_tv)
    result, loss = engine(read_image(style_path)).stylize(pattern(0, 32, 32))
    assert np.isfinite(loss)


def test_persistent_nan_fails_and_writes_nothing(
    style_path: Path, video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_tiny_vgg: None
) -> None:
    monkeypatch.setattr(hq, "tv_loss", lambda x: x.sum() * float("inf"))
    out = tmp_path / "out.mp4"
    with pytest.raises(VidstyleError, match="diverged"):
        stylize_hq(video, out, style_path, HQConfig(**TINY), progress=False)
    assert not out.exists()
    assert not list(hq.default_work_dir(out).glob("frame_*.png"))


def test_content_too_small_for_the_layers(style_path: Path, tmp_path: Path, use_tiny_vgg: None) -> None:
    small = tmp_path / "small.png"
    write_image(small, pattern(0, 6, 6))
    with pytest.raises(VidstyleError, match="too small"):
        stylize_hq(small, tmp_path / "o.png", style_path, HQConfig(**TINY), progress=False)


def test_bad_settings_are_refused() -> None:
    bad_settings = (
        {"init": "sideways"},
        {"pool": "min"},
        {"style_layers": "relu9_9"},
        {"iterations": 0},
        {"precision": "fp16"},
    )
    for bad in bad_settings:
        with pytest.raises(VidstyleError):
            HQConfig(**bad)  # type: ignore[arg-type]


def test_image_and_shipped_style_with_fast_init(tmp_path: Path, style_path: Path, use_tiny_vgg: None) -> None:
    weights = tiny_network(tmp_path, style_path)
    content = tmp_path / "c.png"
    write_image(content, pattern(2, 40, 32))
    out = tmp_path / "o.png"
    result = stylize_hq(
        content,
        out,
        str(weights),
        HQConfig(**{**TINY, "init": f"fast:{weights}"}),
        progress=False,
        look=Look(preserve_color=True),
    )
    assert read_image(out).shape == (32, 40, 3)
    assert result.style == "hq:tiny" and result.frames == 1
    assert not hq.default_work_dir(out).exists()  # removed after success


def tiny_network(tmp_path: Path, style_path: Path, name: str = "tiny") -> Path:
    from vidstyle.models import TransformerNet
    from vidstyle.weights import save_style

    weights = tmp_path / f"{name}.safetensors"
    save_style(weights, TransformerNet(width=4, blocks=1), name=name, style_image=read_image(style_path))
    return weights


def test_fast_init_paints_the_full_size_frame(
    tmp_path: Path, style_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network's strokes are sized for the image it sees: it sees the frame at the size
    the result is judged at, and the coarse level gets its output shrunk."""
    from vidstyle.stylizers.fast import FastStylizer

    seen: list[tuple[int, ...]] = []
    real = FastStylizer.stylize_tensor

    def recording(self: FastStylizer, batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape[-2:]))
        return real(self, batch)

    monkeypatch.setattr(FastStylizer, "stylize_tensor", recording)
    gatys = engine(read_image(style_path), scales=2, init=f"fast:{tiny_network(tmp_path, style_path)}")
    first = gatys.initial(to_tensor(pattern(0, 64, 48)), (24, 32), seed=0)
    assert seen == [(48, 64)] and first.shape[-2:] == (24, 32)
    content = pattern(1, 64, 48)
    assert gatys.fill(content).shape == content.shape and not np.array_equal(gatys.fill(content), content)
    assert np.array_equal(engine(read_image(style_path)).fill(content), content)  # content init


def test_plain_fast_init_takes_the_network_of_this_painting(
    tmp_path: Path, style_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidstyle.weights import read_info

    other = tmp_path / "other.png"
    write_image(other, pattern(3, 40, 40))
    networks = [tiny_network(tmp_path, other, "other"), tiny_network(tmp_path, style_path, "stripes")]
    monkeypatch.setattr(hq, "list_styles", lambda: [read_info(path) for path in networks])
    gatys = engine(read_image(style_path), init="fast")
    assert gatys.matching_style() == networks[1]
    assert gatys.network is not None and gatys.network.name == "stripes"
    result, loss = gatys.stylize(pattern(0, 48, 40))
    assert result.shape == (40, 48, 3) and np.isfinite(loss)

    monkeypatch.setattr(hq, "list_styles", lambda: [read_info(networks[0])])  # no network of it
    gatys = engine(read_image(style_path), init="fast")
    content = pattern(0, 48, 40)
    assert gatys.network is None and np.array_equal(gatys.fill(content), content)
    assert torch.equal(gatys.initial(to_tensor(content), (40, 48), seed=0), to_tensor(content))


def test_video_keeps_frames_audio_and_work_dir(
    video: Path, style_path: Path, tmp_path: Path, use_tiny_vgg: None
) -> None:
    out = tmp_path / "out.mp4"
    result = stylize_hq(video, out, style_path, HQConfig(**TINY), keep_work=True, progress=False)
    assert result.frames == 5 and count_frames(out) == 5
    with VideoReader(out) as reader:
        assert reader.info.has_audio
    work = hq.default_work_dir(out)
    assert WorkDir(work, json.loads((work / "manifest.json").read_text())["job"]).finished() == 5


def test_resume_after_a_kill(
    video: Path, style_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_tiny_vgg: None
) -> None:
    out = tmp_path / "out.mp4"
    real = Gatys.stylize
    calls: list[bool] = []

    def killed_at_third(self: Gatys, content: np.ndarray, **kw: object) -> tuple[np.ndarray, float]:
        calls.append(kw.get("start") is not None)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, content, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Gatys, "stylize", killed_at_third)
    with pytest.raises(KeyboardInterrupt):
        stylize_hq(video, out, style_path, HQConfig(**TINY), progress=False)
    assert not out.exists()
    work = hq.default_work_dir(out)
    assert sorted(p.name for p in work.glob("frame_*.png")) == ["frame_000001.png", "frame_000002.png"]

    calls.clear()
    monkeypatch.setattr(
        Gatys,
        "stylize",
        lambda self, content, **kw: calls.append(kw.get("start") is not None) or real(self, content, **kw),
    )
    result = stylize_hq(video, out, style_path, HQConfig(**TINY), progress=False)
    assert calls == [True, True, True]  # frames 3..5 only, each warm-started from the one before
    assert result.frames == 5 and count_frames(out) == 5


def test_changed_settings_are_refused_unless_restart(video: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    work = tmp_path / "work"
    manifest = hq.manifest(HQConfig(**TINY), video, read_image(style_path), None)
    WorkDir(work, manifest).save(0, pattern(0, 64, 48))
    changed = hq.manifest(HQConfig(**{**TINY, "style_weight": 3.0}), video, read_image(style_path), None)
    with pytest.raises(VidstyleError, match="settings.style_weight"):
        WorkDir(work, changed)
    WorkDir(work, changed, restart=True)
    assert not list(work.glob("frame_*.png"))
    assert json.loads((work / "manifest.json").read_text())["job"] == changed
    assert not out.exists()


def test_cli_hq_video_and_errors(
    video: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], use_tiny_vgg: None
) -> None:
    out = tmp_path / "out.mp4"
    layers = ["--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1"]
    common = ["stylize", str(video), "--mode", "hq", "-o", str(out), *layers, "--iterations", "3"]
    common += ["--scales", "1"]
    main([*common, "-s", str(style_path), "--iterations-next", "2", "--palette-weight", "0.05", "--json"])
    assert json.loads(capsys.readouterr().out)["frames"] == 5

    code, _, err = run_cli([*common, "-s", str(tmp_path / "missing.jpg"), "--overwrite"], capsys)
    assert code == 1 and err.startswith("error: image not found") and "Traceback" not in err
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    code, _, err = run_cli([*common, "-s", str(broken), "--overwrite"], capsys)
    assert code == 1 and "cannot read image" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(
        [*common, "-s", str(style_path), "--overwrite", "--work-dir", str(blocker / "w")], capsys
    )
    assert code == 1 and "work directory" in err
    code, _, err = run_cli([*common, "-s", str(style_path), "--overwrite", "--init", "sideways"], capsys)
    assert code == 1 and "--init" in err


def test_hq_never_writes_over_the_painting(
    style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], use_tiny_vgg: None
) -> None:
    photo = tmp_path / "photo.png"
    write_image(photo, pattern(0, 48, 40))
    before = style_path.read_bytes()
    code, _, err = run_cli(
        [
            "stylize",
            str(photo),
            "--mode",
            "hq",
            "-s",
            str(style_path),
            "-o",
            str(style_path),
            "--overwrite",
            "--iterations",
            "2",
        ],
        capsys,
    )
    assert code == 1 and "same file as the input" in err
    assert style_path.read_bytes() == before


def test_cli_vgg19_unavailable_offline(
    video: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vidstyle.training import vgg_weights

    def offline(arch: str, explicit: Path | None = None, download: bool = True) -> object:
        return vgg_weights.resolve(arch, explicit, download=False)

    monkeypatch.setattr(vgg_weights, "load", offline)
    code, _, err = run_cli(
        [
            "stylize",
            str(video),
            "--mode",
            "hq",
            "-s",
            str(style_path),
            "-o",
            str(tmp_path / "o.mp4"),
            "--vgg",
            "vgg19",
        ],
        capsys,
    )
    assert code == 1 and "no vgg19 weights" in err and "vgg16" in err


def test_cli_work_dir_of_the_users_files_is_refused_untouched(
    video: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    use_tiny_vgg: None,
) -> None:
    """``cd d && vidstyle stylize in.mp4 --mode hq ... --work-dir .``: refused, ``d`` as it was;
    an empty folder of the user's is used and left, empty, after the output is written."""
    from test_workdir import snapshot

    (tmp_path / "frame_000001.png").write_bytes(b"the user's frame")
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    layers = ["--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1", "--iterations", "2"]
    layers += ["--scales", "1"]
    common = ["stylize", video.name, "--mode", "hq", "-s", style_path.name, *layers]
    code, _, err = run_cli([*common, "-o", "out.mp4", "--work-dir", "."], capsys)
    assert (code, err) == (1, "error: work folder . holds other files; give an empty or new folder\n")
    code, _, err = run_cli([*common, "-o", "out.mp4", "--work-dir", ".", "--restart"], capsys)
    assert code == 1 and "holds other files" in err
    assert snapshot(tmp_path) == before

    (tmp_path / "empty").mkdir()
    args = [*common, "-o", "out.mp4", "--work-dir", "empty", "--iterations-next", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert count_frames(tmp_path / "out.mp4") == 5 and list((tmp_path / "empty").iterdir()) == []
    assert {k: v for k, v in snapshot(tmp_path).items() if k != "out.mp4"} == before
