"""An enrolled kiosk attacks the central store through its own events (issue 12: points 1,
4, 6, 7 and 16). Every event is checked against the gate event's one type
(kiosk.core.event): a request carrying anything a kiosk cannot produce is refused whole with
422 and nothing of it is stored; the district export neutralises every text cell anyway."""

from __future__ import annotations

import csv
import json
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sync_testkit import CentralServer, Kiosk

from kiosk.core.event import MAX_SEQ, event_hash, personal_digest
from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.export.csvfile import FORMULA_STARTS
from kiosk.gate import GateError
from kiosk.server.export import export_central
from kiosk.server.ingest import DEV, DEVICE_VOLUNTEERS, EV, MAX_SEQ_JUMP
from kiosk.server.verify import unexplained_ranges, verify_device
from kiosk.store.events import Visitor
from kiosk.sync.runner import load_events

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _events(k: Kiosk) -> list[dict[str, Any]]:
    with k.store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        return load_events(conn, ids)


def _rehash(e: dict[str, Any]) -> dict[str, Any]:
    """What a hostile kiosk does: hash its forged event properly (the chain proves only
    that nobody changed it after the kiosk, not that the kiosk told the truth)."""
    e["personal_digest"] = personal_digest(e)
    e["hash"] = event_hash({k: v for k, v in e.items() if k != "readings"}, e["readings"])
    return e


def _post(k: Kiosk, events: list[dict[str, Any]], headers: dict[str, str] | None = None,
          **extra: Any) -> httpx.Response:
    body = {"device_id": k.settings.device.id, "events": events, **extra}
    return httpx.post(k.server_url + "/api/v1/events", content=json.dumps(body).encode(),
                      headers={"Authorization": f"Bearer {k.secret}",
                               "Content-Type": "application/json", **(headers or {})},
                      timeout=30)


def _stored(central: CentralServer, k: Kiosk) -> tuple[int, int]:
    """(events, device's last_seq) the central store holds for ``k``."""
    with central.engine.connect() as conn:
        last = conn.execute(select(DEV.c.last_seq)
                            .where(DEV.c.id == k.settings.device.id)).scalar_one()
    return central.event_count(k.compound), int(last)


#: what the review sent: formulas in the fields the kiosk fills from its own enumerations
#: and ids, and values no kiosk can produce
FOREIGN_VALUES: list[tuple[str, Any]] = [
    ("outcome", "@SUM(1)"), ("reason", "-1+1"), ("direction", "=A1"),
    ("clock_state", "=cmd|'/c calc'!A"), ("identified_by", "+qr"), ("pass_kind", "=kind"),
    ("corrects_event_id", '=HYPERLINK("http://evil.example","x")'), ("id", "=1+2"),
    ("readings.source", "=1+2"), ("readings.state", "@valid"),
    ("corrects_event_id", "not-a-uuid"), ("outcome", "ALLOW"),
    ("readings.event_id", "0f0e8c1e-5d5b-4a86-9f5e-6f1b1d0c2a11"),
]


def test_a_formula_or_a_value_no_kiosk_produces_refuses_the_whole_request(
        central: CentralServer, kiosks: list[Kiosk]) -> None:
    k = kiosks[0]
    k.check("W1")
    k.check("R1", "out")
    for field, value in FOREIGN_VALUES:
        good, victim = _events(k)
        if field.startswith("readings."):
            victim["readings"][0][field.removeprefix("readings.")] = value
        else:
            victim[field] = value
        r = _post(k, [good, _rehash(victim)])
        assert r.status_code == 422, (field, r.text)
        assert field.split(".")[-1] in r.json()["error"], (field, r.json())
        assert _stored(central, k) == (0, 0)
    assert k.sync().sent == 2  # the genuine events still go in


