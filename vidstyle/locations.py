"""What a user-typed input or output names: the one place that tells a stream URL, a
camera, an image sequence, a folder and a file apart (``vidstyle.sources`` and
``vidstyle.sinks`` open what it says; ``vidstyle.camera`` opens live sources by it)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from .errors import VidstyleError

#: a printf-style frame number in a sequence pattern: ``%d``, ``%05d``
NUMBER = re.compile(r"%(0?\d*)d")


def is_url(text: str) -> bool:
    """A stream or remote file: ``rtsp://``, ``http(s)://``, ``udp://``..."""
    return "://" in text


def is_camera(text: str) -> bool:
    """A camera index (``0``) or a character device (``/dev/video0``)."""
    if text.strip().isdigit():
        return True
    try:
        return stat.S_ISCHR(os.stat(text).st_mode)
    except OSError:
        return False


def is_pattern(text: str) -> bool:
    """Whether ``text`` names an image sequence by a printf-style number (``out/%05d.png``)."""
    return NUMBER.search(Path(text).name) is not None


def names_folder(output: str | Path) -> bool:
    """Whether an output names a folder for a batch: an existing folder, or a name ending in
    a slash or without a suffix (not an image sequence)."""
    text = str(output)
    if is_pattern(text):
        return False
    return Path(text).is_dir() or text.endswith(("/", os.sep)) or not Path(text).suffix


def natural_key(name: str) -> list[int | str]:
    """Sort key that puts ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def numbered_files(pattern: str) -> list[tuple[int, Path]]:
    """The files a ``%05d`` pattern matches (with a number of any width), by number."""
    path = Path(pattern)
    if not path.parent.is_dir():
        return []
    head, _, tail = NUMBER.split(path.name, maxsplit=1)
    match = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail)).fullmatch
    found = ((m, p) for p in path.parent.iterdir() if (m := match(p.name)) and p.is_file())
    return sorted((int(m.group(1)), p) for m, p in found)


def beside(input: str | Path, tag: str, suffix: str | None = None, folder: Path | None = None) -> Path:
    """The default output for a file: ``NAME.TAG.EXT`` beside it (or in ``folder``; ``EXT``:
    ``suffix`` or the input's), numbered ``NAME.TAG.2.EXT``, ``.3``... where that is taken,
    so that nothing is ever replaced. Refused for what is not a file: there an output must
    be named."""
    path = Path(input)
    if not path.is_file():
        raise VidstyleError(f"{input} is not a file: name the output with -o")
    ext = path.suffix if suffix is None else suffix
    tag = Path(tag).stem  # a style given as a weights file or a painting: its file's stem
    folder = path.parent if folder is None else Path(folder)
    candidate, number = folder / f"{path.stem}.{tag}{ext}", 1
    while candidate.exists():
        number += 1
        candidate = folder / f"{path.stem}.{tag}.{number}{ext}"
    return candidate
