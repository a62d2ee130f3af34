"""Perceptual losses (Johnson et al. 2016, Gatys et al. 2016) and the style/content distances.

All take VGG activations from :class:`vidstyle.models.VGGFeatures` and images in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations ``F F^T / (C H W)`` for a batch ``N x C x H x W``.

    The division makes the matrix independent of image size, so one style weight works
    at any resolution. Computed in float32 even under autocast (the sums are large).
    """
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||F(y) - F(x)||^2 / ||F(x)||^2``: relative, so the weight does not depend on the
    VGG weights' activation scale (torchvision's and converted Caffe weights differ) or size."""
    target = target.float()
    return (features.float() - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """Weighted mean over layers of ``||G(y) - G(s)||^2 / ||G(s)||^2`` (per image, averaged).

    ``target_grams`` may have batch size 1 (one style image) and is broadcast.
    """
    total = torch.zeros((), device=next(iter(features.values())).device)
    for name, weight in layer_weights.items():
        g = gram_matrix(features[name])
        t = target_grams[name]
        rel = (g - t).pow(2).sum(dim=(1, 2)) / t.pow(2).sum(dim=(1, 2)).clamp_min(1e-12)
        total = total + weight * rel.mean()
    return total / sum(layer_weights.values())


def tv_loss(images: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference of neighbouring pixels (smoothness)."""
    dh = images[..., 1:, :] - images[..., :-1, :]
    dw = images[..., :, 1:] - images[..., :, :-1]
    return dh.pow(2).mean() + dw.pow(2).mean()


def style_distance(features: Mapping[str, torch.Tensor], style_features: Mapping[str, torch.Tensor]) -> float:
    """Mean over layers of ``||G(x) - G(s)||^2 / ||G(s)||^2`` (0 = the style's statistics)."""
    ratios = []
    for name, s in style_features.items():
        gs, gx = gram_matrix(s), gram_matrix(features[name])
        ratios.append(((gx - gs).pow(2).sum() / gs.pow(2).sum()).item())
    return sum(ratios) / len(ratios)


def content_distance(features: torch.Tensor, content_features: torch.Tensor) -> float:
    """``||F(x) - F(c)||^2 / ||F(c)||^2`` at one layer."""
    return ((features - content_features).pow(2).sum() / content_features.pow(2).sum()).item()


def parse_layer_weights(spec: str) -> dict[str, float]:
    """``"relu1_2:1,relu2_2:0.5"`` (or plain names, weight 1) -> ``{name: weight}``."""
    weights: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, value = item.partition(":")
        try:
            weights[name.strip()] = float(value) if value else 1.0
        except ValueError:
            raise ValueError(f"bad layer weight {item!r} (expected NAME or NAME:WEIGHT)") from None
    if not weights:
        raise ValueError("no layers given")
    return weights


def rgb_to_lab(images: torch.Tensor) -> torch.Tensor:
    """sRGB images in [0, 1] (N x 3 x H x W) as CIELAB (D65; L in 0..100), differentiably."""
    rgb = images.float().clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).pow(2.4), rgb / 12.92)
    to_xyz = linear.new_tensor(
        [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
    )
    white = linear.new_tensor([0.950456, 1.0, 1.088754]).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,njhw->nihw", to_xyz, linear) / white
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-6).pow(1 / 3), 7.787 * xyz + 16 / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def palette_directions(generator: torch.Generator, count: int) -> torch.Tensor:
    """``count`` random unit vectors in CIELAB (3 x count) drawn from ``generator``."""
    d = torch.randn(3, count, generator=generator)
    return d / d.norm(dim=0, keepdim=True)


def sorted_projections(lab: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """The colours ``lab`` (P x 3) projected onto ``directions`` (3 x K), each column sorted:
    the painting's side of :func:`palette_loss`, which a fixed set of directions computes once."""
    return (lab.float() @ directions.to(lab.device)).sort(dim=0).values


def palette_loss_to(images: torch.Tensor, theirs: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein distance (CIELAB units) between each image's colours and the
    colours whose :func:`sorted_projections` onto ``directions`` are ``theirs``."""
    lab = rgb_to_lab(images).flatten(2).transpose(1, 2)  # N x HW x 3
    ours = (lab @ directions.to(lab.device)).sort(dim=1).values  # N x HW x K
    index = torch.linspace(0, len(theirs) - 1, ours.shape[1], device=lab.device).round().long()
    return (ours - theirs.to(lab.device)[index]).abs().mean()


def palette_loss(
    images: torch.Tensor, painting_lab: torch.Tensor, generator: torch.Generator, directions: int = 32
) -> torch.Tensor:
    """Sliced Wasserstein distance (CIELAB units) between each image's colours and the painting's.

    ``painting_lab`` is the painting's pixels as CIELAB, P x 3. Both colour clouds are
    projected onto ``directions`` random unit vectors drawn from ``generator`` and the sorted
    projections compared at the same quantiles: the loss pulls the image towards the
    painting's colours *in its proportions* (an orange wash is far from a painting that is
    orange and blue-black), which the Gram matrices leave loose.
    """
    d = palette_directions(generator, directions)
    return palette_loss_to(images, sorted_projections(painting_lab, d), d)
