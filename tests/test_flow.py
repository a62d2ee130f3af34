"""Optical flow, warping, the consistency mask and the warping error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidstyle.stylizers.flow import compute_flow, consistency_mask, consistent_flow, warp, warping_error


def texture(height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    """Smooth random colour texture: enough structure everywhere for flow to lock on."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2)
    return ((blurred - blurred.min()) / (blurred.max() - blurred.min()) * 255).astype(np.uint8)


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(image, (dy, dx), axis=(0, 1))


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_recovers_a_shift(method: str) -> None:
    a = texture()
    flow = compute_flow(a, shifted(a, 3, 2), method)
    assert flow.shape == (72, 96, 2) and flow.dtype == np.float32
    inner = flow[10:-10, 10:-10]
    assert np.median(inner[..., 0]) == pytest.approx(3, abs=0.25)
    assert np.median(inner[..., 1]) == pytest.approx(2, abs=0.25)


def test_flow_on_downscaled_frames_is_rescaled() -> None:
    a = texture(144, 192)
    flow = compute_flow(a, shifted(a, 6, 4), max_size=96)
    assert flow.shape == (144, 192, 2)
    assert np.median(flow[20:-20, 20:-20, 0]) == pytest.approx(6, abs=0.5)
    assert np.median(flow[20:-20, 20:-20, 1]) == pytest.approx(4, abs=0.5)


def test_warp_undoes_the_shift() -> None:
    a = texture()
    b = shifted(a, 3, 2)
    back = warp(b, compute_flow(a, b))
    err = np.abs(back[10:-10, 10:-10].astype(int) - a[10:-10, 10:-10].astype(int)).mean()
    assert err < 2.0


def test_mask_rejects_inconsistent_flow() -> None:
    forward = np.zeros((40, 50, 2), np.float32)
    forward[..., 0] = 3
    backward = -forward.copy()
    backward[10:20, 23:33] = 0  # the way back is lost here: as for pixels hidden in b
    mask = consistency_mask(forward, backward)
    assert mask.dtype == np.float32
    assert mask[12:18, 22:28].max() == 0  # a's pixels landing in the bad region
    assert mask[30:, :40].min() == 1
    assert consistency_mask(forward, -forward).min() == 1


def test_mask_flags_occlusion_by_a_moving_square() -> None:
    a = texture(seed=1)
    b = a.copy()
    square = np.full((20, 20, 3), 255, np.uint8)
    a[26:46, 20:40] = square
    b[26:46, 30:50] = square  # moved 10 px right: covers background at x 40..50
    flow, mask = consistent_flow(a, b)
    assert mask[30:42, 42:48].mean() < 0.5  # background of a hidden in b
    assert mask[:15].mean() > 0.9 and mask[-15:].mean() > 0.9


def test_warping_error_ignores_motion_and_sees_flicker() -> None:
    a = texture()
    b = shifted(a, 2, 1)
    stable = warping_error(a, b, a, b)
    noise = np.random.default_rng(3).integers(0, 256, a.shape, dtype=np.uint8)
    flicker = warping_error(a, noise, a, b)
    assert stable < 1e-3
    assert flicker > 50 * stable and flicker > 0.01
