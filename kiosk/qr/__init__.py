"""QR codes at the gate: reading them from camera frames and files, printing pass cards.

``decode`` reads (zxing-cpp, with cheap retries chosen by measurement: docs/BENCHMARKS_qr.md),
``cards`` prints, ``cli`` exposes both as ``kiosk qr ...`` (the labelled photos the benchmark
and the tests score it on are loaded by tests/qr/qr_samples.py). What a payload means is
``kiosk.core.passcode``'s business.
"""

from kiosk.qr.decode import UnreadableImageError, decode_file, decode_image

__all__ = ["UnreadableImageError", "decode_file", "decode_image"]
