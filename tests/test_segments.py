"""Long videos in segments: cut at keyframes, stylized as Ray tasks, joined seamlessly."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from clirun import run_cli
from conftest import make_style
from media import make_video

from vidstyle import segments as seg
from vidstyle.distributed import stylize_on_ray
from vidstyle.errors import VidstyleError
from vidstyle.stylize import stylize_media
from vidstyle.stylizer import FastStylizer
from vidstyle.temporal import DEFAULT_WEIGHT, TemporalBlender
from vidstyle.video import VideoReader
from vidstyle.workdir import MANIFEST_NAME

FPS = 10
#: 3 s at 10 fps, a keyframe every 5 frames: segments of 1 s start at frames 10 and 20
FRAMES, GOP = 30, 5


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_video(path, frames=FRAMES, fps=FPS, width=96, height=64, audio=True, options={"g": str(GOP)})
    return path


@pytest.fixture(scope="module")
def style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_style(tmp_path_factory.mktemp("style") / "tiny.safetensors")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray of 2 CPUs for the module's tests, as a user's machine would start it;
    test helpers travel to the workers by value (the workers cannot import tests/)."""
    ray = pytest.importorskip("ray")
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def video_frames(path: Path) -> list[tuple[int, np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in container.decode(stream)]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.size]
        return float((packets[-1].pts + packets[-1].duration - packets[0].pts) * stream.time_base)


def one_process(clip: Path, style: Path, output: Path, **options: Any) -> Path:
    """The reference: the same job in one process (lossless, so frames compare exactly)."""
    stylizer = TemporalBlender(FastStylizer(style, device="cpu"), DEFAULT_WEIGHT)
    stylize_media(clip, output, stylizer, crf=0, progress=False, **options)
    return output


# -- the plan ---------------------------------------------------------------------------


def test_segments_start_at_keyframes(clip: Path) -> None:
    plan = seg.plan(clip, 1.0, warmup=3)
    pts, keys, time_base, _ = seg.scan(clip)
    assert keys == pts[::GOP]
    assert [s.start for s in plan.segments] == [pts[0], pts[10], pts[20]]
    assert [s.end for s in plan.segments] == [pts[10], pts[20], None]
    assert [s.frames for s in plan.segments] == [10, 10, 10]
    # warm-up: 3 frames before the start, decoded from the keyframe before them
    assert [s.warm for s in plan.segments] == [pts[0], pts[7], pts[17]]
    assert [s.seek for s in plan.segments] == [None, pts[5], pts[15]]
    assert plan.frames == FRAMES and plan.end_time is None


def test_segments_follow_the_next_keyframe_and_keep_short_ends(clip: Path) -> None:
    pts = seg.scan(clip)[0]
    # 1.2 s: the first keyframe at or after frame 12 is frame 15; after that less than
    # half a segment is left, which stays with the last segment
    assert [(s.start, s.end) for s in seg.plan(clip, 1.2).segments] == [(pts[0], pts[15]), (pts[15], None)]
    assert len(seg.plan(clip, 10.0).segments) == 1
    # 24 frames: from frame 20 only 0.4 s would follow, under half a segment
    short = seg.plan(clip, 1.0, max_frames=24)
    assert [s.start for s in short.segments] == [pts[0], pts[10]]
    assert short.frames == 24 and sum(s.frames for s in short.segments) == 24
    assert short.end_time == pytest.approx(2.4)


def test_warmup_makes_history_weigh_under_one_level() -> None:
    assert seg.warmup_frames(0) == 0
    assert seg.warmup_frames(DEFAULT_WEIGHT) == 7
    for weight in (0.4, 0.8, 0.95):
        n = seg.warmup_frames(weight)
        assert weight**n * 255 < 1 <= weight ** (n - 1) * 255


def test_segment_source_seeks_to_its_warmup(clip: Path) -> None:
    segment = seg.plan(clip, 1.0, warmup=3).segments[2]
    with VideoReader(clip) as reader:
        everything = {frame.pts: frame.image for frame in reader}
    with seg.SegmentSource(clip, segment) as source:
        frames = list(source)
    pts = sorted(everything)
    assert [f.pts for f in frames] == pts[17:]
    for frame in frames:
        assert np.array_equal(frame.image, everything[frame.pts])


