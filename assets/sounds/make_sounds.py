"""Generate the result sounds (run once; the WAVs are committed):
pass.wav - a pleasant two-tone chime (E6 then A5, soft attack, decaying);
stop.wav - a low buzz (150 Hz square-ish wave, three pulses), unmistakable from two metres.
16-bit mono 22050 Hz, Python's wave module only."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 22050


def tone(freq: float, seconds: float, volume: float, shape: str = "sine") -> list[float]:
    n = int(RATE * seconds)
    out = []
    for i in range(n):
        t = i / RATE
        x = math.sin(2 * math.pi * freq * t)
        if shape == "buzz":  # odd harmonics: a harsh, low buzz
            x = sum(math.sin(2 * math.pi * freq * k * t) / k for k in (1, 3, 5, 7)) * 0.8
            env = min(1.0, i / (0.01 * RATE), (n - i) / (0.01 * RATE))
        else:
            env = min(1.0, i / (0.005 * RATE)) * math.exp(-3.0 * t / seconds)
        out.append(volume * env * x)
    return out


def write(path: Path, samples: list[float]) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(max(-1, min(1, s)) * 32000))
                               for s in samples))


def main() -> None:
    here = Path(__file__).resolve().parent
    write(here / "pass.wav", tone(1318.5, 0.18, 0.6) + tone(880.0, 0.35, 0.6))
    silence = [0.0] * int(RATE * 0.07)
    write(here / "stop.wav", (tone(150.0, 0.22, 0.7, "buzz") + silence) * 3)


if __name__ == "__main__":
    main()
