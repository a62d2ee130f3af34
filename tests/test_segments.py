"""Long videos in segments: cut at keyframes, stylized as Ray tasks, joined seamlessly."""

from __future__ import annotations

import functools
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from clirun import run_cli
from conftest import FPS, FRAMES, GOP
from media import make_video
from PIL import Image

from vidstyle.errors import SettingsError, VidstyleError
from vidstyle.io.video import VideoReader
from vidstyle.jobs import segments as seg
from vidstyle.jobs.batch import BatchItem
from vidstyle.jobs.distributed import stylize_batch_on_ray, stylize_on_ray
from vidstyle.jobs.stylize import stylize_media
from vidstyle.jobs.workdir import MANIFEST_NAME
from vidstyle.settings import EncodingSettings, Limits, Look, NetworkSettings
from vidstyle.stylizers.factory import make_stylizer
from vidstyle.stylizers.temporal import DEFAULT_WEIGHT


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


#: lossless video, so that frames compare exactly
LOSSLESS = EncodingSettings(crf=0)


def one_process(clip: Path, style: Path, output: Path, **options: Any) -> Path:
    """The reference: the same job in one process (lossless, so frames compare exactly)."""
    stylizer = make_stylizer(NetworkSettings(style, device="cpu"))
    stylize_media(clip, output, stylizer, encoding=LOSSLESS, progress=False, **options)
    return output


def segment_job(clip: Path | str, style: Path | str, **settings: Any) -> seg.SegmentJob:
    """A segment job on the CPU in ``style`` (``settings``: the network's, or the job's own)."""
    network = {k: settings.pop(k) for k in ("temporal",) if k in settings}
    return seg.SegmentJob(str(clip), NetworkSettings(str(style), device="cpu", **network), **settings)


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
    job = segment_job(clip, style)
    record = seg.stylize_segment(job, segment, str(tmp_path / "segment.mp4"))
    assert record["frames"] == 10 and record["lost"] == 0
    written = [pts for pts, _ in video_frames(tmp_path / "segment.mp4")]
    assert written == seg.scan(clip)[0][10:20]


def test_blended_joins_move_each_file_start_past_its_head(clip: Path) -> None:
    pts = seg.scan(clip)[0]
    blended = seg.plan(clip, 1.0, warmup=1, blend=3).segments
    assert [s.body for s in blended] == [pts[0], pts[13], pts[23]]  # the first has no join before it
    assert [s.stop for s in blended] == [pts[13], pts[23], None]  # each goes on to the next one's body
    # a blend longer than a segment leaves it one frame of its own
    assert [s.body for s in seg.plan(clip, 1.0, blend=12).segments] == [pts[0], pts[19], pts[29]]
    assert all(s.body == s.start and s.stop == s.end for s in seg.plan(clip, 1.0).segments)


def test_a_blended_segment_keeps_its_head_and_tail_for_the_joins(
    clip: Path, style: Path, tmp_path: Path
) -> None:
    segment = seg.plan(clip, 1.0, warmup=1, blend=3).segments[1]
    job = segment_job(clip, style, temporal=0.0, encoding=LOSSLESS)
    record = seg.stylize_segment(job, segment, str(tmp_path / "segment-00002.mp4"))
    pts = seg.scan(clip)[0]
    assert record["frames"] == 10 and record["head"] == pts[10:13] and record["tail"] == pts[20:23]
    assert [p for p, _ in video_frames(tmp_path / "segment-00002.mp4")] == pts[13:20]
    stylizer = job.stylizer()
    with VideoReader(clip) as reader:
        sources = [frame.image for frame in reader]
    for side, folder, first in (("head", "join-00002", 10), ("tail", "join-00003", 20)):
        kept = seg.JoinFrames(tmp_path, int(folder[-1]), side)
        for position in range(3):
            assert np.array_equal(kept.read(position), stylizer([sources[first + position]])[0])


