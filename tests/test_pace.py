"""A live session's pace beside other programs: thread counts from free cores and frame
times, the painted size from latency, and the options that fix them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from clirun import run_cli
from media import make_video, pattern

from vidstyle.jobs import pace
from vidstyle.jobs.pace import (
    HOLD,
    SCALES,
    PaintScale,
    ThreadTuner,
    busy_cores,
    free_threads,
    live_pace,
    others_busy,
    painted,
    read_cpu_times,
)
from vidstyle.settings import Look
from vidstyle.stylizers.fast import FastStylizer

pytestmark = pytest.mark.usefixtures("one_thread")

#: the CPU lines of /proc/stat on a 3-CPU machine, and the same a moment later: CPU 0 was
#: busy throughout (100 of 100 jiffies), CPU 1 idle, CPU 2 busy too
STAT_BEFORE = (
    "cpu  1500 0 750 12000 150 0 0 0 0 0\n"
    "cpu0 500 0 250 4000 50 0 0 0 0 0\ncpu1 500 0 250 4000 50 0 0 0 0 0\ncpu2 500 0 250 4000 50 0 0 0 0 0\n"
    "intr 1 2 3\n"
)
STAT_AFTER = (
    "cpu  1660 0 790 12095 105 0 0 0 0 0\n"
    "cpu0 580 0 270 4000 50 0 0 0 0 0\ncpu1 500 0 250 4095 55 0 0 0 0 0\ncpu2 580 0 270 4000 50 0 0 0 0 0\n"
    "intr 1 2 3\n"
)


def write_stat(tmp_path: Path, text: str) -> str:
    path = tmp_path / "stat"
    path.write_text(text)
    return str(path)


def test_busy_cores_from_proc_stat(tmp_path: Path) -> None:
    mine = {0, 1}  # the CPUs this process may use: CPU 2's load is not in its way
    before = read_cpu_times(mine, write_stat(tmp_path, STAT_BEFORE))
    after = read_cpu_times(mine, write_stat(tmp_path, STAT_AFTER))
    assert before == (1500, 9600) and after == (1600, 9800)
    assert busy_cores(before, after, cpus=2, own=0.0) == pytest.approx(1.0)
    # this process's own work is not another program's
    assert busy_cores(before, after, cpus=2, own=0.25) == pytest.approx(0.5)
    assert busy_cores(before, after, cpus=2, own=0.9) == 0.0
    assert read_cpu_times(mine, str(tmp_path / "missing")) is None
    assert read_cpu_times({7}, write_stat(tmp_path, STAT_BEFORE)) is None


def test_load_average_stands_in_without_proc_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pace.os, "getloadavg", lambda: (1.5, 1.0, 0.5))
    assert others_busy(path=str(tmp_path / "missing")) == 1.5


@pytest.mark.parametrize(
    ("cores", "busy", "threads"),
    [(2, 0.0, 2), (2, 0.3, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 2.0, 1), (2, 5.0, 1), (8, 1.2, 7), (1, 0.0, 1)],
)
def test_free_threads(cores: int, busy: float, threads: int) -> None:
    assert free_threads(cores, busy) == threads


def test_tuner_keeps_the_faster_count() -> None:
    applied: list[int] = []
    tuner = ThreadTuner(2, most=2, apply=applied.append, window=2, every=4)
    assert applied == [2]
    for _ in range(4):  # two windows at 2 threads: then one thread is tried
        tuner.record(0.05)
    assert (tuner.threads, applied) == (1, [2, 1])
    for _ in range(2):  # faster: kept
        tuner.record(0.03)
    assert (tuner.threads, applied) == (1, [2, 1])
    for _ in range(4):  # the other programs stopped; 2 threads are tried again and are faster
        tuner.record(0.03)
    assert tuner.threads == 2
    for _ in range(2):
        tuner.record(0.02)
    assert (tuner.threads, applied) == (2, [2, 1, 2])
    for _ in range(4):  # a try that is slower goes back
        tuner.record(0.02)
    tuner.record(0.04)
    tuner.record(0.04)
    assert (tuner.threads, applied) == (2, [2, 1, 2, 1, 2])


def test_tuner_alternates_up_and_down_within_bounds() -> None:
    applied: list[int] = []
    tuner = ThreadTuner(3, most=4, apply=applied.append, window=1, every=1)
    for seconds in (0.05, 0.06, 0.05, 0.06):  # each try slower: back to 3 every time
        tuner.record(seconds)
    assert applied == [3, 4, 3, 2, 3]
    lone = ThreadTuner(1, most=1, apply=applied.append, window=1, every=1)
    for _ in range(3):
        lone.record(0.05)
    assert lone.threads == 1 and applied[-1] == 1


def test_paint_scale_steps_down_while_behind_and_back_up() -> None:
    scale = PaintScale(target=0.1, window=3)
    for latency in (0.2, 0.05, 0.3):  # the median is over the target
        scale.record(latency)
    assert scale.factor == SCALES[1]
    for _ in range(3 * len(SCALES)):
        scale.record(0.5)
    assert scale.factor == SCALES[-1]  # never below the smallest
    for _ in range(3):
        scale.record(0.07)  # under the target, but not by enough to grow again
    assert scale.factor == SCALES[-1]
    for _ in range(3):
        scale.record(0.01)
    assert scale.factor == SCALES[-2]
    fixed = PaintScale(target=None, window=1)
    for _ in range(3):
        fixed.painted(0.5)
        fixed.record(10.0, 1.0, 1)
    assert fixed.factor == 1.0 and not fixed._work  # nothing kept that no rule reads


def _show(
    scale: PaintScale, frames: int, fps: float, camera_fps: float, work: float, start: float = 0.0
) -> float:
    """Show ``frames`` frames at ``fps`` from a camera delivering ``camera_fps``, each
    painted in ``work`` seconds; the time after the last."""
    for n in range(frames):
        when = start + n / fps
        scale.painted(work)
        scale.record(0.05, when, round(when * camera_fps))
    return start + frames / fps


def test_paint_scale_keeps_the_frame_rate() -> None:
    """Fewer frames shown than the rate to keep: smaller; a camera slower than that rate
    sets the rate instead; back up only where the larger picture's work fits a frame."""
    behind = PaintScale(target=None, fps=30, window=5)
    _show(behind, 5, fps=15, camera_fps=30, work=1 / 15)
    assert behind.factor == SCALES[1]
    slow_camera = PaintScale(target=None, fps=30, window=5)
    _show(slow_camera, 20, fps=15, camera_fps=15, work=1 / 20)
    assert slow_camera.factor == 1.0  # all the camera gives is shown
    tight = PaintScale(target=None, fps=30, window=5, step=1)
    _show(tight, 20, fps=30, camera_fps=30, work=0.028)  # 0.039 s at full size: over the frame
    assert tight.factor == SCALES[1]
    roomy = PaintScale(target=None, fps=30, window=5, step=1)
    _show(roomy, 5, fps=30, camera_fps=30, work=0.01)
    assert roomy.factor == 1.0


