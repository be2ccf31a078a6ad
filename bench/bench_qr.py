"""Side-by-side QR decode rate and speed: our reader against the raw decoders it chose from.

    .venv/bin/python bench/bench_qr.py [SAMPLES_DIR] [--repeat N] [--stress]

SAMPLES_DIR defaults to $KIOSK_QR_SAMPLES, then ../shared/qr-samples beside the repository.
A hit is an exact match with the image's .txt (read as bytes). Times are decoding only, the
best of --repeat runs per decoder (runs interleaved, so machine load hits all alike).
--stress also scores synthetic degradations of every sample (blur, noise, JPEG, low
contrast, uneven light), which is how retries were judged beyond the photos we have.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "qr"))
from qr_samples import Sample, Score, load_samples, samples_dir, score  # noqa: E402

from kiosk.qr.decode import QR_FORMATS, Image, as_uint8, decode_image  # noqa: E402

Decoder = Callable[[Image], Sequence[str]]
DEFAULT_SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "qr-samples"


def _opencv(detector: cv2.QRCodeDetector | cv2.QRCodeDetectorAruco) -> Decoder:
    def decode(img: Image) -> list[str]:
        try:
            ok, texts, _points, _straight = detector.detectAndDecodeMulti(img)
        except (cv2.error, UnicodeDecodeError):  # raised on some symbols (ECI, bad UTF-8)
            return []
        return [t for t in texts if t] if ok else []

    return decode


def raw_zxing(img: Image) -> list[str]:
    """zxing-cpp as shipped: default options, QR only."""
    return [r.text for r in zxingcpp.read_barcodes(img, formats=QR_FORMATS)]


DECODERS: dict[str, Decoder] = {
    "ours (kiosk.qr.decode_image)": decode_image,
    "raw cv2.QRCodeDetector": _opencv(cv2.QRCodeDetector()),
    "raw cv2.QRCodeDetectorAruco": _opencv(cv2.QRCodeDetectorAruco()),
    "raw zxing-cpp": raw_zxing,
}
OURS, BASELINE = "ours (kiosk.qr.decode_image)", "raw zxing-cpp"


def best_scores(
    decoders: dict[str, Decoder], samples: Sequence[Sample], repeat: int
) -> dict[str, Score]:
    best: dict[str, Score] = {}
    for _ in range(repeat):
        for name, decoder in decoders.items():
            result = score(decoder, samples)
            if name not in best or result.seconds < best[name].seconds:
                best[name] = result
    return best


def print_table(scores: dict[str, Score]) -> None:
    print(f"| {'decoder':<30} | {'decoded':>8} | {'rate':>6} | {'ms/image':>8} | {'total ms':>8} |")
    print(f"|{'-' * 32}|{'-' * 9}:|{'-' * 7}:|{'-' * 9}:|{'-' * 9}:|")
    for name, s in scores.items():
        rate = f"{s.hits}/{s.total}"
        print(
            f"| {name:<30} | {rate:>8} | {s.hits / s.total:>6.1%} "
            f"| {s.ms_per_image:>8.2f} | {1000 * s.seconds:>8.1f} |"
        )


def _degrade(kind: str, img: Image) -> npt.NDArray[Any]:
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    rng = np.random.default_rng(h * w)
    if kind == "blur":
        return cv2.GaussianBlur(gray, (0, 0), max(1.0, min(h, w) / 150))
    if kind == "noise":
        return np.clip(gray + rng.normal(0, 40, gray.shape), 0, 255).astype(np.uint8)
    if kind == "jpeg-q8":
        _ok, data = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 8])
        return np.asarray(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))
    if kind == "low-contrast":
        return (gray * 0.25 + 90).astype(np.uint8)
    if kind == "uneven-light":
        light = 0.35 + 0.65 * np.outer(np.linspace(0, 1, h), np.linspace(0, 1, w))
        return (gray * light).astype(np.uint8)
    raise ValueError(kind)


STRESS_KINDS = ("blur", "noise", "jpeg-q8", "low-contrast", "uneven-light")


def stress(samples: Sequence[Sample]) -> None:
    no_retries: Decoder = lambda img: decode_image(img, retries=False)  # noqa: E731
    print("\nSynthetic degradations (decoded / total, ms/image):\n")
    print("| degradation   | first pass only | with retries | raw zxing-cpp |")
    print("|---------------|----------------:|-------------:|--------------:|")
    for kind in STRESS_KINDS:
        degraded = [Sample(s.path, as_uint8(_degrade(kind, s.image)), s.expected) for s in samples]
        cells = [score(d, degraded) for d in (no_retries, decode_image, raw_zxing)]
        text = " | ".join(f"{c.hits:>2}/{c.total} {c.ms_per_image:5.2f}" for c in cells)
        print(f"| {kind:<13} | {text} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", nargs="?", type=Path, default=DEFAULT_SAMPLES)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stress", action="store_true")
    args = parser.parse_args(argv)
    root = samples_dir(args.samples)
    if root is None:
        print(f"no sample folder at {args.samples} (set KIOSK_QR_SAMPLES)", file=sys.stderr)
        return 2
    samples = load_samples(root)
    print(f"{len(samples)} images from {root}, best of {args.repeat} runs\n")
    scores = best_scores(DECODERS, samples, args.repeat)
    print_table(scores)
    ratio = scores[OURS].seconds / scores[BASELINE].seconds
    print(f"\ntime ours / raw zxing-cpp: {ratio:.2f}x")
    for name in (OURS, BASELINE):
        missed = ", ".join(str(p.relative_to(root)) for p in scores[name].missed) or "none"
        print(f"missed by {name}: {missed}")
    if args.stress:
        stress(samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
