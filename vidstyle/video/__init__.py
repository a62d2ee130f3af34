"""Video decoding and encoding on top of PyAV (FFmpeg)."""

from .reader import VideoFrame, VideoInfo, VideoReader, is_video_file, probe
from .writer import FORMATS, VideoWriter

__all__ = [
    "FORMATS",
    "VideoFrame",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "is_video_file",
    "probe",
]
