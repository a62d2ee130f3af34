"""Training a style network with the perceptual loss of Johnson et al. 2016.

With a ``teacher`` (an existing style network), the network instead learns to reproduce
the teacher's output (distillation): a cheap way to move a trained style into a lighter
architecture, with no VGG passes unless perceptual weights are also set. With ``init``, a
trained network is fine-tuned instead of starting from random weights (e.g. to add the
stability term to a shipped style).

Checkpoints are written atomically every ``checkpoint_every`` iterations and on Ctrl-C;
``resume=True`` continues exactly (model, optimizer, iteration; the data order is a pure
function of the iteration, see :mod:`vidstyle.data`). Under ``torchrun`` the run uses
DistributedDataParallel, each rank taking its own share of every global batch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import vgg_weights
from .data import PhotoSampler
from .device import cpu_has_native_bf16, select_device
from .errors import VidstyleError, signals_as_interrupts
from .images import read_image, resize_max, to_images, to_tensor, write_image
from .losses import content_loss, gram_matrix, parse_layer_weights, style_loss, tv_loss
from .models import ARCHITECTURES, StyleNetwork, VGGFeatures
from .weights import Style, load_style, save_style

DEFAULT_STYLE_LAYERS = "relu1_2:1,relu2_2:1,relu3_3:1,relu4_3:1"
#: settings a resumed run must share with its checkpoint (the rest may change, e.g. weights)
_RESUME_KEYS = (
    "arch", "width", "blocks", "batch_size", "image_size", "seed", "style_layers", "teacher", "init"
)


@dataclass
class TrainConfig:
    """Every setting of a training run; stored in the checkpoint and the weights file."""

    style_image: Path | None
    data: Path
    output: Path
    name: str | None = None
    arch: str = "johnson"
    teacher: Path | None = None
    #: a weights file to start from (fine-tuning); its architecture replaces arch and width,
    #: and blocks unless fewer are asked for (its first ``blocks`` residual blocks are kept)
    init: Path | None = None
    distill_weight: float = 1.0
    image_size: int = 256
    style_size: int | None = 512
    batch_size: int = 4
    iterations: int = 2000
    epochs: float | None = None
    lr: float = 1e-3
    width: int = 16
    #: residual blocks; ``None`` = 5, or with ``init`` as many as that network has
    blocks: int | None = None
    vgg: str = "vgg16"
    vgg_weights: Path | None = None
    content_layer: str = "relu2_2"
    style_layers: str = DEFAULT_STYLE_LAYERS
    #: perceptual weights; ``None`` = 1, 10, 1 without a teacher and 0 with one.
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    stability_weight: float = 0.0
    seed: int = 0
    checkpoint_every: int = 100
    sample_every: int = 100
    sample_image: Path | None = None
    device: str = "auto"
    amp: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        perceptual = self.teacher is None
        if self.content_weight is None:
            self.content_weight = 1.0 if perceptual else 0.0
        if self.style_weight is None:
            self.style_weight = 10.0 if perceptual else 0.0
        if self.tv_weight is None:
            self.tv_weight = 1.0 if perceptual else 0.0
        if self.blocks is None and self.init is None:
            self.blocks = 5
        if self.arch not in ARCHITECTURES:
            raise VidstyleError(f"unknown --arch {self.arch!r} (known: {', '.join(ARCHITECTURES)})")
        if self.style_image is None and self.teacher is None:
            raise VidstyleError("give a style image, or a --teacher network to distill")
        if self.style_image is None and self.style_weight:
            raise VidstyleError("a style loss needs the style image: give it or set --style-weight 0")

    @property
    def uses_vgg(self) -> bool:
        return bool(self.content_weight or self.style_weight)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}

    @property
    def checkpoint_path(self) -> Path:
        return self.output.with_suffix(".ckpt")

    @property
    def samples_dir(self) -> Path:
        return self.output.with_suffix(".samples")


@dataclass
class Losses:
    content: float
    style: float
    tv: float
    stability: float
    distill: float
    total: float


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _setup_distributed(device: torch.device) -> None:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def perturb(images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A slightly shifted, rotated, scaled and noised copy, and the affine grid that made it.

    The grid lets the caller apply the same transform to the network's output, so that
    ``net(perturb(x))`` can be compared with ``perturb(net(x))`` (stability loss).
    """
    n = images.shape[0]
    r = torch.rand(n, 4, generator=generator, device="cpu") * 2 - 1
    angle = r[:, 0] * math.radians(1.0)
    scale = 1 + r[:, 1] * 0.02
    shift = r[:, 2:] * 0.02
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    noise = torch.randn(warped.shape, generator=generator, device="cpu").to(images) * (2 / 255)
    return (warped + noise).clamp(0, 1), grid


