"""What a user-typed input or output names: the one place that tells a stream URL, a
camera, an image sequence, a folder and a file apart (``vidstyle.io.sources`` and
``vidstyle.io.sinks`` open what it says; ``vidstyle.io.camera`` opens live sources by it)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import VidstyleError

#: a printf-style number in a file name (``%d``, ``%05d``, but also ones a sequence may not
#: use, such as ``%5d``), or a literal ``%%``
NUMBER = re.compile(r"%%|%[-+ #0-9.$]*d")


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
    """Whether ``text`` names an image sequence by a printf-style number (``out/%05d.png``).

    A file that exists is itself, whatever its name (``50%done.mp4``); ``%%`` is a literal %.
    """
    if any(m.group() != "%%" for m in NUMBER.finditer(Path(text).name)):
        return not os.path.lexists(text)
    return False


@dataclass(frozen=True)
class Pattern:
    """An image sequence's names: ``head`` + the number (``width`` digits at least) + ``tail``,
    in ``folder``, as ``printf`` writes them."""

    folder: Path
    head: str
    width: int
    tail: str

    def path(self, number: int) -> Path:
        return self.folder / f"{self.head}{number:0{self.width}d}{self.tail}"

    def number(self, name: str) -> int | None:
        """The number of a name this pattern writes, None for any other (``2024.png`` is not
        ``%05d.png``'s: it would write ``02024.png``)."""
        if not (name.startswith(self.head) and name.endswith(self.tail)):
            return None
        digits = name[len(self.head) : len(name) - len(self.tail)]
        if not (digits.isascii() and digits.isdigit()):
            return None
        return int(digits) if f"{int(digits):0{self.width}d}" == digits else None

    def files(self) -> list[tuple[int, Path]]:
        """The existing files this pattern writes, by number."""
        if not self.folder.is_dir():
            return []
        found = ((self.number(p.name), p) for p in self.folder.iterdir())
        return sorted((n, p) for n, p in found if n is not None and p.is_file())


def parse_pattern(text: str) -> Pattern:
    """The :class:`Pattern` of ``text``: its file name holds one ``%d`` or ``%0Nd`` and any
    literal % as ``%%``; a one-line error for anything else."""
    path = Path(text)
    parts = re.split(r"(%%|%0\d+d|%d|%)", path.name)
    numbers = [i for i, part in enumerate(parts) if part.startswith("%") and part not in ("%", "%%")]
    if len(numbers) != 1 or "%" in parts:
        raise VidstyleError(
            f"image sequence {text} must hold one frame number such as %05d in its file name "
            "(and write a literal % as %%)"
        )
    at = numbers[0]
    width = int(parts[at][1:-1] or 0)
    return Pattern(path.parent, _unescape(parts[:at]), width, _unescape(parts[at + 1 :]))


def _unescape(parts: list[str]) -> str:
    return "".join("%" if part == "%%" else part for part in parts)


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
    """The files a ``%05d`` pattern matches (with a number of any width, as an input
    sequence is read), by number."""
    parsed = parse_pattern(pattern)
    if not parsed.folder.is_dir():
        return []
    match = re.compile(re.escape(parsed.head) + r"(\d+)" + re.escape(parsed.tail)).fullmatch
    found = ((m, p) for p in parsed.folder.iterdir() if (m := match(p.name)) and p.is_file())
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
