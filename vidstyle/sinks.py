"""Frame sinks: where stylized frames go, chosen from the output a user names.

:func:`open_sink` is the one place that decides: a ``%05d`` pattern is an image sequence,
an image suffix one image, a video suffix a video file (with the source's timestamps and
audio). Every file appears whole or not at all (:func:`~vidstyle.fileio.atomic_output`).
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from .errors import VidstyleError
from .fileio import atomic_output, check_output_path, check_writable_folder, same_file
from .frames import Frame, FrameSink, SourceInfo
from .images import is_image_path, write_image
from .locations import NUMBER, is_pattern, numbered_files
from .video import DEFAULT_CRF, DEFAULT_PRESET, FORMATS, VideoWriter


class VideoFileSink:
    """A video file written at the source's timestamps, its audio carried over.

    The encoder starts with the first frame, whose size the video takes.
    """

    def __init__(
        self,
        path: Path,
        info: SourceInfo,
        *,
        crf: int = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
        encoder_threads: int = 0,
    ) -> None:
        self.path, self.info = Path(path), info
        self._options = {"crf": crf, "preset": preset, "encoder_threads": encoder_threads}
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
        tmp = self._stack.enter_context(atomic_output(self.path))
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

    def end_audio_at(self, seconds: float) -> None:
        """Cut the carried audio at ``seconds`` (the video was cut short of its source)."""
        if self._writer is not None:
            self._writer.set_max_time(seconds)

    def __enter__(self) -> VideoFileSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.__exit__(exc_type, exc, tb)


class ImageFileSink:
    """One image file: the source must have one frame, written when the job finishes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._image: np.ndarray | None = None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        if self._image is not None:
            raise VidstyleError(
                f"output {self.path} is one image but the input has several frames; "
                "name a video file or an image sequence such as out/%05d.png"
            )
        self._image = image

    def __enter__(self) -> ImageFileSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self._image is not None:
            write_image(self.path, self._image)


class ImageSequenceSink:
    """Numbered image files from a printf pattern (``out/%05d.png``), numbered from 1 as
    FFmpeg numbers them; zero-padded numbers sort right in every tool.

    Each image is written whole; a stopped job leaves the frames it finished. After a
    finished job no file of an earlier, longer sequence is left beyond the last number.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.folder = Path(pattern).parent
        self.count = 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, number: int) -> Path:
        return Path(self.pattern % number)

    def write(self, image: np.ndarray, frame: Frame) -> None:
        self.count += 1
        write_image(self.path(self.count), image)

    def __enter__(self) -> ImageSequenceSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            for number, path in numbered_files(self.pattern):
                if number > self.count:
                    path.unlink()


def _check_sequence(pattern: str, inputs: tuple[Path, ...], overwrite: bool) -> None:
    if len(NUMBER.findall(Path(pattern).name)) != 1 or "%" in str(Path(pattern).parent):
        raise VidstyleError(
            f"output pattern {pattern} must hold one frame number such as %05d, in its file name"
        )
    if not is_image_path(Path(pattern)):
        raise VidstyleError(f"output pattern {pattern} must end in an image type (.png, .jpg...)")
    check_writable_folder(Path(pattern).parent, "the output pattern's folder")
    existing = [path for _, path in numbered_files(pattern)]
    if any(same_file(path, source) for path in existing for source in inputs):
        raise VidstyleError(f"output pattern {pattern} names the input's own files")
    if existing and not overwrite:
        raise VidstyleError(
            f"{Path(pattern).parent} already holds frames matching {Path(pattern).name} "
            "(use --overwrite to replace them)"
        )


def open_sink(
    output: str | Path,
    info: SourceInfo,
    *,
    inputs: tuple[Path, ...] = (),
    overwrite: bool = False,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    encoder_threads: int = 0,
) -> FrameSink:
    """The sink for ``output``, checked before any frame is made (a one-line
    :class:`VidstyleError` for an output that exists, is an input, or has no known type)."""
    text = str(output)
    if is_pattern(text):
        _check_sequence(text, inputs, overwrite)
        return ImageSequenceSink(text)
    path = Path(text)
    check_output_path(path, inputs=inputs, overwrite=overwrite)
    if is_image_path(path):
        if info.frame_count is not None and info.frame_count > 1:
            raise VidstyleError(
                f"output {path} is one image but {info.label} has {info.frame_count} frames; "
                "name a video file or an image sequence such as out/%05d.png"
            )
        return ImageFileSink(path)
    if path.suffix.lower() in FORMATS:
        return VideoFileSink(path, info, crf=crf, preset=preset, encoder_threads=encoder_threads)
    raise VidstyleError(
        f"unsupported output type {path.suffix or '(none)'!r}: use a video ({', '.join(FORMATS)}), "
        "an image (.png, .jpg...) or an image sequence such as out/%05d.png"
    )
