"""The ``stylize`` command: videos, images, sequences, streams and cameras, in one
mode (fast or HQ) on one backend (here or Ray), one file or a batch."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..defaults import (
    DEFAULT_SEGMENT_SECONDS,
    DEFAULT_SEQUENCE_FPS,
    DEFAULT_STYLE,
    HQ_SIZE,
    NETWORK_SIDE,
    PAINT_SIDE,
)
from ..errors import VidstyleError
from ..settings import MAX_CRF, MAX_TEMPORAL, MIN_CRF, EncodingSettings, Limits, Look, NetworkSettings
from .base import option_given, wrote

#: one of the settings dataclasses (:mod:`vidstyle.settings`)
Settings = TypeVar("Settings")

if TYPE_CHECKING:
    from ..jobs.hq import HQConfig
    from ..jobs.stylize import StylizeResult


#: the help panels of `stylize`'s options for every mode
IO_PANEL, LOOK_PANEL, SPEED_PANEL = "Input and output", "Look", "Speed"
#: the help panels of `stylize`'s options that only one mode uses
FAST_PANEL, HQ_PANEL = "Fast mode", "HQ mode"
#: the panels of `stylize`'s options for resumable jobs, and for long videos on Ray
WORK_PANEL, RAY_PANEL = "Resumable jobs (--mode hq, --backend ray)", "Long videos on Ray (--backend ray)"


def _check_mode_options(ctx: typer.Context, mode: str, size: int | None, max_size: int | None) -> None:
    """Refuse options that the chosen mode would ignore, and an HQ --size above --max-size
    (HQ never optimises above the output size), rather than run without them."""
    if mode not in ("fast", "hq"):
        raise VidstyleError(f"--mode must be fast or hq, not {mode!r}")
    other = HQ_PANEL if mode == "fast" else FAST_PANEL
    for param in ctx.command.params:
        if getattr(param, "rich_help_panel", None) == other and option_given(ctx, param.name):
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
    given = [param for param in ctx.command.params if option_given(ctx, param.name)]
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
    ] = Limits.max_size,
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
    ] = NetworkSettings.device,
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
    ] = Look.strength,
    preserve_color: Annotated[
        bool, typer.Option(help="Keep the source colours.", rich_help_panel=LOOK_PANEL)
    ] = Look.preserve_color,
    max_frames: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Only the first N frames.", rich_help_panel=IO_PANEL),
    ] = Limits.max_frames,
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
            min=MIN_CRF,
            max=MAX_CRF,
            metavar="N",
            help="H.264 quality (lower is better).",
            rich_help_panel=IO_PANEL,
        ),
    ] = EncodingSettings.crf,
    preset: Annotated[
        str,
        typer.Option(
            metavar="PRESET", help="x264 speed preset (slower: smaller files).", rich_help_panel=IO_PANEL
        ),
    ] = EncodingSettings.preset,
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
    ] = NetworkSettings.style_scale,
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
    ] = NetworkSettings.precision,
    temporal: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=MAX_TEMPORAL,
            metavar="X",
            help="Videos: flow-guided blending with the previous output on consistent pixels (0 = off).",
            rich_help_panel=FAST_PANEL,
        ),
    ] = NetworkSettings.temporal,
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
    palette_weight: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            metavar="W",
            help="Pull the colours to the painting's, in its proportions.",
            rich_help_panel=HQ_PANEL,
        ),
    ] = None,
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
    from ..io.locations import names_folder, output_name_problem
    from ..io.sources import check_input

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
            items += _stylize_batch(inputs, Path(output), as_json, partial(run, tag=tag), ctx.command)
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
        from ..jobs.stylize import stylize_media

        result = stylize_media(inputs[0], output, **_here_options(ctx, styles[0]))
    _report(inputs[0], result, as_json)


def _styles_given(styles: list[str] | None, output: str, mode: str) -> list[str]:
    """The -s values (default: the default style); several need an output folder and names
    apart, as each style's files are told apart by its name (``clip.candy.mp4``)."""
    from ..io.locations import names_folder

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


def _settings(given: dict[str, Any], kind: type[Settings], **values: Any) -> Settings:
    """The settings dataclass ``kind`` from the options given, each of which is named as the
    field it sets (its other fields keep their defaults), and ``values``."""
    fields = {field.name for field in dataclasses.fields(kind)}  # type: ignore[arg-type]
    return kind(**{name: given[name] for name in fields if name in given} | values)


def _frame_settings(given: dict[str, Any]) -> dict[str, Any]:
    """How the frames of any job are finished, taken and encoded, as options of its function."""
    return {
        "look": _settings(given, Look),
        "limits": _settings(given, Limits),
        "encoding": _settings(given, EncodingSettings),
    }