def test_the_district_export_neutralises_every_text_cell(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path) -> None:
    """Records kept from before ingest refused formulas (or any check that misses one):
    the export writes no cell a spreadsheet would run, masked or not."""
    k = kiosks[0]
    k.check("W1")
    k.check("NOPE")
    assert k.sync().sent == 2
    formulas = {"direction": "=A1", "outcome": "@SUM(1)", "reason": "-1+1",
                "clock_state": "=cmd|'/c calc'!A", "identified_by": "+1",
                "corrects_event_id": '=HYPERLINK("http://evil.example","x")',
                "pass_kind": "=1", "note": "=2+3", "boot_id": "@x"}
    with central.engine.begin() as conn:
        for row in conn.execute(select(EV.c.id, EV.c.record)
                                .where(EV.c.compound == k.compound)).all():
            record = {**json.loads(row.record), **formulas}
            for r in record["readings"]:
                r.update(source="=1+2", state="-x", device="+dev", protocol="@p")
            conn.execute(update(EV).where(EV.c.id == row.id)
                         .values(record=json.dumps(record)))
    day = date.fromisoformat(_events(k)[0]["local_date"])
    for mask in (True, False):
        out = tmp_path / f"mask-{mask}"
        export_central(central.engine, day, out, mask=mask, actor="test")
        cells = [c for p in out.glob("*.csv") for row in csv.reader(
            open(p, encoding="utf-8-sig", newline="")) for c in row]  # noqa: SIM115
        assert "'=A1" in cells and "'@SUM(1)" in cells  # the attack's rows are there...
        live = [c for c in cells if c and c[0] in FORMULA_STARTS and not _number(c)]
        assert live == []  # ...and none of them is a live formula


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_sequence_numbers_beyond_the_type_or_jumping_far_are_refused(
        central: CentralServer, kiosks: list[Kiosk]) -> None:
    """seq 2^62 was accepted, then ``kiosk serve verify`` looped over the 4.6e18 "gap"; seq
    2^63 gave a 500. Now: 422 and nothing stored, whatever the size."""
    k = kiosks[0]
    k.check("W1")
    for seq in (2**62, 2**63, 10**30, MAX_SEQ + 1, MAX_SEQ_JUMP + 1, 0, -1):
        e = _events(k)[0]
        e["seq"] = seq
        r = _post(k, [_rehash(e)])
        assert r.status_code == 422 and "seq" in r.json()["error"], (seq, r.text)
        assert _stored(central, k) == (0, 0)
    assert k.sync().sent == 1
    e = _events(k)[0]
    e["seq"] = 1 + MAX_SEQ_JUMP + 1  # one past the furthest a batch may reach now
    r = _post(k, [_rehash(e)])
    assert r.status_code == 422 and "jumps" in r.json()["error"]
    assert _stored(central, k) == (1, 1)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail, rather than hang, when the block takes longer (the old verify ran for days)."""
    def expire(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_verify_works_on_gap_ranges_never_on_their_members(
        central: CentralServer, kiosks: list[Kiosk]) -> None:
    """A device row left by the old ingest (last seq 2^62, its gap unknown or known):
    ``kiosk serve verify`` answers at once."""
    k = kiosks[0]
    for _ in range(3):
        k.check("W1")
    assert k.sync().sent == 3
    dev = k.settings.device.id
    for gaps, want in (([], [(4, 2**62)]), ([[10, 2**62 - 1]], [(4, 9), (2**62, 2**62)]),
                       ([[4, 2**62]], [])):
        with central.engine.begin() as conn:
            conn.execute(update(DEV).where(DEV.c.id == dev)
                         .values(last_seq=2**62, gaps=json.dumps(gaps)))
        with _deadline(5):
            check = verify_device(central.engine, dev)
        assert [(p[1], p[3]) for p in check.problems] == [
            (a, f"seq {a}-{b}: stored once, no longer in the central store" if b > a
             else f"seq {a}: stored once, no longer in the central store") for a, b in want]
    assert unexplained_ranges(1, 10, [(2, 3), (3, 5), (9, 20)]) == [(1, 1), (6, 8)]


def test_huge_numbers_are_a_422_and_a_refused_request_stores_nothing(
        central: CentralServer, kiosks: list[Kiosk]) -> None:
    k = kiosks[0]
    k.check("W1")
    k.check("R1", "out")
    events = _events(k)
    # a volunteer id of 10^30 used to fail after the events of the request were stored
    for vid in ("1" + "0" * 30, "0", "-5", "x"):
        r = _post(k, events, volunteers={vid: "张三"})
        assert r.status_code == 422 and "volunteers" in r.json()["error"], r.text
    r = _post(k, events, headers={"X-Kiosk-Pending": "9" * 20})
    assert r.status_code == 422 and "x-kiosk-pending" in r.json()["error"].lower()
    with central.engine.connect() as conn:
        names = conn.execute(select(func.count()).select_from(DEVICE_VOLUNTEERS)
                             .where(DEVICE_VOLUNTEERS.c.device_id == k.settings.device.id))
        assert names.scalar_one() == 0
    assert _stored(central, k) == (0, 0)
    for cursor in ("9" * 30 + ".1", "1." + "9" * 19, "-1.0"):
        r = httpx.get(k.server_url + "/api/v1/changes", params={"cursor": cursor},
                      headers={"Authorization": f"Bearer {k.secret}"})
        assert r.status_code == 422 and "cursor" in r.json()["error"], r.text
    r = _post(k, events, volunteers={"1": "张三"},
              headers={"X-Kiosk-Pending": str(2**31 - 1)})
    assert r.status_code == 200 and r.json()["stored"] == 2


# --- every event the kiosk can record is accepted and verifies ------------------------------
_value = (st.none() | st.floats(-300, 20_000) | st.sampled_from([36.5, 37.4, 38.2])
          | st.sampled_from([math.nan, math.inf, -math.inf]))
_readings = st.lists(st.tuples(_value, _value, st.sampled_from(ReadingSource)), max_size=3)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=45)
_check = st.tuples(st.just("check"), st.sampled_from(["R1", "R2", "W1", "S1", "NOPE"]) | _text,
                   _readings, st.sampled_from(Direction))
_visitor = st.tuples(st.just("visitor"), st.builds(Visitor, _text, _text, _text, _text),
                     _readings, st.sampled_from(Direction))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(_check | _visitor, min_size=1, max_size=4))
def test_every_event_the_kiosk_records_is_accepted_and_verifies(
        central: CentralServer, kiosks: list[Kiosk], backend: str,
        actions: list[tuple[str, Any, list[tuple[Any, Any, ReadingSource]], Direction]]
        ) -> None:
    """Events made through the kiosk's own path (Gate, the store's EventWriter), with odd
    text, NaN and infinity from a device, too many readings: whatever the gate records, the
    central store accepts and its verification finds intact, signature included (the
    kiosk's key is registered before the first event, so every event is signed and
    verified at ingest); whatever it would refuse, the gate refuses first (GateError),
    recording nothing."""
    if backend != "sqlite":
        pytest.skip("the kiosk's path is the same for both backends: run once")
    k = kiosks[0]
    syncer = k.syncer()
    syncer.register_key()  # once per kiosk (the same key again is a no-op)
    syncer.client.close()
    recorded = len(_events(k))
    for kind, who, values, direction in actions:
        readings = [make_reading(o, ambient_c=a, source=s) for o, a, s in values]
        try:
            if kind == "check":
                k.gate.check(who, readings, direction=direction, identified_by="scanner")
            else:
                k.gate.register_visitor(who, readings, direction=direction)
        except GateError:
            continue
        recorded += 1
    assert len(_events(k)) == recorded
    report = k.sync()
    with k.store.engine.connect() as conn:
        refused = conn.exec_driver_sql("SELECT seq, last_error FROM outbox").all()
    assert refused == [] and report.missing == []
    assert central.event_count(k.compound) == recorded
    check = verify_device(central.engine, k.settings.device.id)
    assert check.problems == [] and check.unsigned == 0
