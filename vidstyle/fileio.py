"""Atomic output files: write beside the target, rename only on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from .errors import VidstyleError


def check_output_path(output: Path, *, inputs: tuple[Path, ...] = (), overwrite: bool) -> None:
    """Refuse outputs that would destroy an input or an existing file, or cannot be written."""
    for src in inputs:
        if src.exists() and output.exists() and os.path.samefile(src, output):
            raise VidstyleError(f"output {output} is the same file as the input; choose another path")
        if output.resolve() == src.resolve():
            raise VidstyleError(f"output {output} is the same file as the input; choose another path")
    if output.exists() and not overwrite:
        raise VidstyleError(f"output {output} already exists (use --overwrite to replace it)")
    if output.is_dir():
        raise VidstyleError(f"output {output} is a directory")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise VidstyleError(f"cannot write {output}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise VidstyleError(f"cannot write {output}: directory {parent} is not writable")


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``output`` (same suffix); rename it over ``output`` on success.

    On any exception, KeyboardInterrupt included, the temporary file is removed.
    """
    output = Path(output)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{output.stem}.", suffix=f".partial{output.suffix}", dir=output.parent or "."
    )
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make every output private
    try:
        yield tmp
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_C = TypeVar("_C", bound="Closing")


class Closing:
    """``with`` support for objects whose ``close()`` releases everything they hold."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
