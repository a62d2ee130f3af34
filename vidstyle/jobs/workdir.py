"""The folder of a resumable job: its finished pieces and a manifest of how they were made.

HQ mode keeps finished frames, the Ray backend finished segments. Each piece is written
atomically, so a stop or a kill loses only the pieces in progress; the manifest records the
job's settings, so a rerun with the same settings resumes and one with other settings is
refused (``--restart`` removes the old job's pieces instead of mixing two jobs').

The folder may be the user's: vidstyle removes only what its manifest says it wrote. Each
piece's name is recorded there before the piece is written (:meth:`WorkDir.claim`), so a
kill at any moment leaves nothing of vidstyle's unrecorded. A folder that holds files but
no vidstyle manifest is refused, and is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import VidstyleError
from ..io.fileio import atomic_output, remove_orphans

MANIFEST_NAME = "manifest.json"
#: the first key of every manifest vidstyle writes: another program's manifest.json lacks it
MARKER = ("vidstyle", "work folder")


class WorkDir:
    """A job's folder: ``job`` (JSON-able settings) and ``done`` (records of finished pieces,
    by key) in the manifest, the pieces themselves beside it, each name in the manifest's
    ``files`` (a name ending in ``/`` is a folder of the job's).

    Subclasses say what the pieces are called in messages (:attr:`noun`) and which files
    a piece folder holds (:attr:`inner`, globs).
    """

    noun = "files"
    inner: tuple[str, ...] = ()

    def __init__(self, path: Path, job: dict[str, Any], restart: bool = False) -> None:
        self.path = Path(path)
        made = self._prepare()
        old = self._read()
        if old is None and not (made or _empty(self.path)):
            raise self._foreign()
        old = old if old is not None else {"made_folder": made}
        if "damaged" in old and not restart:
            raise VidstyleError(
                f"work directory {self.path} has a damaged {MANIFEST_NAME} (cut short): "
                "use {restart} to start over",
                settings=("restart",),
            )
        same = "job" in old and old["job"] == job
        if "job" in old and not same and not restart:
            changed = sorted(changed_keys(old["job"] or {}, job))
            raise VidstyleError(
                f"work directory {self.path} holds {self.noun} made with other settings "
                f"(changed: {', '.join(changed) or 'format'}); use the same settings to resume, "
                "or {restart} to start over",
                settings=("restart",),
            )
        self._adopt(old)
        self.job = job
        if not same:
            self.done = {}
            self.discard(*self.files)
        self._write()

    @classmethod
    def existing(cls, path: Path) -> WorkDir:
        """The work folder at ``path`` as its manifest describes it (for :meth:`remove`);
        a one-line error where it holds no manifest of vidstyle's."""
        work = cls.__new__(cls)
        work.path = Path(path)
        old = work._read()
        if old is None:
            raise work._foreign()
        work._adopt(old)
        work.job = old.get("job")
        return work

    def _adopt(self, manifest: dict[str, Any]) -> None:
        """Take the files, folder and finished pieces a manifest records."""
        self.made_folder = bool(manifest.get("made_folder"))
        self.files: list[str] = list(manifest.get("files") or [])
        self.done: dict[str, Any] = dict(manifest.get("done") or {})

    def _prepare(self) -> bool:
        """Make the folder (writable); whether it was made here."""
        if self.path.exists() and not self.path.is_dir():
            raise VidstyleError(f"work directory {self.path} exists and is not a directory")
        made = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidstyleError(f"cannot create work directory {self.path}: {exc.strerror or exc}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise VidstyleError(
                f"work directory {self.path} is not writable (choose another with {{work_dir}})",
                settings=("work_dir",),
            )
        remove_orphans(self.path, self.path / MANIFEST_NAME)  # of a run killed as it began
        return made

    def _foreign(self) -> VidstyleError:
        return VidstyleError(f"work folder {self.path} holds other files; give an empty or new folder")

    def claim(self, *names: str) -> None:
        """Record ``names`` (relative; a folder's ending in ``/``) as this job's before they
        are written. A name that exists unrecorded is not vidstyle's: refused, not replaced."""
        new = [name for name in names if name not in self.files]
        for name in new:
            if os.path.lexists(self.path / name):
                raise VidstyleError(
                    f"work folder {self.path} holds {name}, which vidstyle did not write; "
                    "move it away or give another folder"
                )
        if new:
            self.files += new
            self._write()

    def owns(self, name: str) -> bool:
        return name in self.files

    def finish(self, key: str, record: dict[str, Any]) -> None:
        """Record a piece as done (its file already in place)."""
        self.done[key] = record
        self._write()

    def discard(self, *names: str) -> None:
        """Remove recorded pieces (a folder: the files of :attr:`inner` in it, or the job of
        its own manifest, then the folder if that empties it) and forget them."""
        for name in names:
            path = self.path / name
            if name.endswith("/"):
                _remove_folder(path, self.inner)
            else:
                remove_orphans(path.parent, path)
                path.unlink(missing_ok=True)
        self.files = [name for name in self.files if name not in names]

    def remove(self) -> None:
        """Remove what vidstyle wrote here, and the folder if vidstyle made it and it is empty."""
        self.discard(*self.files)
        (self.path / MANIFEST_NAME).unlink(missing_ok=True)
        if self.made_folder:
            with contextlib.suppress(OSError):
                self.path.rmdir()

    def _read(self) -> dict[str, Any] | None:
        """The manifest: None where there is none; ``damaged`` set (with the names salvaged)
        where vidstyle's cannot be read; refused where it is another program's."""
        path = self.path / MANIFEST_NAME
        if not os.path.lexists(path):
            return None
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            raise self._foreign() from None
        try:
            manifest = json.loads(text)
        except json.JSONDecodeError:
            manifest = None
        if isinstance(manifest, dict) and manifest.get(MARKER[0]) == MARKER[1]:
            return manifest
        if manifest is None and _STARTS_AS_OURS.match(text):
            return {"damaged": True, "files": _salvage_files(text)}
        raise self._foreign()

    def _write(self) -> None:
        manifest = {
            MARKER[0]: MARKER[1],
            "made_folder": self.made_folder,
            "files": self.files,
            "job": self.job,
            "done": dict(sorted(self.done.items())),
        }
        with atomic_output(self.path / MANIFEST_NAME) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2))


def check_work_folder(path: Path) -> None:
    """Refuse, before any costly step, a folder that holds files but no manifest of vidstyle's."""
    if Path(path).is_dir() and not _empty(Path(path)):
        WorkDir.existing(path)


#: how a manifest of vidstyle's begins, for one cut short
_STARTS_AS_OURS = re.compile(r'\s*\{\s*"vidstyle"\s*:\s*"work folder"')


def _salvage_files(text: str) -> list[str]:
    """The names a cut-short manifest still lists whole."""
    found = re.search(r'"files"\s*:\s*\[([^\]]*)', text)
    names = re.findall(r'"((?:[^"\\]|\\.)*)"', found.group(1)) if found else []
    return [json.loads(f'"{name}"') for name in names]


def _empty(folder: Path) -> bool:
    return next(folder.iterdir(), None) is None


def _remove_folder(folder: Path, inner: tuple[str, ...]) -> None:
    """Remove a piece folder's files: those its own manifest records, or those of ``inner``."""
    if not folder.is_dir():
        return
    if (folder / MANIFEST_NAME).is_file():
        with contextlib.suppress(VidstyleError):
            WorkDir.existing(folder).remove()
    for pattern in inner:
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted names of the settings that differ between two nested dicts."""
    changed: set[str] = set()
    for key in set(old) | set(new):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed |= changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.add(f"{prefix}{key}")
    return changed
