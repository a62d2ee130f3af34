"""Frame sources: what a user names as input, opened as a :class:`~vidstyle.io.frames.FrameSource`.

:func:`open_source` is the one place that decides what an input is: a stream URL
(rtsp, http...), a camera (an index or a device), an image sequence (a ``%05d`` pattern
or a folder of images), an image, or a video file.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from ..defaults import DEFAULT_SEQUENCE_FPS
from ..errors import SettingsError, VidstyleError
from .camera import Camera, CameraLost
from .fileio import Closing
from .frames import Frame, FrameSource, SourceInfo
from .images import is_image_path, read_image, resize_max
from .locations import is_camera, is_pattern, is_url, natural_key, numbered_files, special_file_problem
from .video import VideoReader
from .video.reader import STREAM_TIMEOUT


class VideoSource(Closing):
    """A video file or stream URL, decoded with its timestamps (see :class:`VideoReader`)."""

    def __init__(
        self,
        location: Path | str,
        *,
        max_frames: int | None = None,
        max_size: int | None = None,
        timeout: float = STREAM_TIMEOUT,
    ) -> None:
        self._reader = VideoReader(location, max_frames=max_frames, max_size=max_size, timeout=timeout)
        video = self._reader.info
        url = is_url(str(location))
        self.info = SourceInfo(
            label=str(location),
            width=video.width,
            height=video.height,
            fps=video.fps,
            time_base=video.time_base,
            frame_count=self._reader.expected_frames,
            # a stream's audio would need a second connection: files only
            audio=Path(location) if video.has_audio and not url else None,
            live=url and video.duration is None,
            files=() if url else (Path(location),),
        )

    def __iter__(self) -> Iterator[Frame]:
        return iter(self._reader)  # the reader's frames are already numbered and stamped

    @property
    def lost_frames(self) -> int:
        return self._reader.lost_frames

    def close(self) -> None:
        self._reader.close()


class ImageSource(Closing):
    """One image file: a source of one frame."""

    def __init__(self, path: Path, *, max_size: int | None = None) -> None:
        self.path = Path(path)
        self._image = read_image(self.path, max_size=max_size)
        height, width = self._image.shape[:2]
        self.info = SourceInfo(
            str(path), width, height, DEFAULT_SEQUENCE_FPS, frame_count=1, files=(self.path,)
        )
        self.lost_frames = 0

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(self._image, 0.0, 0, 0, self.path.name)

    def close(self) -> None:
        pass


class ImageSequence(Closing):
    """Numbered images as the frames of a video, in natural order, at ``fps``.

    Every frame takes the first one's size (a video has one size). Unreadable images are
    skipped and counted in :attr:`lost_frames`, as a damaged video frame would be.
    """

    def __init__(
        self,
        paths: list[Path],
        label: str,
        *,
        fps: float = DEFAULT_SEQUENCE_FPS,
        max_frames: int | None = None,
        max_size: int | None = None,
    ) -> None:
        if not paths:
            raise VidstyleError(f"no images in {label}")
        if not fps > 0:
            raise SettingsError("fps", f"must be above 0, not {fps:g}")
        self.paths = paths[:max_frames]
        self.max_size = max_size
        first = read_image(self.paths[0], max_size=max_size)
        self._first = first
        self.info = SourceInfo(
            label,
            first.shape[1],
            first.shape[0],
            fps,
            time_base=1 / Fraction(fps).limit_denominator(1001),
            frame_count=len(self.paths),
            files=tuple(self.paths),
        )
        self.lost_frames = 0

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        size = (self.info.width, self.info.height)
        for index, path in enumerate(self.paths):
            try:
                image = self._first if index == 0 else read_image(path, max_size=self.max_size)
            except VidstyleError:
                self.lost_frames += 1
                continue
            if image.shape[1::-1] != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            yield Frame(image, index / self.info.fps, index, index, path.name)

    def close(self) -> None:
        pass


def sequence_paths(spec: str) -> list[Path]:
    """The images of a sequence: a folder's image files in natural order, or the files a
    ``%05d`` pattern matches, by number."""
    path = Path(spec)
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and is_image_path(p)]
        return sorted(found, key=lambda p: natural_key(p.name))
    return [p for _, p in numbered_files(spec)]


class CameraSource(Closing):
    """A live camera: the newest frame each time (frames the job is too slow for are skipped),
    stamped in milliseconds since the first, so a recording plays at real speed.

    ``camera`` is what :class:`~vidstyle.io.camera.Camera` opens: also a video file, played in
    real time as if it were a camera.
    """

    TIME_BASE = Fraction(1, 1000)

    def __init__(
        self,
        camera: str,
        *,
        max_frames: int | None = None,
        max_size: int | None = None,
        timeout: float = STREAM_TIMEOUT,
    ) -> None:
        self._camera = Camera(camera, timeout=timeout)
        self.max_frames, self.max_size = max_frames, max_size
        first = self._camera.read()
        if first is None:
            raise VidstyleError(f"no frame from {self._camera.name}")
        self._first = first
        height, width = resize_max(first.image, max_size).shape[:2]
        self.info = SourceInfo(
            self._camera.name, width, height, self._camera.fps, self.TIME_BASE, max_frames, live=True
        )
        self.lost_frames = 0
        #: why the camera stopped delivering, if it did
        self.lost: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the source ends or ``max_frames``; a camera that stops delivering
        (unplugged, stream dropped) ends it too, keeping what was captured."""
        frame, count = self._first, 0
        while frame is not None and (self.max_frames is None or count < self.max_frames):
            pts = round((frame.time - self._first.time) * 1000)
            yield Frame(resize_max(frame.image, self.max_size), frame.time, frame.index, pts)
            count += 1
            try:
                frame = self._camera.read()
            except CameraLost as exc:
                self.lost = str(exc)
                return

    def close(self) -> None:
        self._camera.close()


def check_input(spec: str | Path) -> None:
    """Refuse an input file, folder or sequence folder that does not exist (URLs and cameras
    are checked when opened)."""
    text = str(spec)
    if not text.strip():
        raise VidstyleError("an input is an empty name")
    problem = special_file_problem(text)
    if problem:
        raise VidstyleError(problem)
    if is_url(text) or is_camera(text):
        return
    path = Path(text).parent if is_pattern(text) else Path(text)
    if not path.exists():
        raise VidstyleError(f"input not found: {text}")


def open_source(
    spec: str | Path,
    *,
    max_size: int | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
    timeout: float = STREAM_TIMEOUT,
) -> FrameSource:
    """Open what the user named as input; a one-line :class:`VidstyleError` if it cannot be.

    ``fps`` is the rate of an image sequence (other sources have their own).
    """
    text = str(spec)
    check_input(text)
    if is_url(text):
        return VideoSource(text, max_frames=max_frames, max_size=max_size, timeout=timeout)
    if is_camera(text):
        return CameraSource(text, max_frames=max_frames, max_size=max_size, timeout=timeout)
    if is_pattern(text) or Path(text).is_dir():
        return ImageSequence(
            sequence_paths(text),
            text,
            fps=fps or DEFAULT_SEQUENCE_FPS,
            max_frames=max_frames,
            max_size=max_size,
        )
    path = Path(text)
    if is_image_path(path):
        return ImageSource(path, max_size=max_size)
    return VideoSource(path, max_frames=max_frames, max_size=max_size)
