"""Inference-only CPU kernels for channels-last tensors, used by the layers of
:mod:`vidstyle.models.transformer` when no gradients are needed.

PyTorch's CPU kernels for reflection padding, nearest upsampling, pixel shuffles and
instance norm copy channels-last tensors into another layout and back, which cost the
small style networks about half their time. These compute the same functions in the
tensor's own layout (tested against PyTorch's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def applies(x: torch.Tensor) -> bool:
    """Whether inference-only CPU kernels may replace PyTorch's: no gradients, a
    channels-last tensor on the CPU (where several reference kernels copy it around)."""
    return (
        not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dim() == 4
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    """The N x H x W x C view of a channels-last tensor (no copy)."""
    return x.permute(0, 2, 3, 1)


def _nchw(x: torch.Tensor) -> torch.Tensor:
    """The N x C x H x W (channels-last) view of an N x H x W x C tensor (no copy)."""
    return x.permute(0, 3, 1, 2)


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``F.pad(x, (pad,) * 4, mode="reflect")`` for a channels-last tensor, kept channels-last.

    PyTorch's reflection padding is slower on channels-last tensors than a copy of the
    interior plus one copy per mirrored row and column, which this does.
    """
    n, h, w, c = _nhwc(x).shape
    if pad >= min(h, w):  # not a valid reflection: the reference raises its error
        return F.pad(x, (pad,) * 4, mode="reflect")
    out = x.new_empty((n, h + 2 * pad, w + 2 * pad, c))
    out[:, pad : pad + h, pad : pad + w] = _nhwc(x)
    for i in range(1, pad + 1):  # rows, then whole columns (corners included)
        out[:, pad - i, pad : pad + w] = out[:, pad + i, pad : pad + w]
        out[:, pad + h - 1 + i, pad : pad + w] = out[:, pad + h - 1 - i, pad : pad + w]
    for i in range(1, pad + 1):
        out[:, :, pad - i] = out[:, :, pad + i]
        out[:, :, pad + w - 1 + i] = out[:, :, pad + w - 1 - i]
    return _nchw(out)


def replicate_pad1(x: torch.Tensor) -> torch.Tensor:
    """``x`` (channels-last) with one replicated pixel around it, as an N x H x W x C tensor."""
    n, h, w, c = _nhwc(x).shape
    out = x.new_empty((n, h + 2, w + 2, c))
    out[:, 1:-1, 1:-1] = _nhwc(x)
    out[:, 0, 1:-1], out[:, -1, 1:-1] = out[:, 1, 1:-1], out[:, -2, 1:-1]
    out[:, :, 0], out[:, :, -1] = out[:, :, 1], out[:, :, -2]
    return out


#: which 3x3 taps fall on which of the two low-resolution rows, for output phase 0 and 1:
#: after nearest 2x upsampling and 1-pixel reflection padding, the three rows under an even
#: output row are low-resolution rows (i-1, i, i) and under an odd one (i, i, i+1).
_PHASE_TAPS = ((1, 0, 0), (0, 1, 1)), ((1, 1, 0), (0, 0, 1))


def phase_weights(conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weights and bias of :func:`upsample_conv`'s 2x2 convolution, derived from a 3x3
    ``conv``: output channel ``(2 * a + b) * out + o`` is phase (row parity a, column parity b)
    of ``conv``'s output channel ``o``."""
    taps = conv.weight.new_tensor(_PHASE_TAPS)  # phase, tap, 3x3 row
    weight = torch.einsum("atu,bsv,ocuv->abocts", taps, taps, conv.weight).flatten(0, 2)
    return weight, None if conv.bias is None else conv.bias.repeat(4)


def upsample_conv(
    x: torch.Tensor, conv: nn.Conv2d, weights: tuple[torch.Tensor, torch.Tensor | None] | None = None
) -> torch.Tensor:
    """``conv(reflect_pad(upsample_nearest_2x(x), 1))`` for a 3x3 ``conv`` without upsampling.

    Every output pixel of a 3x3 convolution over a nearest-upsampled image sees only 2x2
    distinct input pixels, with summed weights that depend on its phase (row and column
    parity). So the four phases are one 2x2 convolution with four times the outputs over
    the replicate-padded low-resolution input, interleaved afterwards: the same result
    from less than half the multiply-adds. ``x`` is channels-last; so is the result.
    ``weights``: :func:`phase_weights` of ``conv``, when the caller keeps them.
    """
    n, h, w, _ = _nhwc(x).shape
    weight, bias = weights or phase_weights(conv)
    phases = _nhwc(F.conv2d(_nchw(replicate_pad1(x)), weight, bias))  # N x h+1 x w+1 x 4*out
    out_ch = conv.out_channels
    out = x.new_empty((n, 2 * h, 2 * w, out_ch))
    for a in (0, 1):
        for b in (0, 1):
            k = (2 * a + b) * out_ch
            out[:, a::2, b::2] = phases[:, a : a + h, b : b + w, k : k + out_ch]
    return _nchw(out)


def space_to_depth(x: torch.Tensor, r: int) -> torch.Tensor:
    """``F.pixel_unshuffle(x, r)`` for a channels-last tensor: one strided copy per
    sub-pixel phase, which keeps the layout (PyTorch's kernel is several times slower)."""
    n, h, w, c = _nhwc(x).shape
    out = x.new_empty((n, h // r, w // r, c, r, r))  # channel index: c * r * r + i * r + j
    for i in range(r):
        for j in range(r):
            out[..., i, j] = _nhwc(x)[:, i::r, j::r]
    return _nchw(out.view(n, h // r, w // r, c * r * r))


def depth_to_space(x: torch.Tensor, r: int) -> torch.Tensor:
    """``F.pixel_shuffle(x, r)`` for a channels-last tensor, kept channels-last."""
    n, h, w, c = _nhwc(x).shape
    phases = _nhwc(x).view(n, h, w, c // (r * r), r, r)
    out = x.new_empty((n, h * r, w * r, c // (r * r)))
    for i in range(r):
        for j in range(r):
            out[:, i::r, j::r] = phases[..., i, j]
    return _nchw(out)


def channel_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and (biased) variance of ``x``, in fp32 (``N x C x 1 x 1``),
    accumulated in fp32 whatever ``x``'s dtype, without copying ``x`` to another layout."""
    mean = x.mean((2, 3), keepdim=True, dtype=torch.float32)
    var = (x * x).mean((2, 3), keepdim=True, dtype=torch.float32).sub_(mean * mean).clamp_(min=0)
    return mean, var
