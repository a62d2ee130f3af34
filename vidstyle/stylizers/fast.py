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
from ..io.images import pad_min, to_images, to_tensor
from ..settings import DEFAULT_TILE, Look, check_tile, parse_style_scale
from ..weights import Style, load_style
from .base import BaseStylizer
from .tiling import auto_core, pass_bytes, pass_pixels, stylize_tiled

#: frames smaller than this each way are padded for the networks (and cropped back): their
#: 9x9 reflection padding needs 5 pixels once they have padded to a multiple of 4
NETWORK_MIN_SIDE = 8
#: ``style_scale`` below 1 never shrinks a frame's short side under this many pixels: the
#: networks need a few pixels each way, and strokes wider than the frame paint nothing
MIN_SCALED_SIDE = 16


def resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at ``width`` x ``height``: area averaging to shrink, bicubic to enlarge."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    shrink = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


class FastStylizer(BaseStylizer):
    """Runs a style network on frames; each picture is finished at its frame's size in the
    :class:`~vidstyle.settings.Look` the job passes (strength, colours), which is no part of
    the stylizer. :func:`~vidstyle.stylizers.factory.make_stylizer` makes one from
    :class:`~vidstyle.settings.NetworkSettings`.

    Args:
        style: a loaded :class:`Style`, a shipped style name or a weights path.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        precision: ``auto`` (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32),
            ``fp32``, ``bf16`` or ``fp16``. Reduced precision moves output pixels by under
            one level on average (a few at most); ``fp32`` gives the reference result.
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
        style_scale: float | str = DEFAULT_STYLE_SCALE,
        tile: int | str | None = DEFAULT_TILE,
    ) -> None:
        self.style_scale = parse_style_scale(style_scale)
        self.tile = check_tile(tile)
        self.device = select_device(device) if isinstance(device, str) else device
        self.style = style if isinstance(style, Style) else load_style(style, self.device)
        self.dtype = select_dtype(precision, self.device)
        self.net = self.style.net.to(self.device, self.dtype).eval()
        self.net = self.net.to(memory_format=torch.channels_last)
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

    def finish(self, painted: np.ndarray, source: np.ndarray, look: Look) -> np.ndarray:
        """The output for ``source`` from its painted picture: at the frame's size, in ``look``."""
        height, width = source.shape[:2]
        return super().finish(resize_to(painted, width, height), source, look)
