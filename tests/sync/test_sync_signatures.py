"""A relay cannot forge a kiosk's events (issue 14, point 3): each kiosk signs every event it
records with its own Ed25519 key, and the district verifies the signature against the key
the device registered, whoever delivers the event.

The attacker here is stronger than a compound hub: it holds the kiosk's real events *and*
the kiosk's own credential (so its requests are authenticated as the kiosk), and it knows how
to hash and chain. What it lacks is the kiosk's private key, which never leaves the kiosk's
data directory. Every attack must be detected at the district, nothing forged may be stored,
and the genuine events still go in afterwards.

Real ``kiosk serve`` under uvicorn on 127.0.0.1, real SQLite files (the checks are the same
code on PostgreSQL: the ingest path is shared, so one backend keeps the run short).
"""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sync_testkit import CentralServer, Kiosk, database_url, make_kiosk, unique

from kiosk.cli import main
from kiosk.core import signing
from kiosk.core.event import event_hash, personal_digest
from kiosk.server import audit
from kiosk.server.devicekeys import BAD_SIGNATURE, DEVICE_KEY, KEYS
from kiosk.server.ingest import DEV, EV
from kiosk.server.verify import verify_device
from kiosk.store.devicekey import ensure_key, key_path
from kiosk.store.events import first_signed_seq
from kiosk.sync import state
from kiosk.sync.client import Refused, SyncClient
from kiosk.sync.runner import load_events

