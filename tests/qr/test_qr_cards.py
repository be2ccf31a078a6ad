"""Printed pass cards: every QR on the sheet reads back, and forgery survives no printing."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kiosk.qr.cards as cards_module
from kiosk.core.model import Pass, PassKind, Resident
from kiosk.core.passcode import CheckReason, PassFields, encode_pass, generate_key_pair, verify_pass
from kiosk.qr.cards import (
    CARD_SIZE,
    CARDS_PER_PAGE,
    CardFontError,
    CardQRError,
    PassCard,
    find_cjk_font,
    render_cards,
)
from kiosk.qr.decode import decode_file, decode_image

PRIVATE, PUBLIC = generate_key_pair()
KEYS = {"K2604": PUBLIC}
APRIL = (date(2026, 4, 1), date(2026, 4, 30))
PEOPLE = (
    ("张伟", "3", "2", "1202", PassKind.RESIDENT, "BY3-1202-01"),
    ("欧阳晓明", "12", "", "501", PassKind.WORKER, "W-0042"),
    ("李娜", "5", "1", "302", PassKind.SUPPLIER, "S-7"),
    ("王秀英", "物业", "", "", PassKind.STAFF, "T-3"),
    ("赵敏", "9", "3", "1801", PassKind.VISITOR, "V-20260410-01"),
)


def _card(name: str, building: str, unit: str, room: str, kind: PassKind, number: str) -> PassCard:
    fields = PassFields(number, kind, *APRIL)
    payload = encode_pass(fields, PRIVATE, "K2604")
    return PassCard(name, building, unit, room, kind, *APRIL, number, payload)


CARDS = [_card(*person) for person in PEOPLE]


@pytest.fixture(autouse=True, scope="module")
def _needs_cjk_font() -> None:
    try:
        find_cjk_font()
    except CardFontError as exc:
        pytest.skip(str(exc))


def test_png_sheet_holds_every_card_and_every_qr_reads_back_valid(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    render_cards(CARDS, out)
    with Image.open(out) as sheet:
        assert sheet.size == cards_module.PAGE_SIZE
        pixels = np.asarray(sheet.convert("L"))
    found = decode_image(pixels)
    assert sorted(found) == sorted(card.payload for card in CARDS)
    for payload in found:
        assert verify_pass(payload, KEYS, date(2026, 4, 10), ()).ok


def test_each_card_on_the_png_reads_back_alone(tmp_path: Path) -> None:
    """Cut out card by card, as a volunteer holds one up to the camera."""
    out = tmp_path / "sheet.png"
    render_cards(CARDS[:2], out)
    sheet = np.asarray(Image.open(out).convert("L"))
    gap_x = (sheet.shape[1] - 2 * CARD_SIZE[0]) // 3
    gap_y = (sheet.shape[0] - 4 * CARD_SIZE[1]) // 5
    for col, card in enumerate(CARDS[:2]):
        x = gap_x + col * (CARD_SIZE[0] + gap_x)
        cut = sheet[gap_y : gap_y + CARD_SIZE[1], x : x + CARD_SIZE[0]]
        assert decode_image(cut) == [card.payload]


def test_pdf_has_a4_pages_of_eight(tmp_path: Path) -> None:
    out = tmp_path / "cards.pdf"
    render_cards(CARDS * 2, out)  # 10 cards: two pages
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 2
    assert b"/MediaBox [ 0 0 595" in data  # A4 width in points at 300 dpi


def test_card_for_a_model_pass(tmp_path: Path) -> None:
    holder = Resident("陈静", "7", "1", "601", household="7-1-601")
    pass_ = Pass("BY7-0601-02", PassKind.RESIDENT, *APRIL, holder=holder)
    payload = encode_pass(PassFields(pass_.number, pass_.kind, *APRIL), PRIVATE, "K2604")
    out = tmp_path / "one.png"
    render_cards([PassCard.for_pass(pass_, payload)], out)
    assert decode_file(out) == [payload]


def test_forged_payload_prints_and_scans_but_is_refused(tmp_path: Path) -> None:
    """Printing is no check of authenticity: the gate's signature check is."""
    genuine = CARDS[0]
    forged_payload = genuine.payload.replace(".20260430.", ".20261231.")
    forged = PassCard(genuine.name, "3", "2", "1202", genuine.kind, APRIL[0], date(2026, 12, 31),
                      genuine.number, forged_payload)  # fmt: skip
    out = tmp_path / "forged.png"
    render_cards([forged], out)
    (scanned,) = decode_file(out)
    assert scanned == forged_payload
    assert verify_pass(scanned, KEYS, date(2026, 6, 1), ()).reason is CheckReason.FORGED


def test_card_whose_qr_does_not_read_back_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cards_module, "decode_image", lambda _img: [])
    out = tmp_path / "cards.pdf"
    with pytest.raises(CardQRError, match="BY3-1202-01"):
        render_cards(CARDS, out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "count", "message"),
    [("cards.jpg", 1, r"\.pdf or \.png"), ("cards.png", CARDS_PER_PAGE + 1, "use .pdf"),
     ("cards.pdf", 0, "no cards")],
)  # fmt: skip
def test_refuses_bad_requests_before_drawing(
    tmp_path: Path, name: str, count: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_cards((CARDS * 2)[:count], tmp_path / name)


def test_missing_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(cards_module.FONT_ENV_VAR, str(tmp_path / "none.ttc"))
    with pytest.raises(CardFontError, match="not a file"):
        render_cards(CARDS[:1], tmp_path / "x.png")
    monkeypatch.delenv(cards_module.FONT_ENV_VAR)
    monkeypatch.setattr(cards_module, "KNOWN_CJK_FONTS", ())
    monkeypatch.setattr(cards_module, "_fontconfig_cjk_font", lambda: None)
    with pytest.raises(CardFontError, match="fonts-wqy-microhei"):
        find_cjk_font()
