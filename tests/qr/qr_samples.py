"""Labelled QR photos (``N.png`` beside ``N.txt``) and the score of a reader on them.

Test and benchmark code, not the product's: shared by bench/bench_qr.py and tests/qr so both
count a hit the same way: the expected text is the ``.txt`` file's exact bytes as UTF-8. Read
it in binary: several samples encode CRLF line ends, and text-mode reading turns them into LF
and silently fails ~23 hits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiosk.qr.decode import Image, load_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
ENV_VAR = "KIOSK_QR_SAMPLES"


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    image: Image
    expected: str


@dataclass(frozen=True, slots=True)
class Score:
    hits: int
    total: int
    seconds: float  # decoding only, image loading excluded
    missed: tuple[Path, ...]

    @property
    def ms_per_image(self) -> float:
        return 1000.0 * self.seconds / self.total if self.total else 0.0


def samples_dir(default: Path) -> Path | None:
    """The sample folder: $KIOSK_QR_SAMPLES if set, else ``default``; None if absent."""
    root = Path(os.environ.get(ENV_VAR) or default)
    return root if root.is_dir() else None


def load_samples(root: Path) -> list[Sample]:
    """Every image under ``root`` (recursively) that has a ``.txt`` beside it, sorted."""
    samples = []
    for path in sorted(root.rglob("*")):
        expected = path.with_suffix(".txt")
        if path.suffix.lower() in IMAGE_SUFFIXES and expected.is_file():
            text = expected.read_bytes().decode("utf-8")
            samples.append(Sample(path, load_image(path), text))
    return samples


def score(decode: Callable[[Image], Sequence[str]], samples: Sequence[Sample]) -> Score:
    """Count samples whose expected text is among what ``decode`` returns, and time it."""
    hits, seconds, missed = 0, 0.0, []
    for sample in samples:
        start = time.perf_counter()
        found = decode(sample.image)
        seconds += time.perf_counter() - start
        if sample.expected in found:
            hits += 1
        else:
            missed.append(sample.path)
    return Score(hits, len(samples), seconds, tuple(missed))
