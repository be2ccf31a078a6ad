"""Signed QR passes at the gate: genuine ones pass offline, forged or revoked ones stop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import TODAY
from kiosk_testing import run_kiosk
from sqlalchemy import text

from kiosk.core.messages import Reason
from kiosk.core.model import Direction, PassKind
from kiosk.core.passcode import PassFields, encode_pass, generate_key_pair, public_key_to_hex
from kiosk.core.screening import make_reading
from kiosk.gate import Gate
from kiosk.store.passkeys import retire_key, revoke, trust_key


@pytest.fixture
def office(gate: Gate):
    private, public = generate_key_pair()
    trust_key(gate.store.engine, "K1", public_key_to_hex(public))
    return private


def sign(private, number: str, kind=PassKind.RESIDENT, days=10, key_id="K1") -> str:
    return encode_pass(PassFields(number, kind, TODAY - timedelta(days=1),
                                  TODAY + timedelta(days=days)), private, key_id)


def passage(gate: Gate, text: str, direction=Direction.IN):
    presented = gate.present(text)
    return presented, gate.check(presented.number, [make_reading(36.5)], direction=direction,
                                 found=presented.found, problem=presented.problem,
                                 identified_by="qr")


def test_a_genuine_qr_of_a_roster_pass_shows_the_person_and_passes(gate, office):
    presented, result = passage(gate, sign(office, "R0003") + "\r\n")  # scanners add Enter
    assert presented.signed and presented.found.gate_pass.holder.name == "王五"
    assert result.decision.allowed and result.event.seq == 1


def test_a_genuine_pass_issued_after_the_last_roster_sync_still_passes(gate, office):
    presented, result = passage(gate, sign(office, "W9999", PassKind.WORKER),
                                Direction.OUT)
    assert presented.found.resident_id is None and presented.found.gate_pass.kind == "worker"
    assert result.decision.allowed


def test_an_altered_qr_is_refused_as_forged_and_recorded(gate, office):
    payload = sign(office, "R0003")
    # someone edits the validity date on a copied QR
    altered = payload.replace(f".{(TODAY + timedelta(days=10)):%Y%m%d}.",
                              f".{(TODAY + timedelta(days=99)):%Y%m%d}.")
    assert altered != payload
    presented, result = passage(gate, altered)
    assert presented.problem is Reason.FORGED
    assert not result.decision.allowed and result.decision.reason is Reason.FORGED
    assert "伪造" in result.decision.message.zh


def test_a_qr_signed_by_an_unknown_or_retired_key_is_refused(gate, office):
    stranger, _ = generate_key_pair()
    assert passage(gate, sign(stranger, "R0003"))[1].decision.reason is Reason.FORGED
    retire_key(gate.store.engine, "K1")
    assert passage(gate, sign(office, "R0003"))[1].decision.reason is Reason.FORGED


def test_revoked_passes_are_refused_on_every_scan(gate, office):
    revoke(gate.store.engine, "W9999", "lost")
    revoke(gate.store.engine, "R0003", "moved away")
    assert passage(gate, sign(office, "W9999"))[1].decision.reason is Reason.REVOKED
    assert passage(gate, sign(office, "R0003"))[1].decision.reason is Reason.REVOKED
    assert passage(gate, "R0003")[1].decision.reason is Reason.REVOKED  # typed number too


def test_an_expired_signed_pass_is_refused_unless_the_roster_renewed_it(gate, office):
    def expired(number: str) -> str:
        return encode_pass(PassFields(number, PassKind.RESIDENT, TODAY - timedelta(days=9),
                                      TODAY - timedelta(days=1)), office, "K1")

    assert passage(gate, expired("R7777"))[1].decision.reason is Reason.EXPIRED
    # R0003 was renewed on the roster (valid 10 more days): the roster is the newer word
    assert passage(gate, expired("R0003"))[1].decision.allowed


def test_kiosk_check_accepts_a_scanned_payload(imported_dir: Path, tmp_path: Path):
    key = tmp_path / "office.pem"
    out = run_kiosk(imported_dir, "passes", "keygen", "K7", "--out", str(key))
    assert out.returncode == 0 and oct(key.stat().st_mode)[-3:] == "600"
    hexkey = out.stdout.split("public key K7: ")[1].split()[0]
    assert run_kiosk(imported_dir, "passes", "trust", "K7", hexkey).returncode == 0
    issued = run_kiosk(imported_dir, "passes", "issue", "R0003", "--key", str(key),
                       "--key-id", "K7")
    payload = issued.stdout.split("\t")[1].strip()
    assert payload.startswith("KP1.K7.R0003.R.")
    ok = run_kiosk(imported_dir, "check", payload, "--temp", "36.5", "--json")
    assert ok.returncode == 0 and '"name": "王五"' in ok.stdout
    forged = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    assert run_kiosk(imported_dir, "check", forged, "--temp", "36.5").returncode == 3
    bad = run_kiosk(imported_dir, "passes", "trust", "K8", "nothex")
    assert bad.returncode == 1 and "not an Ed25519 public key" in bad.stderr


def test_printed_cards_hold_qrs_the_gate_accepts(imported_dir: Path, tmp_path: Path):
    from kiosk.qr.decode import decode_file

    key = tmp_path / "office.pem"
    out = run_kiosk(imported_dir, "passes", "keygen", "K7", "--out", str(key))
    hexkey = out.stdout.split("public key K7: ")[1].split()[0]
    run_kiosk(imported_dir, "passes", "trust", "K7", hexkey)
    sheet = tmp_path / "cards.png"
    r = run_kiosk(imported_dir, "passes", "print", "--building", "3", "--key", str(key),
                  "--key-id", "K7", "--out", str(sheet))
    assert r.returncode == 0, r.stderr
    payloads = decode_file(sheet)
    assert len(payloads) == 3
    for payload in payloads:
        assert run_kiosk(imported_dir, "check", payload, "--temp", "36.5",
                         "--direction", "in").returncode == 0


def test_a_listed_revocation_stops_a_pass_the_roster_still_calls_valid(gate):
    """The revocation list is read with the pass in one statement (kiosk.store.roster):
    a roster re-import that clears the pass's own flag does not let it through."""
    revoke(gate.store.engine, "R0003", "moved away")
    with gate.store.engine.begin() as conn:  # what a re-import of an older roster does
        conn.execute(text("UPDATE passes SET revoked = 0 WHERE number = 'R0003'"))
    assert passage(gate, "R0003")[1].decision.reason is Reason.REVOKED
    assert gate.identify("R0003").gate_pass.revoked