def test_a_segment_is_only_its_own_frames(clip: Path, style: Path, tmp_path: Path) -> None:
    segment = seg.plan(clip, 1.0, warmup=7).segments[1]
    job = seg.SegmentJob(str(clip), str(style))
    record = seg.stylize_segment(job, segment, str(tmp_path / "segment.mp4"))
    assert record["frames"] == 10 and record["lost"] == 0
    written = [pts for pts, _ in video_frames(tmp_path / "segment.mp4")]
    assert written == seg.scan(clip)[0][10:20]


def test_settings_are_checked_before_any_task() -> None:
    with pytest.raises(VidstyleError, match="--strength"):
        seg.SegmentJob("in.mp4", "style", strength=2)
    with pytest.raises(VidstyleError, match="--style-scale"):
        seg.SegmentJob("in.mp4", "style", style_scale="big")
    with pytest.raises(VidstyleError, match="precision"):
        seg.SegmentJob("in.mp4", "style", precision="fp8")


def test_work_dir_refuses_other_settings_unless_restart(tmp_path: Path) -> None:
    work = seg.WorkDir(tmp_path / "work", {"settings": {"crf": 23}}, ".mp4")
    work.file(0).write_bytes(b"done")
    work.finish_segment(0, {"frames": 5})
    again = seg.WorkDir(tmp_path / "work", {"settings": {"crf": 23}}, ".mp4")
    assert again.record(0) == {"frames": 5} and again.record(1) is None
    with pytest.raises(VidstyleError, match=r"other settings \(changed: settings.crf\).*--restart"):
        seg.WorkDir(tmp_path / "work", {"settings": {"crf": 18}}, ".mp4")
    fresh = seg.WorkDir(tmp_path / "work", {"settings": {"crf": 18}}, ".mp4", restart=True)
    assert fresh.done == {} and not work.file(0).exists()
    manifest = json.loads((tmp_path / "work" / MANIFEST_NAME).read_text())
    assert manifest == {"job": {"settings": {"crf": 18}}, "done": {}}
    (tmp_path / "hq" / MANIFEST_NAME).parent.mkdir()
    (tmp_path / "hq" / MANIFEST_NAME).write_text('{"version": 1, "settings": {}}')  # HQ's
    with pytest.raises(VidstyleError, match="other settings"):
        seg.WorkDir(tmp_path / "hq", {"settings": {"crf": 18}}, ".mp4")


# -- on Ray -------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_runs_on_a_local_ray_of_its_own(clip: Path, style: Path, tmp_path: Path, capsys) -> None:
    """Ray starts for the job and stops after it, its log lines kept off the terminal."""
    ray = pytest.importorskip("ray")
    out = tmp_path / "out.mp4"
    args = ["stylize", clip, "-o", out, "-s", style, "--backend", "ray", "--segment-seconds", "1", "--json"]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0 and stderr == ""
    result = json.loads(stdout)
    assert (result["output"], result["frames"], result["style"]) == (str(out), FRAMES, "tiny")
    assert not ray.is_initialized()
    assert not (tmp_path / "out.mp4.segments").exists()
    assert len(video_frames(out)) == FRAMES


