"""The ``ui`` and ``sheet`` commands: the styles shown as pictures, in a browser or one image.

Kept apart from :mod:`vidstyle.cli`, which registers them; like every command they import
their heavy modules when run, so ``vidstyle --help`` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .locations import beside


def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on.")] = 7860,
    host: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="Address to listen on: 127.0.0.1 is this computer only; 0.0.0.0 opens the page "
            "to your network.",
        ),
    ] = "127.0.0.1",
    share: Annotated[
        bool, typer.Option("--share", help="Also give the page a public gradio.live link (72 hours).")
    ] = False,
) -> None:
    """Open the web app: styles as pictures, a preview, stylize and train from a browser.

    Needs the ui extra: pip install "vidstyle[ui]". Ctrl-C stops it.
    """
    from .ui import serve

    serve(host, port, share, say=lambda line: typer.echo(line))


def sheet(
    photo: Annotated[Path, typer.Argument(metavar="PHOTO", help="The photo to show every style on.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="OUTPUT", help="The image to write (default: PHOTO.sheet.jpg)."
        ),
    ] = None,
    directory: Annotated[
        list[Path] | None,
        typer.Option("--styles", metavar="DIR", help="More folders of styles, as `vidstyle styles DIR`."),
    ] = None,
    size: Annotated[
        int, typer.Option(min=32, metavar="N", help="Longest side of each picture, in pixels.")
    ] = 384,
    columns: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Pictures per row (default: a square grid).")
    ] = None,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda or mps.")] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Show every installed style on one photo, labelled, in one image: to choose a style."""
    from .sheet import write_sheet

    output = output or beside(photo, "sheet", ".jpg")
    count = write_sheet(
        photo, output, extra_dirs=directory, side=size, columns=columns, device=device, overwrite=overwrite
    )
    typer.echo(f"wrote {output} ({count} styles)")
