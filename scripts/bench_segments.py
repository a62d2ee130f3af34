#!/usr/bin/env python
"""Long videos on Ray: speed for 1, 2 and N segment tasks, the cost of cutting and joining,
and flicker at the joins against elsewhere.

    python scripts/bench_segments.py [--clip car-detection.mp4] [--frames N] [--segment-seconds 4]
                                     [--style NAME] [--max-size N] [--crf 28] [--workers 1 2 ...]
                                     [--batch] [--hq PAINTING [--blend N]] [--keep DIR]

The clip (its first ``--frames`` frames) is stylized once in one process, threads planned
as ``vidstyle stylize`` plans them, then on a local Ray started for each run with at most
1, 2 and N (the cores) segment tasks at once (``--task-cpus 1``), and once without the
warm-up for comparison. fps = frames / wall time of the whole job, Ray's start included;
each run's stages are printed, with the time the tasks themselves took (the rest of the
segments stage is Ray starting worker processes that import vidstyle). The Ray output's
frames and timestamps are checked against the one-process output's. Flicker is measured
on consecutive output frames, as decoded: the mean absolute grey difference, and the
temporal warping error of scripts/flicker.py (vidstyle.stylizers.flow.warping_error, lower is
steadier), at each join against the other frames. ``--crf 0`` (lossless) shows the
frames' own flicker, without the encoder's: there a join's first frame is a keyframe.
``--batch`` times a batch instead (the clip twice and the content photos): the local
backend's, one file after another, against Ray's, every image and segment a task.
``--hq PAINTING`` times HQ mode at its defaults instead (see :func:`bench_hq`), in one
process and on Ray (as many tasks as cores), and measures its flicker at the joins, with
the joins cross-faded and without.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import av
import cv2
import numpy as np

from vidstyle.defaults import DEFAULT_CRF
from vidstyle.io.video import VideoReader
from vidstyle.jobs.batch import stylize_batch
from vidstyle.jobs.distributed import stylize_batch_on_ray, stylize_on_ray
from vidstyle.jobs.hq import HQConfig, stylize_hq
from vidstyle.jobs.segments import HQ_BLEND, Plan, plan, warmup_frames
from vidstyle.jobs.stylize import StylizeResult, cpu_cores, plan_fast_job, stylize_media
from vidstyle.jobs.workdir import MANIFEST_NAME
from vidstyle.settings import EncodingSettings, Limits, NetworkSettings
from vidstyle.stylizers.flow import warping_error
from vidstyle.stylizers.temporal import DEFAULT_WEIGHT
from vidstyle.weights import DEFAULT_STYLE

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CLIP = SHARED / "videos" / "car-detection.mp4"


def decoded(path: Path) -> tuple[list[float], list[np.ndarray]]:
    """The times (seconds) and images of a video's frames."""
    with av.open(str(path)) as container:
        frames = list(container.decode(container.streams.video[0]))
    return [float(f.pts * f.time_base) for f in frames], [f.to_ndarray(format="rgb24") for f in frames]


def sources(clip: Path, frames: int, max_size: int | None) -> list[np.ndarray]:
    with VideoReader(clip, max_frames=frames, max_size=max_size) as reader:
        return [frame.image for frame in reader]


def local_options(style: str) -> dict:
    """The stylizer and threads of a job in this process, planned as the command line plans them."""
    return plan_fast_job(NetworkSettings(style))


def one_process(clip: Path, output: Path, style: str, options: dict) -> float:
    """fps of the job in this process."""
    return stylize_media(clip, output, progress=False, **local_options(style), **options).fps


def bench_batch(clip: Path, work: Path, style: str, options: dict, segment_seconds: float) -> None:
    """Seconds of a batch (the clip twice, the content photos) locally and on Ray."""
    folder = work / "batch"
    (folder / "again").mkdir(parents=True)
    for target in (folder, folder / "again"):
        shutil.copy(clip, target)
    photos = sorted((SHARED / "content").glob("*.jpg"))
    for photo in photos:
        shutil.copy(photo, folder)
    print(f"batch: {clip.name} twice and {len(photos)} photos")
    runs = {
        "local (one file after another)": lambda: stylize_batch(
            [folder], work / "local", progress=False, **local_options(style), **options
        ),
        "Ray (every image and segment a task)": lambda: stylize_batch_on_ray(
            [folder], work / "ray", NetworkSettings(style), segment_seconds=segment_seconds, progress=False,
            **options,
        ),
    }
    for name, run in runs.items():
        began = time.perf_counter()
        items = run()
        assert all(item.status == "done" for item in items), items
        print(f"  {name:<38} {time.perf_counter() - began:6.1f} s")


