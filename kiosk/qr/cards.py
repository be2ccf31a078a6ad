"""Printable pass cards: A4 sheets of cards with the holder's details and a signed QR.

Cards are drawn with Pillow at 300 dpi and written as PNG (one sheet) or multi-page PDF
(Pillow's own PDF writer, no extra dependency). Every QR is read back from the card raster
with the gate's own reader before anything is written, so a sheet never leaves the office
with a card the kiosk cannot scan.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import qrcode
import qrcode.constants
import qrcode.util
from PIL import Image, ImageDraw, ImageFont

from kiosk.core.model import Pass, PassKind
from kiosk.core.passcode import is_qr_alphanumeric
from kiosk.qr.decode import decode_image

DPI: Final = 300
FONT_ENV_VAR: Final = "KIOSK_CJK_FONT"
#: Checked in order before asking fontconfig; the first is Debian's fonts-wqy-microhei.
KNOWN_CJK_FONTS: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)

KIND_LABELS: Final[dict[PassKind, tuple[str, str]]] = {
    PassKind.RESIDENT: ("居民", "Resident"),
    PassKind.WORKER: ("必要岗位", "Essential worker"),
    PassKind.SUPPLIER: ("保供配送", "Supplier"),
    PassKind.STAFF: ("工作人员", "Staff"),
    PassKind.VISITOR: ("访客", "Visitor"),
}


def _px(mm: float) -> int:
    return round(mm * DPI / 25.4)


PAGE_SIZE: Final = (_px(210), _px(297))  # A4 portrait
CARD_SIZE: Final = (_px(92), _px(64))
COLUMNS, ROWS = 2, 4
CARDS_PER_PAGE: Final = COLUMNS * ROWS
QR_SIDE: Final = _px(46)  # 0.85 mm modules for a 145-character payload (version 7, 53 modules)
MARGIN: Final = _px(4)


class CardFontError(RuntimeError):
    """No font with Chinese glyphs was found; cards would print empty boxes."""


class CardQRError(ValueError):
    """A rendered card's QR did not read back as exactly its payload."""


@dataclass(frozen=True, slots=True)
class PassCard:
    """What one printed card shows. ``payload`` is the QR text (from encode_pass)."""

    name: str
    building: str
    unit: str
    room: str
    kind: PassKind
    valid_from: date
    valid_to: date
    number: str
    payload: str

    @classmethod
    def for_pass(cls, pass_: Pass, payload: str) -> PassCard:
        holder = pass_.holder
        if holder is None:
            raise ValueError(f"pass {pass_.number} has no holder to print")
        return cls(
            holder.name, holder.building, holder.unit, holder.room, pass_.kind,
            pass_.valid_from, pass_.valid_to, pass_.number, payload,
        )  # fmt: skip


# --- fonts -----------------------------------------------------------------------------------


def _fontconfig_cjk_font() -> Path | None:
    """Ask fontconfig for a font that covers Simplified Chinese, and check that it does
    (fc-match always answers, with a Latin-only font if nothing better exists)."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        answer = subprocess.run(
            [fc_match, "-f", "%{file}\n%{lang}", "WenQuanYi Micro Hei:lang=zh-cn"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    file, _, langs = answer.partition("\n")
    if file and "zh-cn" in langs.split("|") and Path(file).is_file():
        return Path(file)
    return None


def find_cjk_font() -> Path:
    """The font file to draw Chinese with: $KIOSK_CJK_FONT, a known path, or fontconfig."""
    configured = os.environ.get(FONT_ENV_VAR)
    if configured:
        if not Path(configured).is_file():
            raise CardFontError(f"{FONT_ENV_VAR}={configured} is not a file")
        return Path(configured)
    for candidate in KNOWN_CJK_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    found = _fontconfig_cjk_font()
    if found is None:
        raise CardFontError(
            "no font with Chinese characters found; install one "
            "(Debian/Ubuntu: apt-get install fonts-wqy-microhei) "
            f"or set {FONT_ENV_VAR} to a .ttf/.ttc/.otf file"
        )
    return found


class _Fonts:
    """Sizes of one typeface, loaded once per render."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: dict[int, ImageFont.FreeTypeFont] = {}

    def __call__(self, size: int) -> ImageFont.FreeTypeFont:
        if size not in self._cache:
            self._cache[size] = ImageFont.truetype(str(self.path), size, index=0)
        return self._cache[size]

    def fitting(self, text: str, size: int, max_width: int) -> ImageFont.FreeTypeFont:
        """The largest size up to ``size`` at which ``text`` fits ``max_width`` pixels."""
        while size > 12 and self(size).getlength(text) > max_width:
            size -= 2
        return self(size)


# --- drawing ---------------------------------------------------------------------------------


