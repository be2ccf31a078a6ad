"""What the command's dashboard knows of its gates, with real kiosks syncing to a real
``kiosk serve`` (SQLite and PostgreSQL).

* The kept counts (kiosk.server.tallies) equal a recount from the events, whatever arrived
  how: an undone exit, a batch sent twice, a quota conflict between two gates, a correction
  stored before the movement it undoes, retention wiping old days.
* Each gate's data age: the kiosk knows how old its roster, revocations and keys are,
  reports it with its uploads, and the dashboard lists gates whose data is old.
* The command's versioned rules: published signed, applied at the gate from their moment
  only if they verify, recorded with every decision, shown per gate."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from kiosk_testing import run_kiosk
from sqlalchemy import Engine, delete, insert, select, update
from sync_testkit import CentralServer, Kiosk, backend, central, kiosks  # noqa: F401

from kiosk.core.passcode import generate_key_pair, private_key_to_pem, public_key_to_hex
from kiosk.core.rules import parse, sign
from kiosk.server import admin, audit, retention, tallies
from kiosk.server.admin import ADMIN_SCOPE
from kiosk.server.clock import utc_now
from kiosk.server.db import Partitions
from kiosk.server.ingest import EV, Ingest, next_change_ids
from kiosk.server.rules import (
    PUBLISH_RULES,
    RULES,
    RulesRefused,
    next_version,
    publish,
    published,
)
from kiosk.server.tallies import DAYS, HOURS, KEPT, LAST, OUT
from kiosk.server.verify import verify_device
from kiosk.server.web import queries
from kiosk.server.web.queries import Scope
from kiosk.server.web.settings import DashboardSettings
from kiosk.store.events import verify_chain
from kiosk.store.models import GateEventRow, table_of
from kiosk.sync import state
from kiosk.sync.runner import SyncReport
from kiosk.ui.vm.status import data_age_status

UTC_VIEW = DashboardSettings(ZoneInfo("UTC"))
KE = table_of(GateEventRow)


def _kept(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: {tuple(r) for r in conn.execute(select(t))} for t in KEPT}


def _recounted(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    """What ``tallies.rebuild`` makes of the same events (rolled back afterwards)."""
    with engine.connect() as conn:
        tx = conn.begin()
        tallies.rebuild(conn)
        out = {t.name: {tuple(r) for r in conn.execute(select(t))} for t in KEPT}
        tx.rollback()
    return out


def _mine(kept: dict[str, set[tuple[Any, ...]]], compound: str
          ) -> dict[str, set[tuple[Any, ...]]]:
    """The rows of one compound (the module's server is shared by tests)."""
    return {name: {r for r in rows if compound in r} if name != "undone_events" else rows
            for name, rows in kept.items()}


def test_kept_counts_equal_a_recount_after_undo_resend_and_quota_conflict(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1, gate2 = kiosks
    compound = gate1.compound
    # two gates each let household 1-1-101 out once (R1, R2): a quota conflict
    out = gate1.check("R1", "out")
    sent = [out, gate1.check("R3", "out"), gate1.check("W1", "out")]
    undone = gate1.check("W1", "in")
    sent += [undone, gate1.gate.undo(undone.event.id)]  # W1 did not come back in after all
    gate2.check("R2", "out")
    gate2.check("R3", "in")
    gate2.check("nobody", "in")  # a denial
    for k in kiosks:
        assert k.sync().sent
    # a batch sent again (a lost acknowledgement) counts nothing twice
    Ingest(central.engine).ingest(gate1.settings.device.id, [r.event for r in sent])

    kept = _mine(_kept(central.engine), compound)
    assert kept == _mine(_recounted(central.engine), compound)
    assert central.findings(compound, "quota_conflict")
    v = queries.view(central.engine, UTC_VIEW, Scope(compound), out.event.local_date)
    assert (v.total.moves_out, v.total.moves_in, v.total.denials) == (4, 1, 1)
    # out now: R1 (gate-1), R2 (gate-2) and W1, whose return was undone; R3 came back
    with central.engine.connect() as conn:
        assert sorted((o.pass_number, o.checkpoint) for o in queries.out_now_page(
            conn, UTC_VIEW, Scope(compound), out.event.local_date, 0, 10)) == [
            ("R1", "gate-1"), ("R2", "gate-2"), ("W1", "gate-1")]


def test_a_correction_stored_before_its_movement_keeps_it_uncounted(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1 = kiosks[0]
    moved = gate1.check("R1", "out")
    correction = gate1.gate.undo(moved.event.id)
    ingest = Ingest(central.engine)
    device = gate1.settings.device.id
    ingest.ingest(device, [correction.event])  # the correction first (seq 1 missing)
    ingest.ingest(device, [moved.event])
    kept = _mine(_kept(central.engine), gate1.compound)
    assert kept == _mine(_recounted(central.engine), gate1.compound)
    assert not kept["last_movements"]
    assert all(r[4:6] == (0, 0) for r in kept["gate_hours"])  # no movement counted


def test_retention_takes_the_wiped_days_out_of_who_is_out_and_keeps_the_counts(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1 = kiosks[0]
    gate1.check("R1", "out")
    assert gate1.sync().sent
    compound = gate1.compound
    old = date.today() - timedelta(days=40)
    Partitions(central.engine).ensure([old])
    with central.engine.begin() as conn:  # as if it had happened 40 days ago
        for t in (EV, DAYS, HOURS, LAST, OUT):
            conn.execute(update(t).where(t.c.compound == compound).values(local_date=old))
    retention.purge(central.engine, 28, now=datetime.now() + timedelta(seconds=1))
    kept = _mine(_kept(central.engine), compound)
    assert kept == _mine(_recounted(central.engine), compound)
    assert not kept["last_movements"]
    assert [r[4] for r in kept["gate_days"]] == [0] and [r[5] for r in kept["gate_days"]] == [1]


def _health(server: CentralServer, device_id: str) -> queries.GateHealth:
    with server.engine.connect() as conn:
        (g,) = [g for g in queries.gate_health(conn, UTC_VIEW, Scope())
                if g.device_id == device_id]
    return g


def test_each_gate_reports_how_old_its_data_is_and_old_data_is_listed_not_locked(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1 = kiosks[0]
    device = gate1.settings.device.id
    syncer = gate1.syncer()
    syncer.push(SyncReport())  # before any pull: the gate has nothing from the command
    never = _health(central, device)
    assert never.stale and never.data_reported and never.data_age is None
    assert data_age_status(state.status(gate1.store.engine, gate1.data_dir, "").data_age_s(),
                           24) == ("data_never", {})
    gate1.sync()  # pushes (still "never"), then pulls everything
    age = state.status(gate1.store.engine, gate1.data_dir, "").data_age_s()
    assert age is not None and age < 60
    gate1.sync()
    for _ in range(2):  # the other gate reports data it has just fetched
        kiosks[1].sync()
    fresh = _health(central, device)
    assert not fresh.stale and fresh.data_age is not None
    assert fresh.data_age < timedelta(minutes=1)

    # the pulls fail for 30 hours while uploads go through (a proxy that blocks one path)
    state.record(gate1.store.engine, **{state.DATA_AS_OF: (
        datetime.now() - timedelta(hours=30)).isoformat(timespec="seconds")})
    assert gate1.check("R1", "out").decision.allowed  # a warning, never a locked gate
    syncer.push(SyncReport())
    old = _health(central, device)
    assert old.stale and old.data_reported and not old.silent
    assert timedelta(hours=29) < old.data_age < timedelta(hours=31)  # type: ignore[operator]
    key, values = data_age_status(
        state.status(gate1.store.engine, gate1.data_dir, "").data_age_s(), 24) or ("", {})
    assert (key, values) == ("data_old", {"hours": 30})
    v = queries.view(central.engine, UTC_VIEW, Scope(gate1.compound))
    assert [g.checkpoint for g in v.stale] == ["gate-1"]
    # a data age that is no number is refused whole
    r = httpx.post(central.url + "/api/v1/events", content=b'{"device_id": "%s", "events": []}'
                   % device.encode(), headers={"Authorization": f"Bearer {gate1.secret}",
                                               "X-Kiosk-Data-Age": "yesterday"})
    assert r.status_code == 422 and "x-kiosk-data-age" in r.text


def test_the_commands_signed_rules_reach_the_gate_apply_from_their_moment_and_are_recorded(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path):  # noqa: F811
    gate1, gate2 = kiosks
    private, public = generate_key_pair()
    key = tmp_path / "command.pem"
    key.write_bytes(private_key_to_pem(private))
    key_id = f"K{len(published(central.engine)) + 1:03d}"  # the server is the module's
    admin.publish_pass_key(central.engine, key_id, public_key_to_hex(public))
    url = central.db_url
    # the command publishes with its key on its own machine; gate-1 admits workers only
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None)
    done = run_kiosk(tmp_path, "serve", "--db", url, "rules", "publish", "--key", str(key),
                     "--key-id", key_id, "--effective", a_minute_ago.isoformat(),
                     "--timezone", "UTC", "--fever", "37.0", "--quota", "2/3",
                     "--admit", "gate-1=worker,staff")
    assert done.returncode == 0, done.stderr
    now_version = next_version(central.engine) - 1
    # the next version is only for tomorrow: not applied yet
    tomorrow = replace(parse(published(central.engine)[0].rules.body()),
                       version=now_version + 1,
                       effective_utc=a_minute_ago + timedelta(days=1), fever_threshold_c=38.0)
    publish(central.engine, sign(tomorrow, private, key_id))
    # a stranger's key is refused whole, and the refusal is audited
    stranger, _ = generate_key_pair()
    with pytest.raises(RulesRefused, match="signature does not match"):
        publish(central.engine, sign(replace(tomorrow, version=now_version + 2), stranger,
                                     key_id))
    assert next_version(central.engine) == now_version + 2
    assert any('"refused": true' in e.detail for e in audit.entries(
        central.engine, action=PUBLISH_RULES))

    for k in kiosks:
        assert k.sync().pulled["rules"] == 2
    assert gate1.gate.policy.rules_version == now_version  # what the status bar shows
    resident = gate1.check("R1", "out")
    worker = gate1.check("W1", "out")
    elsewhere = gate2.check("R2", "out")
    assert not resident.decision.allowed and worker.decision.allowed
    assert elsewhere.decision.allowed
    with gate1.store.engine.connect() as conn:
        recorded = {r.id: (r.rules_version, r.fever_threshold_c) for r in conn.execute(
            select(KE.c.id, KE.c.rules_version, KE.c.fever_threshold_c))}
    assert recorded[resident.event.id] == (now_version, 37.0)
    assert recorded[worker.event.id] == (now_version, 37.0)
    assert verify_chain(gate1.store.engine, gate1.settings.device.id) == []

    # a rule set altered at the store (a raised threshold) is refused by the gate
    with central.engine.begin() as conn:
        change = next_change_ids(conn, ADMIN_SCOPE, 1)
        body = tomorrow.body().replace('"fever_threshold_c":38.0', '"fever_threshold_c":39.5')
        conn.execute(insert(RULES).values(
            version=now_version + 2, effective_utc=a_minute_ago, body=body.replace(
                f'"version":{now_version + 1}', f'"version":{now_version + 2}'),
            key_id=key_id, signature=sign(tomorrow, private, key_id).signature,
            published_at=utc_now(), published_by="intruder", change_id=change))
    for k in kiosks:
        report = k.sync()
        assert report.pulled.get("rules_refused") == 1 and not report.pulled.get("rules")
    assert gate1.gate.policy.rules_version == now_version
    with central.engine.begin() as conn:
        conn.execute(delete(RULES).where(RULES.c.version == now_version + 2))

    # the store keeps what the gate recorded, and the dashboard shows each gate's version
    with central.engine.connect() as conn:
        stored = json.loads(conn.execute(select(EV.c.record).where(
            EV.c.id == resident.event.id)).scalar_one())
    assert stored["rules_version"] == now_version
    assert verify_device(central.engine, gate1.settings.device.id).problems == []
    v = queries.view(central.engine, UTC_VIEW, Scope(gate1.compound))
    assert v.rules_in_force == now_version
    assert {g.checkpoint: g.rules_version for g in v.gates} == {
        "gate-1": now_version, "gate-2": now_version}