def pair_measures(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per consecutive pair (i-1, i), for i from 1: mean abs grey difference, warping error."""
    grey = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) for image in outputs]
    difference = np.array([np.abs(b - a).mean() for a, b in zip(grey, grey[1:], strict=False)])
    warping = np.array(
        [warping_error(outputs[i - 1], outputs[i], inputs[i - 1], inputs[i]) for i in range(1, len(outputs))]
    )
    return difference, warping


def report_flicker(
    name: str, outputs: list[np.ndarray], inputs: list[np.ndarray], joins: list[int], blend: int = 0
) -> None:
    """Each join's figures against the mean (and the 90th percentile) of the other pairs; a
    join blended over ``blend`` frames counts the ``blend + 1`` pairs it spreads over (their
    largest value is shown)."""
    difference, warping = pair_measures(outputs, inputs)
    windows = [list(range(j - 1, min(j + blend, len(difference)))) for j in joins]
    for label, values, scale in (("grey diff", difference, 1.0), ("warping err x1e3", warping, 1e3)):
        at = [max(values[w]) * scale for w in windows]
        elsewhere = np.delete(values, [i for w in windows for i in w]) * scale
        print(
            f"  {name:<28} {label:<17} at joins {', '.join(f'{v:.2f}' for v in at)}"
            f" | elsewhere mean {elsewhere.mean():.2f}, p90 {np.percentile(elsewhere, 90):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--frames", type=int, default=None, help="default: the whole clip")
    parser.add_argument("--segment-seconds", type=float, default=4.0)
    parser.add_argument("--style", default=DEFAULT_STYLE)
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument(
        "--crf", type=int, default=DEFAULT_CRF, help="0: lossless, flicker of the frames alone"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, 2, cpu_cores()}))
    parser.add_argument("--batch", action="store_true", help="time a batch, locally and on Ray")
    parser.add_argument("--hq", type=Path, metavar="PAINTING", help="HQ mode towards this painting")
    parser.add_argument("--blend", type=int, help="with --hq: frames each join cross-fades over")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work (and keep the outputs) in DIR")
    args = parser.parse_args()

    cut = plan(args.clip, args.segment_seconds, max_frames=args.frames)
    print(
        f"{cpu_cores()} cores; {args.clip.name}: {cut.frames} frames, {len(cut.segments)} segments of "
        f"~{args.segment_seconds:g} s (warm-up {warmup_frames(DEFAULT_WEIGHT)} frames), style {args.style}, "
        f"crf {args.crf}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        options = {
            "limits": Limits(args.max_size, args.frames),
            "encoding": EncodingSettings(crf=args.crf),
        }
        if args.batch:
            bench_batch(args.clip, work, args.style, options, args.segment_seconds)
            return
        if args.hq:
            bench_hq(args, work)
            return
        fps = one_process(args.clip, work / "one.mp4", args.style, options)
        print(f"one process:      {fps:6.2f} fps")
        options.update(segment_seconds=args.segment_seconds, progress=False, keep_work=True)
        runs, network = {}, NetworkSettings(args.style)
        for workers in args.workers:
            runs[workers] = work / f"ray{workers}.mp4"
            result = stylize_on_ray(args.clip, runs[workers], network, tasks=workers, **options)
            report_run(workers, result, runs[workers])
        cold = work / "cold.mp4"
        stylize_on_ray(args.clip, cold, network, warmup=0, **options)
        compare(work / "one.mp4", runs[max(runs)], cold, cut, sources(args.clip, args.frames, args.max_size))


def bench_hq(args: argparse.Namespace, work: Path) -> None:
    """HQ mode at its defaults on the clip's first ``--frames`` (default 36) frames at
    ``--max-size`` (default 320), re-encoded with a keyframe every second so that short
    segments can be cut: one process, Ray with its joins cross-faded over ``--blend``
    frames (default HQ's), and Ray without; speed and flicker at the joins."""
    clip = keyframe_every_second(args.clip, args.frames or 36, args.max_size or 320, work / "hq-clip.mp4")
    cut = plan(clip, args.segment_seconds)
    blend = HQ_BLEND if args.blend is None else args.blend
    print(f"HQ: {cut.frames} frames of {args.clip.name}, {len(cut.segments)} segments, blend {blend}")
    began = time.perf_counter()
    encoding = EncodingSettings(crf=args.crf)
    stylize_hq(clip, work / "one.mp4", args.hq, HQConfig(), progress=False, encoding=encoding)
    seconds = time.perf_counter() - began
    print(f"HQ, one process: {seconds:.1f} s, {seconds / cut.frames:.1f} s a frame")
    hq = {"hq": asdict(HQConfig()), "encoding": encoding, "progress": False, "keep_work": True}
    painting = NetworkSettings(args.hq, temporal=0.0)
    for name, frames in (("ray.mp4", blend), ("unblended.mp4", 0)):
        seconds = args.segment_seconds
        result = stylize_on_ray(clip, work / name, painting, segment_seconds=seconds, blend=frames, **hq)
        report_run(cpu_cores(), result, work / name)
    one_pts, one_frames = decoded(work / "one.mp4")
    ray_pts, ray_frames = decoded(work / "ray.mp4")
    print(f"frames: one process {len(one_pts)}, Ray {len(ray_pts)}; same timestamps: {one_pts == ray_pts}")
    joins = join_frames(one_pts, cut)
    print(f"flicker between consecutive frames (joins before frames {', '.join(map(str, joins))}):")
    inputs = sources(clip, None, None)
    report_flicker("HQ, one process", one_frames, inputs, joins, blend)
    report_flicker(f"HQ on Ray, blended ({blend})", ray_frames, inputs, joins, blend)
    report_flicker("HQ on Ray, not blended", decoded(work / "unblended.mp4")[1], inputs, joins, blend)


def keyframe_every_second(source: Path, frames: int, side: int, output: Path) -> Path:
    """The first ``frames`` frames of ``source`` at ``side`` px (longest side), nearly
    lossless (crf 12), with a keyframe every second."""
    with VideoReader(source, max_frames=frames, max_size=side) as reader:
        images, fps = [f.image for f in reader], reader.info.fps
    with av.open(str(output), "w") as dst:
        stream = dst.add_stream("libx264", rate=round(fps), options={"crf": "12", "g": str(round(fps))})
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in images:
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        dst.mux(stream.encode(None))
    return output


def join_frames(pts: list[float], cut: Plan) -> list[int]:
    """The index of each segment's first frame after the first segment's."""
    return [int(np.argmin(np.abs(np.array(pts) - float(s.start * cut.time_base)))) for s in cut.segments[1:]]


def report_run(workers: int, result: StylizeResult, output: Path) -> None:
    """fps, the stages' seconds, and how long the tasks themselves took (their manifest)."""
    stages = result.stages or {}
    manifest = json.loads((output.with_name(output.name + ".segments") / MANIFEST_NAME).read_text())
    busy = sum(record["seconds"] for record in manifest["done"].values())
    print(
        f"Ray, {workers} task(s): {result.fps:6.2f} fps; Ray start {stages['ray_start']:.1f} s, "
        f"split {stages['split']:.2f} s, segments {stages['segments']:.1f} s (the tasks' own time "
        f"{busy:.1f} s, {result.frames / busy:.1f} fps a task), join {stages['join']:.2f} s"
    )


def compare(one: Path, ray: Path, cold: Path, cut: Plan, inputs: list[np.ndarray]) -> None:
    """Frames and timestamps of a Ray run against one process; flicker at the joins."""
    one_pts, one_frames = decoded(one)
    ray_pts, ray_frames = decoded(ray)
    print(f"frames: one process {len(one_pts)}, Ray {len(ray_pts)}; same timestamps: {one_pts == ray_pts}")
    joins = join_frames(one_pts, cut)
    print(f"flicker between consecutive frames (joins before frames {', '.join(map(str, joins))}):")
    report_flicker("one process", one_frames, inputs, joins)
    report_flicker("Ray", ray_frames, inputs, joins)
    report_flicker("Ray, no warm-up", decoded(cold)[1], inputs, joins)
    gaps = [float(np.abs(a.astype(np.int16) - b).mean()) for a, b in zip(one_frames, ray_frames, strict=True)]
    print(
        "Ray against one process, mean abs difference per frame: at joins "
        f"{', '.join(f'{gaps[j]:.2f}' for j in joins)}; all frames {statistics.fmean(gaps):.2f} "
        "(encoding alone: the segments start new GOPs)"
    )


if __name__ == "__main__":
    main()
