"""The palette distance (vidstyle.quality) and the palette term of training (vidstyle.training.losses)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from vidstyle.io.images import to_images, to_tensor
from vidstyle.quality import lab_pixels, palette_distance
from vidstyle.training.losses import (
    palette_directions,
    palette_loss,
    palette_loss_to,
    rgb_to_lab,
    sorted_projections,
)


def two_colour_painting(size: int = 256) -> np.ndarray:
    """Orange above, blue-black below: a painting of two colours in equal parts."""
    image = np.zeros((size, size, 3), np.uint8)
    image[: size // 2] = (230, 120, 30)
    image[size // 2 :] = (20, 30, 70)
    return image


def test_rgb_to_lab_matches_opencv() -> None:
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    ours = rgb_to_lab(to_tensor(image))[0].permute(1, 2, 0).reshape(-1, 3).numpy()
    theirs = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    assert np.abs(ours - theirs).max() < 0.5


def test_palette_distance_sees_colours_and_proportions_not_places() -> None:
    painting = two_colour_painting()
    order = np.random.default_rng(1).permutation(256 * 256)
    shuffled = painting.reshape(-1, 3)[order].reshape(painting.shape)
    orange_wash = np.full_like(painting, (230, 120, 30))
    mostly_orange = painting.copy()
    mostly_orange[128:192] = (230, 120, 30)  # three quarters orange
    assert palette_distance(painting, painting) == pytest.approx(0, abs=1e-3)
    assert palette_distance(shuffled, painting) < 0.5  # where the colours are does not count
    wash, mostly = palette_distance(orange_wash, painting), palette_distance(mostly_orange, painting)
    assert wash > mostly > 5  # half the painting's colour missing is worse than a quarter
    assert palette_distance(painting, orange_wash) == pytest.approx(wash, rel=0.05)  # symmetric


def test_palette_loss_agrees_with_the_measure_and_its_gradient_moves_colours() -> None:
    painting = two_colour_painting()
    lab = torch.from_numpy(lab_pixels(painting))
    grey = np.full((32, 32, 3), 128, np.uint8)
    generator = torch.Generator().manual_seed(0)
    measured = palette_distance(grey, painting)
    loss = palette_loss(to_tensor(grey), lab, generator, directions=256)
    assert loss.item() == pytest.approx(measured, rel=0.1)
    x = to_tensor(grey).requires_grad_(True)
    optimiser = torch.optim.Adam([x], lr=0.02)
    for _ in range(150):
        optimiser.zero_grad()
        palette_loss(x, lab, generator).backward()
        optimiser.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    assert palette_distance(to_images(x.detach())[0], painting) < measured / 3


def test_the_painting_side_computed_once_gives_the_same_loss() -> None:
    """HQ keeps the painting's sorted projections for fixed directions: the loss is the
    one drawn afresh with the same generator, and differs with other directions."""
    painting = two_colour_painting()
    lab = torch.from_numpy(lab_pixels(painting))
    image = to_tensor(np.random.default_rng(2).integers(0, 256, (24, 40, 3), dtype=np.uint8))
    directions = palette_directions(torch.Generator().manual_seed(5), 16)
    kept = sorted_projections(lab, directions)
    fresh = palette_loss(image, lab, torch.Generator().manual_seed(5), directions=16)
    other = palette_loss(image, lab, torch.Generator().manual_seed(6), directions=16)
    assert palette_loss_to(image, kept, directions).item() == pytest.approx(fresh.item(), rel=1e-6)
    assert other.item() != pytest.approx(fresh.item(), rel=1e-6)
