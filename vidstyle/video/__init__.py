"""Video decoding and encoding on top of PyAV (FFmpeg)."""

from .reader import VideoFrame, VideoInfo, VideoReader, is_video_file, probe
from .writer import DEFAULT_PRESET, FORMATS, VideoWriter

__all__ = [
    "DEFAULT_PRESET",
    "FORMATS",
    "VideoFrame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "is_video_file",
    "probe",
]
