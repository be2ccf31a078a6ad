"""Small pieces every view model uses: change notification, tap debouncing, a work runner."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Listener = Callable[[], None]


class Observable:
    """Listeners are called after every change; the Kivy screen re-reads the model then."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def notify(self) -> None:
        for listener in list(self._listeners):
            listener()


#: seconds within which a second press of the same key is a copy of one touch: a Pi
#: touchscreen delivers a touch twice (two input providers, see KIVY_ON_PI.md) a few
#: milliseconds apart, while a fast human double tap of one key ("1100") is 80-120 ms apart
#: and must count twice
DUPLICATE_S = 0.05


class Debouncer:
    """Drops an immediate repeat of the key just accepted, within ``window_s`` seconds
    (``DUPLICATE_S`` by default: a duplicated hardware event, never a human double tap).
    A different key in between is always a new press ("3-1-4" keeps both dashes).
    """

    def __init__(self, window_s: float = DUPLICATE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._last_key: str | None = None
        self._last_t = float("-inf")

    def accept(self, key: str, window_s: float | None = None) -> bool:
        now = self._clock()
        window = self.window_s if window_s is None else window_s
        if key == self._last_key and now - self._last_t < window:
            return False
        self._last_key, self._last_t = key, now
        return True


class Runner(Protocol):
    """Runs ``work`` off the UI thread and calls ``done`` or ``failed`` back on the UI thread."""

    def submit(self, work: Callable[[], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None]) -> None: ...


class InlineRunner:
    """Runs work at once on the caller's thread (view-model tests, the CLI)."""

    def submit(self, work: Callable[[], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None]) -> None:
        try:
            result = work()
        except Exception as exc:  # noqa: BLE001 - handed to the model, which shows it
            failed(exc)
            return
        done(result)


class ManualRunner:
    """Queues work until ``run_all()``: tests use it to see the model while work is pending
    (e.g. a second tap on confirm while the first is being recorded)."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Callable[[Any], None],
                                 Callable[[BaseException], None]]] = []

    def submit(self, work: Callable[[], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None]) -> None:
        self.pending.append((work, done, failed))

    def run_all(self) -> int:
        n = 0
        while self.pending:
            work, done, failed = self.pending.pop(0)
            InlineRunner().submit(work, done, failed)
            n += 1
        return n
