"""Two runs writing one new output at once: exactly one wins, the other says the output
exists, and neither replaces what the other wrote.

Both processes are held at a barrier until each has passed every check made before the
work (the output did not exist for either), so the outcome is decided by what guards the
write alone: the final no-replace rename of a file, or the lock of an image sequence (each
run is then held again until both have tried to take it, so the loser finds it held). With
a plain rename, or without the lock, both would succeed or the loser would stop late.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from media import make_video

from vidstyle.errors import VidstyleError
from vidstyle.io import fileio

#: waits until both racers have reached a point (each touches its flag for ``phase``, then
#: waits for the other's); generous, as a loaded machine may start one racer much later
BARRIER = """
import os, sys, time
from pathlib import Path
def barrier(folder, me, phase="ready"):
    Path(folder, f"{phase}-{me}").touch()
    deadline = time.monotonic() + 240
    while not all(Path(folder, f"{phase}-{n}").exists() for n in ("a", "b")):
        if time.monotonic() > deadline:
            sys.exit(f"barrier {phase} timed out")
        time.sleep(0.001)
"""

RENAME = BARRIER + """
from vidstyle.io.fileio import rename_new
folder, me = sys.argv[1], sys.argv[2]
tmp = Path(folder, f"tmp-{me}")
tmp.write_text(me)
barrier(folder, me)
try:
    rename_new(tmp, Path(folder, "out"))
except FileExistsError:
    sys.exit(3)
"""

#: ``vidstyle ARGS``, held at the barrier once the output's checks are passed (a file's, or an
#: image sequence's), and for an image sequence held again once each run has tried its lock:
#: the winner keeps it until the loser has found it taken
CLI = BARRIER + """
from vidstyle.io import fileio, sinks
from vidstyle.cli import main
gate, me = sys.argv[1], sys.argv[2]
def held_after(check, phase):
    def checked_then_wait(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        finally:
            barrier(gate, me, phase)
    return checked_then_wait
sinks.check_output_path = held_after(fileio.check_output_path, "checked")
sinks._check_sequence = held_after(sinks._check_sequence, "checked")
sinks.OutputLock = held_after(fileio.OutputLock, "locked")
main(sys.argv[3:])
"""


def race(script: str, gate: Path, *args: object) -> list[subprocess.CompletedProcess[str]]:
    """Run ``script`` twice at once (as racers ``a`` and ``b``); both results."""
    gate.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", textwrap.dedent(script), str(gate)]
    racers = [
        subprocess.Popen([*command, me, *map(str, args)], env=env, text=True, stderr=subprocess.PIPE)
        for me in ("a", "b")
    ]
    results = []
    for racer in racers:
        _, err = racer.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(racer.args, racer.returncode, None, err))
    return results


@pytest.mark.slow
def test_the_no_replace_rename_lets_exactly_one_of_two_processes_win(tmp_path: Path) -> None:
    for round in range(3):
        folder = tmp_path / str(round)
        codes = [result.returncode for result in race(RENAME, folder)]
        assert sorted(codes) == [0, 3], codes
        winner = "ab"[codes.index(0)]
        assert (folder / "out").read_text() == winner
        assert (folder / f"tmp-{'ab'[codes.index(3)]}").exists()  # the loser's file, not renamed


@pytest.mark.parametrize("way", ["renameat2", "link", "reserve"])
def test_each_way_of_renaming_keeps_an_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    if way != "renameat2":
        monkeypatch.setattr(fileio, "_renameat2", lambda: None)
    if way == "reserve":

        def no_links(src: object, dst: object) -> None:
            raise OSError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "tmp").write_text("new")
    (tmp_path / "out").write_text("old")
    with pytest.raises(FileExistsError):
        fileio.rename_new(tmp_path / "tmp", tmp_path / "out")
    assert (tmp_path / "out").read_text() == "old" and (tmp_path / "tmp").read_text() == "new"
    fileio.rename_new(tmp_path / "tmp", tmp_path / "new")
    assert (tmp_path / "new").read_text() == "new" and not (tmp_path / "tmp").exists()


def test_an_output_that_appears_while_writing_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with (
        pytest.raises(VidstyleError, match=r"already exists \(use overwrite"),
        fileio.atomic_output(out, replace=False) as tmp,
    ):
        tmp.write_text("mine")
        out.write_text("theirs")
    assert out.read_text() == "theirs" and os.listdir(tmp_path) == ["out.txt"]
    with fileio.atomic_output(out, replace=True) as tmp:
        tmp.write_text("mine")
    assert out.read_text() == "mine"


@pytest.mark.slow
@pytest.mark.parametrize("output", ["out.mp4", "out.png", "seq/%03d.png", "folder/"])
def test_two_cli_runs_race_for_one_new_output_and_one_wins(
    tmp_path: Path, tiny_style: Path, output: str
) -> None:
    source = tmp_path / ("photo.png" if output == "out.png" else "clip.mp4")
    if output == "out.png":
        from media import pattern

        from vidstyle.io.images import write_image

        write_image(source, pattern(0, 64, 48))
    else:
        make_video(source, frames=8)
    # a string, not a Path: a Path drops the trailing "/" that makes "folder/" a folder
    args = ["stylize", source, "-s", tiny_style, "-o", f"{tmp_path}/{output}"]
    results = race(CLI, tmp_path / "gate", *args)
    codes = sorted(result.returncode for result in results)
    assert codes == [0, 1], [result.stderr for result in results]
    loser = next(result for result in results if result.returncode)
    error = loser.stderr.splitlines()[-1]
    assert error.startswith("error: ") and "Traceback" not in loser.stderr
    if output == "seq/%03d.png":  # stopped by the lock at once, not by a frame it found written
        assert "is being written by another run" in error, error
    else:
        assert "already exists (use --overwrite" in error, error
    if output == "seq/%03d.png":
        assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == [f"{n:03d}.png" for n in range(1, 9)]
    if output == "folder/":
        assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["clip.mp4"]
