"""The ``train`` command: a fast style network from a painting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..defaults import (
    DATA_ENV_VAR,
    DEFAULT_WIDTHS,
    FP32_CPU_TRAIN_BATCH_SIZE,
    QUALITY_ITERATIONS,
    TRAIN_BATCH_SIZE,
    TrainDefaults,
)
from ..errors import VidstyleError


def train(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="Weights file to write.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="DIR",
            envvar=DATA_ENV_VAR,
            show_envvar=False,
            help=f"Folder of training photos (recursive; default: ${DATA_ENV_VAR}).",
        ),
    ] = None,
    style_image: Annotated[
        Path | None,
        typer.Argument(metavar="PAINTING", help="The painting to learn (optional with --teacher)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Style name for -s and `vidstyle styles` (default: the painting's stem, else "
            "the teacher's name).",
        ),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option(
            metavar="ARCH",
            help="johnson (classic) or lite (real time on a CPU). Default: fine-tune the default "
            "real-time style, unless --width, --blocks, --init or --teacher asks for another "
            "network (then johnson).",
        ),
    ] = None,
    teacher: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Style network to imitate (distillation into --arch/--width)."),
    ] = None,
    distill_weight: Annotated[
        float, typer.Option(metavar="W", help="Weight of the teacher term.")
    ] = TrainDefaults.distill_weight,
    init: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Fine-tune this style network instead of starting from scratch."),
    ] = None,
    image_size: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Side of the square crops of the photos trained on, in pixels: the network learns "
            "its stroke size at this scale.",
        ),
    ] = TrainDefaults.image_size,
    style_size: Annotated[
        int,
        typer.Option(
            metavar="N", help="Longest side of the painting for the style loss, in pixels (0: as it is)."
        ),
    ] = TrainDefaults.style_size,
    batch_size: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help=f"Crops per step (default: {TRAIN_BATCH_SIZE}; {FP32_CPU_TRAIN_BATCH_SIZE} on a CPU "
            "without native bf16, where a step takes about 3 times as long).",
        ),
    ] = TrainDefaults.batch_size,
    quality: Annotated[
        str,
        typer.Option(
            metavar="LEVEL",
            help="How long to train: "
            + ", ".join(f"{level} ({steps} steps)" for level, steps in QUALITY_ITERATIONS.items())
            + ".",
        ),
    ] = TrainDefaults.quality,
    iterations: Annotated[
        int | None, typer.Option(metavar="N", help="Training steps (default: --quality's).")
    ] = None,
    epochs: Annotated[
        float | None, typer.Option(metavar="E", help="Train for E passes over the photos instead.")
    ] = None,
    lr: Annotated[float, typer.Option(metavar="RATE", help="Learning rate.")] = TrainDefaults.lr,
    width: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Base channels (default: "
            + ", ".join(f"{width} for {arch}" for arch, width in DEFAULT_WIDTHS.items())
            + "; Johnson et al. used 32; with --init: its own, and a larger one adds channels "
            "that start by changing nothing).",
        ),
    ] = None,
    blocks: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Residual blocks (default 5; with --init: its own; fewer keep its first ones, "
            "more add blocks that start by changing nothing).",
        ),
    ] = None,
    dilation: Annotated[
        int | None,
        typer.Option(
            metavar="D",
            help="Spread the taps of the residual blocks this run creates D pixels apart "
            "(all of a new network's; with --init, the added ones): they reach further, "
            "for larger motifs, at the same cost (default 1).",
        ),
    ] = None,
    vgg: Annotated[str, typer.Option(metavar="NAME", help="vgg16 or vgg19.")] = TrainDefaults.vgg,
    vgg_weights: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Explicit VGG weights file.")
    ] = None,
    content_layer: Annotated[
        str, typer.Option(metavar="LAYER", help="VGG layer of the content loss.")
    ] = TrainDefaults.content_layer,
    style_layers: Annotated[
        str, typer.Option(metavar="LAYERS", help="NAME:WEIGHT,...")
    ] = TrainDefaults.style_layers,
    content_weight: Annotated[
        float | None, typer.Option(metavar="W", help="Default 1; 0 with --teacher.")
    ] = None,
    style_weight: Annotated[
        float | None,
        typer.Option(metavar="W", help="Default 10; 30 fine-tuning the base network; 0 with --teacher."),
    ] = None,
    tv_weight: Annotated[float | None, typer.Option(metavar="W", help="Default 1; 0 with --teacher.")] = None,
    stability_weight: Annotated[
        float, typer.Option(metavar="W", help="Temporal stability term; 0 = off.")
    ] = TrainDefaults.stability_weight,
    stability_noise: Annotated[
        float,
        typer.Option(
            metavar="LEVELS",
            help="Noise in the stability term's moved copy, in levels of 255: more keeps the "
            "painted motifs from following a video's grain (less flicker on real footage).",
        ),
    ] = TrainDefaults.stability_noise,
    palette_weight: Annotated[
        float | None,
        typer.Option(
            metavar="W",
            help="Pull the colours to the painting's, in their proportions (0 = off; default "
            f"{TrainDefaults.palette_weight:g}, 0 with --teacher).",
        ),
    ] = None,
    structure_target: Annotated[
        float | None,
        typer.Option(
            metavar="S",
            help="Steer the style weight so the scene's edges keep this structure (0 = off; "
            f"default {TrainDefaults.structure_target:g} fine-tuning the base network, else off).",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(metavar="N", help="Random seed (photo order, crops).")
    ] = TrainDefaults.seed,
    checkpoint_every: Annotated[
        int, typer.Option(metavar="N", help="Checkpoint every N steps.")
    ] = TrainDefaults.checkpoint_every,
    sample_every: Annotated[
        int, typer.Option(metavar="N", help="Progress sample every N steps.")
    ] = TrainDefaults.sample_every,
    sample_image: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Photo for progress samples.")
    ] = None,
    device: Annotated[
        str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.")
    ] = TrainDefaults.device,
    amp: Annotated[
        bool, typer.Option(help="Mixed precision (CUDA fp16; CPU bf16 where supported).")
    ] = TrainDefaults.amp,
    threads: Annotated[int | None, typer.Option(metavar="N", help="CPU threads for PyTorch.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the checkpoint (of a stopped run).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Train a fast style network from a painting, or distill one into a lighter network.

    With no network asked for, it fine-tunes the default real-time style for --quality's
    steps. Ctrl-C or `kill` stops it with the weights trained so far and a checkpoint for
    --resume.
    """
    from ..progress import TrainProgress
    from ..training.train import TrainConfig
    from ..training.train import train as run_training

    if data is None:
        raise VidstyleError(
            f"no training photos: pass --data DIR or set {DATA_ENV_VAR}=DIR once (a folder of a few "
            "hundred photos of any subjects, such as COCO's val2017)"
        )
    config = TrainConfig(
        style_image=style_image,
        data=data,
        output=output,
        name=name,
        arch=arch,
        teacher=teacher,
        distill_weight=distill_weight,
        init=init,
        image_size=image_size,
        style_size=style_size,
        batch_size=batch_size,
        iterations=iterations,
        quality=quality,
        epochs=epochs,
        lr=lr,
        width=width,
        blocks=blocks,
        dilation=dilation,
        vgg=vgg,
        vgg_weights=vgg_weights,
        content_layer=content_layer,
        style_layers=style_layers,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        stability_weight=stability_weight,
        stability_noise=stability_noise,
        palette_weight=palette_weight,
        structure_target=structure_target,
        seed=seed,
        checkpoint_every=checkpoint_every,
        sample_every=sample_every,
        sample_image=sample_image,
        device=device,
        amp=amp,
        threads=threads,
    )
    with TrainProgress() as progress:
        path = run_training(
            config,
            resume=resume,
            progress=progress.update,
            overwrite=overwrite,
            warn=lambda message: progress.note(f"warning: {message}"),
            log=progress.note,
        )
    typer.echo(f"wrote {path}")