def test_a_join_cross_fades_from_one_segment_into_the_next(clip: Path, tmp_path: Path) -> None:
    """The head's share rises 1/4, 2/4, 3/4 over three frames; a head frame the tail
    lacks is the head's alone."""
    pts = seg.scan(clip)[0]
    segment = seg.plan(clip, 1.0, blend=3).segments[1]
    head, tail = seg.JoinFrames(tmp_path, 2, "head"), seg.JoinFrames(tmp_path, 2, "tail")
    for p in pts[10:13]:
        head.write(np.full((64, 96, 3), 200, np.uint8), p)
    for p in pts[10:12]:
        tail.write(np.full((64, 96, 3), 100, np.uint8), p)
    job = segment_job(clip, "style.safetensors", encoding=LOSSLESS)
    path = seg.blend_join(tmp_path, segment, head.pts, tail.pts, job, seg.encoder_info(job))
    assert path == tmp_path / "join-00002.mp4"
    frames = video_frames(path)
    assert [p for p, _ in frames] == pts[10:13]
    assert [float(image.mean()) for _, image in frames] == pytest.approx([125, 150, 200], abs=1)  # yuv420


#: HQ settings that optimise a 96x64 frame in well under a second
TINY_HQ = {
    "content_layers": "relu2_1",
    "style_layers": "relu1_1,relu2_1",
    "init": "content",
    "iterations": 3,
    "iterations_next": 2,
    "optimizer": "adam",
    "scales": 1,
    "precision": "fp32",
}


@pytest.fixture
def painting(tmp_path: Path) -> Path:
    path = tmp_path / "painting.png"
    stripes = np.zeros((48, 48, 3), np.uint8)
    stripes[::6] = (250, 180, 20)
    Image.fromarray(stripes).save(path)
    return path


def hq_job(clip: Path, painting: Path, vgg: Path) -> seg.SegmentJob:
    hq = {**TINY_HQ, "vgg_weights": str(vgg)}
    return segment_job(clip, painting, temporal=0.0, encoding=LOSSLESS, hq=hq)


def test_an_hq_segment_is_its_own_frames_optimised(
    clip: Path, painting: Path, random_vgg: Path, tmp_path: Path
) -> None:
    job = hq_job(clip, painting, random_vgg)
    assert job.warmup == seg.HQ_WARMUP
    assert segment_job("in.mp4", "s").warmup == seg.warmup_frames(DEFAULT_WEIGHT)
    segment = seg.plan(clip, 1.0, warmup=job.warmup).segments[1]
    path = tmp_path / "segment-00002.mp4"
    record = seg.stylize_segment(job, segment, str(path))
    assert record["frames"] == 10 and record["lost"] == 0
    written = video_frames(path)
    assert [pts for pts, _ in written] == seg.scan(clip)[0][10:20]
    with VideoReader(clip) as reader:
        sources = [f.image for f in reader][10:20]
    changed = [np.abs(out.astype(int) - src).mean() for (_, out), src in zip(written, sources, strict=True)]
    assert min(changed) > 2
    assert not seg.hq_frames_dir(tmp_path, segment).exists()  # the segment's file holds its frames now


def test_a_stopped_hq_segment_goes_on_at_its_next_frame(
    clip: Path, painting: Path, random_vgg: Path, tmp_path: Path
) -> None:
    """Frames an HQ segment finished before a stop are read back, not optimised again."""
    from vidstyle.jobs import hq

    job = hq_job(clip, painting, random_vgg)
    segment = seg.plan(clip, 1.0, warmup=0).segments[0]
    path = tmp_path / "segment-00001.mp4"
    manifest = hq.manifest(hq.HQConfig(**job.hq), clip, hq.load_style_image(painting)[0], None)
    red = np.zeros((64, 96, 3), np.uint8)
    red[..., 0] = 255
    hq.WorkDir(seg.hq_frames_dir(tmp_path, segment), manifest).save(0, red)  # as a stopped task left it
    seg.stylize_segment(job, segment, str(path))
    first, second = (frame for _, frame in video_frames(path)[:2])
    assert first[..., 0].mean() > 240 and first[..., 1:].mean() < 20
    assert np.abs(second.astype(int) - red).mean() > 10  # started from it, optimised towards its content


