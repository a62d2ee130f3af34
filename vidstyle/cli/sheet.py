"""The ``sheet`` command: every style on one photo, in one image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..io.locations import beside


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
    from ..app.sheet import write_sheet

    output = output or beside(photo, "sheet", ".jpg")
    count = write_sheet(
        photo, output, extra_dirs=directory, side=size, columns=columns, device=device, overwrite=overwrite
    )
    typer.echo(f"wrote {output} ({count} styles)")
