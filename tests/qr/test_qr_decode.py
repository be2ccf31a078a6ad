"""The gate's QR reader: how many real photos it reads, and that it invents nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import qrcode
import zxingcpp
from PIL import Image, ImageDraw, ImageFont
from qr_samples import ENV_VAR, load_samples, samples_dir, score

from kiosk.qr.cards import CardFontError, find_cjk_font
from kiosk.qr.decode import UnreadableImageError, decode_file, decode_image

#: The raw zxing-cpp count quoted in the brief (texts read with newline translation); the
#: exact-bytes count for raw zxing-cpp is 77 and ours 82 (docs/BENCHMARKS_qr.md).
MIN_HITS = 54
DEFAULT_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "qr-samples"


@pytest.fixture(scope="module")
def samples_root() -> Path:
    root = samples_dir(DEFAULT_SAMPLES)
    if root is None:
        pytest.skip(f"QR sample photos not found at {DEFAULT_SAMPLES}; set {ENV_VAR} to run")
    return root


def test_reads_at_least_as_many_real_photos_as_raw_zxing(samples_root: Path) -> None:
    samples = load_samples(samples_root)
    assert samples, f"no labelled images under {samples_root}"
    result = score(decode_image, samples)
    assert result.hits >= MIN_HITS, f"read {result.hits}/{result.total}; missed {result.missed}"


def _qr(text: str, box: int = 8) -> np.ndarray:
    code = qrcode.QRCode(border=4)
    code.add_data(text)
    code.make(fit=True)
    matrix = np.array(code.get_matrix(), dtype=bool)
    return np.where(matrix, 0, 255).astype(np.uint8).repeat(box, 0).repeat(box, 1)


def test_reads_a_clean_qr_in_grey_bgr_and_bgra() -> None:
    gray = _qr("KP1.K1.A-1")
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    bgra = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)
    for img in (gray, bgr, bgra, gray[:, :, None], gray.astype(np.uint16) * 257):
        assert decode_image(img) == ["KP1.K1.A-1"]


def test_black_on_transparent_png_reads(tmp_path: Path) -> None:
    """Alpha is laid over white; read naively, the symbol would be black on black."""
    gray = _qr("HELLO GATE")
    rgba = np.zeros((*gray.shape, 4), np.uint8)
    rgba[:, :, 3] = 255 - gray
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    assert decode_file(path) == ["HELLO GATE"]


def test_two_codes_in_one_frame_are_both_returned_once() -> None:
    left, right = _qr("FIRST"), _qr("SECOND")
    height = max(left.shape[0], right.shape[0])
    frame = np.full((height, left.shape[1] + right.shape[1]), 255, np.uint8)
    frame[: left.shape[0], : left.shape[1]] = left
    frame[: right.shape[0], left.shape[1] :] = right
    assert sorted(decode_image(frame)) == ["FIRST", "SECOND"]


#: The top-left quarter of a printed sheet of pass cards (1-bit PNG, the pixels as rendered)
#: on which zxing-cpp 3 asked for its whole QR family also finds a Micro QR "5880": one
#: finder pattern of a real code and the modules beside it read as a version M1 symbol.
PHANTOM_SHEET = Path(__file__).parent / "data" / "sheet-with-phantom-micro-qr.png"
PHANTOM_SHEET_PAYLOADS = [
    "KP1.K7.R0001.R.20261120.20261210.BGVBKPEKOTMOA7AUI7XL3YYOLCLMUXL7GA3PX"
    "NQ3P5HLMVYXMCTMJFR25TPBNCWQWEX7N3XRX7PPEDZKQ5TKTFSAENG24GRTJZYQAAA",
    "KP1.K7.R0003.R.20261120.20261210.OA4DL6RIY6IHYROOZRASGYIOKPJ2CUVWZQHKL"
    "QCPUCBQA5VVML4M6WWVYQHPXTWADIHTKK5LAEY477F22PZFJFMOYVUZI43LFJZDUDQ",
]


def test_a_sheet_of_cards_reads_as_its_codes_and_nothing_more() -> None:
    assert sorted(decode_file(PHANTOM_SHEET)) == PHANTOM_SHEET_PAYLOADS


def test_a_micro_qr_is_not_read() -> None:
    """Micro QR, which one finder pattern is enough to fake, is no code of ours."""
    micro = np.asarray(zxingcpp.create_barcode("12345", zxingcpp.BarcodeFormat.MicroQRCode)
                       .to_image(scale=8))  # fmt: skip
    assert zxingcpp.read_barcodes(micro)[0].text == "12345"  # a real, readable Micro QR
    assert decode_image(micro) == []


def test_text_is_exact_bytes_not_human_readable_form() -> None:
    assert decode_image(_qr("A\tB\r\nC\x01")) == ["A\tB\r\nC\x01"]


def _photo_like_noise() -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 3)


def _shapes_picture() -> np.ndarray:
    img = np.zeros((480, 640, 3), np.uint8)
    img[:] = np.linspace(40, 220, 640, dtype=np.uint8)[None, :, None]
    cv2.circle(img, (200, 240), 120, (30, 90, 200), -1)
    cv2.rectangle(img, (380, 80), (600, 300), (0, 0, 0), 12)
    cv2.rectangle(img, (420, 120), (560, 260), (0, 0, 0), -1)  # a finder-pattern look-alike
    return img


def _checkerboard() -> np.ndarray:
    squares = (np.indices((24, 24)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return np.kron(squares, np.ones((12, 12), np.uint8))


def _chinese_text() -> np.ndarray:
    try:
        font = ImageFont.truetype(str(find_cjk_font()), 48)
    except CardFontError:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")
    image = Image.new("L", (900, 400), 255)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(("北苑小区北门 出入登记", "体温 36.5°C 通行", "居民 必要岗位 访客")):
        draw.text((30, 30 + row * 120), line, font=font, fill=0)
    return np.array(image, dtype=np.uint8)


def _other_barcode(fmt: zxingcpp.BarcodeFormat) -> np.ndarray:
    symbol = zxingcpp.create_barcode("KIOSK-12345", fmt)
    return np.pad(np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=6)), 40,
                  constant_values=255)  # fmt: skip


@pytest.mark.parametrize(
    "make",
    [
        _photo_like_noise,
        _shapes_picture,
        _checkerboard,
        _chinese_text,
        lambda: np.full((300, 300), 255, np.uint8),
        lambda: _other_barcode(zxingcpp.BarcodeFormat.Code128),
        lambda: _other_barcode(zxingcpp.BarcodeFormat.DataMatrix),
    ],
    ids=["noise", "shapes", "checkerboard", "chinese-text", "blank", "code128", "datamatrix"],
)
def test_images_without_a_qr_give_nothing(make: Callable[[], np.ndarray]) -> None:
    assert decode_image(make()) == []


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        decode_file(tmp_path / "absent.png")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UnreadableImageError, match="corrupt.png"):
        decode_file(corrupt)


def test_refuses_arrays_that_are_not_images() -> None:
    with pytest.raises(ValueError):
        decode_image(np.zeros((0, 0), np.uint8))
    with pytest.raises(ValueError):
        decode_image(np.zeros((10, 10), np.float32))