def test_settings_are_checked_before_any_task() -> None:
    with pytest.raises(SettingsError, match="^strength must be between 0 and 1$"):
        segment_job("in.mp4", "style", look=Look(strength=2))
    with pytest.raises(SettingsError, match="^style_scale must be auto or a number"):
        segment_job("in.mp4", "style", network=NetworkSettings(style_scale="big"))
    with pytest.raises(SettingsError, match="^unknown precision 'fp8'"):
        NetworkSettings(precision="fp8")
    with pytest.raises(SettingsError, match="^device 'auto': a segment runs on cpu, cuda or mps"):
        seg.SegmentJob("in.mp4", NetworkSettings("style"))
    with pytest.raises(SettingsError, match="^temporal is fast mode's blending"):
        segment_job("in.mp4", "painting.png", temporal=0.4, hq={})


def test_work_dir_refuses_other_settings_unless_restart(tmp_path: Path) -> None:
    work = seg.WorkDir(tmp_path / "work", {"settings": {"crf": 23}}, ".mp4")
    work.claim(work.file(0).name)
    make_video(work.file(0), frames=5)
    work.finish_segment(0, {"frames": 5})
    (tmp_path / "work" / "segment-00002.mp4").write_bytes(b"the user's")  # never recorded
    again = seg.WorkDir(tmp_path / "work", {"settings": {"crf": 23}}, ".mp4")
    assert again.record(0) == {"frames": 5} and again.record(1) is None
    with pytest.raises(VidstyleError, match=r"other settings \(changed: settings.crf\).*or restart to"):
        seg.WorkDir(tmp_path / "work", {"settings": {"crf": 18}}, ".mp4")
    fresh = seg.WorkDir(tmp_path / "work", {"settings": {"crf": 18}}, ".mp4", restart=True)
    assert fresh.done == {} and not work.file(0).exists()
    assert (tmp_path / "work" / "segment-00002.mp4").read_bytes() == b"the user's"
    manifest = json.loads((tmp_path / "work" / MANIFEST_NAME).read_text())
    assert (manifest["job"], manifest["done"], manifest["files"]) == ({"settings": {"crf": 18}}, {}, [])
    (tmp_path / "hq" / MANIFEST_NAME).parent.mkdir()
    (tmp_path / "hq" / MANIFEST_NAME).write_text('{"version": 1, "settings": {}}')  # not vidstyle's
    with pytest.raises(VidstyleError, match="holds other files"):
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
def test_cli_hq_on_ray_keeps_every_frame_and_timestamp(
    clip: Path, painting: Path, random_vgg: Path, tmp_path: Path, capsys
) -> None:
    """HQ mode in segments: each task optimises its segment's frames in order; the joined
    output has the source's frames, timestamps and audio."""
    out = tmp_path / "out.mp4"
    hq_options = [f"--{k.replace('_', '-')}={v}" for k, v in TINY_HQ.items()]
    args = ["stylize", clip, "-o", out, "-s", painting, "--mode", "hq", "--backend", "ray",
            "--segment-seconds", "1", "--vgg-weights", random_vgg, "--json", *hq_options]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert json.loads(stdout)["frames"] == FRAMES
    assert [pts for pts, _ in video_frames(out)] == seg.scan(clip)[0]
    assert audio_seconds(out) == pytest.approx(audio_seconds(clip), abs=0.05)
    assert not (tmp_path / "out.mp4.segments").exists()


@pytest.mark.slow
def test_hq_joins_are_cross_faded_files_between_the_segments(
    clip: Path, painting: Path, random_vgg: Path, tmp_path: Path, local_ray
) -> None:
    """Before each later segment the output holds its join's frames, packet for packet: the
    segment's first frames (all but its last, the blend being longer than the segment)
    cross-faded from the previous segment's tail, both kept beside them."""
    out = tmp_path / "out.mp4"
    hq = {**TINY_HQ, "vgg_weights": str(random_vgg)}
    options = {"encoding": LOSSLESS, "segment_seconds": 1.0, "progress": False, "keep_work": True}
    stylize_on_ray(clip, out, NetworkSettings(painting, temporal=0.0), hq=hq, **options)
    work, pts, output = tmp_path / "out.mp4.segments", seg.scan(clip)[0], dict(video_frames(out))
    assert len(output) == FRAMES
    for number, first in ((2, 10), (3, 20)):
        join = video_frames(work / f"join-{number:05d}.mp4")
        assert [p for p, _ in join] == pts[first : first + 9]
        head, tail = seg.JoinFrames(work, number, "head"), seg.JoinFrames(work, number, "tail")
        for position, (p, image) in enumerate(join):
            assert np.array_equal(output[p], image)
            faded = seg.cross_fade(tail.read(position), head.read(position), (position + 1) / 10)
            assert np.abs(image.astype(int) - faded).mean() < 3  # through 4:2:0 chroma


