#!/usr/bin/env python
"""Print training speed (iterations/s) at 256 px and the default batch (4, or 2 where the CPU
trains in fp32), for several network widths, or the wall time one-command training takes to
reach the quality targets.

    python scripts/bench_train.py [--widths 8 16 32] [--iterations 6] [--device auto] [--no-amp]
    python scripts/bench_train.py --to-targets PAINTING [--data DIR] [--every 200] [--quality standard]

The speed mode uses the real training loop (VGG16 perceptual loss) on synthetic photos, so it
needs the VGG16 weights (`vidstyle vgg install`) but no data set. ``--to-targets`` trains
PAINTING with the settings of a bare ``vidstyle train PAINTING -o OUT``, stops every
``--every`` iterations (the stop writes the weights so far) to measure style ratio and
structure on the content photos (scripts/evaluate.py), and resumes, printing a line per stop.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.models import VGGFeatures
from vidstyle.training import vgg_weights
from vidstyle.training.train import TrainConfig, train
from vidstyle.weights import load_style

SCRIPTS = Path(__file__).resolve().parent
SHARED = SCRIPTS.parent.parent / "shared" / "data"


def to_targets(painting: Path, data: Path, content: Path, every: int, quality: str, out: Path) -> None:
    """Train in stretches of ``every`` iterations, measuring after each; see the module docstring."""
    sys.path.insert(0, str(SCRIPTS))
    from evaluate import STYLE_LAYERS, TARGETS, photo_metrics, summarise

    vgg = VGGFeatures("vgg16", STYLE_LAYERS, vgg_weights.load("vgg16").state_dict)
    photos = sorted(p for p in content.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    config = TrainConfig(style_image=painting, data=data, output=out, quality=quality,
                         checkpoint_every=every, sample_every=every)
    print(f"{painting.name}: {config.iterations} iterations ({quality}), targets {TARGETS}")
    print(f"{'iteration':>9} {'wall s':>7} {'ratio':>6} {'max':>6} {'struct':>6} {'min':>6} targets")
    for stop in range(every, config.iterations + every, every):
        try:
            train(config, resume=stop > every, overwrite=True, progress=_stop_at(stop), warn=print)
        except VidstyleError as exc:
            if "stopped at iteration" not in str(exc):
                raise
        info = load_style(out).info
        fig = summarise(photo_metrics(info, photos, vgg, 512, [painting.parent]))
        print(f"{info.metadata['training']['iterations']:>9} {info.metadata['training']['seconds']:>7.0f} "
              f"{fig['ratio_mean']:>6.3f} {fig['ratio_max']:>6.3f} {fig['structure_mean']:>6.3f} "
              f"{fig['structure_min']:>6.3f} {'met' if fig['meets_targets'] else '-'}", flush=True)


def _stop_at(stop: int):
    """A progress callback that stops the run (as Ctrl-C would) once ``stop`` iterations are done."""
    def progress(done: int, total: int, losses: object, elapsed: float) -> None:
        if done >= stop and done < total:
            raise KeyboardInterrupt
    return progress


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to-targets", type=Path, metavar="PAINTING")
    parser.add_argument("--data", type=Path, default=SHARED / "train")
    parser.add_argument("--content", type=Path, default=SHARED / "content")
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--quality", default="standard")
    parser.add_argument("-o", "--output", type=Path, default=Path("bench-train.safetensors"))
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--iterations", type=int, default=6, help="timed after 2 warm-up iterations")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-amp", dest="amp", action="store_false")
    args = parser.parse_args()
    if args.to_targets is not None:
        to_targets(args.to_targets, args.data, args.content, args.every, args.quality, args.output)
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        rng = np.random.default_rng(0)
        for i in range(16):
            photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
            Image.fromarray(photo).save(root / f"photos/{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(root / "style.jpg")
        batch = TrainConfig(style_image=root / "style.jpg", data=root, output=root / "o.safetensors",
                            device=args.device, amp=args.amp).batch_size
        print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}, amp={'on' if args.amp else 'off'}, batch {batch}")
        print(f"{'width':>5} {'s/iteration':>12} {'iterations/s':>13}")
        for width in args.widths:
            stamps: list[float] = []
            config = TrainConfig(
                style_image=root / "style.jpg", data=root / "photos",
                output=root / f"w{width}.safetensors", width=width, iterations=args.iterations + 2,
                checkpoint_every=10_000, sample_every=10_000, device=args.device, amp=args.amp,
            )
            train(config, progress=lambda *_, s=stamps: s.append(time.perf_counter()))
            per_it = (stamps[-1] - stamps[1]) / (len(stamps) - 2)
            print(f"{width:>5} {per_it:>12.2f} {1 / per_it:>13.2f}")


if __name__ == "__main__":
    main()
