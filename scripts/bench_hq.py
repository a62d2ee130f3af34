"""HQ mode benchmark: seconds per frame, and what the temporal loss buys in stability.

Runs HQ twice on the first frames of a clip: as shipped (warm start + temporal loss) and
as independent per-frame optimisations (``--temporal-weight 0 --init content
--no-warm-start``). Reports s/frame for the first and later frames, the mean temporal
warping error (:func:`vidstyle.flow.warping_error`) of each run, and the ratio of their
style distances (how much style the stability costs).

    python scripts/bench_hq.py --frames 8 --width 320
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vidstyle.flow import warping_error
from vidstyle.hq import Gatys, HQConfig, HQStylizer, load_style_image
from vidstyle.images import resize_max, to_tensor
from vidstyle.losses import style_distance
from vidstyle.video import VideoReader

ROOT = Path(__file__).resolve().parent.parent


def read_frames(path: Path, count: int, width: int) -> list[np.ndarray]:
    """The first ``count`` frames, resized to ``width`` pixels wide."""
    with VideoReader(path, max_frames=count) as reader:
        frames = [f.image for f in reader]
    h, w = frames[0].shape[:2]
    size = (width, round(h * width / w))
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


def run(engine: Gatys, frames: list[np.ndarray]) -> tuple[list[np.ndarray], list[float]]:
    """Stylize ``frames`` in order with a fresh stylizer; outputs and seconds per frame."""
    stylizer = HQStylizer(engine)
    outputs, seconds = [], []
    for frame in frames:
        start = time.perf_counter()
        outputs.extend(stylizer([frame]))
        seconds.append(time.perf_counter() - start)
        print(f"  frame {len(outputs)}/{len(frames)}: {seconds[-1]:.1f} s", flush=True)
    return outputs, seconds


def mean_style_distance(engine: Gatys, outputs: list[np.ndarray]) -> float:
    """Mean Gram distance of the outputs to the style image at the frames' scale."""
    longest = max(outputs[0].shape[:2])
    with torch.no_grad():
        style = engine.vgg(to_tensor(resize_max(engine.style_image, longest)))
        style = {k: style[k] for k in engine.style_layers}
        return float(np.mean([style_distance(engine.vgg(to_tensor(o)), style) for o in outputs]))


def summary(outputs: list[np.ndarray], seconds: list[float], frames: list[np.ndarray]) -> dict[str, float]:
    errors = [
        warping_error(outputs[i], outputs[i + 1], frames[i], frames[i + 1]) for i in range(len(frames) - 1)
    ]
    later = seconds[1:] or [float("nan")]
    return {
        "s_first_frame": round(seconds[0], 1),
        "s_later_frame": round(float(np.mean(later)), 1),
        "warping_error": float(np.mean(errors)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared/data/videos/car-detection.mp4")
    parser.add_argument("-s", "--style", default=str(ROOT.parent / "shared/data/styles/starry_night.jpg"))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--iterations", type=int, help="first-frame steps (default: HQConfig's)")
    parser.add_argument("--iterations-next", type=int, help="later-frame steps (default: HQConfig's)")
    parser.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's choice)")
    parser.add_argument("--save", type=Path, help="write the stylized frames (PNG) to this directory")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"iterations": args.iterations, "iterations_next": args.iterations_next}
    config = HQConfig(size=None, **{k: v for k, v in overrides.items() if v is not None})
    baseline = dataclasses.replace(config, temporal_weight=0.0, init="content", warm_start=False)
    frames = read_frames(args.video, args.frames, args.width)
    style_image, _ = load_style_image(args.style)
    engine = Gatys(config, style_image, torch.device("cpu"))
    results = {}
    for name, settings in (("temporal", config), ("independent", baseline)):
        print(f"{name}: {len(frames)} frames at {frames[0].shape[1]}x{frames[0].shape[0]}", flush=True)
        engine.config = settings
        outputs, seconds = run(engine, frames)
        results[name] = {
            **summary(outputs, seconds, frames),
            "style_distance": mean_style_distance(engine, outputs),
        }
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(outputs):
                cv2.imwrite(
                    str(args.save / f"{name}_{i + 1:02d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                )
    temporal, independent = results["temporal"], results["independent"]
    results["warping_error_reduction"] = 1 - temporal["warping_error"] / independent["warping_error"]
    results["style_distance_ratio"] = temporal["style_distance"] / independent["style_distance"]
    results["settings"] = {"frames": len(frames), "width": args.width, **dataclasses.asdict(config)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
