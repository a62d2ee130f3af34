"""Live webcam speed: fps and capture-to-display latency per style at a given resolution.

A generated clip (or ``--camera``) stands in for the camera and plays in real time, as a
camera would; frames the network cannot keep up with are dropped, not queued. Without
``--window`` the session is headless, so latency covers capture, stylizing and overlay
drawing but not the window; run with ``--window`` under a display (e.g. ``xvfb-run``) to
include it.

``--load`` measures the default style beside other programs instead: idle, then with one
and with two busy processes (``python -c "while True: pass"``, a stand-in for a video-call
application), started and stopped by the script, in interleaved rounds so that a change in
the machine's own background load touches every condition alike. With ``--stylize`` it
also runs ``vidstyle stylize`` on the clip under each load and prints its fps and its share
of the CPU against a fair one (the cores left free, or an equal share with each busy
process where they take them all).

    python scripts/bench_webcam.py -s starry_night --seconds 10
    python scripts/bench_webcam.py --load --rounds 2 --seconds 8 [--stylize]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# vidstyle loads OpenCV before PyAV: the other order makes OpenCV's Qt window hang (PyAV's
# bundled libxcb takes precedence), so the test clip generator is imported after it.
from vidstyle.jobs.webcam import WebcamResult, parse_size, run_webcam
from vidstyle.weights import DEFAULT_STYLE, list_styles

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from media import make_video  # noqa: E402 (the test clip generator lives with the tests)

#: the competing programs of each ``--load`` condition
LOADS = (0, 1, 2)
#: seconds a busy process runs before a measurement starts (the scheduler settles)
SETTLE = 1.0


@contextmanager
def busy_processes(count: int) -> Iterator[None]:
    """``count`` processes spinning on a core each, stopped on leaving however it is left."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        if procs:
            time.sleep(SETTLE)
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def session(style: str, camera: str, args: argparse.Namespace) -> WebcamResult:
    size = parse_size(args.size)
    return run_webcam(
        [style], camera=camera, size=size, device=args.device, window=args.window,
        duration=args.seconds, loop=True, **_options(args),
    )


def _options(args: argparse.Namespace) -> dict[str, object]:
    """The session options this vidstyle knows (the script also measures older ones)."""
    import inspect

    known = inspect.signature(run_webcam).parameters
    latency = None if args.max_latency is None else args.max_latency / 1000  # ms, as `vidstyle webcam`
    wanted = {"threads": args.threads, "max_latency": latency, "min_fps": args.min_fps}
    return {k: v for k, v in wanted.items() if k in known and v is not None}


def row(label: str, result: WebcamResult) -> str:
    extra = " ".join(f"{k} {getattr(result, k)}" for k in ("threads", "scale") if hasattr(result, k))
    return f"{label:<24} {result.fps:>6.1f} {result.latency_ms:>11.0f} {result.dropped:>8}  {extra}"


def by_style(styles: list[str], camera: str, args: argparse.Namespace) -> None:
    for style in styles:
        print(row(Path(style).stem, session(style, camera, args)), flush=True)


def under_load(style: str, camera: str, args: argparse.Namespace) -> None:
    """Interleaved rounds of idle, 1 and 2 busy processes; then the median of each."""
    results: dict[int, list[WebcamResult]] = {load: [] for load in LOADS}
    for number in range(1, args.rounds + 1):
        print(f"round {number}: other programs keep {_background():.1f} cores busy before it", flush=True)
        for load in LOADS:
            with busy_processes(load):
                result = session(style, camera, args)
            results[load].append(result)
            print(row(f"round {number}, {load} busy", result), flush=True)
    print("median:")
    for load, runs in results.items():
        fps = statistics.median(r.fps for r in runs)
        latency = statistics.median(r.latency_ms for r in runs)
        print(f"  {load} busy: {fps:.1f} fps, latency {latency:.0f} ms")


def _background() -> float:
    """Cores the machine's other programs keep busy (over a second), where vidstyle says."""
    try:
        from vidstyle.jobs.pace import others_busy
    except ImportError:  # an older vidstyle
        return float("nan")
    return others_busy(1.0)


def stylize_share(clip: str, out: Path) -> None:
    """``vidstyle stylize`` of ``clip`` under each load: fps and its share of the CPU."""
    cores = len(os.sched_getaffinity(0))
    command = [sys.executable, "-m", "vidstyle", "stylize", clip, "-o", str(out), "--overwrite", "--json"]
    for load in LOADS:
        with busy_processes(load):
            before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            wall, after = time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        fair = max((cores - load) / cores, 1 / (load + 1))
        fps = json.loads(done.stdout)["fps"]
        print(f"  stylize, {load} busy: {fps:.1f} fps, {cpu / wall / cores:.0%} of the CPU (fair {fair:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--style", action="append", help="style name or path (default: all shipped)")
    parser.add_argument("--size", default="640x480", help="processing resolution (default 640x480)")
    parser.add_argument("--camera", help="camera source (default: a generated clip at --size, 30 fps)")
    parser.add_argument("--seconds", type=float, default=10.0, help="run time per style or condition")
    parser.add_argument("--threads", type=int, help="PyTorch CPU threads (default: vidstyle's choice)")
    parser.add_argument("--max-latency", type=float, help="the session's latency target in ms")
    parser.add_argument("--min-fps", type=float, help="the session's frame rate to keep (0: full size)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--window", action="store_true", help="show the preview window (needs a display)")
    parser.add_argument("--load", action="store_true", help="idle, 1 and 2 busy processes (default style)")
    parser.add_argument("--rounds", type=int, default=2, help="--load: rounds of the three conditions")
    parser.add_argument("--stylize", action="store_true", help="--load: vidstyle stylize's share too")
    args = parser.parse_args()

    import torch  # after vidstyle, which sets OpenMP's wait policy for it

    if args.threads and "threads" not in _options(args):
        torch.set_num_threads(args.threads)
    size = parse_size(args.size)
    styles = args.style or ([DEFAULT_STYLE] if args.load else [str(info.path) for info in list_styles()])
    if not styles:
        sys.exit("no styles installed; pass -s PATH")
    with tempfile.TemporaryDirectory() as tmp:
        camera = args.camera
        if camera is None:
            width, height = size if isinstance(size, tuple) else (size, size * 3 // 4)
            camera = str(Path(tmp) / "camera.mp4")
            make_video(Path(camera), width=width, height=height, frames=90, fps=30)
        print(f"{torch.get_num_threads()} cores for torch, size {args.size}, {args.seconds:g} s per run")
        print(f"{'style' if not args.load else 'condition':<24} {'fps':>6} {'latency ms':>11} {'dropped':>8}")
        if args.load:
            under_load(styles[0], camera, args)
            if args.stylize:
                stylize_share(camera, Path(tmp) / "stylized.mp4")
        else:
            by_style(styles, camera, args)


if __name__ == "__main__":
    main()
