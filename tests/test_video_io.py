"""VideoReader / VideoWriter on small synthesized videos."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import make_audio, make_corrupt_video, make_size_change, make_video, pattern

from vidstyle.defaults import DEFAULT_PRESET
from vidstyle.errors import VidstyleError
from vidstyle.io.fileio import atomic_output
from vidstyle.io.frames import Frame
from vidstyle.io.video import VideoReader, VideoWriter, is_video_file, probe
from vidstyle.io.video import reader as reader_module
from vidstyle.settings import EncodingSettings

# Mean absolute error (0-255) allowed after a lossy encode of the test pattern.
CODEC_TOLERANCE = 6.0


def read_all(path: Path, **kwargs: int) -> list[Frame]:
    with VideoReader(path, **kwargs) as reader:
        return list(reader)


def copy_video(
    src: Path, dst: Path, *, max_frames: int | None = None, **kwargs
) -> list[Frame]:
    """Read ``src`` and write it unchanged to ``dst`` (audio from ``src``); return its frames."""
    with VideoReader(src, max_frames=max_frames) as reader:
        info = reader.info
        with VideoWriter(
            dst,
            info.width,
            info.height,
            time_base=info.time_base,
            fps=info.fps,
            encoding=EncodingSettings(preset="ultrafast"),
            audio_source=src if info.has_audio else None,
            **kwargs,
        ) as writer:
            frames = list(reader)
            for frame in frames:
                writer.write(frame.image, frame.pts)
    return frames


def audio_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(audio=0) if p.size]


def audio_span(path: Path) -> tuple[float, float]:
    """Start and end time (seconds) covered by the first audio stream's packets."""
    packets = audio_packets(path)
    start = min(float(p.pts * p.time_base) for p in packets)
    end = max(float((p.pts + p.duration) * p.time_base) for p in packets)
    return start, end


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --- reading -------------------------------------------------------------------------------


def test_reads_frames_timestamps_and_info(tmp_path: Path) -> None:
    path = tmp_path / "cfr.mp4"
    times = make_video(path, frames=10, fps=10)
    with VideoReader(path) as reader:
        info = reader.info
        frames = list(reader)
    assert (info.width, info.height, info.rotation, info.codec) == (64, 48, 0, "h264")
    assert info.fps == pytest.approx(10)
    assert info.frame_count == 10
    assert info.duration == pytest.approx(1.0)
    assert not info.has_audio
    assert [f.time for f in frames] == pytest.approx(times)
    assert [f.pts * info.time_base for f in frames] == pytest.approx(times)
    for i, frame in enumerate(frames):
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert mean_error(frame.image, pattern(i, 64, 48)) < CODEC_TOLERANCE


def test_max_frames_and_single_pass(tmp_path: Path) -> None:
    path = tmp_path / "v.mkv"
    make_video(path, frames=10)
    with VideoReader(path, max_frames=4) as reader:
        assert reader.info.frame_count is None  # mkv does not say
        assert reader.expected_frames == 4
        assert len(list(reader)) == 4
        with pytest.raises(RuntimeError):
            list(reader)


