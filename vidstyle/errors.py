"""The exceptions the command line turns into a one-line message and an exit code."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable


class VidstyleError(Exception):
    """A problem the user can fix (bad input, missing file, refused overwrite...).

    The CLI prints ``error: <message>`` and exits with ``exit_code``; no traceback.

    A message that tells the user which setting to change names it ``{field}``, for each
    field listed in ``settings`` (``restart``, ``style_weight``): the library cannot know how
    the setting was given, so ``str()`` says the field's name (a Python caller's keyword)
    and the command line its own option's flag (``--restart``) through :meth:`naming`.
    ``{field=value}`` names a setting with the value to give it (``window=False``, which
    the command line says as ``--no-window``).
    """

    exit_code: int = 1
    #: what the CLI puts before the message
    prefix: str = "error: "

    def __init__(self, message: str, *, settings: tuple[str, ...] = (), exit_code: int | None = None) -> None:
        self.template, self.settings = message, settings
        super().__init__(self.naming(str))
        if exit_code is not None:
            self.exit_code = exit_code

    def naming(self, flag: Callable[[str], str]) -> str:
        """The message with each setting's ``{field}`` said as ``flag(field)`` (and
        ``{field=value}`` as ``flag("field=value")``)."""
        message = self.template
        for field in self.settings:
            pattern = re.compile(r"\{(" + re.escape(field) + r"(?:=[^{}]*)?)\}")
            message = pattern.sub(lambda found: flag(found.group(1)), message)
        return message


class SettingsError(VidstyleError):
    """A setting out of its range, named by its field (``strength``, ``style_scale``).

    ``message`` says ``{name}`` where the setting is named (at its start when it does not);
    see :class:`VidstyleError` for how it is said.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        message = message if "{name}" in message else "{name} " + message
        super().__init__(message.replace("{name}", "{" + field + "}"), settings=(field,))


class Stopped(VidstyleError):
    """A job stopped on purpose (Ctrl-C, ``kill``) that says what it kept: the CLI prints
    the message as it is, not as an error, and exits with ``exit_code`` (130 or 143)."""

    prefix = ""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup path for Ctrl-C runs for ``kill`` too."""

    exit_code = 128 + signal.SIGTERM


#: the signal that stopped the job, for the exit code (typer turns KeyboardInterrupt into 130)
_stopped_by: list[int] = []


def stopped_by() -> int | None:
    """SIGINT or SIGTERM if one has interrupted this process, else None."""
    return _stopped_by[-1] if _stopped_by else None


def signals_as_interrupts() -> Callable[[], None]:
    """Make SIGINT raise KeyboardInterrupt and SIGTERM :class:`Terminated` in the main thread.

    Jobs then stop on ``kill`` as on Ctrl-C: partial outputs removed, checkpoints written,
    recordings finalised. SIGINT is honoured even when the process started with it ignored
    (a job started with ``&`` from a script). Returns the function that puts the previous
    handlers back; outside the main thread (where handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        _stopped_by.append(signum)
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
