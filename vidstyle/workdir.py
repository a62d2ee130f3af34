"""The folder of a resumable job: its finished pieces and a manifest of how they were made.

HQ mode keeps finished frames, the Ray backend finished segments. Each piece is written
atomically, so a stop or a kill loses only the pieces in progress; the manifest records the
job's settings, so a rerun with the same settings resumes and one with other settings is
refused (``--restart`` empties the folder instead of mixing two jobs' pieces).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import VidstyleError
from .fileio import atomic_output

MANIFEST_NAME = "manifest.json"
#: what :meth:`WorkDir._read` returns for a manifest cut short or not JSON: no job's settings
_DAMAGED: dict[str, Any] = {}


class WorkDir:
    """A job's folder: ``job`` (JSON-able settings) and ``done`` (records of finished pieces,
    by key) in the manifest, the pieces themselves beside it.

    Subclasses say what the pieces are: :attr:`pieces` (a glob, emptied when the job
    starts over) and :attr:`noun` (for messages).
    """

    pieces = "*"
    noun = "files"

    def __init__(self, path: Path, job: dict[str, Any], restart: bool = False) -> None:
        self.path = Path(path)
        self._prepare()
        old = self._read()
        if old is _DAMAGED and not restart:
            raise VidstyleError(
                f"work directory {self.path} has a damaged {MANIFEST_NAME} (cut short, or not "
                "JSON): use --restart to start over"
            )
        same = old is not None and old.get("job") == job
        if old is not None and not same and not restart:
            changed = sorted(changed_keys(old.get("job") or {}, job))
            raise VidstyleError(
                f"work directory {self.path} holds {self.noun} made with other settings "
                f"(changed: {', '.join(changed) or 'format'}); use the same settings to resume, "
                "or --restart to start over"
            )
        self.job = job
        self.done: dict[str, Any] = dict(old.get("done") or {}) if same else {}
        if not same:
            for piece in self.path.glob(self.pieces):
                piece.unlink()
        self._write()

    def _prepare(self) -> None:
        """Make the folder (writable) and drop temporary files a killed run left."""
        if self.path.exists() and not self.path.is_dir():
            raise VidstyleError(f"work directory {self.path} exists and is not a directory")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VidstyleError(f"cannot create work directory {self.path}: {exc.strerror or exc}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise VidstyleError(
                f"work directory {self.path} is not writable (choose another with --work-dir)"
            )
        for stale in self.path.glob(".*.partial.*"):
            stale.unlink(missing_ok=True)

    def finish(self, key: str, record: dict[str, Any]) -> None:
        """Record a piece as done (its file already in place)."""
        self.done[key] = record
        self._write()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _read(self) -> dict[str, Any] | None:
        """The manifest; None where there is none, :data:`_DAMAGED` where it cannot be read
        (refused, unless restarting)."""
        path = self.path / MANIFEST_NAME
        if not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return _DAMAGED
        return manifest if isinstance(manifest, dict) else _DAMAGED

    def _write(self) -> None:
        manifest = {"job": self.job, "done": dict(sorted(self.done.items()))}
        with atomic_output(self.path / MANIFEST_NAME) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))


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
