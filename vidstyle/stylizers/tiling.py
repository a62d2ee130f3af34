"""Tiled inference: frames too large for one network pass, stylized tile by tile without seams.

The style networks normalise every layer by its per-channel statistics over the whole
frame (instance norm), so tiles stylized on their own would each be normalised their own
way and show seams. Here a sample of the frame (:func:`stats_sample`: the frame itself up
to :data:`STATS_PIXELS`, else a grid of full-resolution crops) is first stylized once, as
one batch, and every norm's statistics over all of it are fixed; with those fixed the
network is a local function, each output pixel depending only on input pixels within its
receptive radius. Each tile then runs with a halo at least that wide around it and keeps
only its core, which is exactly what a whole-frame pass with the same statistics gives
there (to float rounding), so the cores join without seams and need no blending.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..io.images import to_images, to_tensor
from ..models.kernels import channel_statistics
from ..models.transformer import InstanceNorm, StyleNetwork

#: a frame larger than this is normalised with the statistics of crops of it of this many
#: pixels in all (or fewer, where one pass of the network takes fewer): half a 4K frame.
#: With half as many, tiled output strayed about 1.5 times as far from whole-frame output
#: (docs/large-frames.md)
STATS_PIXELS = 4_000_000
#: the side of those crops. Statistics of crops at full resolution follow the whole
#: frame's several times more closely than those of a scaled-down copy (which the network
#: sees at another scale); 128 px came closest of 48 to 512 (docs/large-frames.md)
STATS_CROP = 128
#: the memory that the activations of one network pass may take: ``auto`` tiling keeps
#: frames whole up to it (their statistics are exact) and cuts larger ones into tiles that
#: fit. Two network workers' passes beside the frames in flight keep a 4K video within 3 GB
PASS_BYTES = 512 * 2**20
#: on a GPU, the share of its free memory one pass may take instead (where that is more):
#: a whole frame is faster than its tiles, and the card's memory holds nothing else of ours
GPU_PASS_SHARE = 0.25
#: the activations alive at a network's peak, in copies of its widest layer (2.5 to 5.2
#: measured for the shipped networks on the CPU, in bf16 and fp32)
ACTIVATION_COPIES = 5


@dataclass(frozen=True)
class Tile:
    """Where a tile's network input comes from (``window``) and where its kept output goes
    (``core``), both as (rows, columns) of the frame; ``crop`` is ``core`` within ``window``."""

    window: tuple[slice, slice]
    core: tuple[slice, slice]

    @property
    def crop(self) -> tuple[slice, slice]:
        return tuple(  # type: ignore[return-value]
            slice(c.start - w.start, c.stop - w.start) for c, w in zip(self.core, self.window, strict=True)
        )


def _resampling(module: nn.Module) -> float | None:
    """How many times coarser a layer's output grid is than its input's (a stride, or the
    inverse of an upsampling factor); None for layers that keep the grid and reach no
    neighbours (norms, activations, padding done inside the convolutions)."""
    if isinstance(module, nn.Conv2d):
        return float(module.stride[0])
    if isinstance(module, nn.PixelUnshuffle):
        return float(module.downscale_factor)
    if isinstance(module, nn.PixelShuffle):
        return 1 / module.upscale_factor
    if isinstance(module, nn.Upsample):
        return 1 / float(module.scale_factor)  # type: ignore[arg-type]
    return None


def _layers(net: nn.Module) -> Iterator[tuple[nn.Module, float, float]]:
    """The convolutions and resampling layers of ``net`` in the order they run (as in the
    shipped architectures; residual shortcuts reach no further than their blocks), each with
    the input pixels per activation pixel before and after it."""
    step = 1.0
    for module in net.modules():
        factor = _resampling(module)
        if factor is not None:
            yield module, step, step * factor
            step *= factor


def receptive_radius(net: nn.Module) -> int:
    """How many input pixels away, each way, an output pixel may depend on (once the
    statistics are fixed): each convolution's reach at its layer's resolution, plus the
    phase of every change of resolution."""
    radius = 0.0
    for module, before, after in _layers(net):
        if isinstance(module, nn.Conv2d):
            radius += (module.kernel_size[0] // 2) * module.dilation[0] * before
        else:
            radius += abs(after - before)
    return math.ceil(radius)


def halo(net: StyleNetwork) -> int:
    """The overlap each tile reads around its core: the receptive radius, rounded up to the
    network's ``multiple`` so that every window starts on the whole frame's pixel grid at
    every resolution."""
    return -(-receptive_radius(net) // net.multiple) * net.multiple


def widest_layer(net: nn.Module) -> float:
    """The largest convolution output, in values per input pixel."""
    return max(m.out_channels / after**2 for m, _, after in _layers(net) if isinstance(m, nn.Conv2d))


def pass_bytes(device: torch.device | str = "cpu") -> int:
    """The memory one network pass may take on ``device``: :data:`PASS_BYTES`, or on a GPU
    :data:`GPU_PASS_SHARE` of its free memory where that is more."""
    device = torch.device(device)
    if device.type != "cuda":
        return PASS_BYTES
    free, _ = torch.cuda.mem_get_info(device)
    return max(PASS_BYTES, int(free * GPU_PASS_SHARE))


def pass_pixels(net: StyleNetwork, dtype: torch.dtype, budget: int) -> int:
    """The most pixels one pass of ``net`` in ``dtype`` takes within ``budget`` bytes
    (:func:`pass_bytes`)."""
    return int(budget / (ACTIVATION_COPIES * widest_layer(net) * dtype.itemsize))


def auto_core(net: StyleNetwork, dtype: torch.dtype, budget: int) -> int:
    """The core side of ``auto`` tiles: their windows (core and halo) fit one pass of
    ``budget`` bytes, but the core is never narrower than the halo, which would make most
    of the work overlap."""
    margin = halo(net)
    side = math.isqrt(pass_pixels(net, dtype, budget))
    return max(margin, (side - 2 * margin) // net.multiple * net.multiple)


def stats_sample(image: np.ndarray, pixels: int, multiple: int) -> np.ndarray:
    """What a frame (H x W x 3) is normalised by, as a batch (N x h x w x 3): the frame
    itself up to ``pixels``, else :data:`STATS_CROP` px crops of it, about that many pixels
    in all, one in each cell of a grid over the frame at a random place in it (a regular
    grid can fall in step with regular structure, such as a building's windows), the same
    places for every frame of a size; at multiples of ``multiple``, the frame's pixel grid."""
    height, width = image.shape[:2]
    if height * width <= pixels:
        return image[None]
    side_y, side_x = min(STATS_CROP, height), min(STATS_CROP, width)
    count = max(1, pixels // (side_y * side_x))
    rows = max(1, round(math.sqrt(count * height / width)))
    cols = max(1, count // rows)
    jitter = np.random.default_rng(0).random((2, rows, cols))
    cell_y, cell_x = height / rows, width / cols
    ys = np.arange(rows)[:, None] * cell_y + jitter[0] * max(0.0, cell_y - side_y)
    xs = np.arange(cols)[None, :] * cell_x + jitter[1] * max(0.0, cell_x - side_x)
    ys = np.minimum(ys, height - side_y).astype(int) // multiple * multiple
    xs = np.minimum(xs, width - side_x).astype(int) // multiple * multiple
    return np.stack([image[y : y + side_y, x : x + side_x] for y, x in zip(ys.flat, xs.flat, strict=True)])


def spans(size: int, core: int, margin: int, multiple: int) -> list[tuple[slice, slice]]:
    """(window, core) spans along one axis: cores of equal length (a multiple of
    ``multiple``, at most about ``core``) that cover ``size``, windows ``margin`` wider on
    each side within it."""
    count = -(-size // core)
    length = -(-size // (count * multiple)) * multiple

    def within(low: int, high: int) -> slice:
        return slice(max(0, low), min(size, high))

    return [
        (within(start - margin, start + length + margin), within(start, start + length))
        for start in range(0, size, length)
    ]


def tiles(height: int, width: int, core: int, margin: int, multiple: int) -> Iterator[Tile]:
    """The tiles of a ``height`` x ``width`` frame, row by row."""
    for rows, core_rows in spans(height, core, margin, multiple):
        for cols, core_cols in spans(width, core, margin, multiple):
            yield Tile((rows, cols), (core_rows, core_cols))


def pooled_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and variance over all the pixels of a batch of equal-size samples
    (``1 x C x 1 x 1``, fp32); for one sample, its own statistics exactly."""
    mean, var = channel_statistics(x)
    pooled = mean.mean(0, keepdim=True)
    return pooled, var.mean(0, keepdim=True) + (mean - pooled).square().mean(0, keepdim=True)


def fix_statistics(net: nn.Module, x: torch.Tensor) -> None:
    """Run ``net`` on the batch ``x``, leaving each instance norm's ``fixed_stats`` set to
    those of its input over the whole batch (each norm fixes its own before it runs, so
    later layers see the normalisation that the tiles will)."""

    def fix(norm: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        norm.fixed_stats = pooled_statistics(args[0])

    hooks = [m.register_forward_pre_hook(fix) for m in net.modules() if isinstance(m, InstanceNorm)]
    try:
        net(x)
    finally:
        for hook in hooks:
            hook.remove()


def _prepare(batch: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A batch of uint8 images (N x H x W x 3, windows of a frame) as the network's input."""
    x = to_tensor(list(batch), device).to(dtype)  # stacking copies the windows together
    return x.contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def stylize_tiled(
    net: StyleNetwork, image: np.ndarray, core: int, device: torch.device, dtype: torch.dtype, budget: int
) -> np.ndarray:
    """``image`` (H x W x 3 uint8) stylized by ``net`` in tiles of at most about ``core``
    pixels each way, normalised with the statistics of :func:`stats_sample` (at most
    :data:`STATS_PIXELS`, and no more than one pass of ``budget`` bytes takes). Returns uint8.

    Only one tile at a time is ever in floats. The network is copied to hold the
    frame's statistics, so that several workers may tile frames side by side (as ordinary
    tensors: the fast kernels track the weights' versions, which inference tensors lack).
    """
    with torch.inference_mode(False):
        net = copy.deepcopy(net)
    sample = stats_sample(image, min(STATS_PIXELS, pass_pixels(net, dtype, budget)), net.multiple)
    fix_statistics(net, _prepare(sample, device, dtype))
    out = np.empty_like(image)
    for tile in tiles(*image.shape[:2], core, halo(net), net.multiple):
        out[tile.core] = to_images(net(_prepare(image[tile.window][None], device, dtype)))[0][tile.crop]
    return out