pytest_plugins = ["sync_testkit"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    d = tmp_path_factory.mktemp("central")
    s = CentralServer(database_url("sqlite", d), d).start()
    yield s
    s.stop()


def _signed_kiosk(root: Path, name: str, server: CentralServer, compound: str) -> Kiosk:
    """A kiosk enrolled as ``kiosk sync enrol`` does it now: its key made first, the public
    half registered with the enrolment, every event signed from seq 1."""
    k = make_kiosk(root, name, server, compound)  # enrolled the old way: no key yet
    # a new device id enrolled with a key, as the CLI does
    k.settings.device.id = str(uuid.uuid4())
    key = ensure_key(k.data_dir)
    with SyncClient(server.url) as client:
        answer = client.enrol(server.enrolment_code(name, compound), k.settings.device.id,
                              key.public_hex, first_signed_seq(k.store.engine,
                                                               k.settings.device.id))
    state.write_secret(k.data_dir, answer["secret"])
    state.record(k.store.engine, **{state.DEVICE_KEY: key.public_hex})
    return k


@pytest.fixture
def kiosk(server: CentralServer, tmp_path: Path) -> Iterator[Kiosk]:
    k = _signed_kiosk(tmp_path, "gate-1", server, unique("c"))
    yield k
    k.close()


def _events(k: Kiosk) -> list[dict[str, Any]]:
    with k.store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        return load_events(conn, ids)


def _record(k: Kiosk, n: int) -> list[dict[str, Any]]:
    for i in range(n):
        k.check(("R1", "R3", "W1", "R2")[i % 4], ("out", "in")[i % 2])
    return _events(k)


def _rehash_chain(events: list[dict[str, Any]], start: int) -> list[dict[str, Any]]:
    """What a forger does after changing events[start]: recompute its digests and hash and
    re-link every later event, so the hash chain verifies again end to end."""
    for i in range(start, len(events)):
        e = events[i]
        if i > 0:
            e["prev_hash"] = events[i - 1]["hash"]
        e["personal_digest"] = personal_digest(e)
        e["hash"] = event_hash({k: v for k, v in e.items() if k != "readings"}, e["readings"])
    return events


def _post(k: Kiosk, events: list[dict[str, Any]]) -> httpx.Response:
    body = {"device_id": k.settings.device.id, "events": events}
    return httpx.post(k.server_url + "/api/v1/events", content=json.dumps(body).encode(),
                      headers={"Authorization": f"Bearer {k.secret}",
                               "Content-Type": "application/json"}, timeout=30)


def _stored(server: CentralServer, k: Kiosk) -> dict[int, str]:
    """seq -> hash of what the district holds of ``k``."""
    with server.engine.connect() as conn:
        return {r.seq: r.hash for r in conn.execute(
            select(EV.c.seq, EV.c.hash).where(EV.c.device_id == k.settings.device.id))}


def _bad_signatures(server: CentralServer, k: Kiosk) -> list[int | None]:
    return sorted(seq for _kind, seq, _ in server.findings(k.compound, BAD_SIGNATURE)
                  if seq is not None)


def _genuine_still_go_in(server: CentralServer, k: Kiosk, genuine: list[dict[str, Any]]
                         ) -> None:
    """After the attack the kiosk's own sync stores exactly its events, verified."""
    k.sync()
    assert _stored(server, k) == {e["seq"]: e["hash"] for e in genuine}
    check = verify_device(server.engine, k.settings.device.id)
    assert check.problems == [] and check.unsigned == 0


def test_the_key_is_made_at_enrolment_kept_private_and_signs_every_event(
        server: CentralServer, kiosk: Kiosk) -> None:
    mode = stat.S_IMODE(key_path(kiosk.data_dir).stat().st_mode)
    assert mode == 0o600
    events = _record(kiosk, 3)
    public = ensure_key(kiosk.data_dir).public_hex
    for e in events:
        assert signing.signature_ok(signing.public_key(public), e["hash"], e["signature"])
    with server.engine.connect() as conn:
        assert conn.execute(select(KEYS.c.public_key_hex, KEYS.c.from_seq, KEYS.c.how).where(
            KEYS.c.device_id == kiosk.settings.device.id)).all() == [(public, 1, "enrolment")]
    assert kiosk.sync().sent == 3
    # the district keeps the signature in the kiosk's record, so verify can check it later
    with server.engine.connect() as conn:
        records = [json.loads(r) for r in conn.execute(
            select(EV.c.record).where(EV.c.device_id == kiosk.settings.device.id)).scalars()]
    assert sorted(r["signature"] for r in records) == sorted(e["signature"] for e in events)
    # what the district holds is the public half only: nothing it keeps signs for the kiosk
    pem = key_path(kiosk.data_dir).read_bytes()
    assert b"PRIVATE KEY" in pem
    with server.engine.connect() as conn:
        kept = {str(v) for row in conn.execute(select(KEYS)) for v in row}
    assert not any(line.decode() in kept for line in pem.splitlines()[1:-1])


def test_an_altered_event_with_its_chain_recomputed_is_refused(
        server: CentralServer, kiosk: Kiosk) -> None:
    genuine = _record(kiosk, 4)
    forged = json.loads(json.dumps(genuine))
    forged[1]["direction"] = "in" if forged[1]["direction"] == "out" else "out"
    forged[1]["household"] = "9-9-909"
    _rehash_chain(forged, 1)
    r = _post(kiosk, forged)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["stored"] == 1
    assert sorted(x["seq"] for x in answer["rejected"]) == [2, 3, 4]
    assert all("forged" in x["reason"] for x in answer["rejected"])
    assert _stored(server, kiosk) == {1: genuine[0]["hash"]}
    assert _bad_signatures(server, kiosk) == [2, 3, 4]
    # the same with the signatures stripped: "not signed" is no way around it
    for e in forged:
        e.pop("signature")
    assert _post(kiosk, forged[1:]).json()["stored"] == 0
    assert _stored(server, kiosk) == {1: genuine[0]["hash"]}
    _genuine_still_go_in(server, kiosk, genuine)


def test_reordered_events_are_refused_and_a_reordered_delivery_is_harmless(
        server: CentralServer, kiosk: Kiosk) -> None:
    genuine = _record(kiosk, 4)
    swapped = json.loads(json.dumps(genuine))
    swapped[1], swapped[2] = swapped[2], swapped[1]  # the 3rd movement said to be the 2nd
    swapped[1]["seq"], swapped[2]["seq"] = 2, 3
    _rehash_chain(swapped, 1)
    answer = _post(kiosk, swapped).json()
    assert sorted(x["seq"] for x in answer["rejected"]) == [2, 3, 4]
    assert _stored(server, kiosk) == {1: genuine[0]["hash"]}
    # delivering genuine events out of order changes nothing: seq and chain put them back
    answer = _post(kiosk, list(reversed(genuine))).json()
    assert (answer["stored"], answer["rejected"], answer["missing"]) == (3, [], [])
    _genuine_still_go_in(server, kiosk, genuine)


def test_a_dropped_event_shows_as_a_gap(server: CentralServer, kiosk: Kiosk) -> None:
    genuine = _record(kiosk, 4)
    answer = _post(kiosk, [genuine[0], genuine[1], genuine[3]]).json()
    assert answer["missing"] == [[3, 3]] and answer["rejected"] == []
    with server.engine.connect() as conn:
        gaps = conn.execute(select(DEV.c.gaps)
                            .where(DEV.c.id == kiosk.settings.device.id)).scalar_one()
    assert json.loads(gaps) == [[3, 3]]  # on the dashboard and in /device, until it comes
    # the relay cannot fill the gap with an event of its own making
    filler = json.loads(json.dumps(genuine[2]))
    filler["note"] = "nothing happened"
    _rehash_chain([genuine[1], filler], 1)
    filler.pop("signature")
    assert _post(kiosk, [filler]).json()["missing"] == [[3, 3]]
    _genuine_still_go_in(server, kiosk, genuine)


def test_an_invented_event_is_refused_however_it_is_signed(
        server: CentralServer, kiosk: Kiosk) -> None:
    genuine = _record(kiosk, 2)
    assert kiosk.sync().sent == 2

    def invent(signature: str | None) -> dict[str, Any]:
        e = json.loads(json.dumps(genuine[1]))
        e.update(id=str(uuid.uuid4()), seq=3, direction="out", pass_number="R2",
                 household="1-1-101", outcome="allow", reason="ok", readings=[])
        e["prev_hash"] = genuine[1]["hash"]
        _rehash_chain([genuine[1], e], 1)
        if signature is None:
            e.pop("signature")
        else:
            e["signature"] = signature
        return e

    own_key = Ed25519PrivateKey.generate()
    for e in (invent(None), invent(genuine[1]["signature"]), invent("00" * 64)):
        answer = _post(kiosk, [e]).json()
        assert answer["stored"] == 0 and [x["seq"] for x in answer["rejected"]] == [3]
    made = invent(None)
    made["signature"] = signing.sign_hash(own_key, made["hash"])  # the relay's own key
    assert _post(kiosk, [made]).json()["stored"] == 0
    assert set(_stored(server, kiosk)) == {1, 2}
    assert _bad_signatures(server, kiosk) == [3, 3, 3, 3]


def test_a_replay_stores_nothing_twice_and_cannot_move_an_event(
        server: CentralServer, tmp_path: Path, kiosk: Kiosk) -> None:
    genuine = _record(kiosk, 3)
    assert kiosk.sync().sent == 3
    answer = _post(kiosk, genuine).json()
    assert (answer["stored"], answer["duplicates"], answer["rejected"]) == (0, 3, [])
    # replayed at another seq (after the last one), its signature along
    moved = json.loads(json.dumps(genuine[0]))
    moved.update(id=str(uuid.uuid4()), seq=4, prev_hash=genuine[2]["hash"])
    for r in moved["readings"]:
        r["event_id"] = moved["id"]
    _rehash_chain([genuine[2], moved], 1)
    assert _post(kiosk, [moved]).json()["rejected"][0]["seq"] == 4
    # replayed as another kiosk's: that kiosk's key did not sign it
    other = _signed_kiosk(tmp_path, "gate-2", server, kiosk.compound)
    try:
        as_other = json.loads(json.dumps(genuine[0]))
        as_other["device_id"] = other.settings.device.id
        _rehash_chain([as_other], 0)
        answer = _post(other, [as_other]).json()
        assert answer["stored"] == 0 and "forged" in answer["rejected"][0]["reason"]
    finally:
        other.close()
    assert len(_stored(server, kiosk)) == 3


def test_an_old_kiosk_registers_its_key_once_and_its_old_events_stay_verifiable(
        server: CentralServer, tmp_path: Path) -> None:
    """A kiosk enrolled before keys: its first sync makes its key and registers it (trust on
    first use, audited); the events it recorded before stay unsigned and verify by the
    chain; a second, different key is refused, never silently put in the first one's place."""
    k = make_kiosk(tmp_path, "old-gate", server, unique("c"))
    try:
        before = _record(k, 2)
        assert all("signature" not in e for e in before)  # JSON form as an old kiosk's
        assert k.sync().sent == 2
        after = _record(k, 2)[2:]
        assert all(e["signature"] for e in after)
        assert k.sync().sent == 2
        dev = k.settings.device.id
        with server.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.from_seq, KEYS.c.how)
                                .where(KEYS.c.device_id == dev)).all() == [(3, "first use")]
        logged = audit.entries(server.engine, action=DEVICE_KEY)
        assert any(e.actor == dev and '"first use"' in e.detail for e in logged)

        check = verify_device(server.engine, dev)
        assert (check.problems, check.unsigned, check.events) == ([], 2, 4)
        r = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "serve", "--db",
                                      server.db_url, "verify"])
        assert r.exit_code == 0, r.output
        assert f"{dev}\t4 events\tintact; 2 unsigned (before keys)" in r.output

        # an unsigned event past the key's first seq is refused like a forged one
        late = json.loads(json.dumps(after[-1]))
        late.pop("signature")
        assert _post(k, [late]).json()["duplicates"] == 0

        # another key for the same device: refused (409), the registered one stays
        with k.client() as client, pytest.raises(Refused, match="409"):
            client.register_key(Ed25519PrivateKey.generate().public_key().public_bytes_raw()
                                .hex(), 1)
        with server.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.public_key_hex)
                                .where(KEYS.c.device_id == dev)).scalars().all() == [
                                    ensure_key(k.data_dir).public_hex]
    finally:
        k.close()


def test_one_verification_per_run_and_a_damaged_signature_still_shows(
        server: CentralServer, kiosk: Kiosk) -> None:
    """Ingest verifies the highest event of a run and lets its signed hash prove the events
    below it through ``prev_hash`` (one Ed25519 check per run instead of per event). So a
    relay that damages only the signature bytes of an event inside a run cannot get any
    content changed, the event is stored as the kiosk recorded it, and ``kiosk serve
    verify`` (which checks every signature) reports the damaged signature; at the top of a
    run the damage is refused at once."""
    genuine = _record(kiosk, 4)
    sent = json.loads(json.dumps(genuine))
    sent[1]["signature"] = "00" * 64  # inside the run 1..3
    sent[3]["signature"] = "00" * 64  # the top of the batch: nothing vouches for it
    answer = _post(kiosk, sent).json()
    assert answer["stored"] == 3 and [x["seq"] for x in answer["rejected"]] == [4]
    assert _stored(server, kiosk) == {e["seq"]: e["hash"] for e in genuine[:3]}
    problems = verify_device(server.engine, kiosk.settings.device.id).problems
    assert [(seq, "signature" in what) for _k, seq, _id, what in problems] == [(2, True)]
