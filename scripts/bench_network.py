#!/usr/bin/env python
"""Time one frame through style networks: PyTorch's kernels against vidstyle's inference path.

    python scripts/bench_network.py [STYLE ...] [--size 640x360] [--threads 1] [--rounds 5]
                                    [--precision fp32]

Per style, alternating ``--rounds`` times: the network on a channels-last frame with
PyTorch's own kernels (grad mode on, parameters frozen, so nothing is recorded) and with
the inference path that ``FastStylizer`` uses (inference mode). Prints the median
milliseconds per frame of each and the largest output difference between the two.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vidstyle.device import select_dtype
from vidstyle.weights import DEFAULT_STYLE, load_style


def time_frames(run, frames: int) -> float:
    """Milliseconds per call of ``run`` over ``frames`` calls, after two warm-up calls."""
    run(), run()
    start = time.perf_counter()
    for _ in range(frames):
        run()
    return 1000 * (time.perf_counter() - start) / frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("styles", nargs="*", default=[DEFAULT_STYLE])
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=10, help="frames per round")
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    dtype = select_dtype(args.precision, torch.device("cpu"))
    x = torch.rand(1, 3, height, width).to(dtype).contiguous(memory_format=torch.channels_last)
    print(f"# {width}x{height}, {args.threads} thread(s), {dtype}, median of {args.rounds} rounds")
    print("| style | network | PyTorch kernels (ms) | inference path (ms) | max difference |")
    print("|---|---|---:|---:|---:|")
    for name in args.styles:
        style = load_style(name)
        net = style.net.to(dtype).eval().requires_grad_(False).to(memory_format=torch.channels_last)

        def reference(net=net) -> torch.Tensor:
            with torch.enable_grad():
                return net(x)

        def fast(net=net) -> torch.Tensor:
            with torch.inference_mode():
                return net(x)

        times: dict[str, list[float]] = {"reference": [], "fast": []}
        for _ in range(args.rounds):
            times["reference"].append(time_frames(reference, args.frames))
            times["fast"].append(time_frames(fast, args.frames))
        diff = (reference().float() - fast().float()).abs().max().item()
        print(f"| {style.name} | {style.info.network} | {statistics.median(times['reference']):.1f} | "
              f"{statistics.median(times['fast']):.1f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
