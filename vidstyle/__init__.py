"""vidstyle: neural style transfer for videos, images and webcams.

The Python API behind the ``vidstyle`` command line::

    import vidstyle
    stylizer = vidstyle.FastStylizer("starry_night")
    vidstyle.stylize_media("in.mp4", "out.mp4", stylizer)
"""

import os

# OpenMP threads that finish their part of a network layer sleep instead of spinning until
# the next: spinning threads take the cores that other programs (a video call beside the
# virtual camera) and vidstyle's own decode and encode threads need. It must be set before
# PyTorch loads its OpenMP library; OMP_WAIT_POLICY=ACTIVE in the environment keeps spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cv2  # noqa: E402, F401  (before PyAV: loading FFmpeg's libraries first makes HighGUI windows hang)

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
