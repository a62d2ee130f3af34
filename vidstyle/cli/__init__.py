"""The ``vidstyle`` command line: a thin layer over the Python API, one module per command.

PyTorch, PyAV and OpenCV are imported inside the commands, and the defaults shown in help come
from :mod:`vidstyle.defaults`, so that --help and --version answer at once.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from typing import Annotated

import typer

from ..errors import Terminated, VidstyleError, signals_as_interrupts, stopped_by
from . import demo, export, sheet, styles, stylize, train, ui, vgg, webcam
from .base import Command, Group

app = typer.Typer(
    cls=Group,
    help="Neural style transfer for videos, images and webcams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# in the order that the help lists them
COMMANDS = (
    stylize.stylize, demo.demo, styles.styles, export.export, train.train, webcam.webcam, sheet.sheet, ui.ui
)
for command in COMMANDS:
    app.command(cls=Command)(command)
app.add_typer(vgg.vgg_app, name="vgg")


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

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
    from ..io.ffmpeglog import ffmpeg_logging

    ffmpeg_logging(verbose)  # every command: OpenCV reads its FFmpeg log level once, at first use


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
            _stopped("terminated", Terminated.exit_code, whole_process=argv is None)
        _stopped("interrupted", 130, whole_process=argv is None)
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


def _stopped(word: str, code: int, whole_process: bool) -> None:
    """End a job stopped by a signal. The job has already removed its partial output (or
    kept its checkpoint, its recording). As the whole process (not a caller's ``main(args)``)
    it ends at once, without the interpreter's shutdown: a library thread the signal cut
    short (a PyTorch tensor freed in a daemon thread) can still be running then, and one
    that waits for the GIL during shutdown aborts the process from C++ ("terminate called")."""
    typer.echo(word, err=True)
    if whole_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _fail(message: str, code: int, prefix: str = "error: ") -> None:
    typer.echo(f"{prefix}{message}", err=True)
    sys.exit(code)
