"""Live webcam speed: fps and capture-to-display latency per style at a given resolution.

A generated clip (or ``--camera``) stands in for the camera and plays in real time, as a
camera would; frames the network cannot keep up with are dropped, not queued. Without
``--window`` the session is headless, so latency covers capture, stylizing and overlay
drawing but not the window; run with ``--window`` under a display (e.g. ``xvfb-run``) to
include it.

    python scripts/bench_webcam.py -s starry_night --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

# vidstyle loads OpenCV before PyAV: the other order makes OpenCV's Qt window hang (PyAV's
# bundled libxcb takes precedence), so the test clip generator is imported after it.
from vidstyle.webcam import parse_size, run_webcam
from vidstyle.weights import list_styles

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from media import make_video  # noqa: E402 (the test clip generator lives with the tests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-s", "--style", action="append", help="style name or path (default: all shipped)")
    parser.add_argument("--size", default="640x480", help="processing resolution (default 640x480)")
    parser.add_argument("--camera", help="camera source (default: a generated clip at --size, 30 fps)")
    parser.add_argument("--seconds", type=float, default=10.0, help="run time per style")
    parser.add_argument("--threads", type=int, help="PyTorch CPU threads (default: PyTorch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--window", action="store_true", help="show the preview window (needs a display)")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    size = parse_size(args.size)
    styles = args.style or [str(info.path) for info in list_styles()]
    if not styles:
        sys.exit("no styles installed; pass -s PATH")
    with tempfile.TemporaryDirectory() as tmp:
        camera = args.camera
        if camera is None:
            width, height = size if isinstance(size, tuple) else (size, size * 3 // 4)
            camera = str(Path(tmp) / "camera.mp4")
            make_video(Path(camera), width=width, height=height, frames=90, fps=30)
        print(f"torch threads {torch.get_num_threads()}, size {args.size}, {args.seconds:g} s per style")
        print(f"{'style':<24} {'fps':>6} {'latency ms':>11} {'dropped':>8}")
        for style in styles:
            result = run_webcam(
                [style],
                camera=camera,
                size=size,
                device=args.device,
                window=args.window,
                duration=args.seconds,
                loop=True,
            )
            name = Path(style).stem
            print(f"{name:<24} {result.fps:>6.1f} {result.latency_ms:>11.0f} {result.dropped:>8}")


if __name__ == "__main__":
    main()
