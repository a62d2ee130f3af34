"""A stylize job's settings, one frozen dataclass per concern: how the network paints
(:class:`NetworkSettings`), how its pictures are finished (:class:`Look`), how videos are
encoded (:class:`EncodingSettings`) and how much of the input is taken (:class:`Limits`).

Each value is checked once, where its dataclass is made, and a bad one raises a
:class:`~vidstyle.errors.SettingsError` naming the field, which the command line turns into
its option's flag. The module imports nothing heavy, so the command line's defaults, ranges
and help read these dataclasses (``vidstyle --help`` loads no PyTorch). HQ mode's and
training's settings are :class:`vidstyle.jobs.hq.HQConfig` and
:class:`vidstyle.training.train.TrainConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .defaults import DEFAULT_CRF, DEFAULT_PRESET, DEFAULT_STYLE, DEFAULT_STYLE_SCALE, DEFAULT_WEIGHT
from .errors import SettingsError

#: the fast network's precisions: ``auto`` is fp16 on CUDA, bf16 on CPUs that compute it
#: natively, else fp32
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: the largest ``style_scale``: 4 already makes a 1080p frame 16 times the work and memory
MAX_STYLE_SCALE = 4.0
#: ``tile``'s default: frames whose network pass would outgrow
#: ``vidstyle.stylizers.tiling.PASS_BYTES`` are stylized in tiles, others whole
DEFAULT_TILE = "auto"
#: the steadiest temporal blending: above it a frame's output lingers for over a hundred
#: frames (0.95 ** 108 < 1/255), and a segment's warm-up grows as long
MAX_TEMPORAL = 0.95
#: x264's quality scale (lower is better)
MIN_CRF, MAX_CRF = 0, 51
#: x264's speed presets, fastest first (VP9's cpu-used follows the same order)
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
)


def parse_style_scale(value: float | str) -> float | None:
    """A ``style_scale`` as a factor, or None for ``auto``."""
    if value == "auto":
        return None
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = float("nan")
    if not 0 < scale <= MAX_STYLE_SCALE:  # NaN fails too
        problem = f"must be auto or a number in (0, {MAX_STYLE_SCALE:g}], not {value!r}"
        raise SettingsError("style_scale", problem)
    return scale


def check_tile(value: int | str | None) -> int | str | None:
    """A ``tile`` setting as given: ``auto``, None, or a positive side in pixels."""
    if value == "auto" or value is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise SettingsError("tile", f"must be auto, None or a positive number of pixels, not {value!r:.30}")


def check_precision(value: str) -> str:
    """A precision of :data:`PRECISIONS`, in lower case."""
    precision = value.lower()
    if precision not in PRECISIONS:
        raise SettingsError("precision", f"unknown {{name}} {value!r} (choose from {', '.join(PRECISIONS)})")
    return precision


@dataclass(frozen=True)
class Look:
    """How a stylized picture is finished over its frame: ``strength`` of the style over
    the original (1: fully stylized, 0: the original), and ``preserve_color`` to keep the
    original's colours and take only the luminance from the style.

    A value apart from any stylizer, so that the webcam's keys and the web page's sliders
    change it from frame to frame without touching the network.
    """

    strength: float = 1.0
    preserve_color: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise SettingsError("strength", "must be between 0 and 1")


@dataclass(frozen=True)
class NetworkSettings:
    """What a fast stylizer is made of (:func:`vidstyle.stylizers.factory.make_stylizer`):
    the ``style`` (a name or weights file), where and in what precision its network runs,
    its brush-stroke size and tiling (see :class:`~vidstyle.stylizers.fast.FastStylizer`),
    and the ``temporal`` blending weight of video frames (0: none).
    """

    style: str | Path = DEFAULT_STYLE
    device: str = "auto"
    precision: str = "auto"
    style_scale: float | str = DEFAULT_STYLE_SCALE
    tile: int | str | None = DEFAULT_TILE
    temporal: float = DEFAULT_WEIGHT

    def __post_init__(self) -> None:
        check_precision(self.precision)
        parse_style_scale(self.style_scale)
        check_tile(self.tile)
        if not 0.0 <= self.temporal <= MAX_TEMPORAL:
            problem = f"must be from 0 (off) to {MAX_TEMPORAL:g}, not {self.temporal:g}"
            raise SettingsError("temporal", problem)


@dataclass(frozen=True)
class EncodingSettings:
    """How stylized videos are encoded: x264's ``crf`` (quality) and ``preset`` (speed)."""

    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET

    def __post_init__(self) -> None:
        if self.preset not in X264_PRESETS:
            choices = ", ".join(X264_PRESETS)
            raise SettingsError("preset", f"unknown {{name}} {self.preset!r}; use one of {choices}")
        if not MIN_CRF <= self.crf <= MAX_CRF:
            raise SettingsError("crf", f"must be between {MIN_CRF} and {MAX_CRF}, got {self.crf}")


@dataclass(frozen=True)
class Limits:
    """How much of an input a job takes: frames no larger than ``max_size`` on their
    longest side (never enlarged), and the first ``max_frames`` frames (None: no limit)."""

    max_size: int | None = None
    max_frames: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_size", "max_frames"):
            value: Any = getattr(self, name)
            if value is not None and not value >= 1:
                raise SettingsError(name, f"must be at least 1, not {value}")
