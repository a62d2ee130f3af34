"""Video decoding and encoding on top of PyAV (FFmpeg)."""

import os

import av

from .reader import MAX_FRAME_PIXELS, VideoInfo, VideoReader, is_video_file, probe
from .writer import DEFAULT_CRF, DEFAULT_PRESET, FORMATS, VideoWriter

__all__ = [
    "DEFAULT_CRF",
    "DEFAULT_PRESET",
    "FORMATS",
    "MAX_FRAME_PIXELS",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "ffmpeg_logging",
    "is_video_file",
    "probe",
]

#: FFmpeg's AV_LOG_QUIET: no log line at all
_QUIET = -8


def ffmpeg_logging(verbose: bool) -> None:
    """Let FFmpeg print its own log lines on stderr (``verbose``), or keep it quiet.

    Quiet by default, as lines such as ``moov atom not found`` would come before
    vidstyle's one-line error and say less. Both FFmpeg builds in the process follow:
    PyAV's (files) and OpenCV's (cameras and streams). OpenCV reads the setting once, when
    it first opens a capture, so call this before any camera is opened.
    """
    if verbose:
        av.logging.restore_default_callback()
        av.logging.set_libav_level(av.logging.INFO)
        # OpenCV's default: errors, on stderr (a level of our own would print on stdout)
        os.environ.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    else:
        av.logging.set_level(None)  # PyAV's own default: a callback that drops every line
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = str(_QUIET)
