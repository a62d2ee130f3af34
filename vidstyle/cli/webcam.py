"""The ``webcam`` command: a camera stylized live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..defaults import WEBCAM_MAX_LATENCY, WEBCAM_MIN_FPS, WEBCAM_SIZE, WEBCAM_STYLE_SCALE
from ..settings import Look, NetworkSettings


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
    device: Annotated[
        str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.")
    ] = NetworkSettings.device,
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
    strength: Annotated[
        float, typer.Option(min=0.0, max=1.0, metavar="X", help="Initial strength.")
    ] = Look.strength,
    preserve_color: Annotated[
        bool, typer.Option(help="Start with the camera's colours kept.")
    ] = Look.preserve_color,
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
    min_fps: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="FPS",
            help="Paint a smaller picture while fewer frames than this (or than the camera "
            "delivers, if fewer) are shown per second (0: no frame-rate limit).",
        ),
    ] = WEBCAM_MIN_FPS,
) -> None:
    """Stylize a camera live, with a preview window, snapshots, recording and a virtual camera."""
    from ..jobs.webcam import parse_size, run_webcam

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
        look=Look(strength, preserve_color),
        overwrite=overwrite,
        virtual_cam=virtual_cam_device or virtual_cam,
        threads=threads,
        max_latency=max_latency / 1000,
        min_fps=min_fps,
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