@pytest.mark.slow
def test_joined_output_is_the_one_process_output(clip: Path, style: Path, tmp_path: Path, local_ray) -> None:
    """Same frames (lossless: pixel for pixel), timestamps and audio as one process."""
    out = tmp_path / "out.mp4"
    result = stylize_on_ray(
        clip, out, NetworkSettings(style), segment_seconds=1.0, encoding=LOSSLESS, progress=False,
        keep_work=True,
    )
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
    limits = Limits(max_frames=24)
    stylize_on_ray(clip, out, NetworkSettings(style), segment_seconds=1.0, limits=limits, progress=False)
    reference = one_process(clip, style, tmp_path / "ref.mkv", limits=Limits(max_frames=24))
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
        clip, tmp_path / "out.mp4", NetworkSettings(style), segment_seconds=1.0, progress=False,
        log=lines.append, task=task,
    )
    assert result.frames == FRAMES
    assert lines == [
        f"warning: segment 2 of {clip} failed (RuntimeError: deliberate failure); running it again"
    ]


@pytest.mark.slow
def test_a_stopped_job_resumes_with_its_finished_segments(
    clip: Path, style: Path, tmp_path: Path, local_ray
) -> None:
    out, work = tmp_path / "out.mp4", tmp_path / "out.mp4.segments"
    task = functools.partial(failing, number=2, marker=tmp_path / "never")
    failed = r"segment 2 of 3 failed: RuntimeError: deliberate failure; finished segments are kept"
    with pytest.raises(VidstyleError, match=failed):
        stylize_on_ray(clip, out, NetworkSettings(style), segment_seconds=1.0, progress=False, task=task)
    assert not out.exists()
    done = json.loads((work / MANIFEST_NAME).read_text())["done"]
    assert sorted(done) == ["1", "3"]
    kept = {path.name: path.stat().st_mtime_ns for path in work.glob("segment-*.mp4")}
    assert sorted(kept) == ["segment-00001.mp4", "segment-00003.mp4"]

    lines: list[str] = []
    result = stylize_on_ray(
        clip, out, NetworkSettings(style), segment_seconds=1.0, progress=False, keep_work=True,
        log=lines.append,
    )
    assert lines == [f"resuming {clip}: 2 of 3 segments already done"]
    assert result.frames == FRAMES and "ray_start" in result.stages
    for name, mtime in kept.items():
        assert (work / name).stat().st_mtime_ns == mtime
    # all done: a rerun only joins
    result = stylize_on_ray(
        clip, out, NetworkSettings(style), segment_seconds=1.0, progress=False, overwrite=True
    )
    assert "ray_start" not in result.stages and result.frames == FRAMES
    assert not work.exists()


# -- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--segment-seconds", "5"], "--segment-seconds applies to --backend ray only"),
        (["--work-dir", "w"], "--work-dir applies to --mode hq or --backend ray only"),
        (["--backend", "ray", "--threads", "2"], "--threads applies to --backend local only"),
        (["--backend", "spark"], "--backend must be local or ray, not 'spark'"),
    ],
)
def test_cli_refuses_options_of_another_backend(clip: Path, tmp_path: Path, capsys, args, message) -> None:
    code, _, stderr = run_cli(["stylize", clip, "-o", tmp_path / "out.mp4", *args], capsys)
    assert code == 1 and stderr.startswith(f"error: {message}")


def test_cli_ray_takes_files_or_folders_into_a_folder(clip: Path, tmp_path: Path, capsys) -> None:
    code, _, stderr = run_cli(
        ["stylize", clip.parent, "-o", tmp_path / "out.mp4", "--backend", "ray"], capsys
    )
    assert code == 1 and stderr == "error: --backend ray takes files, or folders into an output folder\n"


