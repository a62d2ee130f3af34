"""Atomic output files: write beside the target, rename only on success."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from ..errors import VidstyleError


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
    if output.is_dir():  # checked first: overwriting would not help
        raise VidstyleError(f"output {output} is a directory")
    if output.exists() and not overwrite:
        raise VidstyleError(
            f"output {output} already exists (use {{overwrite}} to replace it)", settings=("overwrite",)
        )
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
def atomic_output(output: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``output`` (same suffix); rename it to ``output`` on success.

    With ``replace`` False an ``output`` that appeared while the file was being written is
    kept and the job fails with "already exists": of two runs writing one new output, one
    wins and the other says so (see :func:`rename_new`).

    On any exception, KeyboardInterrupt included, the temporary file is removed. Temporary
    files that a killed run (SIGKILL, power loss) left for the same output are removed first:
    their names carry the writer's process id.
    """
    output = Path(output)
    folder = output.parent if str(output.parent) else Path(".")
    remove_orphans(folder, output)
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
        if replace:
            os.replace(tmp, output)
        else:
            _rename_new_output(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _rename_new_output(tmp: Path, output: Path) -> None:
    try:
        rename_new(tmp, output)
    except FileExistsError:
        raise VidstyleError(
            f"output {output} already exists (use {{overwrite}} to replace it)", settings=("overwrite",)
        ) from None


def rename_new(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists, in one step that no other process can
    come between: ``renameat2(RENAME_NOREPLACE)`` on Linux, else a hard link (which fails on
    an existing name) then removing ``src``. FileExistsError if ``dst`` exists."""
    if _renameat2_noreplace(src, dst):
        return
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as exc:  # a file system without hard links (FAT, some network shares)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        _reserve_then_replace(src, dst)
        return
    os.unlink(src)


def _reserve_then_replace(src: Path, dst: Path) -> None:
    """The last resort: claim the name with an exclusively created empty file, then rename over it."""
    os.close(os.open(dst, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    os.replace(src, dst)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _renameat2_noreplace(src: Path, dst: Path) -> bool:
    """Whether ``renameat2(RENAME_NOREPLACE)`` renamed ``src`` to ``dst`` (False: not
    available here, in this C library or on this file system)."""
    call = _renameat2()
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise FileExistsError(code, os.strerror(code), str(dst))
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(dst))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """The C library's ``renameat2`` (glibc 2.28 and later); None without it."""
    try:
        call = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


def remove_orphans(folder: Path, output: Path) -> None:
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


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those it created, outermost first,
    so that a job that fails can remove exactly them (:func:`remove_empty_folders`)."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VidstyleError(f"cannot create folder {folder}: {exc.strerror or exc}") from None
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove the ``folders`` (outermost first, as :func:`make_folders` lists them) that are empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


class OutputLock:
    """A hidden lock file beside an output that many files make (an image sequence), held
    while one run writes them, so that a second run on the same output stops at once
    instead of mixing its files with the first's.

    The lock is the kernel's (``flock``), so a killed run holds it no more; its file, which
    names the holder's process, is removed when the run ends.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise VidstyleError(
                    f"{what} is being written by another run (process {holder}); wait for it to end"
                ) from None
            if self._still_named(fd):
                break
            os.close(fd)  # removed by the run that held it before us: lock the new file
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def _still_named(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


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
