"""The ``export`` command: a style network as an ONNX file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..defaults import MAX_OPSET, MIN_OPSET, OPSET


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
    from ..stylizers.export import export_onnx

    result = export_onnx(style, output, opset=opset, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    typer.echo(
        f"wrote {result.output} (style {result.style}: {result.network}; opset {result.opset}, "
        f"{result.bytes / 1e6:.1f} MB)"
    )
