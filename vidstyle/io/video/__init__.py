"""Video decoding and encoding on top of PyAV (FFmpeg)."""

import cv2  # noqa: F401  (before PyAV: loading FFmpeg's libraries first makes HighGUI windows hang)

# isort: split
from ..ffmpeglog import ffmpeg_logging
from .reader import MAX_FRAME_PIXELS, VideoInfo, VideoReader, is_video_file, probe
from .writer import FORMATS, VideoWriter

__all__ = [
    "FORMATS",
    "MAX_FRAME_PIXELS",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "ffmpeg_logging",
    "is_video_file",
    "probe",
]
