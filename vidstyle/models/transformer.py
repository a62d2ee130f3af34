"""The feed-forward style transform network of Johnson et al. 2016.

Value ranges (the single convention used everywhere in vidstyle): images are float
tensors ``N x 3 x H x W``, RGB, values in ``[0, 1]``. The network maps such a batch to
a stylized batch of the same size in the same range (clamped at inference).

Inference on the CPU (no gradients, channels-last tensors, as ``vidstyle.FastStylizer`` runs
it) takes the kernels of :mod:`vidstyle.models.kernels` for padding, upsampling, pixel
shuffles and instance norm; they compute the same function, and training and every other
device use PyTorch's.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import VidstyleError
from . import kernels

#: the largest ``width`` and ``blocks`` a network may have. The shipped networks use width 8
#: or 16 and 2 or 5 blocks; the limits leave generous room for heavier trained networks while
#: refusing weights-file metadata (``blocks: 1e8``) that would allocate until memory runs out.
MAX_WIDTH = 128
MAX_BLOCKS = 32
#: the largest dilation of a residual block's first convolution (see :class:`ResidualBlock`)
MAX_DILATION = 16


class ArchitectureError(VidstyleError, ValueError):
    """An invalid network architecture: a :class:`VidstyleError` (one line from the CLI,
    exit 1) that callers of the network constructors may also catch as ``ValueError``."""


def _check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int, refused unless it is an integer (not 8.0 or True) from low to high."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or not low <= number <= high:
        raise ArchitectureError(f"{name} must be an integer from {low} to {high}, not {value!r:.30}")
    return number


def check_size(width: object, blocks: object, dilation: object = None) -> tuple[int, ...]:
    """Refuse a width, block count or dilation list that is not made of integers within the
    limits, before any layer is allocated (the values may come from an untrusted weights
    file). Returns the dilation of each block (``None``: 1 for every block)."""
    _check_int("width", width, 1, MAX_WIDTH)
    count = _check_int("blocks", blocks, 0, MAX_BLOCKS)
    if dilation is None:
        return (1,) * count
    if not isinstance(dilation, (list, tuple)) or len(dilation) != count:
        raise ArchitectureError(f"dilation must list one integer per block ({count}), not {dilation!r:.60}")
    return tuple(_check_int("dilation", d, 1, MAX_DILATION) for d in dilation)


class ConvLayer(nn.Sequential):
    """Reflection padding then a convolution, so borders carry no zero-padding seam."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            nn.ReflectionPad2d(dilation * (kernel // 2)),
            nn.Conv2d(in_ch, out_ch, kernel, stride, dilation=dilation),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad, conv = self
        width = pad.padding[0]
        if width >= min(x.shape[-2:]):  # too small a map to mirror (a dilated tap on a tiny frame)
            return conv(F.pad(x, (width,) * 4, mode="replicate"))
        return conv(kernels.reflect_pad(x, width) if kernels.applies(x) else pad(x))


class SpaceToDepth(nn.PixelUnshuffle):
    """:class:`torch.nn.PixelUnshuffle`; in CPU inference one strided copy per sub-pixel
    phase, which keeps the layout (PyTorch's kernel is several times slower there)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if kernels.applies(x):
            return kernels.space_to_depth(x, self.downscale_factor)
        return super().forward(x)


class DepthToSpace(nn.PixelShuffle):
    """:class:`torch.nn.PixelShuffle`, with the same channels-last shortcut as
    :class:`SpaceToDepth`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if kernels.applies(x):
            return kernels.depth_to_space(x, self.upscale_factor)
        return super().forward(x)


