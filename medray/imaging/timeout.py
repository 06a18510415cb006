"""Per-file time limit, so one pathological file (a decompression bomb, a stuck network mount) cannot hang a run.

SIGALRM-based: it interrupts pure-Python and most C loops that return to the interpreter (pydicom, nibabel, numpy
chunks). Signals only reach the main thread, and both the CLI driver and Ray task workers run our code there; if
called from another thread the limit is not enforced and ``time_limit`` says so via ``enforced=False``. A blocking
``open`` of a FIFO is avoided upstream (discovery only opens regular files).
"""
from __future__ import annotations

import contextlib
import signal
import threading

from medray.config import InputError


class _Limit:
    enforced: bool = False


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str = "file"):
    """Raise ``InputError('timeout')`` if the body runs longer than ``seconds`` (None/≤0: no limit)."""
    limit = _Limit()
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield limit
        return

    def _expired(signum, frame):
        raise InputError("timeout", f"{what} took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    # re-fire every `interval` after expiry: library code that swallows a broad Exception cannot eat the limit
    signal.setitimer(signal.ITIMER_REAL, seconds, min(1.0, seconds))
    limit.enforced = True
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