@pytest.mark.parametrize("work_dir", ["mine", None])
def test_cli_ray_refuses_a_work_folder_of_the_users_files(
    clip: Path, style: Path, tmp_path: Path, capsys, work_dir: str | None
) -> None:
    """``--work-dir mine`` (or the default ``out.mp4.segments``) holding a user's files is
    refused before Ray starts, and left as it was."""
    from test_workdir import snapshot, users_folder

    pytest.importorskip("ray")
    folder = tmp_path / (work_dir or "out.mp4.segments")
    before = users_folder(folder, "notes.txt", "segment-00001.mp4")
    args = ["stylize", clip, "-s", style, "-o", tmp_path / "out.mp4", "--backend", "ray"]
    code, _, stderr = run_cli([*args, *(["--work-dir", folder] if work_dir else [])], capsys)
    assert code == 1
    assert stderr == f"error: work folder {folder} holds other files; give an empty or new folder\n"
    assert snapshot(folder) == before and not (tmp_path / "out.mp4").exists()


def test_cli_ray_batch_keeps_work_beside_each_output(clip: Path, tmp_path: Path, capsys) -> None:
    args = ["stylize", clip, "-o", f"{tmp_path}/", "--backend", "ray", "--work-dir", tmp_path / "w"]
    code, _, stderr = run_cli(args, capsys)
    assert code == 1 and stderr.startswith("error: --work-dir takes one video (a batch keeps")


def test_cli_hq_on_ray_takes_one_file(clip: Path, tmp_path: Path, capsys) -> None:
    args = ["stylize", clip, clip, "-o", f"{tmp_path}/", "--mode", "hq", "--backend", "ray"]
    code, _, stderr = run_cli(args, capsys)
    assert code == 1 and stderr == "error: --mode hq takes one video or image file\n"


def test_without_ray_says_how_to_install_it(
    clip: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, _, stderr = run_cli(["stylize", clip, "-o", tmp_path / "out.mp4", "--backend", "ray"], capsys)
    assert code == 1 and stderr == "error: --backend ray needs Ray: pip install 'vidstyle[ray]'\n"


# -- batches on Ray -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def media_folder(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Path:
    """2 images, 2 short videos (one with audio) in a sub-folder, and a broken image."""
    root = tmp_path_factory.mktemp("batch") / "in"
    (root / "clips").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)).save(root / "b.jpg")
    (root / "broken.jpg").write_bytes(b"not really a jpeg")
    shutil.copy(clip, root / "clips" / "sound.mp4")
    make_video(root / "clips" / "quiet.mkv", frames=20, fps=FPS, width=64, height=48, options={"g": str(GOP)})
    return root


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path)
    return path


