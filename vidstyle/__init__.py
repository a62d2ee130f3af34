"""vidstyle: neural style transfer for videos, images and webcams.

The Python API behind the ``vidstyle`` command line::

    import vidstyle
    stylizer = vidstyle.FastStylizer("starry_night")
    vidstyle.stylize_media("in.mp4", "out.mp4", stylizer)
"""

import cv2  # noqa: F401  (before PyAV: loading FFmpeg's libraries first makes HighGUI windows hang)

from .errors import VidstyleError
from .stylize import StylizeResult, stylize_media
from .stylizer import FastStylizer
from .weights import Style, list_styles, load_style, save_style

__version__ = "0.1.0"
__all__ = [
    "FastStylizer",
    "Style",
    "StylizeResult",
    "VidstyleError",
    "list_styles",
    "load_style",
    "save_style",
    "stylize_media",
]
