"""Frame sinks: where stylized frames go, chosen from the output a user names.

:func:`open_sink` is the one place that decides: a ``%05d`` pattern is an image sequence,
an image suffix one image, a video suffix a video file (with the source's timestamps and
audio). Every file appears whole or not at all (:func:`~vidstyle.io.fileio.atomic_output`).
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from ..errors import VidstyleError
from ..settings import EncodingSettings
from .fileio import (
    OutputLock,
    atomic_output,
    check_output_path,
    check_writable_folder,
    make_folders,
    remove_empty_folders,
    same_file,
)
from .frames import Frame, FrameSink, SourceInfo
from .images import is_image_path, write_image
from .locations import Pattern, is_pattern, parse_pattern
from .video import FORMATS, VideoWriter


class VideoFileSink:
    """A video file written at the source's timestamps, its audio carried over.

    The encoder starts with the first frame, whose size the video takes. Without
    ``overwrite`` a file that appeared at the path meanwhile is kept (the job fails).
    """

    def __init__(
        self,
        path: Path,
        info: SourceInfo,
        *,
        encoding: EncodingSettings = EncodingSettings(),
        encoder_threads: int = 0,
        overwrite: bool = True,
    ) -> None:
        self.path, self.info, self.overwrite = Path(path), info, overwrite
        self._options = {"encoding": encoding, "encoder_threads": encoder_threads}
        self._stack = contextlib.ExitStack()
        self._writer: VideoWriter | None = None
        self.last_time: float | None = None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        if self._writer is None:
            self._writer = self._open(image.shape[1], image.shape[0])
        self._writer.write(image, frame.pts)
        self.last_time = frame.time

    def _open(self, width: int, height: int) -> VideoWriter:
        info = self.info
        tmp = self._stack.enter_context(atomic_output(self.path, replace=self.overwrite))
        writer = VideoWriter(
            tmp,
            width,
            height,
            time_base=info.time_base or 1 / Fraction(info.fps).limit_denominator(1001),
            fps=info.fps,
            audio_source=info.audio,
            **self._options,
        )
        return self._stack.enter_context(writer)

    def cut_short(self, frame_seconds: float) -> None:
        """The carried audio ends with the video, ``frame_seconds`` after its last frame."""
        if self._writer is not None and self.last_time is not None:
            self._writer.set_max_time(self.last_time + frame_seconds)

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.__exit__(exc_type, exc, tb)


class ImageFileSink:
    """One image file: the source must have one frame, written when the job finishes
    (replacing a file only with ``overwrite``)."""

    def __init__(self, path: Path, *, overwrite: bool = True) -> None:
        self.path, self.overwrite = Path(path), overwrite
        self._image: np.ndarray | None = None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        if self._image is not None:
            raise VidstyleError(
                f"output {self.path} is one image but the input has several frames; "
                "name a video file or an image sequence such as out/%05d.png"
            )
        self._image = image

    def cut_short(self, frame_seconds: float) -> None:
        """An image carries nothing beside its frame."""

    def __enter__(self) -> ImageFileSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self._image is not None:
            write_image(self.path, self._image, replace=self.overwrite)


class ImageSequenceSink:
    """Numbered image files from a printf pattern (``out/%05d.png``), numbered from 1 as
    FFmpeg numbers them; zero-padded numbers sort right in every tool.

    Each image is written whole, and replaces a file only with ``overwrite``; a lock file in
    the folder keeps a second run off the same pattern until this one ends. A stopped job
    (Ctrl-C, ``kill``) leaves the frames it finished; a failed one (disk full...) removes the
    frames and folders it made, never a file that was there before. After a finished job no
    file of an earlier, longer sequence (a name this pattern writes) is left beyond the
    last number.
    """

    def __init__(self, pattern: str | Pattern, *, overwrite: bool = True) -> None:
        self.pattern = parse_pattern(pattern) if isinstance(pattern, str) else pattern
        self.folder, self.overwrite = self.pattern.folder, overwrite
        self.count = 0
        self._new: list[Path] = []  # frames this run made (not replaced)
        self._made = make_folders(self.folder)
        name = f"{self.pattern.head}%0{self.pattern.width}d{self.pattern.tail}"
        try:
            self._lock = OutputLock(self.folder / f".{name}.lock", f"image sequence {self.folder / name}")
        except BaseException:
            remove_empty_folders(self._made)
            raise

    def path(self, number: int) -> Path:
        return self.pattern.path(number)

    def write(self, image: np.ndarray, frame: Frame) -> None:
        self.count += 1
        path = self.path(self.count)
        new = not path.exists()
        write_image(path, image, replace=self.overwrite)
        if new:
            self._new.append(path)

    def cut_short(self, frame_seconds: float) -> None:
        """Image files carry nothing beside their frames."""

    def __enter__(self) -> ImageSequenceSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None and self.overwrite:
                for number, path in self.pattern.files():
                    if number > self.count:
                        path.unlink()
            elif exc_type is not None and not issubclass(exc_type, KeyboardInterrupt):
                for path in self._new:
                    path.unlink(missing_ok=True)
        finally:
            self._lock.release()
            remove_empty_folders(self._made)


def _check_sequence(pattern: str, inputs: tuple[Path, ...], overwrite: bool) -> Pattern:
    """The parsed pattern, once it is known to name images and no input, and to replace
    frames only with ``overwrite``."""
    parsed = parse_pattern(pattern)
    if not is_image_path(Path(pattern)):
        raise VidstyleError(f"output pattern {pattern} must end in an image type (.png, .jpg...)")
    check_writable_folder(Path(pattern).parent, "the output pattern's folder")
    existing = [path for _, path in parsed.files()]
    if any(same_file(path, source) for path in existing for source in inputs):
        raise VidstyleError(f"output pattern {pattern} names the input's own files")
    if existing and not overwrite:
        raise VidstyleError(
            f"{parsed.folder} already holds frames matching {Path(pattern).name} "
            "(use {overwrite} to replace them)",
            settings=("overwrite",),
        )
    parent = next((p for p in (parsed.folder, *parsed.folder.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise VidstyleError(f"cannot write {pattern}: {parent} is not a folder")
    return parsed


def open_sink(
    output: str | Path,
    info: SourceInfo,
    *,
    inputs: tuple[Path, ...] = (),
    overwrite: bool = False,
    encoding: EncodingSettings = EncodingSettings(),
    encoder_threads: int = 0,
) -> FrameSink:
    """The sink for ``output``, checked before any frame is made (a one-line
    :class:`VidstyleError` for an output that exists, is an input, or has no known type)."""
    text = str(output)
    if is_pattern(text):
        return ImageSequenceSink(_check_sequence(text, inputs, overwrite), overwrite=overwrite)
    path = Path(text)
    check_output_path(path, inputs=inputs, overwrite=overwrite)
    if is_image_path(path):
        if info.frame_count is not None and info.frame_count > 1:
            raise VidstyleError(
                f"output {path} is one image but {info.label} has {info.frame_count} frames; "
                "name a video file or an image sequence such as out/%05d.png"
            )
        return ImageFileSink(path, overwrite=overwrite)
    if path.suffix.lower() in FORMATS:
        return VideoFileSink(
            path, info, encoding=encoding, encoder_threads=encoder_threads, overwrite=overwrite
        )
    raise VidstyleError(
        f"unsupported output type {path.suffix or '(none)'!r}: use a video ({', '.join(FORMATS)}), "
        "an image (.png, .jpg...) or an image sequence such as out/%05d.png"
    )
