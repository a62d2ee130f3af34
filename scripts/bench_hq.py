"""HQ mode benchmark: seconds per frame and the quality measures of HQ recipes, side by side.

Stylizes the first frames of a clip with each recipe, the recipes taking turns frame by
frame so that a machine shared with other jobs slows them alike. Recipes: ``new`` (the
HQConfig defaults), ``network`` (a fast network's output refined by 30/15 Adam steps, the
defaults before the Gatys-style start), ``old`` (content start, 200/60 full-size L-BFGS
steps in fp32), ``independent`` (the defaults without warm start or temporal loss, every
frame on its own) and ``adam-eps-0`` (``network`` with PyTorch's own Adam epsilon). For
each it prints seconds for the
first frame and for later (warm-started) frames, and the styles issue's measures as
``scripts/evaluate.py`` takes them: the style ratio (Gram distance of the result to the
painting over that of the photo, VGG16 relu1_2..relu4_3, lower is more stylized) and the
structure (:func:`vidstyle.quality.structure`, higher keeps the scene), plus the temporal
warping error (:func:`vidstyle.stylizers.flow.warping_error`, lower flickers less).

    python scripts/bench_hq.py --frames 3 --width 640 --save /tmp/hq-bench
    python scripts/bench_hq.py --recipes new --try iterations_next=16
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

from vidstyle.io.images import resize_max, to_tensor
from vidstyle.io.video import VideoReader
from vidstyle.jobs.hq import Gatys, HQConfig, HQStylizer, load_style_image
from vidstyle.models import VGGFeatures
from vidstyle.quality import structure
from vidstyle.stylizers.flow import warping_error
from vidstyle.training import vgg_weights
from vidstyle.training.losses import style_distance

ROOT = Path(__file__).resolve().parent.parent
#: the layers and pooling of scripts/evaluate.py's style distance
MEASURE_LAYERS = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
#: a fast network's output refined by a few Adam steps, as HQConfig overrides
NETWORK_START = {
    "init": "fast",
    "optimizer": "adam",
    "iterations": 30,
    "iterations_next": 15,
    "scales": 1,
    "palette_weight": 0.0,
}
#: a single-scale content start with many L-BFGS steps in fp32, as HQConfig overrides
OLD_DEFAULTS = {
    "init": "content",
    "optimizer": "lbfgs",
    "iterations": 200,
    "iterations_next": 60,
    "scales": 1,
    "precision": "fp32",
}


def recipes(names: list[str], tried: dict[str, object] | None = None) -> dict[str, HQConfig]:
    """The named recipes, each optimising at the frames' own size (``size=None``), and
    ``tried``: the defaults with these settings changed, if given."""
    new = HQConfig(size=None)
    known = {
        "new": new,
        "network": dataclasses.replace(new, **NETWORK_START),
        "old": dataclasses.replace(new, **OLD_DEFAULTS, palette_weight=0.0),
        "independent": dataclasses.replace(new, temporal_weight=0.0, warm_start=False),
        "adam-eps-0": dataclasses.replace(new, **NETWORK_START, adam_eps=0.0),
    }
    chosen = {name: known[name] for name in names}
    if tried:
        chosen["tried"] = dataclasses.replace(new, **tried)
    return chosen


def setting(text: str) -> tuple[str, object]:
    """``iterations_next=16`` as (field, value), the value typed as HQConfig's default is."""
    name, _, value = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(HQConfig)}
    if name not in fields or not value:
        raise argparse.ArgumentTypeError(f"not FIELD=VALUE of HQConfig: {text}")
    default = getattr(HQConfig(), name)
    if isinstance(default, bool):
        return name, value.lower() in ("1", "true", "yes")
    return name, value if isinstance(default, str) or default is None else type(default)(value)


def read_frames(path: Path, count: int, width: int) -> list[np.ndarray]:
    """The first ``count`` frames, resized to ``width`` pixels wide."""
    with VideoReader(path, max_frames=count) as reader:
        frames = [f.image for f in reader]
    h, w = frames[0].shape[:2]
    size = (width, round(h * width / w))
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