def _load_vgg(config: TrainConfig, layers: list[str], device: torch.device) -> tuple[VGGFeatures, str]:
    weights = vgg_weights.load(config.vgg, config.vgg_weights)
    vgg = VGGFeatures(config.vgg, layers, weights.state_dict).to(device)
    return vgg.to(memory_format=torch.channels_last), weights.source


def _style_grams(
    config: TrainConfig, style: np.ndarray, vgg: VGGFeatures, layers: dict[str, float], device: torch.device
) -> dict[str, torch.Tensor]:
    scaled = resize_max(style, config.style_size)
    with torch.no_grad():
        feats = vgg(to_tensor(scaled, device))
    return {k: gram_matrix(feats[k]) for k in layers}


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _fixed_sample(config: TrainConfig, sampler: PhotoSampler) -> np.ndarray:
    photo = read_image(config.sample_image) if config.sample_image is not None else sampler.first_image()
    return resize_max(photo, 384)


def train(
    config: TrainConfig,
    resume: bool = False,
    progress: Callable[[int, int, Losses, float], None] | None = None,
) -> Path:
    """Run (or resume) a training run; returns the path of the finished weights file."""
    device = select_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    _setup_distributed(device)
    rank, world = _world()
    if config.batch_size % world:
        raise VidstyleError(f"--batch-size {config.batch_size} must be divisible by {world} ranks")
    local_batch = config.batch_size // world

    teacher = load_style(config.teacher, device) if config.teacher is not None else None
    init = load_style(config.init, device) if config.init is not None else None
    if init is not None:
        kind = init.info.arch
        blocks = int(kind["blocks"]) if config.blocks is None else config.blocks
        if blocks > int(kind["blocks"]):
            raise VidstyleError(f"--blocks {blocks}: --init {config.init} has only {kind['blocks']} to keep")
        arch = str(kind.get("type", "johnson"))
        config = dataclasses.replace(config, arch=arch, width=int(kind["width"]), blocks=blocks)
    style_full = read_image(config.style_image) if config.style_image is not None else teacher.style_image
    style_weights = parse_layer_weights(config.style_layers)
    vgg, vgg_source, grams = None, None, {}
    if config.uses_vgg:
        layers = list(dict.fromkeys([*style_weights, config.content_layer]))
        vgg, vgg_source = _load_vgg(config, layers, device)
        if config.style_weight:
            grams = _style_grams(config, style_full, vgg, style_weights, device)
    sampler = PhotoSampler(config.data, config.image_size, config.seed)
    total = config.iterations
    if config.epochs is not None:
        total = max(1, math.ceil(config.epochs * len(sampler) / config.batch_size))

    torch.manual_seed(config.seed)  # initial weights depend on the seed alone
    net = ARCHITECTURES[config.arch](config.width, config.blocks).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    start, elapsed, last_losses = 0, 0.0, None
    ckpt = config.checkpoint_path
    if resume:
        if not ckpt.is_file():
            raise VidstyleError(f"--resume: no checkpoint at {ckpt}")
        state = torch.load(ckpt, map_location=device, weights_only=True)
        saved = state["config"]
        for key in _RESUME_KEYS:
            default = TrainConfig.__dataclass_fields__[key].default  # older checkpoints lack newer keys
            if str(saved.get(key, default)) != str(getattr(config, key)):
                raise VidstyleError(
                    f"--resume: {key} differs from the checkpoint ({saved.get(key, default)} vs "
                    f"{getattr(config, key)}); use the same settings or start a new output"
                )
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, elapsed = int(state["iteration"]), float(state["elapsed"])
        last_losses = state.get("losses")  # older checkpoints lack it
    else:
        if ckpt.exists() and rank == 0:
            raise VidstyleError(f"a checkpoint exists at {ckpt}: use --resume to continue or delete it")
        if init is not None:
            init.net.residuals = init.net.residuals[: config.blocks]
            net.load_state_dict(init.net.state_dict())

    model: torch.nn.Module = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(net)
    # bf16 autocast only where the CPU computes bf16 natively; emulated it is many times slower
    use_amp = config.amp and (device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()))
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and device.type == "cuda")
    gen = torch.Generator().manual_seed(config.seed * 1000 + rank)
    sample_photo = _fixed_sample(config, sampler) if rank == 0 else None
    # a run resumed at its last iteration trains no more: its file reports the saved losses
    losses = Losses(**last_losses) if last_losses else Losses(0, 0, 0, 0, 0, 0)
    zero = torch.zeros((), device=device)
    bad_steps = 0
    last_time = time.perf_counter()

    def checkpoint(iteration: int) -> None:
        if rank == 0:
            _save_checkpoint(
                ckpt,
                {
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "iteration": iteration,
                    "elapsed": elapsed,
                    "losses": dataclasses.asdict(losses),
                    "config": config.to_json(),
                },
            )

    completed = start
    restore = signals_as_interrupts()
    try:
        for it in range(start, total):
            gen.manual_seed(config.seed * 1_000_003 + it * 7 + rank)
            x = sampler.batch(it * config.batch_size + rank * local_batch, local_batch, device)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                y = model(x)
                c = s = d = stab = zero
                if vgg is not None:
                    with torch.no_grad():
                        target = vgg(x)[config.content_layer]
                    feats = vgg(y)
                    c = config.content_weight * content_loss(feats[config.content_layer], target)
                    if grams:
                        s = config.style_weight * style_loss(feats, grams, style_weights)
                if teacher is not None and config.distill_weight:
                    with torch.no_grad():
                        wanted = teacher.net(x).clamp(0, 1)
                    d = config.distill_weight * F.mse_loss(y.float(), wanted.float())
                t = config.tv_weight * tv_loss(y.float())
                if config.stability_weight > 0:
                    x2, grid = perturb(x, gen)
                    y2 = model(x2)
                    y_warped = F.grid_sample(y, grid, padding_mode="border", align_corners=False)
                    stab = config.stability_weight * F.mse_loss(y2.float(), y_warped.float())
                loss = c + s + t + stab + d
            if not torch.isfinite(loss):
                bad_steps += 1
                optimizer.zero_grad(set_to_none=True)
                if bad_steps >= 3:
                    raise VidstyleError(
                        f"loss is not finite at iteration {it + 1} three times in a row; "
                        "lower --lr or the loss weights"
                    )
                continue
            bad_steps = 0
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            completed = it + 1

            now = time.perf_counter()
            elapsed += now - last_time
            last_time = now
            losses = Losses(c.item(), s.item(), t.item(), stab.item(), d.item(), loss.item())
            done = completed
            if progress is not None and rank == 0:
                progress(done, total, losses, elapsed)
            if done % config.checkpoint_every == 0 or done == total:
                checkpoint(done)
            if rank == 0 and sample_photo is not None and (done % config.sample_every == 0 or done == total):
                _write_sample(config, net, sample_photo, done, device)
    except KeyboardInterrupt:
        checkpoint(completed)
        raise VidstyleError(
            f"interrupted after iteration {completed}; checkpoint saved, continue with --resume",
            exit_code=130,
        ) from None
    finally:
        restore()

    if rank == 0:
        save_style(
            config.output,
            net,
            name=config.name or _style_name(config, teacher),
            style_image=style_full,
            metadata={
                "style_image_name": _style_image_name(config, teacher),
                "training": {
                    **config.to_json(),
                    "iterations": total,
                    "world_size": world,
                    "seconds": round(elapsed, 1),
                    "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                    "final_losses": dataclasses.asdict(losses),
                    "vgg_source": vgg_source,
                },
            },
        )
    if world > 1:
        dist.barrier()
    return config.output


def _style_name(config: TrainConfig, teacher: Style | None) -> str:
    return config.style_image.stem if config.style_image is not None else teacher.name


def _style_image_name(config: TrainConfig, teacher: Style | None) -> str | None:
    """The painting's file name, kept through distillation so evaluation finds it."""
    if config.style_image is not None:
        return config.style_image.name
    return teacher.info.metadata.get("style_image_name")


@torch.no_grad()
def _write_sample(
    config: TrainConfig, net: StyleNetwork, photo: np.ndarray, iteration: int, device: torch.device
) -> None:
    """Stylize the fixed sample photo so a run's progress can be looked at."""
    net.eval()
    out = to_images(net(to_tensor(photo, device)))[0]
    net.train()
    config.samples_dir.mkdir(parents=True, exist_ok=True)
    write_image(config.samples_dir / f"iter_{iteration:06d}.jpg", out, quality=90)
