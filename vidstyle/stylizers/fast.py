"""Fast stylization: a trained transform network applied to batches of frames.

:class:`FastStylizer` is the feed-forward :class:`~vidstyle.io.frames.Stylizer`: it paints
frames at the size its network paints at, and finishes each at its frame's size and look.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..defaults import DEFAULT_STYLE_SCALE, NETWORK_SIDE, PAINT_SIDE
from ..device import select_device, select_dtype
from ..errors import VidstyleError
from ..io.images import pad_min, to_images, to_tensor
from ..weights import Style, load_style
from .base import BaseStylizer
from .tiling import auto_core, pass_bytes, pass_pixels, stylize_tiled

#: frames smaller than this each way are padded for the networks (and cropped back): their
#: 9x9 reflection padding needs 5 pixels once they have padded to a multiple of 4
NETWORK_MIN_SIDE = 8
#: the largest ``style_scale``: 4 already makes a 1080p frame 16 times the work and memory
MAX_STYLE_SCALE = 4.0
#: ``style_scale`` below 1 never shrinks a frame's short side under this many pixels: the
#: networks need a few pixels each way, and strokes wider than the frame paint nothing
MIN_SCALED_SIDE = 16
#: ``tile``'s default: frames whose network pass would outgrow ``vidstyle.stylizers.tiling.PASS_BYTES``
#: are stylized in tiles, others whole (normalised exactly)
DEFAULT_TILE = "auto"


def preserve_colors(stylized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Keep the stylized luminance and the original's colour (chroma), in YCrCb."""
    out = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    out[..., 1:] = cv2.cvtColor(original, cv2.COLOR_RGB2YCrCb)[..., 1:]
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2RGB)