@pytest.mark.slow
def test_joined_output_is_the_one_process_output(clip: Path, style: Path, tmp_path: Path, local_ray) -> None:
    """Same frames (lossless: pixel for pixel), timestamps and audio as one process."""
    out = tmp_path / "out.mp4"
    result = stylize_on_ray(clip, out, style, segment_seconds=1.0, crf=0, progress=False, keep_work=True)
    assert len(list((tmp_path / "out.mp4.segments").glob("segment-*.mp4"))) == 3
    assert result.frames == FRAMES and result.lost_frames == 0 and result.device == "cpu"
    assert set(result.stages) == {"split", "ray_start", "segments", "join"}
    reference = one_process(clip, style, tmp_path / "ref.mp4")
    ours, theirs = video_frames(out), video_frames(reference)
    assert [pts for pts, _ in ours] == [pts for pts, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        # the warm-up leaves under one level in RGB (a few once through YUV 4:2:0), a
        # tenth of the gap without it; elsewhere the frames are the same
        difference = np.abs(a.astype(int) - b.astype(int))
        assert difference.mean() < 0.05 and difference.max() <= 4
    assert audio_seconds(out) == pytest.approx(audio_seconds(reference))
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1


@pytest.mark.slow
def test_max_frames_cuts_video_and_audio_as_one_process(
    clip: Path, style: Path, tmp_path: Path, local_ray
) -> None:
    out = tmp_path / "out.mkv"
    stylize_on_ray(clip, out, style, segment_seconds=1.0, max_frames=24, progress=False)
    reference = one_process(clip, style, tmp_path / "ref.mkv", max_frames=24)
    assert [pts for pts, _ in video_frames(out)] == [pts for pts, _ in video_frames(reference)]
    assert audio_seconds(out) == pytest.approx(audio_seconds(reference))


def failing(job: seg.SegmentJob, segment: seg.Segment, path: str, *, number: int, marker: Path) -> dict:
    """A task whose segment ``number`` fails while ``marker`` is missing; the first failure
    makes the marker when ``marker`` is a file name ending in ``once``."""
    if segment.number == number and not marker.exists():
        if marker.name.endswith("once"):
            marker.touch()
        raise RuntimeError("deliberate failure")
    return seg.stylize_segment(job, segment, path)


@pytest.mark.slow
def test_a_failed_segment_runs_again(clip: Path, style: Path, tmp_path: Path, local_ray) -> None:
    lines: list[str] = []
    task = functools.partial(failing, number=2, marker=tmp_path / "failed-once")
    result = stylize_on_ray(
        clip, tmp_path / "out.mp4", style, segment_seconds=1.0, progress=False, log=lines.append, task=task
    )
    assert result.frames == FRAMES
    assert lines == ["warning: segment 2 failed (RuntimeError: deliberate failure); running it again"]


@pytest.mark.slow
def test_a_stopped_job_resumes_with_its_finished_segments(
    clip: Path, style: Path, tmp_path: Path, local_ray
) -> None:
    out, work = tmp_path / "out.mp4", tmp_path / "out.mp4.segments"
    task = functools.partial(failing, number=2, marker=tmp_path / "never")
    failed = r"segment 2 of 3 failed: RuntimeError: deliberate failure; finished segments are kept"
    with pytest.raises(VidstyleError, match=failed):
        stylize_on_ray(clip, out, style, segment_seconds=1.0, progress=False, task=task)
    assert not out.exists()
    done = json.loads((work / MANIFEST_NAME).read_text())["done"]
    assert sorted(done) == ["1", "3"]
    kept = {path.name: path.stat().st_mtime_ns for path in work.glob("segment-*.mp4")}
    assert sorted(kept) == ["segment-00001.mp4", "segment-00003.mp4"]

    lines: list[str] = []
    result = stylize_on_ray(
        clip, out, style, segment_seconds=1.0, progress=False, keep_work=True, log=lines.append
    )
    assert lines == ["resuming: 2 of 3 segments already done"]
    assert result.frames == FRAMES and "ray_start" in result.stages
    for name, mtime in kept.items():
        assert (work / name).stat().st_mtime_ns == mtime
    # all done: a rerun only joins
    result = stylize_on_ray(clip, out, style, segment_seconds=1.0, progress=False, overwrite=True)
    assert "ray_start" not in result.stages and result.frames == FRAMES
    assert not work.exists()


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--segment-seconds", "5"], "--segment-seconds applies to --backend ray only"),
        (["--work-dir", "w"], "--work-dir applies to --mode hq or --backend ray only"),
        (["--backend", "ray", "--mode", "hq"], "--backend ray runs fast mode only"),
        (["--backend", "ray", "--threads", "2"], "--threads applies to --backend local only"),
        (["--backend", "spark"], "--backend must be local or ray, not 'spark'"),
    ],
)
def test_cli_refuses_options_of_another_backend(clip: Path, tmp_path: Path, capsys, args, message) -> None:
    code, _, stderr = run_cli(["stylize", clip, "-o", tmp_path / "out.mp4", *args], capsys)
    assert code == 1 and stderr.startswith(f"error: {message}")


def test_cli_ray_takes_one_video_file(clip: Path, tmp_path: Path, capsys) -> None:
    code, _, stderr = run_cli(["stylize", clip, clip, "-o", f"{tmp_path}/", "--backend", "ray"], capsys)
    assert code == 1 and stderr == "error: --backend ray takes one video file\n"


def test_without_ray_says_how_to_install_it(
    clip: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, _, stderr = run_cli(["stylize", clip, "-o", tmp_path / "out.mp4", "--backend", "ray"], capsys)
    assert code == 1 and stderr == "error: --backend ray needs Ray: pip install 'vidstyle[ray]'\n"