def _here_options(ctx: typer.Context, style: str) -> dict[str, Any]:
    """The options of a fast job in this process (:func:`~vidstyle.jobs.stylize.stylize_media`'s)
    with ``style``, as the command line gave them."""
    from ..jobs.stylize import plan_fast_job

    given = ctx.params
    network = _settings(given, NetworkSettings, style=style)
    options = plan_fast_job(network, given["threads"], given["workers"])
    here = {name: given[name] for name in ("fps", "batch_size", "overwrite")}
    return options | _frame_settings(given) | here | {"progress": not given["as_json"]}


def _batch_here(ctx: typer.Context, style: str) -> Callable[..., list[Any]]:
    """A batch's engine in this process (see :func:`_stylize_batch`), with ``style``."""
    from ..jobs.batch import stylize_batch

    return partial(stylize_batch, **_here_options(ctx, style))


def _default_output(inputs: list[str], styles: list[str] | None) -> str:
    """``NAME.STYLE.EXT`` beside a lone input file, where no -o was given."""
    from ..jobs.stylize import default_output

    if len(inputs) > 1:
        raise VidstyleError(f"{len(inputs)} inputs need an output folder: -o FOLDER/")
    if styles and len(styles) > 1:
        raise VidstyleError(f"{len(styles)} styles make one file each: give an output folder, -o FOLDER/")
    return str(default_output(inputs[0], styles[0] if styles else DEFAULT_STYLE))


def _stylize_hq(input: Path, output: Path, style: str, given: dict[str, Any]) -> StylizeResult:
    """HQ mode with the options given on the command line."""
    from ..jobs.hq import stylize_hq

    return stylize_hq(
        input,
        output,
        style,
        _hq_config(given),
        work_dir=given["work_dir"],
        restart=given["restart"],
        keep_work=given["keep_work"],
        device=given["device"],
        overwrite=given["overwrite"],
        progress=not given["as_json"],
        **_frame_settings(given),
    )


def _hq_config(given: dict[str, Any]) -> HQConfig:
    """HQ mode's settings as the command line gave them (None: HQConfig's default)."""
    from ..jobs.hq import HQConfig

    fields = [name for name in HQConfig.__dataclass_fields__ if given.get(name) is not None]
    settings = {name: given[name] for name in fields}
    if "vgg_weights" in settings:
        settings["vgg_weights"] = str(settings["vgg_weights"])
    return HQConfig(**settings)


def _stylize_ray(input: str, output: str, given: dict[str, Any]) -> StylizeResult:
    """A video job in segments on Ray, with the options given on the command line."""
    from ..jobs.distributed import stylize_on_ray

    return stylize_on_ray(input, output, work_dir=given["work_dir"], **_ray_options(given))


def _batch_on_ray(given: dict[str, Any]) -> Callable[..., list[Any]]:
    """A batch's engine on Ray (see :func:`_stylize_batch`), with the options given on the
    command line; each video keeps its segments beside its output."""
    from ..jobs.distributed import stylize_batch_on_ray

    if given["work_dir"] is not None:
        raise VidstyleError("--work-dir takes one video (a batch keeps each video's segments beside it)")
    return partial(stylize_batch_on_ray, **_ray_options(given))


def _ray_options(given: dict[str, Any]) -> dict[str, Any]:
    """The options of a job on Ray (its settings, :class:`~vidstyle.jobs.distributed.RayOptions`
    and --overwrite), as the command line gave them."""
    from ..jobs.distributed import RayOptions

    ray = {field.name for field in dataclasses.fields(RayOptions)}
    options = {name: given[name] for name in (*ray, "overwrite") if name in given} | {
        "progress": not given["as_json"],
        "log": lambda line: typer.echo(line, err=True),
        "network": _settings(given, NetworkSettings),
        **_frame_settings(given),
    }
    if given["mode"] == "hq":  # frames tied together by HQ's own temporal loss, not blended
        hq = dataclasses.asdict(_hq_config(given))
        options |= {"hq": hq, "network": dataclasses.replace(options["network"], temporal=0.0)}
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
    typer.echo(wrote(result))


def _stylize_batch(
    inputs: list[str], output: Path, as_json: bool, run: Callable[..., list[Any]], command: Any
) -> list[Any]:
    """Every file of the batch through ``run`` (:func:`~vidstyle.jobs.batch.stylize_batch` or
    :func:`~vidstyle.jobs.distributed.stylize_batch_on_ray`, its options bound), one line each,
    its errors naming ``command``'s flags; the batch's items."""
    from ..jobs.batch import BatchItem

    def tell(number: int, total: int, item: BatchItem) -> None:
        if as_json:
            return
        if item.status == "failed":
            error = item.error_naming(command.flag)
            typer.echo(f"error: [{number}/{total}] {item.input}: {error}", err=True)
        elif item.status == "skipped":
            typer.echo(f"[{number}/{total}] skipped {item.input}: {item.output} exists (see --overwrite)")
        else:
            typer.echo(f"[{number}/{total}] {wrote(item.result)}")

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
