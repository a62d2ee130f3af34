"""Atomic output files: write beside the target, rename only on success."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from .errors import VidstyleError


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same path once resolved, or a link to it."""
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


def check_output_path(output: Path, *, inputs: tuple[Path, ...] = (), overwrite: bool) -> None:
    """Refuse outputs that would destroy an input or an existing file, or cannot be written."""
    for src in inputs:
        if same_file(output, src):
            raise VidstyleError(f"output {output} is the same file as the input; choose another path")
    if output.is_dir():  # checked first: --overwrite would not help
        raise VidstyleError(f"output {output} is a directory")
    if output.exists() and not overwrite:
        raise VidstyleError(f"output {output} already exists (use --overwrite to replace it)")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise VidstyleError(f"cannot write {output}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise VidstyleError(f"cannot write {output}: directory {parent} is not writable")


def require_folder(path: Path, what: str) -> None:
    """Refuse, naming ``what`` it is for, a folder that is missing or is a file."""
    if not Path(path).is_dir():
        state = "is a file, not a directory" if Path(path).exists() else "not found"
        raise VidstyleError(f"{what} {state}: {path}")


def check_writable_folder(folder: Path, what: str = "output folder") -> None:
    """Refuse a folder that cannot be written into, or made where it is missing: a file in
    its place (or in its parents' places), or a folder without write permission. Checked
    before any work, so that the error names the folder rather than a file inside it."""
    folder = Path(folder) if str(folder) else Path(".")
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor or "."))
    if not existing.is_dir():
        where = "" if existing == folder else f" ({existing} is a file)"
        raise VidstyleError(f"cannot write to {what} {folder}: it is not a directory{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == folder else f" (in {existing})"
        raise VidstyleError(f"cannot write to {what} {folder}: permission denied{where}")


def respect_umask(path: Path) -> None:
    """Give ``path`` the mode ``open()`` gives new files (0666 less the umask, typically 0644):
    temporary files start as 0600 (mkstemp, safetensors), which would make every output private."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``output`` (same suffix); rename it over ``output`` on success.

    On any exception, KeyboardInterrupt included, the temporary file is removed. Temporary
    files that a killed run (SIGKILL, power loss) left for the same output are removed first:
    their names carry the writer's process id.
    """
    output = Path(output)
    folder = output.parent if str(output.parent) else Path(".")
    _remove_orphans(folder, output)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{output.stem}.{os.getpid()}.", suffix=f".partial{output.suffix}", dir=folder
        )
    except OSError as exc:  # named by the output: the temporary name means nothing to a user
        raise OSError(exc.errno, exc.strerror, str(output)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    respect_umask(tmp)
    try:
        yield tmp
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _remove_orphans(folder: Path, output: Path) -> None:
    """Delete ``.STEM.PID.*.partial.SUFFIX`` files of ``output`` whose process is gone."""
    prefix = f".{output.stem}."
    for path in folder.glob(f"{glob.escape(prefix)}*.partial{glob.escape(output.suffix)}"):
        pid = path.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


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
