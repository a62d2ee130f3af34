"""The ``styles`` command: the installed styles, as tables or JSON."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path
from typing import Annotated, Any

import typer

from .base import echo_json


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
    from ..weights import style_summaries

    found = style_summaries(list(directory or []))
    if as_json:
        echo_json(found)
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
