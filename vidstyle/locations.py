"""What a user-typed input or output names: the one place that tells a stream URL, a
camera, an image sequence, a folder and a file apart (``vidstyle.sources`` and
``vidstyle.sinks`` open what it says; ``vidstyle.camera`` opens live sources by it)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

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


#: files that are neither regular files, folders nor character devices (cameras), by what
#: a message calls them: reading one would wait for a writer that may never come (a FIFO),
#: or read a whole disk (a block device)
_SPECIAL = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISBLK, "a block device"),
)


def special_file_problem(text: str) -> str | None:
    """Why the path ``text`` cannot be read as an input, if it is such a special file."""
    try:
        mode = os.stat(text).st_mode
    except (OSError, ValueError):
        return None
    kind = next((name for test, name in _SPECIAL if test(mode)), None)
    if kind is None:
        return None
    return f"input {text} is {kind}, not a file: save the video to a file, or give a stream URL or camera"


def is_pattern(text: str) -> bool:
    """Whether ``text`` names an image sequence by a printf-style number (``out/%05d.png``)."""
    return NUMBER.search(Path(text).name) is not None


def names_folder(output: str | Path) -> bool:
    """Whether an output names a folder for a batch: an existing folder, or a name ending in
    a slash (not an image sequence)."""
    text = str(output)
    if is_pattern(text):
        return False
    return Path(text).is_dir() or text.endswith(("/", os.sep))


def output_name_problem(output: str) -> str | None:
    """Why ``output`` names neither a folder, a sequence nor a file of a known kind by its
    form alone, or None: an empty name, or a new name without a type, which could be meant
    as either a file or a folder (so nothing is guessed)."""
    if not output.strip():
        return "the output is an empty name"
    if names_folder(output) or is_pattern(output) or Path(output).suffix:
        return None
    name = Path(output).name
    return (
        f"output {output} has no file type: end it with / for a folder ({output}/), or name a "
        f"file such as {name}.mp4 or {name}.png"
    )


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
