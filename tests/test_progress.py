"""Progress lines when stderr is not a terminal (nohup, CI): where the job is, when it ends."""

from __future__ import annotations

import re
import time

import pytest

from vidstyle.progress import FrameProgress, clock


def test_clock() -> None:
    assert (clock(None), clock(59.6), clock(61), clock(3725)) == ("?", "1:00", "1:01", "1:02:05")


def test_log_lines_say_percentage_elapsed_and_one_eta(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FrameProgress, "log_interval", 0.0)
    with FrameProgress(4) as bar:
        for done in range(1, 5):
            time.sleep(0.05)
            bar.update(done)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r"stylize 2/4 \(50%\) [\d.]+ fps \| 0:00 elapsed, eta 0:00", lines[1]), lines[1]
    assert lines[0].endswith("eta ?")  # no rate from a single report
    assert all(line.count("eta") == 1 for line in lines)


def test_hq_eta_counts_the_steps_still_to_do(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    """Later frames take fewer steps than the first: the ETA must not extrapolate the first."""
    from vidstyle.jobs.hq import HQConfig, HQStylizer

    class Engine:  # only what the progress needs: a config
        config = HQConfig(iterations=200, iterations_next=50)
        device = "cpu"

    monkeypatch.setattr(FrameProgress, "log_interval", 0.0)
    with FrameProgress(10, description="hq") as bar:
        stylizer = HQStylizer(Engine(), total=10, progress=bar)  # type: ignore[arg-type]
        stylizer._steps, stylizer._step_seconds = 100, 10.0  # 0.1 s a step, half the first frame
        stylizer._show(0, "step 100/200", 1.0, steps_left=100)
    line = capsys.readouterr().err.strip()
    assert line.endswith("eta 0:55"), line  # (100 + 9 * 50) steps of 0.1 s


def test_training_rate_and_eta_agree_and_follow_a_slower_machine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 s at 1 it/s, then other programs start and it runs at 0.1 it/s: after a minute
    the line says 0.10 it/s, and the ETA is the iterations left at that rate."""
    from vidstyle import progress
    from vidstyle.progress import TrainProgress
    from vidstyle.training.train import Losses

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(TrainProgress, "log_interval", 0.0)
    reports = [(t, t) for t in range(0, 101, 10)] + [(t, 100 + (t - 100) // 10) for t in range(110, 221, 10)]
    with TrainProgress() as bar:
        for t, done in reports:
            now[0] = float(t)
            bar.update(done, 1000, Losses(1, 1, 1, 0, 0, 3), elapsed=float(t))
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("train 112/1000 (11%)") and "| 0.10 it/s |" in last, last
    assert last.endswith(f"eta {clock(888 / 0.1)}"), last
