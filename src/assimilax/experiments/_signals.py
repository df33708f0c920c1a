"""SIGINT and SIGTERM in the middle of a run or sweep: finish the current piece, save, stop.

:func:`deferred_signals` installs handlers (in the main thread only, restored on exit):
the first signal sets a flag that the runner checks after each chunk (``run``) or batch
(``sweep``); it then writes its progress and raises :class:`Interrupted`. A second signal
aborts at once: ``KeyboardInterrupt`` for SIGINT, the default action (the process ends)
for SIGTERM. A compiled chunk is not interrupted: Python handles a signal once it returns.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RuntimeError):
    """A run or sweep stopped by SIGINT or SIGTERM after saving its progress.

    Attributes:
        signal: the signal's name (``"SIGINT"``, ``"SIGTERM"``).
        exit_code: ``128 +`` the signal's number (130, 143), as a shell reports it.
        out_dir: the run or sweep directory.
        done: cycles (run) or points (sweep) done and saved.
    """

    def __init__(self, signum: int, message: str, out_dir: Path, done: int | None):
        self.signal = signal.Signals(signum).name
        self.exit_code = 128 + int(signum)
        self.out_dir = Path(out_dir)
        self.done = done
        super().__init__(message)


class Flag:
    """The first signal received (its number), or ``None``."""

    signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


_active: Flag | None = None


@contextlib.contextmanager
def deferred_signals() -> Iterator[Flag]:
    """Handle SIGINT and SIGTERM by setting the flag yielded (see the module docstring).

    Outside the main thread no handler can be installed: the flag stays unset. Inside an
    active one (a hybrid point of a sweep run in this process), the outer flag is yielded.
    """
    global _active
    if _active is not None:
        yield _active
        return
    flag = Flag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.signum is None:
            flag.signum = signum
            return
        if signum == signal.SIGINT:  # the second one: at once
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    _active = flag
    try:
        yield flag
    finally:
        _active = None
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def interrupt_now(out_dir: Path, message) -> Iterator[None]:
    """Raise :class:`Interrupted` at once on SIGINT or SIGTERM (for work without chunks to
    stop after: a hybrid run); ``message(signal name, out_dir)`` is its message. Does
    nothing outside the main thread or inside :func:`deferred_signals`."""
    if _active is not None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        for s in SIGNALS:  # a second signal: the default action
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT
                          else signal.SIG_DFL)
        name = signal.Signals(signum).name
        raise Interrupted(signum, message(name, Path(out_dir)), Path(out_dir), None)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