class InstanceNorm(nn.InstanceNorm2d):
    """Affine instance normalisation with a fast path for inference on the CPU.

    PyTorch's CPU instance norm copies channels-last tensors to another layout and back
    around its kernel (and bf16 ones to fp32); in the lite network those copies cost
    about a third of the frame time. Without gradients, channels-last inputs are instead
    normalised from fp32 statistics (mean and mean square, accumulated in fp32) and one
    fused multiply-add in the tensor's own layout. Training uses the reference kernel.
    The parameters are those of :class:`torch.nn.InstanceNorm2d` (same weights files).

    ``fixed_stats``, when set, replaces the input's own statistics on every path: tiled
    inference (``vidstyle.stylizers.tiling``) normalises every tile of a frame with the frame's
    statistics, so that the network becomes local and the tiles join without seams.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(channels, affine=True)
        #: per-channel (mean, variance), fp32 tensors ``N x C x 1 x 1``; None: the input's own
        self.fixed_stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_stats is not None:
            return self.normalise(x, *self.fixed_stats)
        if not kernels.applies(x):
            return super().forward(x)
        return self.normalise(x, *kernels.channel_statistics(x))

    def normalise(self, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """``x`` normalised by ``mean`` and ``var``, then scaled and shifted by the affine
        parameters: one multiply-add in ``x``'s own layout and dtype."""
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, conv_layer, norm, relu = self
        conv = conv_layer[1]
        if not kernels.applies(x) or conv.kernel_size != (3, 3):
            return super().forward(x)
        return relu(norm(kernels.upsample_conv(x, conv, self._phase_weights(conv))))

    def _phase_weights(self, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:func:`~vidstyle.models.kernels.phase_weights`, derived again only when the weights
        change (a new tensor, dtype or device, or an in-place update), not for every frame.
        They keep the parameters' dtype, under autocast too (which casts the convolution)."""
        params = [p for p in (conv.weight, conv.bias) if p is not None]
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        cached = self.__dict__.get("_phase_cache")
        if cached is None or cached[0] != key:
            with torch.autocast(conv.weight.device.type, enabled=False):
                cached = (key, kernels.phase_weights(conv))
            self.__dict__["_phase_cache"] = cached
        return cached[1]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and an identity shortcut.

    ``dilation`` spreads the first convolution's taps that many pixels apart: the block then
    sees ``dilation + 1`` pixels each way instead of 2 for the same cost, so a few blocks at
    quarter resolution can paint motifs larger than a small network's reach. The second
    convolution stays dense and fills the gaps between the taps.
    """

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3, dilation=dilation),
            InstanceNorm(channels),
            nn.ReLU(inplace=True),
            ConvLayer(channels, channels, 3),
            InstanceNorm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)

    def make_identity(self) -> None:
        """Zero the last normalisation's scale and shift, so that the block passes its input
        through unchanged: a block added to a trained network starts without changing its
        output, and training then grows what it adds."""
        norm = self.body[-1]
        nn.init.zeros_(norm.weight)
        nn.init.zeros_(norm.bias)


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

    def __init__(self, width: int, blocks: int, dilation: tuple[int, ...] | None = None) -> None:
        self.dilation = check_size(width, blocks, dilation)
        super().__init__()
        self.width, self.blocks = width, blocks

    def residual_blocks(self, channels: int) -> nn.Sequential:
        """The residual blocks, each with its dilation."""
        return nn.Sequential(*(ResidualBlock(channels, d) for d in self.dilation))

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
    def config(self) -> dict[str, int | str | list[int]]:
        """The architecture and constructor arguments, as stored in a weights file."""
        return arch_entry(self.kind, self.width, self.blocks, self.dilation)


def arch_entry(
    kind: str, width: int, blocks: int, dilation: tuple[int, ...]
) -> dict[str, int | str | list[int]]:
    """A weights file's ``arch`` entry; ``dilation`` only when a block is dilated, so that
    files of undilated networks read as they always did."""
    entry: dict[str, int | str | list[int]] = {"type": kind, "width": width, "blocks": blocks}
    if any(d != 1 for d in dilation):
        entry["dilation"] = list(dilation)
    return entry


class TransformerNet(StyleNetwork):
    """Encoder (three convs, two of stride 2), residual blocks, upsampling decoder.

    Args:
        width: channels of the first layer; the encoder uses ``width``, ``2*width`` and
            ``4*width``. Johnson et al. use 32; 8 or 16 make light networks for CPU real time.
        blocks: number of residual blocks at ``4*width`` channels (classic: 5).
        dilation: each block's dilation (see :class:`ResidualBlock`); ``None``: 1 for all.
    """

    kind = "johnson"

    def __init__(self, width: int = 32, blocks: int = 5, dilation: tuple[int, ...] | None = None) -> None:
        super().__init__(width, blocks, dilation)
        w = width
        self.encoder = nn.Sequential(
            ConvNormReLU(3, w, 9),
            ConvNormReLU(w, 2 * w, 3, stride=2),
            ConvNormReLU(2 * w, 4 * w, 3, stride=2),
        )
        self.residuals = self.residual_blocks(4 * w)
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
        dilation: each block's dilation (see :class:`ResidualBlock`); ``None``: 1 for all.
    """

    kind = "lite"

    def __init__(self, width: int = 8, blocks: int = 5, dilation: tuple[int, ...] | None = None) -> None:
        super().__init__(width, blocks, dilation)
        w = width
        self.encoder = nn.Sequential(
            SpaceToDepth(2),
            ConvNormReLU(12, 2 * w, 3),
            ConvNormReLU(2 * w, 4 * w, 3, stride=2),
        )
        self.residuals = self.residual_blocks(4 * w)
        self.decoder = nn.Sequential(
            UpsampleConvNormReLU(4 * w, 2 * w),
            ConvLayer(2 * w, 12, 3),
            DepthToSpace(2),
        )


ARCHITECTURES: dict[str, type[StyleNetwork]] = {
    "johnson": TransformerNet,
    "lite": LiteTransformerNet,
}


def check_config(config: object) -> dict[str, int | str | list[int]]:
    """A weights file's ``arch`` entry, checked and completed (``type`` defaults to johnson,
    as in files written before it was recorded; ``dilation`` is only kept when a block is
    dilated): the one validation of stored architectures, run before anything is built
    since the entry may come from any file."""
    if not isinstance(config, dict):
        raise ArchitectureError(f"the architecture must be a JSON object, not {config!r:.60}")
    kind = config.get("type", "johnson")
    if not isinstance(kind, str) or kind not in ARCHITECTURES:
        raise ArchitectureError(f"unknown network type {kind!r:.60} (known: {', '.join(ARCHITECTURES)})")
    missing = [key for key in ("width", "blocks") if key not in config]
    if missing:
        raise ArchitectureError(f"the architecture lacks {' and '.join(missing)}")
    dilation = check_size(config["width"], config["blocks"], config.get("dilation"))
    return arch_entry(kind, int(config["width"]), int(config["blocks"]), dilation)


def build_transformer(config: dict[str, int | str | list[int]]) -> StyleNetwork:
    """The network described by a weights file's ``arch`` entry (see :func:`check_config`)."""
    checked = check_config(config)
    dilation = checked.get("dilation")
    return ARCHITECTURES[str(checked["type"])](
        int(checked["width"]), int(checked["blocks"]), None if dilation is None else tuple(dilation)
    )