def test_vfr_timestamps_read(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mp4"
    times = make_video(path, frames=12, vfr=True)
    assert len(set(np.diff(times).round(6))) > 1  # really variable
    assert [f.time for f in read_all(path)] == pytest.approx(times)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path: Path, rotation: int) -> None:
    path = tmp_path / "rot.mp4"
    make_video(path, width=64, height=48, frames=3, rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((48, 64) if rotation % 180 else (64, 48))
    for i, frame in enumerate(read_all(path)):
        assert frame.image.shape == (info.height, info.width, 3)
        assert frame.image.flags.c_contiguous
        # ffmpeg's display matrix angle is counter-clockwise, as is np.rot90.
        assert (
            mean_error(frame.image, np.rot90(pattern(i, 64, 48), rotation // 90)) < CODEC_TOLERANCE
        )


def test_full_range_yuvj420p_mkv_colors(tmp_path: Path) -> None:
    path = tmp_path / "full.mkv"
    make_video(path, frames=3, pix_fmt="yuvj420p", gray=200)
    frames = read_all(path)
    assert len(frames) == 3
    # Read as limited range, Y=200 would come out near (200 - 16) * 255 / 219 = 214.
    assert frames[0].image.mean() == pytest.approx(200, abs=3)
    out = tmp_path / "out.mp4"
    copy_video(path, out)
    assert read_all(out)[0].image.mean() == pytest.approx(200, abs=3)


def test_odd_size_reads_and_writes_cropped_to_even(tmp_path: Path) -> None:
    src = tmp_path / "odd.mp4"
    make_video(src, width=63, height=47, frames=4, pix_fmt="yuv444p")
    frames = read_all(src)
    assert frames[0].image.shape == (47, 63, 3) and frames[0].image.flags.c_contiguous
    out = tmp_path / "even.mp4"
    with VideoWriter(out, 63, 47, time_base=probe(src).time_base, fps=10) as writer:
        assert (writer.width, writer.height) == (62, 46)
        for frame in frames:
            writer.write(frame.image, frame.pts)
    written = read_all(out)
    assert len(written) == 4
    assert written[0].image.shape == (46, 62, 3)
    assert mean_error(written[0].image, pattern(0, 63, 47)[:46, :62]) < CODEC_TOLERANCE


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_truncated_file_reports_its_missing_end(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"truncated{suffix}"
    make_corrupt_video(path, mode="truncate", frames=30)
    with VideoReader(path) as reader:
        frames = list(reader)
        lost = reader.lost_frames
    assert 5 < len(frames) < 30
    assert all(f.image.shape == (64, 96, 3) for f in frames)
    assert len(frames) + lost == 30  # the container's declared duration says what is missing


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".ts", ".avi", ".mov"])
@pytest.mark.parametrize("intra", [True, False], ids=["intra", "inter"])
def test_garbage_in_the_middle_is_skipped_and_counted(tmp_path: Path, suffix: str, intra: bool) -> None:
    """Each of the 4 damaged packets is a lost frame, whether the decoder dropped it, showed
    it with its errors concealed, or the demuxer lost it whole (a gap in MPEG-TS)."""
    path = tmp_path / f"garbage{suffix}"
    make_corrupt_video(path, mode="garbage", frames=30, intra=intra)
    with VideoReader(path) as reader:
        frames = list(reader)
        lost = reader.lost_frames
    assert len(frames) >= 12
    if intra:
        assert lost == 4
        assert frames[-1].time >= 2.85  # decoding went on past the damage
    else:  # frames that depend on a damaged one may be dropped too: all of them count
        assert 30 - len(frames) <= lost <= 30 - len(frames) + 4


def test_frames_cut_by_max_frames_are_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mkv"
    make_corrupt_video(path, mode="garbage", frames=30, intra=False)  # frames from about 13 on lost
    for max_frames in (10, 20, 40):
        with VideoReader(path, max_frames=max_frames) as reader:
            decoded, lost = len(list(reader)), reader.lost_frames
        # Only frames up to the cut count as lost. Where exactly the damage ends decoding
        # (frame 13 or 14) depends on the frame-threaded decoder's timing.
        assert decoded + lost == min(max_frames, 30)
        assert (decoded, lost) == (10, 0) if max_frames == 10 else 12 <= decoded <= 15
    truncated = tmp_path / "truncated.mkv"
    make_corrupt_video(truncated, mode="truncate", frames=30)
    with VideoReader(truncated, max_frames=5) as reader:
        assert (len(list(reader)), reader.lost_frames) == (5, 0)


@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".mov", ".avi", ".ts"])
def test_intact_files_lose_nothing(tmp_path: Path, suffix: str, vfr: bool) -> None:
    path = tmp_path / f"whole{suffix}"
    codec = "libvpx-vp9" if suffix == ".webm" else "libx264"
    make_video(path, frames=12, vfr=vfr, audio=suffix == ".mkv", codec=codec)  # mkv: duration of both
    with VideoReader(path) as reader:
        assert len(list(reader)) == 12
        assert reader.lost_frames == 0


def test_frame_size_change_midway_keeps_the_first_size(tmp_path: Path) -> None:
    path = tmp_path / "switch.ts"
    make_size_change(path, [(64, 48), (128, 96)])
    frames = read_all(path)
    assert len(frames) == 10
    assert {f.image.shape for f in frames} == {(48, 64, 3)}
    assert mean_error(frames[7].image, pattern(2, 64, 48)) < 2 * CODEC_TOLERANCE  # scaled, not cut


def test_frames_above_the_pixel_cap_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "MAX_FRAME_PIXELS", 64 * 48)
    small = tmp_path / "small.mp4"
    make_video(small, width=80, height=48, frames=2)
    with pytest.raises(VidstyleError, match=r"frames \(80x48\) are larger than the limit"):
        VideoReader(small)
    # A header that understates the size does not get past the decoder either.
    switch = tmp_path / "switch.ts"
    make_size_change(switch, [(64, 48), (128, 96)])
    with VideoReader(switch) as reader:
        frames = list(reader)
        lost = reader.lost_frames
    assert 0 < len(frames) <= 5 and len(frames) + lost == 10


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VidstyleError, match="does not exist"):
        VideoReader(tmp_path / "nope.mp4")


