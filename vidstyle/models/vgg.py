"""Frozen VGG16/VGG19 feature extractors (torchvision's architectures) for perceptual losses.

Input convention: RGB in ``[0, 1]``; ImageNet normalisation happens inside, so the
weights always follow torchvision's convention (converted weights fold theirs into
conv1_1, see :mod:`vidstyle.training.vgg_weights`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import torch
from torch import nn

# Conv channel plans of torchvision's VGG configurations "D" (vgg16) and "E" (vgg19).
_PLANS: dict[str, list[list[int]]] = {
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Pooling = Literal["max", "avg"]


def layer_names(arch: str) -> list[str]:
    """Names of the layers of torchvision's ``vgg*.features``, index by index."""
    if arch not in _PLANS:
        raise ValueError(f"unknown VGG architecture {arch!r} (choose from {', '.join(_PLANS)})")
    names: list[str] = []
    for block, convs in enumerate(_PLANS[arch], start=1):
        for i in range(1, len(convs) + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def build_features(arch: str, pool: Pooling = "max") -> nn.Sequential:
    """An untrained ``features`` stack whose indices match torchvision's state dict keys."""
    layers: list[nn.Module] = []
    in_ch = 3
    for convs in _PLANS[arch]:
        for out_ch in convs:
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = out_ch
        layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*layers)


class VGGFeatures(nn.Module):
    """Returns the activations of named layers (``relu1_2``, ``relu4_3``...) of a frozen VGG.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        layers: names of the layers to return; the network is cut after the deepest one.
        state_dict: weights in torchvision's ``features`` layout (keys ``"0.weight"``...,
            with or without a ``"features."`` prefix). ``None`` keeps random weights,
            which tests use; real callers get weights from :func:`vidstyle.training.vgg_weights.load`.
        pool: ``"avg"`` replaces max pooling by average pooling (smoother Gatys results).
    """

    def __init__(
        self,
        arch: str = "vgg16",
        layers: Iterable[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        state_dict: Mapping[str, torch.Tensor] | None = None,
        pool: Pooling = "max",
    ) -> None:
        super().__init__()
        names = layer_names(arch)
        self.layers = list(dict.fromkeys(layers))
        unknown = [n for n in self.layers if n not in names]
        if unknown:
            raise ValueError(f"unknown {arch} layer(s): {', '.join(unknown)}")
        if state_dict is None:
            features = build_features(arch, pool)
        else:
            with torch.device("meta"):  # the weights are given: skip random initialisation
                features = build_features(arch, pool)
            sd = {k.removeprefix("features."): v for k, v in state_dict.items()}
            sd = {k: v for k, v in sd.items() if k.split(".")[0].isdigit()}
            features.load_state_dict(sd, assign=True)
        last = max(names.index(n) for n in self.layers)
        self.features = features[: last + 1]
        self.arch = arch
        self._index = {names.index(n): n for n in self.layers}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always stays in eval mode: the loss network is frozen."""
        return super().train(False)

    def forward(self, x: torch.Tensor, until: str | None = None) -> dict[str, torch.Tensor]:
        """Activations of the requested layers for ``x`` (N x 3 x H x W, RGB in [0, 1]);
        with ``until`` (one of them), only those up to it: a content target at relu2_2 needs
        a third of the work of the whole stack to relu4_3."""
        h = (x - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self._index:
                out[self._index[i]] = h
                if self._index[i] == until:
                    break
        return out
