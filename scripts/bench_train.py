#!/usr/bin/env python
"""Print training speed (iterations/s) at 256 px, batch 4, for several network widths.

    python scripts/bench_train.py [--widths 8 16 32] [--iterations 6] [--device auto] [--no-amp]

Uses the real training loop (VGG16 perceptual loss) on synthetic photos, so it needs the
VGG16 weights (`vidstyle vgg install`) but no data set.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidstyle.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--iterations", type=int, default=6, help="timed after 2 warm-up iterations")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-amp", dest="amp", action="store_false")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        rng = np.random.default_rng(0)
        for i in range(16):
            photo = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
            Image.fromarray(photo).save(root / f"photos/{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(root / "style.jpg")
        print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}, amp={'on' if args.amp else 'off'}")
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