def made(folder: Path) -> list[str]:
    """Every file under ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def image(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=int)


@pytest.mark.slow
def test_batch_on_ray_writes_what_the_local_batch_writes(
    media_folder: Path, style: Path, tmp_path: Path, local_ray, capsys
) -> None:
    """Names, frames, timestamps and audio as the local batch; a broken file fails alone."""
    local, ours = tmp_path / "local", tmp_path / "ray"
    args = ["stylize", media_folder, "-s", style, "--crf", "0"]
    assert run_cli([*args, "-o", f"{local}/"], capsys)[0] == 1
    code, stdout, stderr = run_cli(
        [*args, "-o", f"{ours}/", "--backend", "ray", "--segment-seconds", 1], capsys
    )
    assert code == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: [") and "broken.jpg: cannot" in errors[0]
    assert stdout.splitlines()[-1] == f"4 stylized, 0 skipped, 1 failed; in {ours}"
    assert made(ours) == made(local) == ["a.png", "b.jpg", "clips/quiet.mkv", "clips/sound.mp4"]
    for name in ("a.png", "b.jpg"):
        assert np.abs(image(ours / name) - image(local / name)).mean() < 0.5
    for name in ("clips/quiet.mkv", "clips/sound.mp4"):
        assert [pts for pts, _ in video_frames(ours / name)] == [pts for pts, _ in video_frames(local / name)]
    assert len(video_frames(ours / "clips" / "quiet.mkv")) == 20
    assert audio_seconds(ours / "clips" / "sound.mp4") == pytest.approx(
        audio_seconds(local / "clips/sound.mp4")
    )

    code, stdout, _ = run_cli([*args, "-o", ours, "--backend", "ray", "--json"], capsys)
    statuses = {Path(item["input"]).name: item["status"] for item in json.loads(stdout)}
    assert code == 1
    assert statuses == {
        "a.png": "skipped",
        "b.jpg": "skipped",
        "broken.jpg": "failed",
        "quiet.mkv": "skipped",
        "sound.mp4": "skipped",
    }


@pytest.mark.slow
def test_a_failed_segment_fails_its_video_alone_and_a_rerun_resumes_it(
    clip: Path, photo: Path, style: Path, tmp_path: Path, local_ray
) -> None:
    out = tmp_path / "out"
    task = functools.partial(failing, number=2, marker=tmp_path / "never")
    heard: list[tuple[int, int, str]] = []
    lines: list[str] = []
    options: dict[str, Any] = {"segment_seconds": 1.0, "progress": False, "log": lines.append}

    def on_item(number: int, total: int, item: BatchItem) -> None:
        heard.append((number, total, Path(item.input).name))

    network = NetworkSettings(style)
    video, picture = stylize_batch_on_ray([clip, photo], out, network, on_item=on_item, task=task, **options)
    work = out / ".clip.mp4.segments"
    assert (video.status, picture.status) == ("failed", "done")
    assert video.error == (
        "segment 2 of 3 failed: RuntimeError: deliberate failure; "
        f"finished segments are kept in {work}: run again to resume"
    )
    assert lines == [
        f"warning: segment 2 of {clip} failed (RuntimeError: deliberate failure); running it again"
    ]
    assert [(number, total) for number, total, _ in heard] == [(1, 2), (2, 2)]
    assert {name for *_, name in heard} == {"clip.mp4", "photo.png"}
    assert made(out) == [
        ".clip.mp4.segments/manifest.json",
        ".clip.mp4.segments/segment-00001.mp4",
        ".clip.mp4.segments/segment-00003.mp4",
        "photo.png",
    ]

    lines.clear()
    video, picture = stylize_batch_on_ray([clip, photo], out, network, **options)
    assert (video.status, picture.status) == ("done", "skipped")
    assert lines == [f"resuming {clip}: 2 of 3 segments already done"]
    assert video.result.frames == FRAMES and made(out) == ["clip.mp4", "photo.png"]


@pytest.mark.slow
def test_a_stopped_batch_cancels_its_tasks_and_a_rerun_goes_on(
    clip: Path, photo: Path, style: Path, tmp_path: Path, local_ray
) -> None:
    """Ctrl-C (here: as the first file is reported) keeps what is finished."""
    out = tmp_path / "out"
    first: list[str] = []

    def stop(number: int, total: int, item: BatchItem) -> None:
        first.append(item.output)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_batch_on_ray(
            [photo, clip], out, NetworkSettings(style), on_item=stop, segment_seconds=1.0, progress=False
        )
    assert first == [str(out / "photo.png")]  # its one task ends well before the 3 segments'
    assert (out / ".clip.mp4.segments").is_dir() and not (out / "clip.mp4").exists()
    photo_item, video_item = stylize_batch_on_ray(
        [photo, clip], out, NetworkSettings(style), segment_seconds=1.0, progress=False
    )
    assert (photo_item.status, video_item.status) == ("skipped", "done")
    assert video_item.result.frames == FRAMES and made(out) == ["clip.mp4", "photo.png"]


def test_a_cross_fade_keeps_the_contrast_of_unrelated_strokes() -> None:
    """Halfway between two unrelated textures a plain average loses a third of their
    detail's contrast; the cross-fade keeps it, and mixes the broad tones as the average does."""
    rng = np.random.default_rng(0)
    before, after = (rng.integers(60, 196, (90, 160, 3)).astype(np.uint8) for _ in range(2))
    before[:, 80:] -= 40  # a broad darker half in one of them

    def detail(image: np.ndarray) -> float:
        return float(np.std(image - cv2.GaussianBlur(image.astype(np.float32), (0, 0), 4)))

    faded = seg.cross_fade(before, after, 0.5)
    plain = (before.astype(np.float32) + after) / 2
    assert detail(faded) > 0.9 * detail(after) and detail(plain) < 0.75 * detail(after)
    assert abs(float(faded[:, 80:].mean()) - float(plain[:, 80:].mean())) < 1
    assert np.array_equal(seg.cross_fade(before, after, 1.0), after)
