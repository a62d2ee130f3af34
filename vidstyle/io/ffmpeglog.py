"""FFmpeg's own log lines, shown or not: set by the command line for every command, before
any video or camera is opened, without loading PyAV where it is not loaded yet."""

from __future__ import annotations

import os
import sys

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
        import cv2  # noqa: F401  (before PyAV: loading FFmpeg's libraries first makes HighGUI windows hang)

        # isort: split
        import av

        av.logging.restore_default_callback()
        av.logging.set_libav_level(av.logging.INFO)
        # OpenCV's default: errors, on stderr (a level of our own would print on stdout)
        os.environ.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    else:
        if "av" in sys.modules:  # else PyAV starts quiet when it is loaded
            sys.modules["av"].logging.set_level(None)  # PyAV's default: a callback that drops every line
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = str(_QUIET)
