"""The ``demo`` command: the bundled clip in a style."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..defaults import DEFAULT_STYLE
from ..settings import NetworkSettings
from .base import wrote


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
    device: Annotated[
        str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.")
    ] = NetworkSettings.device,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Stylize the bundled demo clip and say where it went.

    The clip: 4 s of cars in a car park, with sound.
    """
    from ..jobs.stylize import DEMO_CLIP, plan_fast_job, stylize_media

    output = output or Path(f"vidstyle-demo-{Path(style).stem}.mp4")
    options = plan_fast_job(NetworkSettings(style, device=device))
    result = stylize_media(DEMO_CLIP, output, overwrite=overwrite, **options)
    typer.echo(wrote(result))
    typer.echo(f"  open it with any video player, or try: vidstyle stylize YOUR_VIDEO -s {style} -o out.mp4")
