"""A job on a real two-node Ray cluster (two ``ray start`` on this machine, each with a
temporary folder of its own): a full disk ends it in one line, and a node lost mid-job has
its segments made again on the node left."""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FRAMES
from test_segments import one_process, video_frames

from vidstyle.errors import VidstyleError
from vidstyle.jobs import segments as seg
from vidstyle.jobs.distributed import stylize_on_ray
from vidstyle.settings import EncodingSettings, NetworkSettings

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

#: the resource only the second node has: where a test finds it
SECOND = "second_node"
#: when the head declares a node dead: after 10 failed health checks in a row, one a second.
#: A killed node fails each check at once (its port is closed), so it is declared dead within
#: seconds; a live node on a loaded machine fails one only if it does not answer within 60 s
#: (Ray's default is 10 s, which a busy test machine may miss, and then a node that was never
#: lost is declared dead and its work moves)
HEALTH = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "10",
    "RAY_health_check_timeout_ms": "60000",
    "RAY_health_check_initial_delay_ms": "5000",
}
#: the longest a task on the second node waits to be lost with it
HOLD_SECONDS = 240


@dataclass
class Cluster:
    address: str
    second: subprocess.Popen[bytes]
    logs: Path

    def lose_second_node(self) -> None:
        """What a machine's power cut does: every process of the node killed at once."""
        os.killpg(self.second.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_node(args: list[str], temp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``ray start ... --block`` in a process group of its own (so that killing the group
    takes every process of the node), its lines in ``temp/out.txt``."""
    common = ["--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats", "--block"]
    with open(temp / "out.txt", "wb") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", *args, f"--temp-dir={temp}", *common],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _stop(node: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            return
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


def _wait_for(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds:.0f} s")
        time.sleep(0.5)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head and a second node of one CPU each, this process connected as the driver."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", **HEALTH}
    saved = {key: os.environ.get(key) for key in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ.pop("RAY_ADDRESS", None)
    port = _free_port()
    head_temp = Path(tempfile.mkdtemp(prefix="vidstyle-head-"))
    second_temp = Path(tempfile.mkdtemp(prefix="vidstyle-node-"))
    head = _start_node(["--head", f"--port={port}", "--include-dashboard=false"], head_temp, env)
    second = None
    try:
        _wait_for(lambda: _answers(port), 120, "the head node did not start")
        resources = json.dumps({SECOND: 1})
        second = _start_node([f"--address=127.0.0.1:{port}", f"--resources={resources}"], second_temp, env)
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False, logging_level="ERROR")
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        alive = lambda: len([node for node in ray.nodes() if node["Alive"]])  # noqa: E731
        _wait_for(lambda: alive() == 2, 120, "the second node did not join")
        yield Cluster(f"127.0.0.1:{port}", second, second_temp)
    finally:
        ray.shutdown()
        for node in (second, head):
            if node is not None:
                _stop(node)
        for temp in (head_temp, second_temp):
            shutil.rmtree(temp, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def disk_full(job: seg.SegmentJob, segment: seg.Segment, path: str) -> dict:
    """A task on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device", path)


def test_a_full_disk_is_one_line_and_no_retry(clip: Path, style: Path, tmp_path: Path, cluster) -> None:
    lines: list[str] = []
    with pytest.raises(VidstyleError) as caught:
        stylize_on_ray(
            clip, tmp_path / "out.mp4", NetworkSettings(style), segment_seconds=1.0, progress=False,
            log=lines.append, task=disk_full,
        )
    assert lines == []  # no "running it again"
    message = str(caught.value)
    # the first segment to fail is named: on two nodes at once, any of the three
    assert "\n" not in message and re.match(r"segment [123] of 3 failed: No space left on device: ", message)
    assert "(3 segments failed)" in message and not (tmp_path / "out.mp4").exists()


def marked(job: seg.SegmentJob, segment: seg.Segment, path: str, *, marks: Path) -> dict:
    """A segment's task that first leaves a mark naming the segment and whether it runs on
    the second node; there it then waits to be lost with that node (however late the test
    gets round to killing it), so its segment is never finished there. On the head it waits
    (a while at most) for a task to start on the second node, so the head's one core stays
    taken and a segment goes there."""
    node = "second" if _on_second_node() else "head"
    (marks / f"{segment.number}-{node}-{time.monotonic_ns()}").touch()
    if node == "second":
        time.sleep(HOLD_SECONDS)
    deadline = time.monotonic() + 30
    while not any("-second-" in p.name for p in marks.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return seg.stylize_segment(job, segment, path)


def _on_second_node() -> bool:
    node = ray.get_runtime_context().get_node_id()
    return any(n["NodeID"] == node and SECOND in n["Resources"] for n in ray.nodes())


def test_a_lost_node_has_its_segments_made_again(
    clip: Path, style: Path, tmp_path: Path, cluster: Cluster
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()

    def lose_it_mid_job() -> None:
        _wait_for(lambda: any("-second-" in p.name for p in marks.iterdir()), 180, "no task on node 2")
        cluster.lose_second_node()

    killer = threading.Thread(target=lose_it_mid_job, daemon=True)
    killer.start()
    out = tmp_path / "out.mp4"
    task = functools.partial(marked, marks=marks)
    began = time.monotonic()
    lossless = EncodingSettings(crf=0)
    result = stylize_on_ray(
        clip, out, NetworkSettings(style), segment_seconds=1.0, encoding=lossless, progress=False, task=task
    )
    assert time.monotonic() - began < HOLD_SECONDS  # no task on the second node was waited out
    killer.join(timeout=5)
    assert cluster.second.poll() is not None  # the node was lost during the job
    lost = {p.name.split("-")[0] for p in marks.iterdir() if "-second-" in p.name}
    again = {p.name.split("-")[0] for p in marks.iterdir() if "-head-" in p.name}
    assert lost and lost <= again  # what the lost node was making was made on the head
    assert result.frames == FRAMES and result.lost_frames == 0
    reference = one_process(clip, style, tmp_path / "ref.mp4")
    ours, theirs = video_frames(out), video_frames(reference)
    assert [pts for pts, _ in ours] == [pts for pts, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        difference = np.abs(a.astype(int) - b.astype(int))
        assert difference.mean() < 0.05 and difference.max() <= 4
