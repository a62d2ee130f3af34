"""Fast stylization: a trained transform network applied to batches of frames.

A stylizer is any callable ``list[np.ndarray] -> list[np.ndarray]`` (RGB uint8 frames in,
same-size RGB uint8 frames out); :class:`FastStylizer` is the feed-forward one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from .device import select_device, select_dtype
from .images import to_images, to_tensor
from .weights import Style, load_style

Stylizer = Callable[[list[np.ndarray]], list[np.ndarray]]


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


def finish(stylized: np.ndarray, original: np.ndarray, strength: float, keep_colors: bool) -> np.ndarray:
    """The post-processing shared by every stylizer: colour preservation, then strength."""
    if keep_colors:
        stylized = preserve_colors(stylized, original)
    return blend(stylized, original, strength)


class FastStylizer:
    """Runs a style network on frames.

    Args:
        style: a loaded :class:`Style`, a shipped style name or a weights path.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        precision: ``auto`` (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32),
            ``fp32``, ``bf16`` or ``fp16``. Reduced precision moves output pixels by under
            one level on average (a few at most); ``fp32`` gives the reference result.
        strength: blend of stylized and original, 0..1.
        preserve_color: keep the source colours, take only luminance from the style.
    """

    def __init__(
        self,
        style: Style | str | Path,
        device: str | torch.device = "auto",
        precision: str = "auto",
        strength: float = 1.0,
        preserve_color: bool = False,
    ) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError("strength must be between 0 and 1")
        self.device = select_device(device) if isinstance(device, str) else device
        self.style = style if isinstance(style, Style) else load_style(style, self.device)
        self.dtype = select_dtype(precision, self.device)
        self.net = self.style.net.to(self.device, self.dtype).eval()
        self.net = self.net.to(memory_format=torch.channels_last)
        self.strength, self.preserve_color = strength, preserve_color

    @property
    def name(self) -> str:
        return self.style.name

    @torch.inference_mode()
    def stylize_tensor(self, batch: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` in [0, 1] on this device -> stylized, clamped to [0, 1]."""
        return self._forward(batch).float().clamp_(0, 1)

    @torch.inference_mode()
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """The network's raw output (unclamped, in the inference dtype)."""
        x = batch.to(self.device, self.dtype)
        return self.net(x.contiguous(memory_format=torch.channels_last))

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        if not frames:
            return []
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:  # mixed sizes cannot share a batch
            return [out for f in frames for out in self([f])]
        outputs = to_images(self._forward(to_tensor(frames, self.device)))  # clamps as it rounds
        return [
            finish(o, f, self.strength, self.preserve_color) for o, f in zip(outputs, frames, strict=True)
        ]
