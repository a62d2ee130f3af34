"""The style weight steered by structure (vidstyle.training.balance) and its place in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from media import pattern
from torch import nn

from vidstyle.training import balance
from vidstyle.training.balance import StyleBalance, mean_structure


class Flat(nn.Module):
    """A 'style network' that paints every pixel grey: the scene is gone (structure 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 0.5)


class Same(nn.Module):
    """One that returns the photo: every edge kept (structure 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


PHOTOS = [pattern(i, 96, 64) for i in range(2)]


def test_structure_of_a_network() -> None:
    assert mean_structure(Same(), PHOTOS, torch.device("cpu")) == pytest.approx(1.0)
    assert mean_structure(Flat(), PHOTOS, torch.device("cpu")) == 0.0


def test_weight_falls_while_the_scene_dissolves_and_rises_while_there_is_room() -> None:
    steer = StyleBalance(weight=30.0, target=0.76)
    assert steer.update(Flat(), PHOTOS, torch.device("cpu")) == pytest.approx(30.0 * balance.DOWN)
    raised = steer.update(Same(), PHOTOS, torch.device("cpu"))
    assert raised == pytest.approx(30.0 * balance.DOWN * balance.UP)
    for _ in range(200):
        steer.update(Flat(), PHOTOS, torch.device("cpu"))
    assert steer.weight == balance.LOWEST


def test_probe_photos_are_capped_in_number_and_size() -> None:
    big = [np.zeros((1000, 2000, 3), np.uint8)] * (balance.PROBES + 2)
    probes = balance.probe_photos(big)
    assert len(probes) == balance.PROBES and max(probes[0].shape[:2]) == balance.PROBE_SIDE