def blend(stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` of the stylized frame over the original (1 = fully stylized)."""
    if strength >= 1:
        return stylized
    return cv2.addWeighted(stylized, strength, original, 1 - strength, 0)


def check_style_scale(value: float | str) -> float | None:
    """A ``style_scale`` as a factor, or None for ``auto``; a one-line error for a bad one."""
    if value == "auto":
        return None
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = float("nan")
    if not 0 < scale <= MAX_STYLE_SCALE:  # NaN fails too
        raise VidstyleError(
            f"--style-scale must be auto or a number in (0, {MAX_STYLE_SCALE:g}], not {value!r}"
        )
    return scale


def check_tile(value: int | str | None) -> int | str | None:
    """A ``tile`` setting as given (``auto``, None, or a positive side in pixels); a one-line
    error for any other."""
    if value == "auto" or value is None:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise VidstyleError(f"tile must be auto, None or a positive number of pixels, not {value!r:.30}")


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at ``width`` x ``height``: area averaging to shrink, bicubic to enlarge."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def apply_look(stylized: np.ndarray, original: np.ndarray, strength: float, keep_colors: bool) -> np.ndarray:
    """The post-processing shared by every stylizer: colour preservation, then strength."""
    if keep_colors:
        stylized = preserve_colors(stylized, original)
    return blend(stylized, original, strength)


class FastStylizer(BaseStylizer):
    """Runs a style network on frames.

    Args:
        style: a loaded :class:`Style`, a shipped style name or a weights path.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        precision: ``auto`` (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32),
            ``fp32``, ``bf16`` or ``fp16``. Reduced precision moves output pixels by under
            one level on average (a few at most); ``fp32`` gives the reference result.
        strength: blend of stylized and original, 0..1.
        preserve_color: keep the source colours, take only luminance from the style.
        style_scale: the brush-stroke size. A network paints strokes of a fixed size in
            pixels, so frames are resized by this factor for the network and the result is
            resized back (as in Johnson et al.'s code): below 1, strokes get coarser against
            the picture (and the network faster); above 1, finer. ``auto`` (the default)
            enlarges frames smaller than :data:`NETWORK_SIDE` to it, which keeps the subject
            recognisable in small outputs, paints frames up to :data:`PAINT_SIDE` as they
            are, and larger ones at that size or at half their own, whichever is larger
            (HD video at half size: more of the painting, steadier and 3-4 times faster
            than at full size, a little softer at 100% zoom).
        tile: how frames too large for one network pass are stylized (``vidstyle.stylizers.tiling``):
            in tiles with overlapping halos, every tile normalised with the statistics of
            the whole frame (estimated from crops of it beyond ``STATS_PIXELS``), so that
            the tiles join without seams. ``auto`` (the default) tiles network inputs whose
            activations would exceed ``PASS_BYTES`` (on a GPU a quarter of its free memory,
            where more; in bf16 about 13 megapixels for the
            default network, 3.4 for ``starry_night``; half that in fp32), in tiles that fit
            it; a number N tiles every input larger than N x N pixels, in tiles of at most
            about N x N plus the halo; None never tiles.
    """

    def __init__(
        self,
        style: Style | str | Path,
        device: str | torch.device = "auto",
        precision: str = "auto",
        strength: float = 1.0,
        preserve_color: bool = False,
        style_scale: float | str = DEFAULT_STYLE_SCALE,
        tile: int | str | None = DEFAULT_TILE,
    ) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError("strength must be between 0 and 1")
        self.style_scale = check_style_scale(style_scale)
        self.tile = check_tile(tile)
        self.device = select_device(device) if isinstance(device, str) else device
        self.style = style if isinstance(style, Style) else load_style(style, self.device)
        self.dtype = select_dtype(precision, self.device)
        self.net = self.style.net.to(self.device, self.dtype).eval()
        self.net = self.net.to(memory_format=torch.channels_last)
        self.strength, self.preserve_color = strength, preserve_color
        # a GPU's free memory before any pass: PyTorch's allocator keeps what passes used,
        # and a later frame must not be tiled for that
        self._gpu_budget = pass_bytes(self.device) if self.device.type == "cuda" else None

    @property
    def name(self) -> str:
        return self.style.name

    @torch.inference_mode()
    def stylize_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` in [0, 1] on this device -> stylized, clamped to [0, 1].

        The network sees the tensor as it is: ``style_scale`` applies to :meth:`paint` and
        :meth:`__call__` only (HQ's ``--init fast:NAME`` starts from this, at the size HQ optimises at).
        """
        return self._forward(batch).float().clamp_(0, 1)

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The network's raw output (unclamped, in the inference dtype)."""
        x = batch.to(self.device, self.dtype)
        return self.net(x.contiguous(memory_format=torch.channels_last))

    def network_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a ``width`` x ``height`` frame is stylized at (see ``style_scale``)."""
        scale = self.style_scale
        if scale is None:  # auto
            longest = max(width, height)
            scale = max(NETWORK_SIDE, min(longest, PAINT_SIDE), longest / 2) / longest
        elif scale < 1:
            scale = max(scale, min(1.0, MIN_SCALED_SIDE / min(width, height)))
        return max(1, round(width * scale)), max(1, round(height * scale))

    def tile_core(self, width: int, height: int) -> int | None:
        """The core side of the tiles that a ``width`` x ``height`` network input is
        stylized in (see ``tile``); None: in one pass."""
        if self.tile == "auto":
            budget = self.pass_budget()
            fits = width * height <= pass_pixels(self.net, self.dtype, budget)
            return None if fits else auto_core(self.net, self.dtype, budget)
        if self.tile is None or max(width, height) <= int(self.tile):
            return None
        return int(self.tile)

    def pass_budget(self) -> int:
        """The memory one network pass may take (:func:`~vidstyle.stylizers.tiling.pass_bytes`); on a
        GPU, as it was when the stylizer was made."""
        return self._gpu_budget if self._gpu_budget is not None else pass_bytes(self.device)

    def _network(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The network's uint8 output for equal-size inputs: in one pass, or tile by tile
        (one frame at a time) where one pass would not fit."""
        height, width = inputs[0].shape[:2]
        core = self.tile_core(width, height)
        if core is None:
            return to_images(self._forward(to_tensor(inputs, self.device)))  # clamps as it rounds
        budget = self.pass_budget()
        return [stylize_tiled(self.net, image, core, self.device, self.dtype, budget) for image in inputs]

    def paint(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """The network's pictures of ``frames``, at the size it paints them (see
        ``style_scale``), before :meth:`finish` brings each to its frame: the temporal
        blend works on these, a quarter of an HD frame's pixels at half size."""
        if not frames:
            return []
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:  # mixed sizes cannot share a batch
            return [out for f in frames for out in self.paint([f])]
        height, width = frames[0].shape[:2]
        net_width, net_height = self.network_size(width, height)
        inputs = [pad_min(resize_to(f, net_width, net_height), NETWORK_MIN_SIDE) for f in frames]
        return [o[:net_height, :net_width] for o in self._network(inputs)]

    def finish(self, painted: np.ndarray, source: np.ndarray) -> np.ndarray:
        """The output for ``source`` from its painted picture: at the frame's size, with
        ``preserve_color`` and ``strength`` applied."""
        height, width = source.shape[:2]
        return apply_look(resize_to(painted, width, height), source, self.strength, self.preserve_color)
