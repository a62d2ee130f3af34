"""vidstyle: neural style transfer for videos, images and webcams.

The Python API behind the ``vidstyle`` command line::

    import vidstyle
    stylizer = vidstyle.make_stylizer(vidstyle.NetworkSettings("starry_night"))
    vidstyle.stylize_media("in.mp4", "out.mp4", stylizer, look=vidstyle.Look(strength=0.8))
"""

from __future__ import annotations

import os

# OpenMP threads that finish their part of a network layer sleep instead of spinning until
# the next: spinning threads take the cores that other programs (a video call beside the
# virtual camera) and vidstyle's own decode and encode threads need. It must be set before
# PyTorch loads its OpenMP library; OMP_WAIT_POLICY=ACTIVE in the environment keeps spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib
from typing import TYPE_CHECKING, Any

from .defaults import VERSION

__version__ = VERSION

#: the API's names and their modules, imported on first use: the command line's --help and
#: --version then answer without loading PyTorch
_API = {
    "EncodingSettings": "settings",
    "FastStylizer": "stylizers.fast",
    "Limits": "settings",
    "Look": "settings",
    "NetworkSettings": "settings",
    "SettingsError": "errors",
    "Style": "weights",
    "StylizeResult": "jobs.stylize",
    "VidstyleError": "errors",
    "list_styles": "weights",
    "load_style": "weights",
    "make_stylizer": "stylizers.factory",
    "save_style": "weights",
    "stylize_media": "jobs.stylize",
}
__all__ = sorted(_API)

if TYPE_CHECKING:
    from .errors import SettingsError as SettingsError
    from .errors import VidstyleError as VidstyleError
    from .jobs.stylize import StylizeResult as StylizeResult
    from .jobs.stylize import stylize_media as stylize_media
    from .settings import EncodingSettings as EncodingSettings
    from .settings import Limits as Limits
    from .settings import Look as Look
    from .settings import NetworkSettings as NetworkSettings
    from .stylizers.factory import make_stylizer as make_stylizer
    from .stylizers.fast import FastStylizer as FastStylizer
    from .weights import Style as Style
    from .weights import list_styles as list_styles
    from .weights import load_style as load_style
    from .weights import save_style as save_style


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import cv2  # noqa: F401  (before PyAV: loading FFmpeg's libraries first makes HighGUI windows hang)

    value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value