def test_paint_scale_waits_before_retrying_a_size_too_slow_for_the_rate() -> None:
    scale = PaintScale(target=None, fps=30, window=5)
    now = _show(scale, 5, fps=20, camera_fps=30, work=0.05)
    assert scale.factor == SCALES[1]
    now = _show(scale, 5 * (HOLD - 1), fps=30, camera_fps=30, work=0.01, start=now)
    assert scale.factor == SCALES[1]  # room to grow, but the full size was too slow just now
    _show(scale, 5, fps=30, camera_fps=30, work=0.01, start=now)
    assert scale.factor == 1.0


def test_painted_smaller_keeps_the_frame_size(tiny_style: Path) -> None:
    stylizer = FastStylizer(tiny_style, device="cpu", precision="fp32", style_scale=1.0)
    image = pattern(0, 96, 64)
    seen: list[tuple[int, int]] = []
    network = stylizer._network
    stylizer._network = lambda inputs: seen.append(inputs[0].shape[:2]) or network(inputs)
    full, half = painted(stylizer, image, 1.0, Look()), painted(stylizer, image, 0.5, Look())
    assert full.shape == half.shape == image.shape
    assert seen == [(64, 96), (32, 48)]
    assert stylizer.style_scale == 1.0


def test_live_pace_fixed_or_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    set_to: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    monkeypatch.setattr(pace, "cpu_cores", lambda: 2)
    monkeypatch.setattr(pace, "others_busy", lambda: 1.0)
    fixed = live_pace("cpu", threads=2, max_latency=0)
    assert fixed.tuner is None and set_to == [2] and fixed.scale.target is fixed.scale.fps is None
    tuned = live_pace("cpu", max_latency=0.15, min_fps=30)
    assert tuned.threads == 1 and set_to == [2, 1] and tuned.scale.target == 0.15 and tuned.scale.fps == 30
    assert live_pace("cuda").tuner is None and set_to == [2, 1]


def test_webcam_threads_option_reaches_torch(
    tmp_path: Path, tiny_style: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = tmp_path / "camera.mp4"
    make_video(clip, width=64, height=48, frames=6, fps=20)
    set_to: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    monkeypatch.setattr(torch, "get_num_threads", lambda: set_to[-1])
    args = ["webcam", "--camera", clip, "--loop", "--no-window", "--max-frames", "3", "-s", tiny_style]
    args += ["--device", "cpu"]
    code, out, err = run_cli([*args, "--threads", "1"], capsys)
    assert code == 0, err
    assert set_to == [1] and "3 frame(s)" in out
    code, _, err = run_cli([*args, "--threads", "0"], capsys)
    assert code == 2 and "--threads" in err


def test_omp_threads_sleep_rather_than_spin() -> None:
    """Importing vidstyle sets OpenMP's wait policy for PyTorch loaded after it."""
    import os
    import subprocess
    import sys

    code = "import os, vidstyle; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "PASSIVE"
