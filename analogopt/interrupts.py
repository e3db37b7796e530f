"""Ctrl-C and SIGTERM at moments that are safe to stop at.

Python raises ``KeyboardInterrupt`` (and the CLI's SIGTERM handler raises ``Terminated``) between any two
bytecodes of the main thread. Inside a library that holds locks shared with its own threads, Dask's
client for one, an exception raised halfway through ``with condition: condition.wait()`` can leave the
lock held, and the next call into the library waits for ever. Two tools keep signals away from such code:

- :func:`signals_held` blocks both signals for a clean-up that must finish (they arrive after it);
- :class:`DeferredSignals` records a signal instead of raising, and :meth:`DeferredSignals.check`
  raises it where the caller holds no foreign lock.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM while the block runs, so a second Ctrl-C cannot cut a clean-up short; a signal
    that arrived meanwhile raises what its handler raises when the block ends.

    In the main thread the handlers are swapped for a recorder (a mask would not do: the kernel hands a
    process-directed signal to any thread that does not mask it, Dask's or the runner's watchers, and
    Python then runs the handler in the main thread at once). Off the main thread, where Python runs no
    handlers, the thread's mask blocks both signals."""
    if threading.current_thread() is not threading.main_thread():
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return
    arrived: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    handlers = {signum: signal.signal(signum, record) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if arrived:
            _deliver(arrived[0], handlers.get(arrived[0]))


def _deliver(signum: int, handler: Any) -> None:
    """Raise what ``handler`` (the one a deferral replaced) raises for ``signum``; Python's default SIGINT
    handler raises KeyboardInterrupt, an ignored signal does nothing."""
    if handler is signal.SIG_IGN:
        return
    if callable(handler):
        handler(signum, None)
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


class DeferredSignals:
    """While active, SIGINT/SIGTERM are only recorded; :meth:`check` then raises what the handler that
    was installed before would have raised (``KeyboardInterrupt`` for Python's default SIGINT handler).

    Off the main thread, where Python cannot install handlers, it does nothing and :meth:`check` never
    raises. Use it as a context manager; poll :meth:`check` at least every few tenths of a second."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}
        self._pending: int | None = None

    def __enter__(self) -> "DeferredSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self._pending is None:  # the first signal decides; a second Ctrl-C changes nothing
            self._pending = signum

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def check(self) -> None:
        """Raise the recorded signal's exception, if one arrived."""
        if self._pending is None:
            return
        signum = self._pending
        handler = self._previous.get(signum, signal.SIG_DFL)
        self.__exit__()
        _deliver(signum, handler)
