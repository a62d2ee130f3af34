"""Work folders (HQ frames, Ray segments): vidstyle removes only what its manifest records.

Each case puts a user's files where a work folder goes and checks that they are left byte
for byte as they were: refused where the folder is not vidstyle's, kept beside vidstyle's
own pieces where it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.jobs import hq
from vidstyle.jobs import segments as seg
from vidstyle.jobs.workdir import MANIFEST_NAME, WorkDir, check_work_folder

JOB = {"settings": {"crf": 23}}
OTHER = {"settings": {"crf": 18}}
FRAME = np.full((8, 8, 3), 90, np.uint8)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def users_folder(folder: Path, *names: str) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"the user's {name}".encode())
    return snapshot(folder)


@pytest.mark.parametrize(
    "names",
    [
        ["notes.txt"],
        ["frame_000001.png", "frame_000002.png"],  # a user's frames, named as HQ names its own
        ["segment-00001.mp4", "join-00002/head_000001.png"],
        [".hidden"],
        [MANIFEST_NAME],  # another program's manifest
    ],
)
@pytest.mark.parametrize(
    "make", [lambda p, r: hq.WorkDir(p, JOB, r), lambda p, r: seg.WorkDir(p, JOB, ".mp4", r)]
)
@pytest.mark.parametrize("restart", [False, True])
def test_a_folder_of_other_files_is_refused_and_left_as_it_was(
    tmp_path: Path, names: list[str], make, restart: bool
) -> None:
    before = users_folder(tmp_path / "mine", *names)
    with pytest.raises(VidstyleError) as error:
        make(tmp_path / "mine", restart)
    refusal = f"work folder {tmp_path / 'mine'} holds other files; give an empty or new folder"
    assert str(error.value) == refusal
    assert snapshot(tmp_path / "mine") == before
    with pytest.raises(VidstyleError, match="holds other files"):
        check_work_folder(tmp_path / "mine")


def test_another_programs_manifest_json_is_not_vidstyles(tmp_path: Path) -> None:
    before = users_folder(tmp_path / "web")
    (tmp_path / "web" / MANIFEST_NAME).write_text(json.dumps({"job": JOB, "done": {}, "files": []}))
    before = snapshot(tmp_path / "web")
    with pytest.raises(VidstyleError, match="holds other files"):
        WorkDir(tmp_path / "web", JOB, restart=True)
    assert snapshot(tmp_path / "web") == before


def test_cleanup_removes_only_recorded_files_and_a_folder_it_made(tmp_path: Path) -> None:
    made = hq.WorkDir(tmp_path / "new", JOB)
    made.save(0, FRAME)
    made.remove()
    assert not (tmp_path / "new").exists()

    (tmp_path / "given").mkdir()  # the user's empty folder: kept, emptied of vidstyle's files
    given = hq.WorkDir(tmp_path / "given", JOB)
    given.save(0, FRAME)
    given.save(1, FRAME)
    before = users_folder(tmp_path / "given", "added-meanwhile.txt", "frame_000009.png")
    assert hq.WorkDir(tmp_path / "given", JOB).finished() == 2
    given.remove()
    assert snapshot(tmp_path / "given") == {
        k: v for k, v in before.items() if k in ("added-meanwhile.txt", "frame_000009.png")
    }


def test_restart_and_other_settings_remove_only_recorded_pieces(tmp_path: Path) -> None:
    work = hq.WorkDir(tmp_path / "w", JOB)
    work.save(0, FRAME)
    users = users_folder(tmp_path / "w", "frame_000005.png", "notes.txt", "sub/frame_000001.png")
    users = {k: v for k, v in users.items() if k != "frame_000001.png" and k != MANIFEST_NAME}
    assert hq.WorkDir(tmp_path / "w", JOB).finished() == 1  # resumed: its own frame only
    with pytest.raises(VidstyleError, match="other settings"):
        hq.WorkDir(tmp_path / "w", OTHER)
    fresh = hq.WorkDir(tmp_path / "w", OTHER, restart=True)
    assert fresh.finished() == 0 and fresh.files == []
    left = snapshot(tmp_path / "w")
    assert {k: v for k, v in left.items() if k != MANIFEST_NAME} == users


def test_a_piece_name_the_user_holds_is_refused_not_replaced(tmp_path: Path) -> None:
    work = hq.WorkDir(tmp_path / "w", JOB)
    (tmp_path / "w" / "frame_000001.png").write_bytes(b"the user's frame")
    assert work.load(0) is None  # not read back as a finished frame
    with pytest.raises(VidstyleError, match="frame_000001.png, which vidstyle did not write"):
        work.save(0, FRAME)
    assert (tmp_path / "w" / "frame_000001.png").read_bytes() == b"the user's frame"


def test_a_segments_folder_records_every_name_its_tasks_may_write(tmp_path: Path, clip: Path) -> None:
    plan = seg.plan(clip, 1.0, warmup=0)
    work = seg.WorkDir(tmp_path / "w", JOB, ".mp4")
    work.claim_plan(plan.segments)
    for segment in plan.segments:  # as tasks write them: files, join frames, HQ frames
        work.file(segment.index).write_bytes(b"segment")
        seg.JoinFrames(tmp_path / "w", segment.number, "head").write(FRAME, 0)
        hq.WorkDir(seg.hq_frames_dir(tmp_path / "w", segment), JOB, restart=True).save(0, FRAME)
    mine = ("notes.txt", "join-00001/mine.png", "hq-frames-00001/mine.txt")
    users = users_folder(tmp_path / "w", *mine)
    work.remove()
    assert snapshot(tmp_path / "w") == {k: v for k, v in users.items() if k in mine}


def test_a_damaged_manifest_asks_for_restart_which_removes_what_it_still_lists(tmp_path: Path) -> None:
    work = hq.WorkDir(tmp_path / "w", JOB)
    work.save(0, FRAME)
    work.save(1, FRAME)
    manifest = tmp_path / "w" / MANIFEST_NAME
    manifest.write_text(manifest.read_text()[:-40])  # cut short
    (tmp_path / "w" / "notes.txt").write_text("mine")
    with pytest.raises(VidstyleError, match=rf"damaged {MANIFEST_NAME} \(cut short\): use restart to"):
        hq.WorkDir(tmp_path / "w", JOB)
    assert hq.WorkDir(tmp_path / "w", JOB, restart=True).finished() == 0
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [MANIFEST_NAME, "notes.txt"]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    from media import make_video

    path = tmp_path / "clip.mp4"
    make_video(path, frames=30, fps=10)
    return path
