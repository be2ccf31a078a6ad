"""The central store's per-event check, on events a real kiosk recorded: the quick path
(both digests over orjson's form) and the reference path (kiosk.store.events, what the kiosk
hashed with) give the same verdict; the kiosk reads its queue in one join per batch."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.gate import Gate
from kiosk.server import ingest
from kiosk.server.ingest import Invalid, _digests_match, check_event
from kiosk.store.events import PERSONAL_FIELDS, Visitor, event_hash, personal_digest
from kiosk.sync import wire
from kiosk.sync.runner import load_events, load_queued, next_queued


def _record(gate: Gate) -> None:
    gate.check("R0001", [make_reading(37.5), make_reading(36.8)], direction=Direction.OUT,
               identified_by="qr")
    gate.check("NOPE", [make_reading(36.5)])
    gate.register_visitor(Visitor("刘快递😀", "13912345678", "送药", "3"), [make_reading(36.9)])
    gate.check("W0001", [make_reading(36.5)], direction=Direction.OUT)


def _posted(gate: Gate) -> list[dict[str, Any]]:
    """The kiosk's events as the server receives them (through the wire's JSON)."""
    _record(gate)
    with gate.store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        events = load_events(conn, ids)
    assert len(events) == 4
    return list(wire.loads(wire.dumps(events)))


def _rehash(e: dict[str, Any]) -> dict[str, Any]:
    """As a kiosk would have hashed ``e``: the reference functions."""
    e["personal_digest"] = personal_digest(e)
    e["hash"] = event_hash(e, e["readings"])
    return e


@pytest.fixture(params=["orjson", "standard library"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the quick path, and without orjson (a kiosk image without the
    wheel: only the reference path)."""
    if request.param == "standard library":
        monkeypatch.setattr(ingest, "orjson", None)
    elif ingest.orjson is None:
        pytest.skip("orjson is not installed")
    return str(request.param)


def test_recorded_events_pass(gate: Gate, writer: str) -> None:
    for e in _posted(gate):
        assert _digests_match(e, e["readings"], False) is (writer == "orjson")
        c = check_event(e, e["device_id"])
        assert c.values == e and c.readings == e["readings"]


@pytest.mark.parametrize("field, value, reason", [
    ("visitor_name", "刘快递", "personal fields do not match"),
    ("household", "3-1-999", "personal fields do not match"),
    ("direction", "zzz", "direction: Input should be"),  # outside the type: refused first
    ("direction", "out", "content does not match its hash"),
    ("monotonic_s", 1.5, "content does not match its hash"),
    ("seq", 9, "content does not match its hash"),
    ("hash", "0" * 64, "content does not match its hash"),
    ("personal_digest", "0" * 64, "personal fields do not match"),
    ("reading", 35.0, "content does not match its hash"),
])
def test_an_altered_event_is_refused_whichever_path(gate: Gate, writer: str, field: str,
                                                    value: Any, reason: str) -> None:
    events = _posted(gate)
    e = next(e for e in events if e["visitor_name"])  # the visitor: every personal field set
    if field == "reading":
        e["readings"][0]["used_c"] = value
    else:
        e[field] = value
    with pytest.raises(Invalid, match=reason):
        check_event(e, e["device_id"])


def test_an_event_the_two_writers_print_differently_is_judged_by_the_reference(
        gate: Gate, writer: str) -> None:
    """orjson prints 1e-05 as 0.00001: its digest differs from the kiosk's, so the quick
    path says no and the reference accepts the event; altered, it is still refused."""
    e = _rehash({**_posted(gate)[0], "monotonic_s": 1e-05})
    e["readings"][0]["ambient_c"] = 2.5e-07
    e = _rehash(e)
    assert not _digests_match(e, e["readings"], False)
    check_event(e, e["device_id"])
    e["readings"][0]["ambient_c"] = 2.6e-07
    with pytest.raises(Invalid, match="content does not match its hash"):
        check_event(e, e["device_id"])


def test_a_value_beyond_the_type_is_refused_before_any_hashing(gate: Gate, writer: str
                                                               ) -> None:
    """Integers beyond 64 bits (which orjson cannot write) were left to the reference path;
    the event's type now bounds every number, so such an event is refused outright."""
    e = _posted(gate)[0]
    e["readings"][0]["ordinal"] = 2**70
    with pytest.raises(Invalid, match="ordinal|64-bit"):
        check_event(_rehash(e), e["device_id"])


def test_an_anonymised_event_passes_on_its_kept_digest(gate: Gate, writer: str) -> None:
    for e in _posted(gate):
        for k in PERSONAL_FIELDS:
            e[k] = "" if k == "note" else None
        check_event(e, e["device_id"])
        e["monotonic_s"] += 1
        with pytest.raises(Invalid, match="content does not match its hash"):
            check_event(e, e["device_id"])


def test_an_event_without_readings_hashes_with_an_empty_list(gate: Gate, writer: str) -> None:
    e = _posted(gate)[0]
    e["readings"] = []
    e = _rehash(e)
    del e["readings"]
    c = check_event(e, e["device_id"])
    assert c.readings == [] and "readings" not in e


def test_the_queue_is_read_in_order_without_the_quarantined(gate: Gate) -> None:
    _record(gate)
    device = gate.settings.device.id
    with gate.store.engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET quarantined = 1 WHERE seq = 2"))
    with gate.store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        everything = load_events(conn, ids)
        rows = next_queued(conn, 0, 10)
        assert [tuple(r) for r in rows] == [(e["seq"], e["id"]) for e in everything
                                            if e["seq"] != 2]
        assert next_queued(conn, 1, 2) == rows[1:3]
        queued = load_queued(conn, rows, device)
        assert load_queued(conn, rows[1:2], device) == [everything[2]]
        # events queued under another device id: read through the outbox instead
        assert load_queued(conn, rows, "another-device") == queued
    assert queued == [e for e in everything if e["seq"] != 2]
    assert [len(e["readings"]) for e in everything] == [2, 1, 1, 1]
    assert [r["ordinal"] for r in everything[0]["readings"]] == [1, 2]