def test_not_a_media_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(VidstyleError, match="not a video file"):
        VideoReader(path)


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "song.m4a"
    make_audio(path)
    with pytest.raises(VidstyleError, match="no video stream"):
        VideoReader(path)


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_ffmpeg_prints_its_log_lines_only_when_verbose(tmp_path: Path, verbose: bool) -> None:
    path = tmp_path / "no-index.mp4"
    make_video(path, frames=3)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) comes last: cut off
    # A fresh process: OpenCV reads its setting when it first opens a capture.
    script = (
        "import av, cv2\n"
        "from vidstyle.io.video import ffmpeg_logging\n"
        f"ffmpeg_logging({verbose})\n"
        f"cv2.VideoCapture({str(path)!r})\n"
        "try:\n"
        f"    av.open({str(path)!r})\n"
        "except av.FFmpegError:\n"
        "    pass\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # one line from OpenCV's FFmpeg (cameras) and one from PyAV's (files), or none
    assert result.stderr.count("moov atom not found") == (2 if verbose else 0), result.stderr


def test_is_video_file() -> None:
    assert is_video_file(Path("a/b.MP4")) and is_video_file(Path("c.mkv"))
    assert not is_video_file(Path("photo.jpg"))


# --- writing -------------------------------------------------------------------------------


@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".webm"])
def test_roundtrip_preserves_timestamps(tmp_path: Path, suffix: str, vfr: bool) -> None:
    src = tmp_path / "src.mp4"
    make_video(src, frames=12, vfr=vfr)
    out = tmp_path / f"out{suffix}"
    frames = copy_video(src, out)
    with VideoReader(out) as reader:
        tick = float(reader.info.time_base)
        written = list(reader)
    assert len(written) == len(frames) == 12
    for before, after in zip(frames, written, strict=True):
        assert abs(after.time - before.time) <= tick + 1e-9
        assert mean_error(after.image, before.image) < CODEC_TOLERANCE


@pytest.mark.parametrize("vfr", [False, True], ids=["cfr", "vfr"])
def test_avi_frames_come_back_in_display_order(tmp_path: Path, vfr: bool) -> None:
    src = tmp_path / "src.mp4"
    make_video(src, frames=30, vfr=vfr)
    out = tmp_path / "out.avi"
    frames = read_all(src)
    info = probe(src)
    # The default preset uses B-frames elsewhere: AVI has no timestamps to reorder them by.
    encoding = EncodingSettings(preset=DEFAULT_PRESET)
    with VideoWriter(out, 64, 48, time_base=info.time_base, fps=info.fps, encoding=encoding) as w:
        for frame in frames:
            w.write(frame.image, frame.pts)
    written = read_all(out)
    assert len(written) == 30
    pts = [f.pts for f in written]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    for before, after in zip(frames, written, strict=True):
        assert mean_error(after.image, before.image) < CODEC_TOLERANCE


def test_missing_pts_uses_nominal_rate_and_repeats_are_nudged(tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    image = pattern(0, 64, 48)
    with VideoWriter(out, 64, 48, time_base=Fraction(1, 1000), fps=25) as w:
        for pts in (None, None, 500, 500, None):
            w.write(image, pts)
    assert [f.time for f in read_all(out)] == pytest.approx([0, 0.04, 0.5, 0.501, 0.541])


def test_audio_is_copied_without_reencoding(tmp_path: Path) -> None:
    src = tmp_path / "src.mp4"
    make_video(src, frames=10, fps=10, audio=True)
    for suffix in (".mp4", ".mkv"):
        out = tmp_path / f"out{suffix}"
        copy_video(src, out)
        assert probe(out).has_audio
        source_payloads = [bytes(p) for p in audio_packets(src)]
        payloads = [bytes(p) for p in audio_packets(out)]
        # mkv cannot store the priming packet before 0 s, so it may be dropped; no other loss.
        assert payloads == source_payloads[len(source_payloads) - len(payloads) :]
        assert len(payloads) >= len(source_payloads) - 1
        assert audio_span(out)[1] == pytest.approx(1.0, abs=0.03)
        assert read_all(out)[0].time == 0.0  # the audio did not shift the video


def test_audio_is_reencoded_when_the_container_refuses_it(tmp_path: Path) -> None:
    src = tmp_path / "src.mp4"
    make_video(src, frames=10, fps=10, audio=True)
    out = tmp_path / "out.webm"  # WebM takes Opus/Vorbis only
    copy_video(src, out)
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams.audio] == ["opus"]
    start, end = audio_span(out)
    assert start == pytest.approx(0, abs=0.03) and end == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_max_time_cuts_audio(tmp_path: Path, suffix: str) -> None:
    src = tmp_path / "src.mp4"
    make_video(src, frames=20, fps=10, audio=True)
    out = tmp_path / f"cut{suffix}"
    frames = copy_video(src, out, max_frames=5, max_time=0.5)
    assert len(frames) == 5 and len(read_all(out)) == 5
    assert audio_span(out)[1] == pytest.approx(0.5, abs=0.03)


def test_unsupported_suffix_lists_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(VidstyleError, match=r"\.mp4.*\.webm"):
        VideoWriter(tmp_path / "out.gif", 64, 48, time_base=Fraction(1, 10), fps=10)


def test_writes_through_atomic_output(tmp_path: Path) -> None:
    final = tmp_path / "final.mp4"
    with (
        atomic_output(final) as tmp,
        VideoWriter(tmp, 64, 48, time_base=Fraction(1, 10), fps=10) as w,
    ):
        for i in range(3):
            w.write(pattern(i, 64, 48), i)
    assert len(read_all(final)) == 3
    assert list(tmp_path.iterdir()) == [final]