def qr_image(payload: str, side: int = QR_SIDE) -> Image.Image:
    """The payload as a black-on-white QR (EC level M, 4-module quiet zone), scaled by a
    whole number of pixels per module so every module prints the same size."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    mode = qrcode.util.MODE_ALPHA_NUM if is_qr_alphanumeric(payload) else None
    code.add_data(qrcode.util.QRData(payload.encode("utf-8"), mode=mode))
    code.make(fit=True)
    modules = np.array(code.get_matrix(), dtype=bool)
    module_px = max(1, side // modules.shape[0])
    pixels = np.where(modules, 0, 255).astype(np.uint8)
    pixels = pixels.repeat(module_px, axis=0).repeat(module_px, axis=1)
    return Image.fromarray(pixels, mode="L")


def _address(card: PassCard) -> str:
    """Like "3栋 2单元 1202室": a bare number gets its unit word, a name ("物业") is kept."""
    parts = ((card.building, "栋"), (card.unit, "单元"), (card.room, "室"))
    return " ".join(f"{v}{s}" if v.isascii() else v for v, s in parts if v.strip())


def render_card(card: PassCard, fonts: _Fonts) -> Image.Image:
    """One card, ``CARD_SIZE`` pixels at 300 dpi, greyscale (prints well in black only)."""
    width, height = CARD_SIZE
    image = Image.new("L", CARD_SIZE, 255)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=_px(3), outline=0, width=4)

    header_h = _px(10)
    draw.rounded_rectangle((0, 0, width - 1, header_h), radius=_px(3), fill=0)
    draw.rectangle((0, header_h - _px(3), width - 1, header_h), fill=0)
    draw.text((MARGIN, header_h // 2), "出入通行证  ENTRY PASS", font=fonts(_px(5)),
              fill=255, anchor="lm")  # fmt: skip

    qr = qr_image(card.payload)
    qr_box = (width - qr.width - MARGIN // 2, header_h + (height - header_h - qr.height) // 2)
    image.paste(qr, qr_box)

    text_w = qr_box[0] - MARGIN - _px(1)
    zh_kind, en_kind = KIND_LABELS[card.kind]
    y = header_h + _px(3)
    lines = (
        (card.name, _px(9.5), 0),
        (_address(card), _px(4.5), _px(2)),
        (zh_kind, _px(7), _px(3)),
        (en_kind, _px(3.6), _px(0.5)),
        ("有效期 Valid", _px(3.2), _px(3)),
        (f"{card.valid_from:%Y-%m-%d} – {card.valid_to:%Y-%m-%d}", _px(3.6), _px(0.5)),
        (f"No. {card.number}", _px(3.6), _px(2.5)),
    )
    for text, size, gap in lines:
        font = fonts.fitting(text, size, text_w)
        y += gap
        draw.text((MARGIN, y), text, font=font, fill=0)
        y += round(font.size)
    return image


def _check_qr(card: PassCard, image: Image.Image) -> None:
    found = decode_image(np.asarray(image))
    if found != [card.payload]:
        raise CardQRError(
            f"card {card.number}: QR reads back as {found!r}, not its payload; nothing written"
        )


def _sheets(cards: Sequence[Image.Image]) -> list[Image.Image]:
    gap_x = (PAGE_SIZE[0] - COLUMNS * CARD_SIZE[0]) // (COLUMNS + 1)
    gap_y = (PAGE_SIZE[1] - ROWS * CARD_SIZE[1]) // (ROWS + 1)
    pages = []
    for start in range(0, len(cards), CARDS_PER_PAGE):
        page = Image.new("L", PAGE_SIZE, 255)
        for i, card in enumerate(cards[start : start + CARDS_PER_PAGE]):
            row, col = divmod(i, COLUMNS)
            x = gap_x + col * (CARD_SIZE[0] + gap_x)
            y = gap_y + row * (CARD_SIZE[1] + gap_y)
            page.paste(card, (x, y))
        pages.append(page)
    return pages


def render_cards(cards: Sequence[PassCard], out: Path, *, font: Path | None = None) -> None:
    """Write ``cards`` to ``out``: ``.pdf`` for any number (8 per A4 page), ``.png`` for one
    A4 sheet of up to 8. Raises CardQRError (writing nothing) if any QR does not read back
    exactly, CardFontError if no Chinese font is available, ValueError for bad arguments."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".png"):
        raise ValueError(f"{out}: cards are written as .pdf or .png")
    if not cards:
        raise ValueError("no cards to render")
    if suffix == ".png" and len(cards) > CARDS_PER_PAGE:
        raise ValueError(
            f"a PNG holds one sheet of {CARDS_PER_PAGE} cards, got {len(cards)}: use .pdf"
        )
    fonts = _Fonts(font or find_cjk_font())
    rendered = []
    for card in cards:
        image = render_card(card, fonts)
        _check_qr(card, image)
        rendered.append(image)
    pages = _sheets(rendered)
    partial = out.with_name(f".{out.name}.partial")
    try:
        pages[0].save(
            partial, format=suffix[1:].upper(), save_all=len(pages) > 1,
            append_images=pages[1:], resolution=DPI, dpi=(DPI, DPI),
        )  # fmt: skip
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
