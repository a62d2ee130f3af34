"""Losses, training data, and the training loop (checkpoints, resume, distributed)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.models import LiteTransformerNet
from vidstyle.training.data import PhotoSampler, find_images
from vidstyle.training.losses import (
    content_loss,
    gram_matrix,
    parse_layer_weights,
    style_distance,
    style_loss,
    tv_loss,
)
from vidstyle.training.train import MIN_IMAGE_SIZE, Losses, TrainConfig, perturb, train
from vidstyle.weights import load_style


def run_cli(args: list[str]) -> int:
    """The exit status of ``vidstyle ARGS`` run in this process."""
    from vidstyle.cli import main

    try:
        main(args)
    except SystemExit as exit_info:
        return int(exit_info.code or 0)
    return 0


def stop_at(iteration: int) -> Callable[[int, int, Losses, float], None]:
    """A progress callback that presses Ctrl-C once ``iteration`` is done."""

    def progress(done: int, total: int, losses: Losses, seconds: float) -> None:
        if done == iteration:
            raise KeyboardInterrupt

    return progress


def file_mode() -> int:
    """The permissions ``open()`` gives a new file under the current umask (typically 0644)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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


def test_probe_photos_are_spread_over_the_training_set(tmp_path: Path) -> None:
    """Steering probes stand for the whole set, not its first folder; an unreadable photo's
    place goes to the next readable one."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        Image.fromarray(np.full((20, 20, 3), 10 * i, np.uint8)).save(photos / f"p{i}.png")
    (photos / "p2.png").write_bytes(b"not a png")
    sampler = PhotoSampler(photos, image_size=16, warn=lambda line: None)
    assert [int(im[0, 0, 0]) for im in sampler.spread_images(2)] == [30, 60]  # files 2 (broken) -> 3, and 6
    assert [int(im[0, 0, 0]) for im in sampler.spread_images(4)] == [10, 30, 50, 70]
    assert len(sampler.spread_images(20)) == 7  # every readable photo, once
    assert int(sampler.first_image()[0, 0, 0]) == 0


@pytest.mark.filterwarnings("error:skipping unreadable")  # the callback gets it, not `warnings`
def test_one_readable_photo_is_enough_to_train(
    tmp_path: Path, random_vgg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable photo is skipped with one `warning:` line; the readable one trains."""
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(photos / "good.jpg")
    (photos / "bad.jpg").write_bytes(b"not a jpeg")
    warned: list[str] = []
    sampler = PhotoSampler(photos, image_size=16, seed=0, warn=warned.append)
    assert all(sampler.sample(k).shape == (16, 16, 3) for k in range(20))
    assert len(warned) == 1 and "bad.jpg" in warned[0] and sampler.skipped == {photos / "bad.jpg"}

    style = tmp_path / "style.png"
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(style)
    out = tmp_path / "net.safetensors"
    code = run_cli(
        ["train", str(style), "--data", str(photos), "-o", str(out), "--iterations", "2",
         "--image-size", "16", "--width", "4", "--blocks", "1", "--batch-size", "2", "--no-amp",
         "--device", "cpu", "--threads", "1"]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert load_style(out).info.metadata["training"]["iterations"] == 2
    about_bad = [line for line in err.splitlines() if "bad.jpg" in line]
    assert len(about_bad) == 1 and about_bad[0].startswith("warning: skipping unreadable training image: ")
    assert "UserWarning" not in err


def test_perturb_is_small_and_invertible_by_its_grid() -> None:
    x = torch.rand(2, 3, 32, 32)
    moved, grid = perturb(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and grid.shape == (2, 32, 32, 2)
    assert 0 < (moved - x).abs().mean() < 0.2


def test_perturb_adds_the_noise_asked_for() -> None:
    """The same draw with more noise moves the same way and differs by noise alone, of the
    standard deviation asked for (in levels of 255)."""
    x = torch.full((2, 3, 64, 64), 0.5)  # flat grey: moving it changes nothing, no clipping
    clean, grid = perturb(x, torch.Generator().manual_seed(3), noise=0)
    noisy, same_grid = perturb(x, torch.Generator().manual_seed(3), noise=8)
    assert torch.equal(grid, same_grid) and torch.allclose(clean, x)
    assert (noisy - clean).std().item() * 255 == pytest.approx(8, rel=0.05)


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
def test_training_writes_a_loadable_style(
    tmp_path: Path, photo_dir: Path, random_vgg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    cfg = config(tmp_path, photo_dir, stability_weight=1.0)
    monkeypatch.setattr(
        sys, "argv",
        ["vidstyle", "train", str(cfg.style_image), "--data", str(photo_dir), f"--output={cfg.output}"],
    )
    cfg.output.write_bytes(b"an older run")
    with pytest.raises(VidstyleError, match=r"already exists \(use overwrite"):
        train(cfg)
    assert cfg.output.read_bytes() == b"an older run"
    notes: list[str] = []
    path = train(cfg, progress=lambda i, total, losses, t: seen.append(i), overwrite=True, log=notes.append)
    assert seen == [1, 2, 3, 4]
    assert notes[0] == f"checkpoint at iteration 2: {cfg.checkpoint_path}"  # the last is removed at once
    assert re.fullmatch(r"about under a minute for 4 iterations on this CPU \([\d.]+ it/s so far\)", notes[1])
    assert len(notes) == 2
    style = load_style(path)
    training = style.info.metadata["training"]
    assert training["iterations"] == 4 and training["width"] == 4
    assert training["final_losses"]["stability"] > 0
    assert style.style_image.shape == (48, 48, 3)
    assert sorted(p.name for p in cfg.samples_dir.iterdir()) == ["iter_000002.jpg", "iter_000004.jpg"]
    # a file to share: the usual permissions and no trace of the trainer's folders
    assert path.stat().st_mode & 0o777 == file_mode()
    assert (training["style_image"], training["data"], training["output"]) == (
        "style.png", "photos", "net.safetensors"
    )
    assert training["vgg_source"] == random_vgg.name
    assert training["command"] == "vidstyle train style.png --data photos --output=net.safetensors"
    assert str(tmp_path) not in json.dumps(style.info.metadata)
    # the weights file holds the finished run: no checkpoint is left to block the same command
    assert not cfg.checkpoint_path.exists()
    assert load_style(train(cfg, overwrite=True)).info.metadata["training"]["iterations"] == 4


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_resume_after_interrupt_matches_uninterrupted_run(
    tmp_path: Path, photo_dir: Path, random_vgg: Path
) -> None:
    straight = load_style(train(config(tmp_path / "a", photo_dir))).net.state_dict()

    cfg = config(tmp_path / "b", photo_dir, checkpoint_every=100)
    with pytest.raises(VidstyleError) as err:
        train(cfg, progress=stop_at(3))
    assert str(err.value) == (
        f"stopped at iteration 3; weights so far in {cfg.output} (continue with resume)"
    )
    assert err.value.exit_code == 130 and err.value.prefix == ""
    saved = torch.load(cfg.checkpoint_path, weights_only=True)
    assert saved["iteration"] == 3
    partial = load_style(cfg.output)
    assert partial.info.metadata["training"]["iterations"] == 3
    assert partial.info.metadata["training"]["planned_iterations"] == 4
    for key, value in partial.net.state_dict().items():
        assert torch.equal(value, saved["model"][key]), key
    with pytest.raises(VidstyleError, match="use resume to continue"):
        train(cfg)
    # finishing at the checkpoint trains nothing more; the file keeps the last losses
    checkpoint = cfg.checkpoint_path.read_bytes()
    ended = load_style(train(dataclasses.replace(cfg, iterations=3), resume=True))
    assert ended.info.metadata["training"]["final_losses"]["total"] > 0
    cfg.checkpoint_path.write_bytes(checkpoint)  # the finished run removed it
    resumed = load_style(train(cfg, resume=True)).net.state_dict()
    for key, value in straight.items():
        assert torch.allclose(value, resumed[key], atol=1e-6), key


@pytest.mark.filterwarnings("ignore:skipping unreadable")
@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_a_run_says_what_it_expects_and_shows_a_first_sample_early(
    tmp_path: Path, photo_dir: Path, random_vgg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estimate comes before the run goes on past its timed iterations; a sample by
    iteration 20 however far apart samples are (here by iteration 4, to be quick)."""
    import vidstyle.training.train as train_module
    from vidstyle.training.train import ESTIMATE_AFTER

    assert train_module.FIRST_SAMPLE <= 20
    monkeypatch.setattr(train_module, "FIRST_SAMPLE", 4)
    cfg = config(tmp_path, photo_dir, iterations=5, sample_every=100, checkpoint_every=100)
    events: list[str] = []
    train(cfg, progress=lambda done, *_: events.append(f"iteration {done}"), log=events.append)
    timed = [f"iteration {i}" for i in range(1, ESTIMATE_AFTER)]
    assert events[: ESTIMATE_AFTER - 1] == timed and events[ESTIMATE_AFTER] == f"iteration {ESTIMATE_AFTER}"
    expected = r"about under a minute for 5 iterations on this CPU \([\d.]+ it/s so far\)"
    assert re.fullmatch(expected, events[ESTIMATE_AFTER - 1])
    assert sorted(p.name for p in cfg.samples_dir.iterdir()) == ["iter_000004.jpg", "iter_000005.jpg"]


def test_estimate_wording() -> None:
    from vidstyle.training.train import _estimate

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert _estimate(1200, 3.3, cpu) == "about 66 min for 1200 iterations on this CPU (0.30 it/s so far)"
    assert _estimate(1200, 10.0, cpu) == "about 3 h 20 min for 1200 iterations on this CPU (0.10 it/s so far)"
    assert _estimate(400, 0.1, cuda).startswith("about under a minute for 400 iterations on this CUDA")


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_distillation_moves_a_style_into_the_lite_network(
    tmp_path: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The student approaches the teacher's output, with no VGG at all."""
    from conftest import make_style

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
    assert student.info.metadata["training"]["teacher"] == teacher_path.name
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
    assert tuned.info.metadata["training"]["init"] == start_path.name
    state = tuned.net.state_dict()
    changes = [(state[k] - v).abs().max().item() for k, v in start.items() if v.is_floating_point()]
    assert 0 < max(changes) < 0.01  # four steps of 1e-4 from the start, not from a fresh init

    # a lighter network from the first residual block of the same one
    cfg = config(tmp_path / "one", photo_dir, init=start_path, blocks=1, lr=1e-4)
    shallow = load_style(train(cfg)).net.state_dict()
    assert load_style(cfg.output).info.arch["blocks"] == 1 and "residuals.1.body.1.weight" not in shallow
    assert (shallow["residuals.0.body.1.weight"] - start["residuals.0.body.1.weight"]).abs().max() < 0.01
    with pytest.raises(VidstyleError, match="dilation applies to the blocks a run adds"):
        train(config(tmp_path / "same", photo_dir, init=start_path, dilation=2))


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_blocks_added_to_a_network_start_as_the_identity(
    tmp_path: Path, photo_dir: Path, random_vgg: Path
) -> None:
    """More --blocks than --init's add blocks (here dilated) that leave its output as it was;
    training then changes them, and the file records each block's dilation."""
    from conftest import make_style

    from vidstyle.training.train import _start_from

    start_path = make_style(tmp_path / "start.safetensors", seed=3, width=4, blocks=2, arch="lite")
    start = load_style(start_path).net.eval()
    grown = LiteTransformerNet(4, 4, (1, 1, 3, 3))
    _start_from(grown, start)
    x = PhotoSampler(photo_dir, 32, seed=1).batch(0, 2)
    with torch.no_grad():
        assert torch.allclose(grown.eval()(x), start(x), atol=1e-6)

    cfg = config(tmp_path, photo_dir, init=start_path, blocks=4, dilation=3, lr=1e-3)
    tuned = load_style(train(cfg))
    assert tuned.info.arch == {"type": "lite", "width": 4, "blocks": 4, "dilation": [1, 1, 3, 3]}
    added = tuned.net.residuals[3].body[-1].weight
    assert 0 < added.abs().max() < 0.05  # moved from zero by a few steps


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_a_wider_width_adds_channels_that_start_unread(
    tmp_path: Path, photo_dir: Path, random_vgg: Path
) -> None:
    """A --width above --init's adds channels (and here blocks) without changing its output;
    training then grows the weights that read them. A narrower width is refused."""
    from conftest import make_style

    from vidstyle.models import TransformerNet
    from vidstyle.training.train import _start_from

    x = PhotoSampler(photo_dir, 32, seed=1).batch(0, 2)
    for small, wide in ((LiteTransformerNet(4, 2), LiteTransformerNet(6, 3, (1, 1, 2))),
                        (TransformerNet(4, 2), TransformerNet(6, 2))):
        _start_from(wide, small.eval())
        with torch.no_grad():
            assert torch.allclose(wide.eval()(x), small(x), atol=1e-5)

    start_path = make_style(tmp_path / "start.safetensors", seed=3, width=4, blocks=2, arch="lite")
    cfg = config(tmp_path, photo_dir, init=start_path, width=6, blocks=None, lr=1e-3)
    tuned = load_style(train(cfg))
    assert tuned.info.arch == {"type": "lite", "width": 6, "blocks": 2}
    reads_added = tuned.net.residuals[0].body[0][1].weight[:16, 16:]  # old channels from new ones
    assert 0 < reads_added.abs().max() < 0.05
    with pytest.raises(VidstyleError, match="width 3 is narrower than init"):
        train(config(tmp_path / "narrow", photo_dir, init=start_path, width=3, blocks=None))


def test_training_needs_a_style_image_or_a_teacher(tmp_path: Path, photo_dir: Path) -> None:
    with pytest.raises(VidstyleError, match="give a style image, or a teacher network"):
        config(tmp_path, photo_dir, style_image=None)
    with pytest.raises(VidstyleError, match="unknown arch 'big'"):
        config(tmp_path, photo_dir, arch="big")


def test_resume_refuses_changed_settings(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    cfg = config(tmp_path, photo_dir, iterations=3)
    with pytest.warns(UserWarning), pytest.raises(VidstyleError, match="stopped at iteration 2"):
        train(cfg, progress=stop_at(2))
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


def test_cli_train_errors(
    tmp_path: Path, photo_dir: Path, random_vgg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input or options: one line naming the problem, exit status 1, nothing written."""
    (tmp_path / "empty").mkdir()
    bad_style = tmp_path / "style.jpg"
    bad_style.write_text("no image")
    good_style = tmp_path / "good.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(good_style)
    painting = good_style.read_bytes()
    out = str(tmp_path / "x.safetensors")
    good = [str(good_style), "--data", str(photo_dir), "-o", out]
    cases = [
        ([str(bad_style), "--data", str(photo_dir), "-o", out], "cannot read image"),
        ([str(tmp_path / "none.jpg"), "--data", str(photo_dir), "-o", out], "image not found"),
        ([str(good_style), "--data", str(tmp_path / "empty"), "-o", out], "no images found"),
        ([str(good_style), "--data", str(photo_dir), "-o", str(good_style)], "is the style image"),
        ([*good, "--iterations", "0"], "--iterations must be at least 1, not 0"),
        ([*good, "--checkpoint-every", "0"], "--checkpoint-every must be at least 1, not 0"),
        ([*good, "--image-size", "4"], "--image-size must be at least 8, not 4"),
        ([*good, "--style-size", "-1"], "--style-size must be positive"),
        ([*good, "--style-layers", "relu1_2:lots"], "--style-layers: bad layer weight"),
        ([*good, "--stability-noise", "100"], "--stability-noise must be from 0 to 64 levels"),
    ]
    for args, message in cases:
        assert run_cli(["train", "--iterations", "1", *args]) == 1, message
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
        assert not Path(out).exists()
    assert good_style.read_bytes() == painting


def test_output_may_not_replace_an_input(tmp_path: Path, photo_dir: Path, tiny_style: Path) -> None:
    """No file the run reads, nor its own checkpoint, may be its output; refused before any work."""
    base = config(tmp_path, photo_dir)
    style = base.style_image
    linked = tmp_path / "linked.png"
    os.link(style, linked)
    vgg_file = tmp_path / "vgg16.safetensors"
    vgg_file.write_bytes(b"VGG weights")
    sample = shutil.copy(style, tmp_path / "sample.png")
    existing = tmp_path / "out" / "old.safetensors"
    existing.write_bytes(b"an older run")
    cases = [
        (dict(output=style), f"output {style} is the style image; choose another path"),
        (dict(output=linked), "is the style image"),
        (dict(output=photo_dir / "rgb0.jpg"), f"is inside the training folder {photo_dir}"),
        (dict(output=photo_dir / "nested" / "new.safetensors"), "is inside the training folder"),
        (dict(init=tiny_style, blocks=None, output=tiny_style), "is the init network"),
        (dict(teacher=tiny_style, output=tiny_style), "is the teacher network"),
        (dict(vgg_weights=vgg_file, output=vgg_file), "is the vgg_weights file"),
        (dict(sample_image=sample, output=sample), "is the sample_image photo"),
        (dict(output=tmp_path / "out" / "net.ckpt"), ".ckpt names the run's own checkpoint"),
        (dict(output=tmp_path / "missing" / "net.safetensors"), "does not exist"),
        (dict(output=existing), "already exists (use overwrite to replace it)"),
    ]
    inputs = [style, tiny_style, vgg_file, sample, photo_dir / "rgb0.jpg", existing]
    before = [path.read_bytes() for path in inputs]
    for overrides, message in cases:
        with pytest.raises(VidstyleError, match=re.escape(message)):
            train(dataclasses.replace(base, **overrides))
    assert [path.read_bytes() for path in inputs] == before
    assert not (tmp_path / "missing").exists() and not base.checkpoint_path.exists()


def test_the_batch_is_halved_where_the_cpu_trains_in_fp32(
    tmp_path: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without native bf16 a CPU trains in fp32 at about a third of the speed: the default
    batch is halved there; a batch that is asked for is kept."""
    from vidstyle import device

    def batch(**settings: object) -> int | None:
        return TrainConfig(style_image=tmp_path / "s.png", data=photo_dir, output=tmp_path / "o.safetensors",
                           device="cpu", **settings).batch_size

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert (batch(), batch(amp=False), batch(batch_size=3)) == (4, 2, 3)
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert (batch(), batch(amp=False), batch(batch_size=3)) == (2, 2, 3)


def test_training_options_are_checked_before_any_work(tmp_path: Path, photo_dir: Path) -> None:
    """Each bad setting is a one-line error naming its field, from TrainConfig (the command
    line names the option instead)."""
    teacher = tmp_path / "teacher.safetensors"  # not read: the settings are checked first
    cases = [
        (dict(iterations=0), "iterations must be at least 1, not 0"),
        (dict(checkpoint_every=0), "checkpoint_every must be at least 1, not 0"),
        (dict(sample_every=0), "sample_every must be at least 1, not 0"),
        (dict(batch_size=0), "batch_size must be at least 1, not 0"),
        (dict(width=0), "width must be from 1 to 128, not 0"),
        (dict(width=500), "width must be from 1 to 128, not 500"),  # no loadable file has it
        (dict(threads=0), "threads must be at least 1, not 0"),
        (dict(blocks=0), "blocks must be from 1 to 32, not 0"),
        (dict(blocks=500), "blocks must be from 1 to 32, not 500"),
        (dict(image_size=0), "image_size must be at least 8, not 0"),
        (dict(image_size=7), "image_size must be at least 8, not 7"),  # relu4_3: 3 poolings
        (dict(image_size=8, content_layer="relu5_3"), "image_size must be at least 16, not 8"),
        (dict(image_size=4, style_image=None, teacher=teacher), "image_size must be at least 5, not 4"),
        (dict(style_size=-1), "style_size must be positive (0: as it is), not -1"),
        (dict(seed=-1), "seed must be 0 or more, not -1"),
        (dict(lr=0.0), "lr must be positive, not 0.0"),
        (dict(lr=-1e-3), "lr must be positive, not -0.001"),
        (dict(epochs=0.0), "epochs must be positive, not 0.0"),
        (dict(content_weight=-1.0), "content_weight must be 0 or more, not -1.0"),
        (dict(style_weight=float("nan")), "style_weight must be 0 or more, not nan"),
        (dict(tv_weight=-1.0), "tv_weight must be 0 or more"),
        (dict(stability_weight=-1.0), "stability_weight must be 0 or more"),
        (dict(stability_noise=-1.0), "stability_noise must be from 0 to 64 levels, not -1.0"),
        (dict(stability_noise=float("inf")), "stability_noise must be from 0 to 64 levels, not inf"),
        (dict(distill_weight=-1.0), "distill_weight must be 0 or more"),
        (dict(palette_weight=-1.0), "palette_weight must be 0 or more"),
        (dict(content_weight=0, style_weight=0, tv_weight=0, palette_weight=0), "every loss weight is 0"),
        (dict(vgg="vgg11"), "vgg: unknown VGG architecture 'vgg11'"),
        (dict(style_layers="relu1_2:lots"), "style_layers: bad layer weight 'relu1_2:lots'"),
        (dict(style_layers="relu1_2:-1"), "style_layers weights must be 0 or more, not relu1_2:-1.0"),
        (dict(content_layer="relu9_9"), "unknown vgg16 layer(s): relu9_9"),
    ]
    for overrides, message in cases:
        with pytest.raises(VidstyleError, match=re.escape(message)):
            config(tmp_path, photo_dir, **overrides)
    assert config(tmp_path, photo_dir, style_size=0).style_size is None  # as on the command line
    assert config(tmp_path, photo_dir, image_size=16, content_layer="relu5_3").image_size == 16


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_smallest_crops_train(tmp_path: Path, photo_dir: Path, random_vgg: Path) -> None:
    """The minimum sizes are real: both networks train on MIN_IMAGE_SIZE crops (distillation,
    no loss network), and on 8-pixel crops through VGG up to relu4_3; a style image scaled below
    what the loss network takes is refused before training."""
    from conftest import make_style

    teacher = make_style(tmp_path / "teacher.safetensors", width=4, blocks=1)
    for arch in ("johnson", "lite"):
        cfg = config(
            tmp_path / arch, photo_dir, style_image=None, teacher=teacher, arch=arch,
            image_size=MIN_IMAGE_SIZE, iterations=1, stability_weight=1.0,
        )
        assert load_style(train(cfg)).info.arch["type"] == arch
    cfg = config(tmp_path / "vgg", photo_dir, image_size=8, iterations=1, stability_weight=1.0)
    assert cfg.vgg_min_size == 8
    assert load_style(train(cfg)).info.metadata["training"]["image_size"] == 8
    with pytest.raises(VidstyleError, match="style image is too small for the loss network: 4x4 pixels"):
        train(config(tmp_path / "small", photo_dir, style_size=4))


@pytest.mark.filterwarnings("ignore:skipping unreadable")
def test_damaged_checkpoint_is_a_one_line_error(
    tmp_path: Path, photo_dir: Path, random_vgg: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint cut short (full disk) or otherwise broken cannot be resumed: say so and how
    to go on, without a traceback."""
    cfg = config(tmp_path, photo_dir)
    state = {"model": {}, "optimizer": {}, "iteration": 1, "elapsed": 1.0, "config": cfg.to_json()}
    torch.save(state, cfg.checkpoint_path)
    whole = cfg.checkpoint_path.read_bytes()
    message = f"checkpoint {cfg.checkpoint_path} is damaged and cannot be resumed: delete it"
    for content in (whole[: len(whole) // 2], b"", b"\x00" * 64, whole):  # whole: no network in it
        cfg.checkpoint_path.write_bytes(content)
        with pytest.raises(VidstyleError, match=re.escape(message)):
            train(cfg, resume=True)
    cfg.checkpoint_path.write_bytes(whole[:100])
    args = [str(cfg.style_image), "--data", str(photo_dir), "-o", str(cfg.output), "--image-size", "32"]
    assert run_cli(["train", *args, "--width", "4", "--blocks", "1", "--batch-size", "2", "--resume"]) == 1
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "Traceback" not in err
    assert not cfg.output.exists() and cfg.checkpoint_path.read_bytes() == whole[:100]


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
@pytest.mark.parametrize(
    ("stop", "code"), [pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow), (signal.SIGTERM, 143)]
)
def test_a_signal_stops_training_with_weights_and_a_checkpoint(
    tmp_path: Path,
    photo_dir: Path,
    random_vgg: Path,
    capsys: pytest.CaptureFixture[str],
    stop: int,
    code: int,
) -> None:
    """Ctrl-C or `kill` on a run: the weights trained so far, a checkpoint, exit status 130 or
    143 and no error; the same command with --resume then finishes the run."""
    import time

    out = tmp_path / "bg.safetensors"
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(style)
    args = [
        "train", str(style), "--data", str(photo_dir), "-o", str(out), "--image-size", "32", "--width", "4",
        "--blocks", "1", "--batch-size", "1", "--checkpoint-every", "100000", "--sample-every", "1",
        "--no-amp", "--device", "cpu", "--threads", "1",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidstyle", *args, "--iterations", "100000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while not out.with_suffix(".samples").is_dir() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    stopped = load_style(out).info
    done = stopped.metadata["training"]["iterations"]
    assert err.endswith(f"stopped at iteration {done}; weights so far in {out} (continue with --resume)\n")
    assert "Traceback" not in err and "error" not in err
    assert torch.load(out.with_suffix(".ckpt"), weights_only=True)["iteration"] == done >= 1
    assert out.stat().st_mode & 0o777 == file_mode()
    assert str(tmp_path) not in json.dumps(stopped.metadata)  # the command line's paths too

    assert run_cli([*args, "--iterations", str(done + 1), "--resume"]) == 0, capsys.readouterr().err
    assert load_style(out).info.metadata["training"]["iterations"] == done + 1
    assert not out.with_suffix(".ckpt").exists()


def test_bare_command_fine_tunes_the_real_time_base(
    tmp_path: Path, photo_dir: Path, random_vgg: Path
) -> None:
    from conftest import make_style

    from vidstyle.defaults import TrainDefaults
    from vidstyle.training.train import BASE_STYLE, BASE_STYLE_WEIGHT, QUALITY_ITERATIONS, STRUCTURE_TARGET
    from vidstyle.weights import find_style

    bare = config(tmp_path, photo_dir, arch=None, width=None, blocks=None, iterations=None)
    assert bare.init == find_style(BASE_STYLE) and bare.iterations == QUALITY_ITERATIONS["standard"]
    assert bare.style_weight == BASE_STYLE_WEIGHT and bare.structure_target == STRUCTURE_TARGET
    assert config(tmp_path, photo_dir, arch=None, width=None, blocks=None, iterations=None,
                  quality="draft").iterations == QUALITY_ITERATIONS["draft"]
    with pytest.raises(VidstyleError, match="^quality must be one of"):
        config(tmp_path, photo_dir, quality="best-ever")
    classic = config(tmp_path, photo_dir, arch=None, width=None, iterations=None)  # blocks given
    assert (classic.arch, classic.width, classic.init, classic.style_weight) == ("johnson", 16, None, 10)
    assert classic.structure_target == 0
    # the palette term is on wherever there is a style loss, off for pure distillation
    assert bare.palette_weight == classic.palette_weight == TrainDefaults.palette_weight > 0
    teacher = make_style(tmp_path / "teacher.safetensors")
    pupil = config(tmp_path, photo_dir, teacher=teacher, style_image=None, arch="lite", width=8)
    assert pupil.palette_weight == 0 and pupil.style_weight == 0

    with pytest.warns(UserWarning):  # the photo folder holds an unreadable file
        path = train(dataclasses.replace(bare, iterations=2))
    base, style = load_style(bare.init), load_style(path)
    assert style.info.arch == base.info.arch and style.info.arch["type"] == "lite"


def test_steered_style_weight_is_kept_by_checkpoints(
    tmp_path: Path, photo_dir: Path, random_vgg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weight is part of the run's state: a stopped and resumed run ends as an unbroken one."""
    import vidstyle.training.train as train_module

    monkeypatch.setattr(train_module, "BALANCE_EVERY", 1)
    whole = config(tmp_path / "a", photo_dir, structure_target=0.9, iterations=4)
    with pytest.warns(UserWarning):
        train(whole)
    steered = load_style(whole.output).info.metadata["training"]["final_style_weight"]
    assert steered != whole.style_weight  # a random network keeps no structure to speak of

    split = config(tmp_path / "b", photo_dir, structure_target=0.9, iterations=4)
    with pytest.warns(UserWarning), pytest.raises(VidstyleError, match="stopped at iteration 2"):
        train(split, progress=stop_at(2))
    assert torch.load(split.checkpoint_path, weights_only=True)["style_weight"] != split.style_weight
    with pytest.warns(UserWarning):  # the photo folder holds an unreadable file
        train(split, resume=True)
    assert load_style(split.output).info.metadata["training"]["final_style_weight"] == steered
    one, two = load_style(whole.output).net.state_dict(), load_style(split.output).net.state_dict()
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_cli_train_photos_from_the_environment(
    tmp_path: Path,
    photo_dir: Path,
    random_vgg: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """$VIDSTYLE_DATA names the photos once for every later `vidstyle train PAINTING -o OUT`."""
    painting = tmp_path / "painting.png"
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(painting)
    out = tmp_path / "mine.safetensors"
    monkeypatch.delenv("VIDSTYLE_DATA", raising=False)
    assert run_cli(["train", str(painting), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no training photos") and "VIDSTYLE_DATA" in err and err.count("\n") == 1
    monkeypatch.setenv("VIDSTYLE_DATA", str(photo_dir))
    small = ["--iterations", "1", "--width", "4", "--blocks", "1", "--batch-size", "2", "--image-size", "32"]
    assert run_cli(["train", str(painting), "-o", str(out), *small]) == 0
    assert load_style(out).info.metadata["training"]["data"] == photo_dir.name
