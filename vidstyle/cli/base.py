"""What the commands share: help that reads like a classic command line's, JSON output,
which options were given, the line that says what a run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ..errors import VidstyleError

if TYPE_CHECKING:
    from ..jobs.stylize import StylizeResult


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


class Command(_ClassicHelp, TyperCommand):
    """A command with :class:`_ClassicHelp`, whose errors name its options.

    The library names a setting in its messages by its field (``style_scale``), as it
    cannot know how it was given; a command's options are named as the fields they set, so
    the error is said again here with the option's flag (``--style-scale``).
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VidstyleError as exc:
            if exc.settings:
                exc.args = (exc.naming(self.flag),)
            raise

    def flag(self, field: str) -> str:
        """The option that sets ``field`` (its long flag), else the field's own name; for
        ``field=value``, the option with that value (``--no-window`` for ``window=False``)."""
        name, _, value = field.partition("=")
        for param in self.params:
            if param.name == name and isinstance(param, TyperOption):
                if param.is_bool_flag and value in ("True", "False"):
                    return _long(param.opts if value == "True" else param.secondary_opts)
                return " ".join([_long(param.opts), value]) if value else _long(param.opts)
        return field


class Group(_ClassicHelp, TyperGroup):
    """A group of commands with :class:`_ClassicHelp`."""


def echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def option_given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def wrote(result: StylizeResult) -> str:
    """The line that says what a stylize or demo run wrote: size, time and style (for a
    video also the frames, the speed and the device)."""
    from ..io.images import is_image_path

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


def _long(opts: list[str]) -> str:
    """The long form among an option's flags (``--output`` of ``-o``/``--output``)."""
    return next((opt for opt in opts if opt.startswith("--")), opts[0])
