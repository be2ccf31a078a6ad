"""The gate event is one typed record with one codec: the kiosk's store, the wire and the
central store read and write it through kiosk.core.event, and the gate refuses (with a
message a volunteer can read) every event the central store would refuse."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kiosk.cli import main
from kiosk.core.event import (
    EVENT_FIELDS,
    FIRST_EVENT_FIELDS,
    FIRST_READING_FIELDS,
    PASS_NUMBER_MAX,
    READING_FIELDS,
    EventInvalid,
    GateEvent,
    event_hash,
    json_from_row,
    personal_digest,
)
from kiosk.core.screening import ReadingSource, ReadingState, make_reading
from kiosk.gate import Gate, GateError
from kiosk.server.ingest import EVENT_VALIDATOR, check_event, typed_event
from kiosk.store.db import Store
from kiosk.store.events import make_event, verify_chain
from kiosk.store.models import GateEventRow, ReadingRow, table_of
from kiosk.sync import wire
from kiosk.sync.runner import load_events
from kiosk.ui.i18n import tr


def _events(gate: Gate) -> list[dict]:
    with gate.store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        return load_events(conn, ids)


def _recorded(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "kiosk.sqlite3") as con:
        return int(con.execute("SELECT count(*) FROM gate_events").fetchone()[0])


def test_the_codec_names_exactly_the_columns_of_the_store() -> None:
    assert EVENT_FIELDS == tuple(c.name for c in table_of(GateEventRow).columns)
    assert READING_FIELDS == tuple(c.name for c in table_of(ReadingRow).columns)


def test_a_recorded_event_reads_back_the_same_through_every_form(gate: Gate) -> None:
    """Store row -> JSON form (the sync) -> typed event (ingest) -> JSON form and row form
    again: the same values every way, and the hashes still match."""
    gate.check("R0001", [make_reading(37.5), make_reading(36.8)], identified_by="qr")
    gate.check("NOPE", [])
    for posted in _events(gate):
        event = typed_event(wire.loads(wire.dumps(posted)))
        assert event.to_json() == posted
        with gate.store.engine.connect() as conn:
            raw = conn.exec_driver_sql(
                f"SELECT {','.join(EVENT_FIELDS)} FROM gate_events WHERE id = ?",
                (event.id,)).one()
        assert event.to_row() == tuple(raw)
        assert {**json_from_row(tuple(raw)), "readings": posted["readings"]} == posted
        check_event(event, event.device_id)
    assert verify_chain(gate.store.engine, gate.settings.device.id) == []


def test_a_pass_text_the_server_would_refuse_is_refused_at_the_gate(gate: Gate) -> None:
    """A URL QR (41+ characters) used to be recorded here, then refused by the central
    store forever: now the gate says so, in both languages, and records nothing."""
    url = "HTTPS://EXAMPLE.COM/" + "X" * (PASS_NUMBER_MAX + 1 - 20)
    assert len(url) == PASS_NUMBER_MAX + 1
    with pytest.raises(GateError) as caught:
        gate.check(url, [make_reading(36.5)])
    assert caught.value.refusal is not None
    assert f"at most {PASS_NUMBER_MAX}" in caught.value.refusal.en
    assert "通行证号过长" in tr("event_refused", "zh", zh=caught.value.refusal.zh)
    assert _events(gate) == []
    gate.check(url[:PASS_NUMBER_MAX], [make_reading(36.5)])  # the limit itself is fine
    assert len(_events(gate)) == 1


def test_more_readings_than_the_server_takes_are_refused_at_the_gate(gate: Gate) -> None:
    with pytest.raises(GateError, match="at most 8"):
        gate.check("R0001", [make_reading(36.5)] * 9)
    assert _events(gate) == []


def test_a_device_nan_is_recorded_as_a_sensor_error_without_a_value(gate: Gate) -> None:
    for bad in (math.nan, math.inf, -math.inf):
        r = make_reading(bad, ambient_c=math.nan)
        assert r.state is ReadingState.SENSOR_ERROR and r.object_c is None
        assert r.ambient_c is None
        gate.check("R0001", [r])
    readings = [e["readings"][0] for e in _events(gate)]
    assert [(r["state"], r["object_c"], r["used_c"]) for r in readings] == [
        ("sensor_error", None, None)] * 3
    assert verify_chain(gate.store.engine, gate.settings.device.id) == []


def test_the_type_itself_refuses_a_non_finite_value(gate: Gate) -> None:
    """Whatever the path, no NaN can be recorded: the event's own validation refuses it."""
    gate.check("R0001", [make_reading(36.5)])
    event = typed_event(_events(gate)[0])
    bad = replace(event, readings=(replace(event.readings[0], object_c=math.nan),))
    with pytest.raises(Exception, match="finite"):
        EVENT_VALIDATOR.validate_python(bad)
    values = {n: getattr(event, n) for n in EVENT_FIELDS}
    reading = {n: getattr(event.readings[0], n) for n in READING_FIELDS}
    with pytest.raises(EventInvalid) as caught:
        make_event(values, [{**reading, "used_c": math.inf}])
    assert caught.value.message.en == "temperature is not a usable number"
    assert isinstance(make_event(values, [reading]), GateEvent)


def _kiosk(data_dir: Path, *args: str) -> Result:
    """The ``kiosk`` command, in this process (the same code as the installed one)."""
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])


