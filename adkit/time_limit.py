"""A wall-clock limit for a command-line run: `with time_limit(60): ...`.

SymPy can take minutes on an expression that is small by every other measure
(the product of a few hundred sines, to second order), so `adkit check` runs
under a deadline. SIGALRM interrupts pure-Python work (SymPy is pure Python) and
NumPy between calls; the previous handler and timer come back on exit. Where
there is no SIGALRM (Windows) or outside the main thread, the limit is not
enforced.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

__all__ = ["TimeLimitExceeded", "time_limit"]


class TimeLimitExceeded(BaseException):
    """The limit passed. A BaseException, so that no `except Exception` on the way (in a
    mode of check_grads, say) can swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[bool]:
    """Raise TimeLimitExceeded in the body once `seconds` have passed; yields whether the
    limit is enforced here.

    >>> with time_limit(5) as enforced:
    ...     pass
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        yield False
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
