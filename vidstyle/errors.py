"""The exceptions the command line turns into a one-line message and an exit code."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


class VidstyleError(Exception):
    """A problem the user can fix (bad input, missing file, refused overwrite...).

    The CLI prints ``error: <message>`` and exits with ``exit_code``; no traceback.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup path for Ctrl-C runs for ``kill`` too."""

    exit_code = 128 + signal.SIGTERM


def signals_as_interrupts() -> Callable[[], None]:
    """Make SIGTERM raise :class:`Terminated` in the main thread; returns the undo function.

    Jobs then stop on ``kill`` as on Ctrl-C: partial outputs removed, checkpoints written,
    recordings finalised. Outside the main thread (where handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    return lambda: signal.signal(signal.SIGTERM, previous)