def test_kiosk_check_refuses_a_temperature_that_is_no_number(data_dir: Path,
                                                             loaded_store: Store) -> None:
    imported_dir = data_dir
    for temp in ("nan", "inf", "-inf", "NaN"):
        r = _kiosk(imported_dir, "check", "R0001", "--temp", temp, "--direction", "out")
        assert r.exit_code == 2 and "is not a temperature" in r.output, r.output
    assert _recorded(imported_dir) == 0
    r = _kiosk(imported_dir, "check", "R0001", "--temp", "36.5", "--direction", "out")
    assert r.exit_code == 0 and _recorded(imported_dir) == 1


def test_kiosk_check_refuses_a_pass_text_longer_than_the_limit(data_dir: Path,
                                                               loaded_store: Store) -> None:
    imported_dir = data_dir
    r = _kiosk(imported_dir, "check", "A" * (PASS_NUMBER_MAX + 1), "--temp", "36.5")
    assert r.exit_code == 1 and "pass number too long" in r.output, r.output
    assert _recorded(imported_dir) == 0


def test_manual_readings_are_marked_manual(gate: Gate) -> None:
    gate.check("R0001", [make_reading(36.5, source=ReadingSource.MANUAL)])
    assert _events(gate)[0]["readings"][0]["source"] == "manual"


def test_the_apps_keypad_and_the_drivers_give_no_non_finite_value() -> None:
    """The other entries of a reading: the app's temperature keypad and a thermometer that
    prints Arduino's ``nan``/``inf`` (a fault, never a value)."""
    from drivers.text_lines import parse_line
    from kiosk.ui.vm.flow import parse_manual

    for typed in ("nan", "inf", "-inf", "NaN", "1e999"):
        assert parse_manual(typed) is None
    assert parse_manual("365") == 36.5
    for token in ("nan", "inf", "-inf", "ovf"):
        frame = parse_line(f"Ambient = 25.00*C\tObject = {token}*C")
        assert frame is not None and frame.object_c is None and frame.fault


def test_a_field_added_later_leaves_the_hashes_of_older_events_alone(gate: Gate) -> None:
    """Recipe (e): a field added to the event is left out of the hashes while it is None,
    so every event recorded before it (and an older kiosk's) still verifies; once it holds
    a value, the hash covers it."""
    assert FIRST_EVENT_FIELDS <= set(EVENT_FIELDS)  # fields are added, never removed
    assert FIRST_READING_FIELDS <= set(READING_FIELDS)
    gate.check("R0001", [make_reading(36.5)], identified_by="qr")
    event = _events(gate)[0]
    readings = event.pop("readings")
    assert event_hash(event, readings) == event["hash"]
    assert event_hash({**event, "added_later": None},
                      [{**r, "added_later": None} for r in readings]) == event["hash"]
    assert personal_digest({**event, "added_later": None}) == event["personal_digest"]
    assert event_hash({**event, "added_later": "x"}, readings) != event["hash"]
    assert event_hash(event, [{**r, "added_later": 0} for r in readings]) != event["hash"]
    assert event_hash({**event, "boot_id": None}, readings) != event["hash"]  # a first field


def test_the_signature_is_outside_the_hash_and_absent_from_an_unsigned_events_json(
        gate: Gate) -> None:
    """Recipe (e) for a field added later: a kiosk without a key records what it always did
    (no ``signature`` key in the JSON form, the same hash), and a kiosk with one signs the
    hash without changing it (kiosk.core.signing)."""
    from kiosk.core.signing import public_key, signature_ok
    from kiosk.store.devicekey import ensure_key

    gate.check("R0001", [make_reading(36.6)])
    unsigned = _events(gate)[0]
    assert "signature" not in unsigned
    assert typed_event(unsigned).to_json() == unsigned
    assert check_event(unsigned, unsigned["device_id"]).values == unsigned
    # a signature added to the same event changes neither its hash nor its check
    with_sig = {**unsigned, "signature": "ab" * 64}
    assert check_event(with_sig, unsigned["device_id"]).values["hash"] == unsigned["hash"]

    key = ensure_key(gate.store.path.parent)  # the next event is signed
    gate.check("R0001", [make_reading(36.6)])
    signed = _events(gate)[1]
    assert signature_ok(public_key(key.public_hex), signed["hash"], signed["signature"])
    assert typed_event(signed).to_json() == signed
    assert verify_chain(gate.store.engine, signed["device_id"]) == []


def test_a_later_field_is_hashed_when_set_and_absent_before(gate: Gate) -> None:
    """rules_version (recipe e): an event made without a rule set has no such key in any
    form, so events from before keep their bytes; one made with it carries it, reads back
    the same every way, and a changed version no longer matches the hash."""
    from datetime import datetime

    from kiosk.core import rules
    from kiosk.core.passcode import generate_key_pair, public_key_to_hex
    from kiosk.server.ingest import Invalid
    from kiosk.store import rules as kept
    from kiosk.store.passkeys import trust_key

    gate.check("R0001", [make_reading(36.5)])
    private, public = generate_key_pair()
    trust_key(gate.store.engine, "CMD1", public_key_to_hex(public))
    v4 = rules.RuleSet(4, datetime(2000, 1, 1), 37.3, 0.0, 1, 2)
    kept.keep(gate.store.engine, [rules.sign(v4, private, "CMD1")])
    gate.check("R0001", [make_reading(36.5)])
    before, after = _events(gate)
    assert "rules_version" not in before and after["rules_version"] == 4
    for posted in (before, after):
        event = typed_event(wire.loads(wire.dumps(posted)))
        assert event.to_json() == posted
        check_event(event, event.device_id)
    assert verify_chain(gate.store.engine, gate.settings.device.id) == []
    with pytest.raises(Invalid, match="altered"):
        check_event({**after, "rules_version": 5}, after["device_id"])
    with pytest.raises(Invalid, match="altered"):
        check_event({**before, "rules_version": 4}, before["device_id"])
