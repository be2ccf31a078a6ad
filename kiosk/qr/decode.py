"""Find QR codes in a camera frame or an image file and return their exact text.

Measured on 82 real QR photos (bench/bench_qr.py, docs/BENCHMARKS_qr.md): zxing-cpp alone
reads 77 in ~0.45 ms each; OpenCV's two detectors read 19-21 at 10-25x the time and find
nothing zxing-cpp misses, so OpenCV is only used here for colour conversion and filters.
What zxing-cpp misses on the first pass is mostly textured, noisy, blurred or printed-on-rough-
paper codes. Retries run only when the first pass found nothing, so a readable frame costs one
zxing-cpp call; each retry is one more call on a filtered grey image:

1. zxing-cpp's *global* histogram binarizer (uneven local texture fools the default
   local-average threshold);
2. a Gaussian blur of sigma = short side / 150, which averages sensor noise away;
3. a median filter about 1/40 of the short side wide, which wipes out photo texture and
   halftone dots inside modules while keeping module edges;
4. for small images (long side <= 640 px), a 2x upscale, so blurred 1-2 px modules get
   enough pixels for the finder-pattern search.

Steps 1 and 3 each recover real samples; 2 and 4 were chosen on synthetic degradations of
the samples (``bench_qr.py --stress``), to avoid tuning only to the photos we have.

Text is taken in zxing-cpp's ``Plain`` mode (the bytes as encoded, decoded by ECI/charset)
rather than the default "human readable" mode that rewrites control characters and GS1
data, so what we return is exactly what was encoded. Only QR (model 1 and 2) is read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, cast

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

Image = npt.NDArray[np.uint8]

#: QR model 1 and 2 only. Since zxing-cpp 3.0 ``BarcodeFormat.QRCode`` names the whole family,
#: Micro QR and rMQR included, and a Micro QR needs only one finder pattern: about one printed
#: sheet of pass cards in 800 read back with a phantom Micro QR M1 (a few digits such as "178")
#: sampled from one finder pattern of a real code and the modules beside it, which its two check
#: codewords do not refuse (docs/BENCHMARKS_qr.md). Every code we print, and every code a gate
#: is shown, is a full QR with three finder patterns.
QR_FORMATS: Final = zxingcpp.BarcodeFormats(
    (zxingcpp.BarcodeFormat.QRCodeModel1, zxingcpp.BarcodeFormat.QRCodeModel2)
)


class UnreadableImageError(ValueError):
    """The file exists but holds no image we can decode (corrupt, not an image, ...)."""


def _u8(img: Any) -> Image:
    """OpenCV's stubs type every result as a generic array; ours are all 8-bit."""
    return cast(Image, img)


def _read(gray_or_bgr: Image, binarizer: zxingcpp.Binarizer) -> list[str]:
    results = zxingcpp.read_barcodes(
        gray_or_bgr,
        formats=QR_FORMATS,
        binarizer=binarizer,
        text_mode=zxingcpp.TextMode.Plain,
    )
    return [r.text for r in results if r.valid]


def _global_threshold(gray: Image) -> list[str]:
    return _read(gray, zxingcpp.Binarizer.GlobalHistogram)


def _gaussian_smooth(gray: Image) -> list[str]:
    sigma = max(1.0, min(gray.shape[:2]) / 150)
    return _read(_u8(cv2.GaussianBlur(gray, (0, 0), sigma)), zxingcpp.Binarizer.LocalAverage)


def _median_denoise(gray: Image) -> list[str]:
    kernel = min(15, max(3, min(gray.shape[:2]) // 40)) | 1  # odd, 3..15 px
    return _read(_u8(cv2.medianBlur(gray, kernel)), zxingcpp.Binarizer.LocalAverage)


def _upscale_small(gray: Image) -> list[str]:
    if max(gray.shape[:2]) > 640:
        return []
    bigger = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return _read(_u8(bigger), zxingcpp.Binarizer.LocalAverage)


#: Tried in order, on the grey image, only while nothing has been found.
RETRIES: Final[tuple[tuple[str, Callable[[Image], list[str]]], ...]] = (
    ("global-threshold", _global_threshold),
    ("gaussian-smooth", _gaussian_smooth),
    ("median-denoise", _median_denoise),
    ("upscale-small", _upscale_small),
)


def as_uint8(img: npt.NDArray[Any]) -> Image:
    """Accept what OpenCV and cameras hand out: 8/16-bit, grey, BGR or BGRA (alpha is laid
    over white, because QR PNGs are often black on transparent)."""
    if not isinstance(img, np.ndarray) or img.size == 0:
        raise ValueError("decode_image needs a non-empty numpy image array")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"decode_image needs 8- or 16-bit pixels, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3):
        return np.ascontiguousarray(img, dtype=np.uint8)
    raise ValueError(f"decode_image needs a grey, BGR or BGRA image, got shape {img.shape}")


def decode_image(img: npt.NDArray[Any], *, retries: bool = True) -> list[str]:
    """Return the text of every QR code in ``img`` (BGR or grey, as from cv2), in the order
    found, without duplicates; an empty list when there is none.

    A frame with no code costs the first pass plus every retry (about 5x); a live camera
    loop can pass ``retries=False`` on most frames and keep the retries for a still shot.
    """
    image = as_uint8(img)
    found = _read(image, zxingcpp.Binarizer.LocalAverage)
    if not found and retries:
        gray = image if image.ndim == 2 else _u8(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        for _name, retry in RETRIES:
            found = retry(gray)
            if found:
                break
    return list(dict.fromkeys(found))


def load_image(path: str | Path) -> Image:
    """Read an image file the way ``decode_file`` does (alpha kept, non-ASCII paths work).

    Raises FileNotFoundError/OSError for file problems, UnreadableImageError for bad data.
    """
    data = np.fromfile(Path(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise UnreadableImageError(f"{path}: not an image file OpenCV can read")
    return as_uint8(img)


def decode_file(path: str | Path) -> list[str]:
    """Decode every QR code in an image file (PNG, JPEG, WebP, BMP, TIFF...)."""
    return decode_image(load_image(path))
