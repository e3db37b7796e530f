"""Signals recorded while foreign code runs and raised at the caller's own polls (analogopt.interrupts)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from analogopt.interrupts import DeferredSignals, signals_held


class Stop(Exception):
    pass


def test_sigint_waits_for_the_check_and_raises_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt):
        with DeferredSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)  # the first signal decides
            reached = True
            assert stop.pending
            stop.check()
            reached = False
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_raises_what_the_previous_handler_raises():
    def handler(signum, frame):
        raise Stop(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(Stop):
            with DeferredSignals() as stop:
                stop.check()  # nothing pending: no exception
                os.kill(os.getpid(), signal.SIGTERM)
                stop.check()
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_signal_held_during_a_clean_up_is_recorded_when_released():
    with DeferredSignals() as stop:
        with signals_held():
            os.kill(os.getpid(), signal.SIGINT)
            assert not stop.pending
        assert stop.pending
        with pytest.raises(KeyboardInterrupt):
            stop.check()


def test_a_held_signal_waits_even_when_another_thread_could_take_it():
    """The kernel gives a process-directed signal to any thread that does not mask it; the clean-up
    must still finish before KeyboardInterrupt."""
    release = threading.Event()
    worker = threading.Thread(target=release.wait, daemon=True)  # a thread that masks nothing
    worker.start()
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with signals_held():
                for _ in range(20):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.005)
                done.append(True)
        assert done == [True]
    finally:
        release.set()
        worker.join()
