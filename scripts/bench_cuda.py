#!/usr/bin/env python
"""Time vidstyle's GPU path: frames through FastStylizer by size, batch and precision.

    python scripts/bench_cuda.py [STYLE ...] [--sizes 1280x720 1920x1080 3840x2160]
                                 [--batches 1 4 8] [--precisions fp16 fp32] [--seconds 3]

Per row two rates: *frames* calls FastStylizer on uint8 RGB frames in host memory, as the
video pipeline does (pinned upload, network, download; the resize is a no-op at these
sizes), and *network* runs the network alone on a batch already on the GPU, which is the
ceiling the decoding and encoding around it would have to keep up with. Peak memory is
PyTorch's largest allocation during the row. The last column is the largest difference from
fp32, in 8-bit levels, of the same frame. Needs no video files: the frame is synthetic
(smooth gradients and noise; the network's cost does not depend on the picture).
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import torch

from vidstyle.stylizers.fast import FastStylizer
from vidstyle.weights import DEFAULT_STYLE


def synthetic_frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB frame: gradients with mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 37 + y / 53)], axis=-1) * 200
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def rate(run, batch: int, seconds: float) -> float:
    """Frames per second of ``run`` (one call = ``batch`` frames) over at least ``seconds``."""
    run(), run()
    torch.cuda.synchronize()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        calls += 1
    torch.cuda.synchronize()
    return calls * batch / (time.perf_counter() - start)


def row(style: str, size: str, batch: int, precision: str, seconds: float, reference: dict) -> str:
    width, height = (int(v) for v in size.split("x"))
    stylizer = FastStylizer(style, device="cuda", precision=precision)
    frames = [synthetic_frame(width, height)] * batch
    on_gpu = torch.rand(batch, 3, height, width, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    fps_frames = rate(lambda: stylizer(frames), batch, seconds)
    fps_network = rate(lambda: stylizer.stylize_tensor(on_gpu), batch, seconds)
    peak = torch.cuda.max_memory_allocated() / 2**20
    out = stylizer(frames[:1])[0].astype(np.int16)
    key = (style, size)
    if precision == "fp32":
        reference[key] = out
    diff = f"{np.abs(out - reference[key]).max()}" if key in reference else "-"
    tiled = stylizer.tile_core(width, height)
    return (
        f"| {style} | {size} | {batch} | {precision} | {fps_frames:.1f} | {fps_network:.1f} | "
        f"{peak:.0f} | {'tiles of ' + str(tiled) if tiled else 'whole'} | {diff} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("styles", nargs="*", default=[DEFAULT_STYLE])
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080", "3840x2160"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16"])
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per figure")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here")
    props = torch.cuda.get_device_properties(0)
    print(f"# {date.today()}, {props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}")
    print(
        "| style | size | batch | precision | frames/s (host frames) | frames/s (network) | peak MB "
        "| pass | max diff vs fp32 |"
    )
    print("|---|---|---:|---|---:|---:|---:|---|---:|")
    reference: dict = {}
    for style in args.styles:
        for size in args.sizes:
            for precision in args.precisions:  # fp32 first: the reference for the diff column
                for batch in args.batches:
                    print(row(style, size, batch, precision, args.seconds, reference), flush=True)
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
