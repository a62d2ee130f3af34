"""``vidstyle ARGS`` run in-process, as the tests of every command need it."""

from __future__ import annotations

import pytest

from vidstyle.cli import main


def run_cli(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``vidstyle ARGS`` (arguments converted with ``str``)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
