"""USB keyboard-wedge scanners: tell a scan from a person typing.

A handheld scanner "types" its payload as keystrokes, much faster than any human, and ends
with Enter. Reading them from window-level key events (not a focused TextInput, which loses
characters on a Pi) needs a burst detector: characters that arrive with gaps no longer than
``max_gap_s`` and end in Enter are a scan; anything slower is a human and is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BurstDetector:
    """Feed it every character with its arrival time (time.monotonic() seconds).

    ``max_gap_s``: the largest gap between two keystrokes of one scan (scanners: 1-20 ms;
    a fast human typist: 80 ms and more). ``min_length``: shorter bursts are not a pass.
    """

    max_gap_s: float = 0.05
    min_length: int = 4
    _chars: list[str] = field(default_factory=list)
    _last_t: float | None = None
    _fast: bool = True

    def feed(self, text: str, t: float) -> str | None:
        """One character (or a few, as on_textinput may deliver); returns None. A character
        after a long pause starts a new burst."""
        if self._last_t is not None and t - self._last_t > self.max_gap_s:
            self._chars.clear()
            self._fast = True
        self._chars.append(text)
        self._last_t = t
        return None

    def enter(self, t: float) -> str | None:
        """Enter pressed: the payload when the buffer was a fast burst ending just now."""
        payload = "".join(self._chars)
        in_time = self._last_t is not None and t - self._last_t <= self.max_gap_s
        self.reset()
        if in_time and len(payload) >= self.min_length:
            return payload
        return None

    def reset(self) -> None:
        self._chars.clear()
        self._last_t = None

    @property
    def pending(self) -> bool:
        """A burst may be in progress: the UI should not treat these keys as typing yet."""
        return bool(self._chars)
