"""The one exception type that the command line turns into a one-line message."""

from __future__ import annotations


class VidstyleError(Exception):
    """A problem the user can fix (bad input, missing file, refused overwrite...).

    The CLI prints ``error: <message>`` and exits with ``exit_code``; no traceback.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
