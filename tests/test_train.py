"""Losses, training data, and the training loop (checkpoints, resume, distributed)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.data import PhotoSampler, find_images
from vidstyle.errors import VidstyleError
from vidstyle.losses import (
    content_loss,
    gram_matrix,
    parse_layer_weights,
    style_distance,
    style_loss,
    tv_loss,
)
from vidstyle.train import TrainConfig, perturb, train
from vidstyle.weights import load_style


def test_gram_matrix_known_values() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4
    assert torch.allclose(gram_matrix(f)[0], expected)


def test_losses_are_zero_at_target_and_scale_free() -> None:
    torch.manual_seed(0)
    a, b = torch.rand(2, 8, 6, 6), torch.rand(2, 8, 6, 6)
    assert content_loss(a, a).item() == 0
    assert content_loss(b, a).item() == pytest.approx(content_loss(10 * b, 10 * a).item(), rel=1e-5)
    grams = {"x": gram_matrix(a[:1])}
    assert style_loss({"x": a[:1]}, grams, {"x": 1.0}).item() == pytest.approx(0, abs=1e-7)
    assert style_loss({"x": b[:1]}, grams, {"x": 1.0}).item() > 0
    assert style_distance({"x": a[:1]}, {"x": a[:1]}) == pytest.approx(0, abs=1e-7)
    assert tv_loss(torch.ones(1, 3, 5, 5)).item() == 0
    assert tv_loss(torch.rand(1, 3, 5, 5)).item() > 0


def test_parse_layer_weights() -> None:
    assert parse_layer_weights("relu1_2:0.5, relu2_2") == {"relu1_2": 0.5, "relu2_2": 1.0}
    with pytest.raises(ValueError, match="bad layer weight"):
        parse_layer_weights("relu1_2:lots")


def test_data_folder_edge_cases(photo_dir: Path, tmp_path: Path) -> None:
    files = find_images(photo_dir)
    assert len(files) == 9 and any(p.parent.name == "nested" for p in files)
    sampler = PhotoSampler(photo_dir, image_size=32, seed=5)
    with pytest.warns(UserWarning, match="skipping unreadable"):
        batch = torch.cat([sampler.batch(k, 1) for k in range(3 * len(files))])
    assert batch.shape == (27, 3, 32, 32) and batch.min() >= 0 and batch.max() <= 1
    assert sampler.skipped == {photo_dir / "broken.jpg"}
    assert np.array_equal(sampler.sample(7), PhotoSampler(photo_dir, 32, seed=5).sample(7))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VidstyleError, match="no images found"):
        find_images(tmp_path / "empty")
    with pytest.raises(VidstyleError, match="not found"):
        find_images(tmp_path / "missing")


def test_perturb_is_small_and_invertible_by_its_grid() -> None:
    x = torch.rand(2, 3, 32, 32)
    moved, grid = perturb(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and grid.shape == (2, 32, 32, 2)
    assert 0 < (moved - x).abs().mean() < 0.2


def config(tmp_path: Path, photo_dir: Path, **overrides) -> TrainConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    style = tmp_path / "style.png"
    if not style.exists():
        Image.fromarray(np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(style)
    settings = dict(
        style_image=style, data=photo_dir, output=tmp_path / "out" / "net.safetensors", image_size=32,
        style_size=48, batch_size=2, iterations=4, width=4, blocks=1, checkpoint_every=2,
        sample_every=2, device="cpu", amp=False, seed=1,
    )
    settings.update(overrides)
    settings["output"].parent.mkdir(parents=True, exist_ok=True)
    return TrainConfig(**settings)


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_training_writes_a_loadable_style(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    seen: list[int] = []
    cfg = config(tmp_path, photo_dir, stability_weight=1.0)
    path = train(cfg, progress=lambda i, total, losses, t: seen.append(i))
    assert seen == [1, 2, 3, 4]
    style = load_style(path)
    training = style.info.metadata["training"]
    assert training["iterations"] == 4 and training["width"] == 4
    assert training["vgg_source"] == str(random_vgg)
    assert training["final_losses"]["stability"] > 0
    assert style.style_image.shape == (48, 48, 3)
    assert sorted(p.name for p in cfg.samples_dir.iterdir()) == ["iter_000002.jpg", "iter_000004.jpg"]


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_resume_after_interrupt_matches_uninterrupted_run(
    tmp_path: Path, photo_dir: Path, random_vgg: Path
) -> None:
    straight = load_style(train(config(tmp_path / "a", photo_dir))).net.state_dict()

    cfg = config(tmp_path / "b", photo_dir, checkpoint_every=100)

    def interrupt(i: int, total: int, losses, t: float) -> None:
        if i == 3:
            raise KeyboardInterrupt

    with pytest.raises(VidstyleError, match="continue with --resume") as err:
        train(cfg, progress=interrupt)
    assert err.value.exit_code == 130
    assert torch.load(cfg.checkpoint_path, weights_only=True)["iteration"] == 3
    with pytest.raises(VidstyleError, match="use --resume"):
        train(cfg)
    # finishing at the checkpoint trains nothing more; the file keeps the last losses
    ended = load_style(train(dataclasses.replace(cfg, iterations=3), resume=True))
    assert ended.info.metadata["training"]["final_losses"]["total"] > 0
    resumed = load_style(train(cfg, resume=True)).net.state_dict()
    for key, value in straight.items():
        assert torch.allclose(value, resumed[key], atol=1e-6), key


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_distillation_moves_a_style_into_the_lite_network(
    tmp_path: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The student approaches the teacher's output, with no VGG at all."""
    from conftest import make_style

    from vidstyle.models import LiteTransformerNet

    monkeypatch.setenv("VIDSTYLE_VGG_WEIGHTS", str(tmp_path / "absent.safetensors"))  # loading would fail
    teacher_path = make_style(tmp_path / "teacher.safetensors", seed=4, width=4, blocks=1)
    losses: list[float] = []
    cfg = config(
        tmp_path, photo_dir, style_image=None, teacher=teacher_path, arch="lite", iterations=40,
        lr=5e-3, checkpoint_every=20, sample_every=100,
    )
    assert (cfg.content_weight, cfg.style_weight, cfg.tv_weight) == (0, 0, 0)
    student = load_style(train(cfg, progress=lambda i, n, loss, t: losses.append(loss.distill)))
    assert isinstance(student.net, LiteTransformerNet)
    assert student.info.metadata["training"]["teacher"] == str(teacher_path)
    assert student.style_image.shape == load_style(teacher_path).style_image.shape
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    x = PhotoSampler(photo_dir, 32, seed=9).batch(0, 2)
    with torch.no_grad():
        wanted = load_style(teacher_path).net(x).clamp(0, 1)
        untrained = torch.nn.functional.mse_loss(LiteTransformerNet(4, 1)(x).clamp(0, 1), wanted)
        trained = torch.nn.functional.mse_loss(student.net(x).clamp(0, 1), wanted)
    assert trained < 0.75 * untrained


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_fine_tuning_starts_from_the_given_network(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    """--init takes the network's architecture and weights; training then moves it a little."""
    from conftest import make_style

    start_path = make_style(tmp_path / "start.safetensors", seed=3, width=4, blocks=2, arch="lite")
    start = load_style(start_path).net.state_dict()
    cfg = config(tmp_path, photo_dir, init=start_path, blocks=None, stability_weight=1.0, lr=1e-4)
    tuned = load_style(train(cfg))
    assert tuned.info.arch == {"type": "lite", "width": 4, "blocks": 2}
    assert tuned.info.metadata["training"]["init"] == str(start_path)
    state = tuned.net.state_dict()
    changes = [(state[k] - v).abs().max().item() for k, v in start.items() if v.is_floating_point()]
    assert 0 < max(changes) < 0.01  # four steps of 1e-4 from the start, not from a fresh init

    # a lighter network from the first residual block of the same one
    cfg = config(tmp_path / "one", photo_dir, init=start_path, blocks=1, lr=1e-4)
    shallow = load_style(train(cfg)).net.state_dict()
    assert load_style(cfg.output).info.arch["blocks"] == 1 and "residuals.1.body.1.weight" not in shallow
    assert (shallow["residuals.0.body.1.weight"] - start["residuals.0.body.1.weight"]).abs().max() < 0.01
    with pytest.raises(VidstyleError, match="has only 2 to keep"):
        train(config(tmp_path / "three", photo_dir, init=start_path, blocks=3))


def test_training_needs_a_style_image_or_a_teacher(tmp_path: Path, photo_dir: Path) -> None:
    with pytest.raises(VidstyleError, match="give a style image, or a --teacher"):
        config(tmp_path, photo_dir, style_image=None)
    with pytest.raises(VidstyleError, match="unknown --arch 'big'"):
        config(tmp_path, photo_dir, arch="big")


def test_resume_refuses_changed_settings(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    cfg = config(tmp_path, photo_dir, iterations=2)
    with pytest.warns(UserWarning):
        train(cfg)
    with pytest.raises(VidstyleError, match="width differs"):
        train(config(tmp_path, photo_dir, iterations=3, width=8), resume=True)
    with pytest.raises(VidstyleError, match="arch differs"):
        train(config(tmp_path, photo_dir, iterations=3, arch="lite"), resume=True)
    # a checkpoint written before the architecture and teacher settings existed still resumes
    state = torch.load(cfg.checkpoint_path, weights_only=True)
    del state["config"]["arch"], state["config"]["teacher"]
    torch.save(state, cfg.checkpoint_path)
    with pytest.warns(UserWarning):
        resumed = train(config(tmp_path, photo_dir, iterations=3), resume=True)
    assert load_style(resumed).info.metadata["training"]["iterations"] == 3


def test_cli_train_errors(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    from vidstyle.cli import main

    (tmp_path / "empty").mkdir()
    bad_style = tmp_path / "style.jpg"
    bad_style.write_text("no image")
    cases = [
        ([str(bad_style), "--data", str(photo_dir)], "cannot read image"),
        ([str(tmp_path / "none.jpg"), "--data", str(photo_dir)], "image not found"),
    ]
    good_style = tmp_path / "good.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(good_style)
    cases.append(([str(good_style), "--data", str(tmp_path / "empty")], "no images found"))
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["train", *args, "-o", str(tmp_path / "x.safetensors"), "--iterations", "1"])
        assert exit_info.value.code == 1, message


@pytest.mark.slow
def test_distributed_training_with_two_processes(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(style)
    out = tmp_path / "ddp.safetensors"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
        "-m", "vidstyle", "train", str(style), "--data", str(photo_dir), "-o", str(out),
        "--iterations", "3", "--batch-size", "2", "--image-size", "32", "--width", "4",
        "--blocks", "1", "--device", "cpu", "--no-amp", "--threads", "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_style(out).info.metadata["training"]["world_size"] == 2


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_sigterm_stops_training_with_a_checkpoint(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    """`kill` on a background training run keeps its progress, like Ctrl-C."""
    import signal
    import time

    out = tmp_path / "bg.safetensors"
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(style)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidstyle", "train", str(style), "--data", str(photo_dir), "-o", str(out),
         "--image-size", "32", "--width", "4", "--blocks", "1", "--batch-size", "1", "--iterations", "100000",
         "--checkpoint-every", "100000", "--sample-every", "1", "--no-amp", "--device", "cpu",
         "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not out.with_suffix(".samples").is_dir() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["iteration"] >= 1
