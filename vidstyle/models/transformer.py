"""The feed-forward style transform network of Johnson et al. 2016.

Value ranges (the single convention used everywhere in vidstyle): images are float
tensors ``N x 3 x H x W``, RGB, values in ``[0, 1]``. The network maps such a batch to
a stylized batch of the same size in the same range (clamped at inference).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvLayer(nn.Sequential):
    """Reflection padding then a convolution, so borders carry no zero-padding seam."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride))


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance normalisation with a fast path for bf16 inference on the CPU.

    PyTorch's CPU instance norm converts bf16 channels-last tensors back and forth around
    its kernel; in the lite network those copies cost more than a quarter of the frame
    time. Without gradients, bf16 inputs are instead normalised from fp32 statistics
    (mean and mean square, accumulated in fp32) and one fused multiply-add in the tensor's
    own layout. Training and every other dtype use the reference kernel.
    The parameters are those of :class:`torch.nn.InstanceNorm2d` (same weights files).
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.bfloat16 or x.device.type != "cpu" or torch.is_grad_enabled():
            return super().forward(x)
        mean = x.mean((2, 3), keepdim=True, dtype=torch.float32)
        var = (x * x).mean((2, 3), keepdim=True, dtype=torch.float32).sub_(mean * mean).clamp_(min=0)
        scale = self.weight.float().view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        shift = self.bias.float().view(1, -1, 1, 1) - mean * scale
        return torch.addcmul(shift.to(x.dtype), x, scale.to(x.dtype))


class ConvNormReLU(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            ConvLayer(in_ch, out_ch, kernel, stride),
            InstanceNorm(out_ch),
            nn.ReLU(inplace=True),
        )


class UpsampleConvNormReLU(nn.Sequential):
    """Nearest-neighbour upsampling then a convolution: no checkerboard artifacts."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvLayer(in_ch, out_ch, kernel),
            InstanceNorm(out_ch),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3),
            InstanceNorm(channels),
            nn.ReLU(inplace=True),
            ConvLayer(channels, channels, 3),
            InstanceNorm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class StyleNetwork(nn.Module):
    """What every transform network shares: padding to ``multiple``, encoder, residual
    blocks, decoder, and the ``config`` that a weights file stores to rebuild it."""

    #: spatial sizes must be a multiple of this (two halvings); ``forward`` pads.
    multiple = 4
    #: the ``type`` recorded in weights files.
    kind = ""
    encoder: nn.Sequential
    residuals: nn.Sequential
    decoder: nn.Sequential

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        if width < 1 or blocks < 0:
            raise ValueError(f"invalid architecture: width={width}, blocks={blocks}")
        self.width, self.blocks = width, blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stylize ``x`` (N x 3 x H x W, RGB in [0, 1]); any H and W; output is unclamped."""
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            mode = "reflect" if h > pad_h and w > pad_w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = self.decoder(self.residuals(self.encoder(x)))
        return y[..., :h, :w]

    @property
    def config(self) -> dict[str, int | str]:
        """The architecture and constructor arguments, as stored in a weights file."""
        return {"type": self.kind, "width": self.width, "blocks": self.blocks}


class TransformerNet(StyleNetwork):
    """Encoder (three convs, two of stride 2), residual blocks, upsampling decoder.

    Args:
        width: channels of the first layer; the encoder uses ``width``, ``2*width`` and
            ``4*width``. Johnson et al. use 32; 8 or 16 make light networks for CPU real time.
        blocks: number of residual blocks at ``4*width`` channels (classic: 5).
    """

    kind = "johnson"

    def __init__(self, width: int = 32, blocks: int = 5) -> None:
        super().__init__(width, blocks)
        w = width
        self.encoder = nn.Sequential(
            ConvNormReLU(3, w, 9),
            ConvNormReLU(w, 2 * w, 3, stride=2),
            ConvNormReLU(2 * w, 4 * w, 3, stride=2),
        )
        self.residuals = nn.Sequential(*(ResidualBlock(4 * w) for _ in range(blocks)))
        self.decoder = nn.Sequential(
            UpsampleConvNormReLU(4 * w, 2 * w),
            UpsampleConvNormReLU(2 * w, w),
            ConvLayer(w, 3, 9),
        )


class LiteTransformerNet(StyleNetwork):
    """A light network for CPU real time that never convolves at full resolution.

    The classic network spends most of its time in its two 9x9 convolutions and instance
    norms at full resolution. Here the input is folded into 12 channels at half
    resolution (space-to-depth), every convolution is a 3x3 at half or quarter
    resolution, and the output is unfolded the same way (depth-to-space): about a third of
    the classic width-8 network's time for a similar receptive field.

    Args:
        width: the half-resolution layers use ``2*width`` channels, the residual blocks
            ``4*width`` (8 is the shipped real-time size).
        blocks: residual blocks at quarter resolution.
    """

    kind = "lite"

    def __init__(self, width: int = 8, blocks: int = 5) -> None:
        super().__init__(width, blocks)
        w = width
        self.encoder = nn.Sequential(
            nn.PixelUnshuffle(2),
            ConvNormReLU(12, 2 * w, 3),
            ConvNormReLU(2 * w, 4 * w, 3, stride=2),
        )
        self.residuals = nn.Sequential(*(ResidualBlock(4 * w) for _ in range(blocks)))
        self.decoder = nn.Sequential(
            UpsampleConvNormReLU(4 * w, 2 * w),
            ConvLayer(2 * w, 12, 3),
            nn.PixelShuffle(2),
        )


ARCHITECTURES: dict[str, type[StyleNetwork]] = {
    "johnson": TransformerNet,
    "lite": LiteTransformerNet,
}


def build_transformer(config: dict[str, int | str]) -> StyleNetwork:
    """The network described by a weights file's ``arch`` entry (``type`` defaults to johnson)."""
    kind = str(config.get("type", "johnson"))
    if kind not in ARCHITECTURES:
        raise ValueError(f"unknown network type {kind!r} (known: {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[kind](width=int(config["width"]), blocks=int(config["blocks"]))
