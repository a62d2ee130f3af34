#!/usr/bin/env python
"""Time one frame through style networks: PyTorch's kernels against vidstyle's inference path.

    python scripts/bench_network.py [STYLE ...] [--size 640x360 ...] [--threads 1] [--rounds 5]
                                    [--precision fp32] [--onnx]

Per style and size, alternating ``--rounds`` times: the network on a channels-last frame with
PyTorch's own kernels (grad mode on, parameters frozen, so nothing is recorded) and with
the inference path that ``FastStylizer`` uses (inference mode). Prints the median
milliseconds per frame of each and the largest output difference between the two.

``--onnx`` instead exports each style (``vidstyle export``) and times the file in ONNX
Runtime (CPU execution provider) and, where the ``openvino`` package is installed, in
OpenVINO (CPU, fp32, compiled for the frame's size), alternating with vidstyle's inference
path on the same frame; every runtime gets ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
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


def medians(runs: dict[str, Callable[[], object]], rounds: int, frames: int) -> dict[str, float]:
    """The median milliseconds per frame of each of ``runs``, timed in turn each round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(time_frames(run, frames))
    return {name: statistics.median(values) for name, values in times.items()}


def kernels_table(args: argparse.Namespace, dtype: torch.dtype) -> None:
    """PyTorch's kernels against the inference path, per style and size."""
    print("| style | network | size | PyTorch kernels (ms) | inference path (ms) | max difference |")
    print("|---|---|---|---:|---:|---:|")
    for name in args.styles:
        style = load_style(name)
        net = style.net.to(dtype).eval().requires_grad_(False).to(memory_format=torch.channels_last)
        for width, height in args.size:
            x = torch.rand(1, 3, height, width).to(dtype).contiguous(memory_format=torch.channels_last)

            def reference(net=net, x=x) -> torch.Tensor:
                with torch.enable_grad():
                    return net(x)

            def fast(net=net, x=x) -> torch.Tensor:
                with torch.inference_mode():
                    return net(x)

            ms = medians({"reference": reference, "fast": fast}, args.rounds, args.frames)
            diff = (reference().float() - fast().float()).abs().max().item()
            print(
                f"| {style.name} | {style.info.network} | {width}x{height} | {ms['reference']:.1f} | "
                f"{ms['fast']:.1f} | {diff:.1e} |"
            )


def onnx_runtime(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """The exported network in ONNX Runtime on the CPU, ``threads`` threads that sleep when
    idle (spinning ones take cores from the decoder and encoder a video needs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]


def openvino(path: Path, threads: int, shape: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    """The exported network compiled by OpenVINO for the CPU at ``shape`` in fp32 (a video's
    frames share one size)."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape(list(shape))
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    compiled = core.compile_model(model, "CPU", config)
    return lambda x: compiled(x)[0]


def runtimes_table(args: argparse.Namespace, dtype: torch.dtype) -> None:
    """vidstyle's inference path against the exported file in other runtimes."""
    from vidstyle.stylizers.export import export_onnx

    with_openvino = importlib.util.find_spec("openvino") is not None
    if not with_openvino:
        print("# OpenVINO is not installed (pip install openvino to time it too)")
    print("| style | size | runtime | ms per frame | fps | max difference |")
    print("|---|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.styles:
            path = export_onnx(name, Path(folder) / f"{Path(name).stem}.onnx").output
            style = load_style(name)
            net = style.net.to(dtype).eval().to(memory_format=torch.channels_last)
            for width, height in args.size:
                frame = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
                runs = {
                    "vidstyle (PyTorch)": pytorch(net, frame, dtype),
                    "ONNX Runtime": partial(onnx_runtime(path, args.threads), frame),
                }
                if with_openvino:
                    runs["OpenVINO"] = partial(openvino(path, args.threads, frame.shape), frame)
                ms = medians(runs, args.rounds, args.frames)
                expected = runs["vidstyle (PyTorch)"]()
                for runtime, run in runs.items():
                    diff = np.abs(run() - expected).max()
                    print(
                        f"| {style.name} | {width}x{height} | {runtime} | {ms[runtime]:.1f} | "
                        f"{1000 / ms[runtime]:.1f} | {diff:.1e} |"
                    )


def pytorch(net: torch.nn.Module, frame: np.ndarray, dtype: torch.dtype) -> Callable[[], np.ndarray]:
    """vidstyle's inference path on ``frame`` (converted once, as the ONNX runtimes take it
    as it is), output clamped as the exported graph's."""
    x = torch.from_numpy(frame).to(dtype).contiguous(memory_format=torch.channels_last)

    def run() -> np.ndarray:
        with torch.inference_mode():
            return net(x).float().clamp(0, 1).numpy()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("styles", nargs="*", default=[DEFAULT_STYLE])
    parser.add_argument("--size", nargs="+", default=["640x360"], help="WIDTHxHEIGHT ...")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=10, help="frames per round")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--onnx", action="store_true", help="time the exported file in other runtimes")
    args = parser.parse_args()
    args.size = [tuple(int(v) for v in size.lower().split("x")) for size in args.size]

    torch.set_num_threads(args.threads)
    dtype = select_dtype(args.precision, torch.device("cpu"))
    print(f"# {args.threads} thread(s), {dtype}, median of {args.rounds} rounds of {args.frames} frames")
    (runtimes_table if args.onnx else kernels_table)(args, dtype)


if __name__ == "__main__":
    main()