class Measures:
    """Style ratio and structure of a result against its photo (scripts/evaluate.py's)."""

    def __init__(self, style_image: np.ndarray) -> None:
        weights = vgg_weights.load("vgg16").state_dict
        self.vgg = VGGFeatures("vgg16", MEASURE_LAYERS, weights)  # type: ignore[arg-type]
        self.style_image = style_image

    @torch.no_grad()
    def __call__(self, photo: np.ndarray, result: np.ndarray) -> dict[str, float]:
        style = self.vgg(to_tensor(resize_max(self.style_image, max(photo.shape[:2]))))
        before = style_distance(self.vgg(to_tensor(photo)), style)
        after = style_distance(self.vgg(to_tensor(result)), style)
        return {"style_ratio": after / before, "structure": structure(photo, result)}


def summary(
    outputs: list[np.ndarray], seconds: list[float], frames: list[np.ndarray], measures: Measures
) -> dict[str, float]:
    """Seconds and measures of the first frame and the mean of the later ones."""
    per_frame = [measures(photo, out) for photo, out in zip(frames, outputs, strict=True)]
    later = per_frame[1:] or [{k: float("nan") for k in per_frame[0]}]
    errors = [
        warping_error(outputs[i], outputs[i + 1], frames[i], frames[i + 1]) for i in range(len(frames) - 1)
    ]
    result = {"s_first_frame": seconds[0], "s_later_frame": float(np.mean(seconds[1:] or [float("nan")]))}
    for key in per_frame[0]:
        result[f"{key}_first"] = per_frame[0][key]
        result[f"{key}_later"] = float(np.mean([m[key] for m in later]))
    result["warping_error"] = float(np.mean(errors or [float("nan")]))
    return result


def table(results: dict[str, dict[str, float]]) -> str:
    """One row per figure, one column per recipe."""
    names = list(results)
    lines = [f"{'':22}" + "".join(f"{name:>14}" for name in names)]
    for key in results[names[0]]:
        cells = "".join(f"{results[name][key]:>14.4g}" for name in names)
        lines.append(f"{key:22}{cells}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared/data/videos/bottle-detection.mp4")
    parser.add_argument("-s", "--style", default=str(ROOT.parent / "shared/data/styles/starry_night.jpg"))
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--width", type=int, default=640)
    choices = ["new", "network", "old", "independent", "adam-eps-0"]
    parser.add_argument("--recipes", nargs="+", default=["network", "new"], choices=choices)
    parser.add_argument(
        "--try", dest="tried", nargs="+", type=setting, metavar="FIELD=VALUE",
        help="also a recipe 'tried': the defaults with these HQConfig fields changed",
    )
    parser.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's choice)")
    parser.add_argument("--save", type=Path, help="write the stylized frames (PNG) to this directory")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    frames = read_frames(args.video, args.frames, args.width)
    style_image, _ = load_style_image(args.style)
    configs = recipes(args.recipes, dict(args.tried or []))
    stylizers = {name: HQStylizer(Gatys(c, style_image, torch.device("cpu"))) for name, c in configs.items()}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in configs}
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for i, frame in enumerate(frames):
        for name, stylizer in stylizers.items():  # in turn, so that both see the same load
            start = time.perf_counter()
            outputs[name].extend(stylizer([frame]))
            seconds[name].append(time.perf_counter() - start)
            print(f"{name}: frame {i + 1}/{len(frames)}: {seconds[name][-1]:.1f} s", flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                image = cv2.cvtColor(outputs[name][-1], cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(args.save / f"{name}_{i + 1:02d}.png"), image)
    measures = Measures(style_image)
    results = {name: summary(outputs[name], seconds[name], frames, measures) for name in configs}
    size = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
    print(f"{len(frames)} frames of {args.video.name} at {size}, style {Path(args.style).stem}")
    print(table(results))
    settings = {name: dataclasses.asdict(c) for name, c in configs.items()}
    print(json.dumps({"results": results, "settings": settings}, indent=2))


if __name__ == "__main__":
    main()
