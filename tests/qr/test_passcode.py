"""Signed pass payloads: what a gate accepts, what it refuses and why, for any input."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.core.model import PassKind
from kiosk.core.passcode import (
    KIND_CODES,
    MAX_PAYLOAD_CHARS,
    QR_ALPHANUMERIC,
    CheckReason,
    PassFields,
    encode_pass,
    generate_key_pair,
    is_qr_alphanumeric,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_hex,
    public_key_from_pem,
    public_key_to_hex,
    public_key_to_pem,
    verify_pass,
)

PRIVATE, PUBLIC = generate_key_pair()
KEYS = {"K1": PUBLIC}
TODAY = date(2026, 4, 10)
FIELDS = PassFields("BY3-1202-01", PassKind.RESIDENT, date(2026, 4, 1), date(2026, 4, 30))
PAYLOAD = encode_pass(FIELDS, PRIVATE, "K1")

pass_fields = st.builds(
    PassFields,
    number=st.from_regex(r"[0-9A-Z](?:[0-9A-Z-]{0,22}[0-9A-Z])?", fullmatch=True),
    kind=st.sampled_from(list(PassKind)),
    valid_from=st.dates(date(2000, 1, 1), date(2099, 1, 1)),
    valid_to=st.just(date(2099, 12, 31)),
)
key_ids = st.from_regex(r"[0-9A-Z]{1,8}", fullmatch=True)
#: Signing is fast but CI machines are not: no per-example deadline.
property_test = settings(deadline=None, max_examples=200)


def check(payload: str, today: date = TODAY, revoked: frozenset[str] = frozenset()) -> CheckReason:
    return verify_pass(payload, KEYS, today, revoked).reason


def test_a_fresh_pass_is_accepted_with_its_fields() -> None:
    result = verify_pass(PAYLOAD, KEYS, TODAY, ())
    assert result.ok
    assert result.fields == FIELDS
    assert result.key_id == "K1"


def test_payload_reads_as_documented() -> None:
    assert PAYLOAD.startswith("KP1.K1.BY3-1202-01.R.20260401.20260430.")
    assert len(PAYLOAD.rsplit(".", 1)[1]) == 103


@pytest.mark.parametrize(
    ("today", "reason"),
    [
        (date(2026, 3, 31), CheckReason.NOT_YET_VALID),
        (date(2026, 4, 1), CheckReason.OK),
        (date(2026, 4, 30), CheckReason.OK),  # valid_to is inclusive
        (date(2026, 5, 1), CheckReason.EXPIRED),
    ],
)
def test_dates_are_inclusive_at_both_ends(today: date, reason: CheckReason) -> None:
    assert check(PAYLOAD, today=today) is reason


def test_revoked_pass_is_refused_even_inside_its_dates() -> None:
    result = verify_pass(PAYLOAD, KEYS, TODAY, {"BY3-1202-01"})
    assert result.reason is CheckReason.REVOKED
    assert result.fields == FIELDS


def test_pass_signed_with_a_key_the_kiosk_lacks_is_unknown_key() -> None:
    other_private, _ = generate_key_pair()
    result = verify_pass(encode_pass(FIELDS, other_private, "K9"), KEYS, TODAY, ())
    assert result.reason is CheckReason.UNKNOWN_KEY
    assert result.fields == FIELDS


def test_pass_signed_by_another_key_under_a_known_id_is_forged() -> None:
    other_private, _ = generate_key_pair()
    assert check(encode_pass(FIELDS, other_private, "K1")) is CheckReason.FORGED


def test_key_rotation_accepts_old_and_new_keys_by_id() -> None:
    new_private, new_public = generate_key_pair()
    keyring = {"K1": PUBLIC, "K2": new_public}
    new_payload = encode_pass(FIELDS, new_private, "K2")
    assert verify_pass(PAYLOAD, keyring, TODAY, ()).ok
    assert verify_pass(new_payload, keyring, TODAY, ()).ok
    assert not verify_pass(PAYLOAD, {"K2": new_public}, TODAY, ()).ok  # old key retired


def test_changed_date_is_forged_not_just_malformed() -> None:
    altered = PAYLOAD.replace(".20260430.", ".20261230.")
    result = verify_pass(altered, KEYS, TODAY, ())
    assert result.reason is CheckReason.FORGED
    assert result.fields is not None and result.fields.valid_to == date(2026, 12, 30)


def test_changed_kind_is_forged() -> None:
    assert check(PAYLOAD.replace(".R.", ".T.")) is CheckReason.FORGED


def test_trailing_enter_from_a_usb_scanner_is_ignored() -> None:
    assert check(PAYLOAD + "\r\n") is CheckReason.OK


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "KP1",
        PAYLOAD.lower(),
        PAYLOAD.replace("KP1.", "KP2."),  # a future version this kiosk cannot read
        PAYLOAD.replace(".20260401.", ".20260231."),  # no such day
        PAYLOAD.replace(".20260401.", ".20260501."),  # from after to
        PAYLOAD.replace(".R.", ".X."),
        PAYLOAD + "A",
        PAYLOAD + ".EXTRA",
        "X" * 10_000,
    ],
)
def test_malformed_payloads_are_refused_as_malformed(payload: str) -> None:
    result = verify_pass(payload, KEYS, TODAY, ())
    assert result.reason is CheckReason.MALFORMED
    assert result.fields is None


@pytest.mark.parametrize(
    ("number", "key_id"),
    [("by3", "K1"), ("A.B", "K1"), ("-A", "K1"), ("A" * 25, "K1"), ("A1", "k1"), ("A1", "")],
)
def test_encode_refuses_values_the_format_cannot_carry(number: str, key_id: str) -> None:
    fields = PassFields(number, PassKind.VISITOR, date(2026, 1, 1), date(2026, 1, 2))
    with pytest.raises(ValueError):
        encode_pass(fields, PRIVATE, key_id)


def test_encode_refuses_reversed_dates() -> None:
    fields = PassFields("A1", PassKind.VISITOR, date(2026, 1, 2), date(2026, 1, 1))
    with pytest.raises(ValueError, match="after"):
        encode_pass(fields, PRIVATE, "K1")


def test_every_kind_has_its_own_letter() -> None:
    assert sorted(KIND_CODES) == sorted(PassKind)
    assert len(set(KIND_CODES.values())) == len(PassKind)


def test_keys_survive_hex_and_pem_round_trips() -> None:
    assert check_with(public_key_from_hex(public_key_to_hex(PUBLIC)))
    assert check_with(public_key_from_pem(public_key_to_pem(PUBLIC)))
    for password in (None, b"office secret"):
        restored = private_key_from_pem(private_key_to_pem(PRIVATE, password), password)
        assert verify_pass(encode_pass(FIELDS, restored, "K1"), KEYS, TODAY, ()).ok


def check_with(public_key: Ed25519PublicKey) -> bool:
    return verify_pass(PAYLOAD, {"K1": public_key}, TODAY, ()).ok


def test_public_key_from_hex_refuses_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_from_hex("00" * 31)


# --- properties --------------------------------------------------------------------------------


@property_test
@given(fields=pass_fields, key_id=key_ids)
def test_round_trip_is_exact_and_stays_in_qr_alphanumeric(fields: PassFields, key_id: str) -> None:
    _, public = generate_key_pair()
    payload = encode_pass(fields, PRIVATE, key_id)
    result = verify_pass(payload, {key_id: PUBLIC, "OTHER": public}, fields.valid_from, ())
    assert result.ok
    assert result.fields == fields
    assert result.key_id == key_id
    assert payload.isascii() and is_qr_alphanumeric(payload)
    assert len(payload) <= MAX_PAYLOAD_CHARS


@property_test
@given(index=st.integers(0, len(PAYLOAD) - 1), mask=st.integers(1, 255))
def test_any_byte_flip_is_refused(index: int, mask: int) -> None:
    raw = bytearray(PAYLOAD.encode("ascii"))
    raw[index] ^= mask
    assert check(raw.decode("latin-1")) is not CheckReason.OK


@property_test
@given(index=st.integers(0, len(PAYLOAD) - 1), char=st.sampled_from(sorted(QR_ALPHANUMERIC)))
def test_any_character_swapped_within_the_qr_charset_is_refused(index: int, char: str) -> None:
    altered = PAYLOAD[:index] + char + PAYLOAD[index + 1 :]
    if altered != PAYLOAD:
        assert check(altered) is not CheckReason.OK


@property_test
@given(text=st.text() | st.text(alphabet=sorted(QR_ALPHANUMERIC)))
def test_verify_never_crashes_on_any_string(text: str) -> None:
    assert check(text) is not CheckReason.OK


@property_test
@given(prefix_len=st.integers(0, len(PAYLOAD)), tail=st.text(alphabet=sorted(QR_ALPHANUMERIC)))
def test_verify_never_crashes_on_near_miss_payloads(prefix_len: int, tail: str) -> None:
    candidate = PAYLOAD[:prefix_len] + tail
    assert (check(candidate) is CheckReason.OK) == (candidate.strip() == PAYLOAD)


def test_nothing_in_the_valid_window_but_ok() -> None:
    for offset in range((FIELDS.valid_to - FIELDS.valid_from).days + 1):
        assert check(PAYLOAD, today=FIELDS.valid_from + timedelta(days=offset)) is CheckReason.OK
