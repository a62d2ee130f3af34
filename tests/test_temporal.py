"""Temporal blending of fast-mode frames."""

from __future__ import annotations

import numpy as np

from vidstyle.stylizers.flow import warping_error
from vidstyle.stylizers.temporal import TemporalBlender, is_scene_cut


def scene(shift: int) -> np.ndarray:
    """A textured scene moved ``shift`` pixels to the right."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    big = np.kron(base, np.ones((4, 4, 1), np.uint8))
    import cv2

    big = cv2.GaussianBlur(big, (5, 5), 1.5)
    return np.roll(big, shift, axis=1)


def shaky(image: np.ndarray, seed: int) -> np.ndarray:
    """A stand-in network output whose texture changes from frame to frame (crawl)."""
    noise = np.random.default_rng(seed).integers(-40, 41, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def test_blending_reduces_warping_error_on_motion() -> None:
    sources = [scene(2 * i) for i in range(6)]
    plain = [shaky(s, i) for i, s in enumerate(sources)]
    blender = TemporalBlender(lambda frames: frames, weight=0.6)
    blended = [blender.blend(s, p) for s, p in zip(sources, plain, strict=True)]

    def error(outs: list[np.ndarray]) -> float:
        pairs = range(len(outs) - 1)
        return float(
            np.mean([warping_error(outs[i], outs[i + 1], sources[i], sources[i + 1]) for i in pairs])
        )

    assert error(blended) < 0.6 * error(plain)


def test_weight_zero_is_per_frame_and_scene_cut_resets() -> None:
    a, b = scene(0), 255 - scene(0)
    assert is_scene_cut(a, b) and not is_scene_cut(a, scene(2))
    outputs = {id(a): np.zeros_like(a), id(b): np.full_like(b, 200)}
    blender = TemporalBlender(lambda fs: [outputs[id(f)] for f in fs], weight=0.9)
    blender([a])
    assert np.array_equal(blender([b])[0], outputs[id(b)])  # cut: no history carried
    off = TemporalBlender(lambda fs: [outputs[id(f)] for f in fs], weight=0.0)
    off([a])
    assert np.array_equal(off([b])[0], outputs[id(b)])


def test_carry_in_bands_matches_the_whole_frame_warp_and_blend(monkeypatch) -> None:
    """Banded, the small fields scaled up as they are used give what scaling them to the
    whole frame first gives (to a level), also with a band that does not divide the frame."""
    import cv2

    from vidstyle.stylizers import temporal
    from vidstyle.stylizers.flow import resize_flow, warp

    rng = np.random.default_rng(1)
    height, width = 270, 480
    previous, stylized = (cv2.GaussianBlur(scene(0), (0, 0), 1) for _ in range(2))
    previous = cv2.resize(previous, (width, height))
    stylized = cv2.resize(np.roll(stylized, 9, axis=0), (width, height))
    flow = cv2.GaussianBlur(rng.normal(0, 2, (36, 64, 2)).astype(np.float32), (0, 0), 3)
    alpha = 0.4 * (rng.random((36, 64)) > 0.3).astype(np.float32)
    whole_alpha = cv2.resize(alpha, (width, height))
    whole = cv2.blendLinear(
        warp(previous, resize_flow(flow, width, height)), stylized, whole_alpha, 1 - whole_alpha
    )
    monkeypatch.setattr(temporal, "BAND_PIXELS", width * 7)
    banded = temporal.carry(previous, stylized, flow, alpha)
    difference = np.abs(banded.astype(int) - whole)
    assert difference.max() <= 1 and difference.mean() < 0.05
    assert np.abs(banded.astype(int) - stylized).mean() > 5  # the previous frame was carried in


def test_blending_works_on_the_painted_pictures_and_finishes_after(tiny_style) -> None:
    """At half scale the blend carries the network's small pictures; the frame's size,
    strength and colour come after it, so at strength 0 the output is each frame itself
    even with history to blend."""
    from vidstyle.settings import Look
    from vidstyle.stylizers.fast import FastStylizer

    frames = [scene(2 * i) for i in range(3)]  # 128 x 96
    painted = FastStylizer(tiny_style, device="cpu", style_scale=0.5).paint(frames)
    assert painted[0].shape == (48, 64, 3)
    plain = TemporalBlender(FastStylizer(tiny_style, device="cpu", style_scale=0.5), 0.6)
    assert all(np.array_equal(out, f) for out, f in zip(plain(frames, Look(0.0)), frames, strict=True))
    blender = TemporalBlender(FastStylizer(tiny_style, device="cpu", style_scale=0.5), 0.6)
    outputs = blender(frames)
    assert all(out.shape == f.shape for out, f in zip(outputs, frames, strict=True))
