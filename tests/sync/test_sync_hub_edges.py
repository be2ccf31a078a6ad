"""The compound hub's edges (issue 14), with real processes on 127.0.0.1 (the district and
the hub are ``kiosk serve`` children on SQLite files) and assertions on what each store
holds: an old gate's key learnt by the district and not from the hub, undos and fever case
steps passed down through the hub, a hub whose clock is off, and the relay outbox that
keeps only what the district has not acknowledged."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from link_proxy import LinkProxy
from sqlalchemy import Engine, delete, func, insert, select
from sync_testkit import (
    EV,
    CentralServer,
    Kiosk,
    database_url,
    make_kiosk,
    skewed_clock_env,
    unique,
)
from test_sync_hub import ROSTER, Compound, _kiosk_events, _wait

from kiosk.cli import main
from kiosk.core import signing
from kiosk.core.decision import Outcome
from kiosk.core.event import event_hash, personal_digest
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.server import admin, hub, tallies
from kiosk.server.audit import AUD
from kiosk.server.auth import sha256_hex
from kiosk.server.cases import add_step, open_cases
from kiosk.server.clock import utc_now
from kiosk.server.db import open_server_store
from kiosk.server.devicekeys import KEYS
from kiosk.server.hub import HELD, HS, HU, RO, Relay, RelayReport
from kiosk.server.ingest import FI
from kiosk.server.verify import verify_device
from kiosk.server.web.settings import DashboardSettings
from kiosk.store.devicekey import ensure_key
from kiosk.store.models import FeverCaseRow, RemoteMovementRow, table_of
from kiosk.sync import state
from kiosk.sync.client import SyncClient
from kiosk.sync.route import DISTRICT_INTERVAL_S, Route

pytest_plugins = ["sync_testkit"]

RM = table_of(RemoteMovementRow)
FC = table_of(FeverCaseRow)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    d = tmp_path_factory.mktemp("district")
    server = CentralServer(database_url("sqlite", d), d).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def compound(district: CentralServer, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Compound]:
    c = Compound(district, tmp_path_factory.mktemp("compound"))
    yield c
    c.close()


@pytest.fixture
def links(compound: Compound) -> Iterator[Compound]:
    yield compound
    compound.wan.mend()
    compound.lan.mend()


def _remote(k: Kiosk) -> set[str]:
    with k.store.engine.connect() as conn:
        return set(conn.execute(select(RM.c.event_id)).scalars())


def _relay_rows(c: Compound, k: Kiosk) -> tuple[int, int]:
    """The gate's rows in the hub's relay outbox: (still to send, acknowledged)."""
    with c.hub.engine.connect() as conn:
        return tuple(conn.execute(select(  # type: ignore[return-value]
            func.count() - func.count(RO.c.acked_at), func.count(RO.c.acked_at))
            .where(RO.c.device_id == k.settings.device.id)).one())


def _relayed_rows(c: Compound, k: Kiosk) -> int:
    return _relay_rows(c, k)[0]


# --- 2. undos from gates that sync with the district directly ---------------------------
def test_an_outing_undone_at_a_gate_syncing_directly_is_given_back_at_the_gates_behind_the_hub(
        links: Compound):
    c = links
    a, b = c.gates
    route_b = c.routes[1]
    out = a.check("A1", "out")  # gate A syncs with the district itself, not the hub
    assert out.decision.outcome is Outcome.ALLOW
    a.sync()
    _wait("gate B holds A's outing through the hub",
          lambda: route_b.run() is not None and out.event.id in _remote(b))
    assert b.check("A2", "out").decision.outcome is Outcome.DENY  # one outing in 2 days

    a.gate.undo(out.event.id)  # a mistake: the household did not go out
    a.sync()
    _wait("gate B drops the undone outing",
          lambda: route_b.run() is not None and out.event.id not in _remote(b))
    with c.hub.engine.connect() as conn:  # passed down by the hub in its own stream
        assert conn.execute(select(HU.c.event_id)).scalars().all() == [out.event.id]
    assert b.check("A2", "out").decision.outcome is Outcome.ALLOW


def _quota_findings(c: Compound, *event_ids: str) -> list[Any]:
    """The hub's quota conflicts on these events: (event, withdrawn at, why)."""
    with c.hub.engine.connect() as conn:
        return list(conn.execute(select(FI.c.event_id, FI.c.withdrawn_at, FI.c.withdrawn_why)
                                 .where(FI.c.kind == "quota_conflict",
                                        FI.c.event_id.in_(event_ids))))


def _kept(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)))
                for t in tallies.KEPT}


def test_an_undo_the_district_passes_down_withdraws_the_hubs_quota_conflict_and_counts(
        links: Compound):
    """Gate A's outings reached the hub, their undos went to the district directly: the
    hub withdraws the conflict it flagged with gate B's outing (the finding stays, with
    why), flags none for an outing after the undo, and counts neither outing, as if the
    correction had come to it (its kept tables equal their recount)."""
    c = links
    a, b = c.gates
    h2, h4 = a.check("B1", "out"), a.check("D1", "out")
    assert h2.decision.outcome is h4.decision.outcome is Outcome.ALLOW
    c.routes[0].run()  # to the hub: gate B has not pulled them, it lets B2 out too
    extra = b.check("B2", "out")
    assert extra.decision.outcome is Outcome.ALLOW
    c.routes[1].run()
    [(_, standing, _)] = _quota_findings(c, extra.event.id)
    assert standing is None  # the hub flagged the double outing

    a.gate.undo(h2.event.id)  # both were mistakes, undone at gate A
    a.gate.undo(h4.event.id)
    a.sync()  # the corrections go to the district only
    _wait("the hub withdraws its conflict",
          lambda: _quota_findings(c, extra.event.id)[0][1] is not None)
    [(_, _, why)] = _quota_findings(c, extra.event.id)
    assert "undone at the gate" in why and "district" in why
    _wait("the hub heard both undos", lambda: {h2.event.id, h4.event.id} <= set(
        hub_undone(c)))
    with c.hub.engine.connect() as conn:
        out = dict(conn.execute(select(tallies.LAST.c.pass_number, tallies.LAST.c.direction)
                                .where(tallies.LAST.c.compound == c.name)).all())
    assert "B1" not in out and "D1" not in out and out["B2"] == "out"  # who is out

    c.routes[1].run()  # gate B hears the undo: household h-4 has its outing back
    late = b.check("D2", "out")
    assert late.decision.outcome is Outcome.ALLOW
    c.routes[1].run()
    assert _quota_findings(c, late.event.id) == []  # the undone outing spent nothing
    kept = _kept(c.hub.engine)
    with c.hub.engine.connect() as conn, conn.begin() as tx:
        tallies.rebuild(conn)  # the definition, at the hub too
        recount = {t.name: sorted(tuple(r) for r in conn.execute(select(t)))
                   for t in tallies.KEPT}
        tx.rollback()
    assert kept == recount


def hub_undone(c: Compound) -> list[str]:
    with c.hub.engine.connect() as conn:
        return list(conn.execute(select(HU.c.event_id)).scalars())


# --- 3. the district's fever case steps -----------------------------------------------
def test_the_districts_fever_case_steps_reach_the_gates_behind_the_hub(links: Compound):
    c = links
    a, b = c.gates
    fever = a.gate.check("C1", [make_reading(38.6, source=ReadingSource.MANUAL),
                                make_reading(38.7, source=ReadingSource.MANUAL)])
    assert fever.decision.escalate
    c.routes[0].run()  # to the hub, relayed to the district
    _wait("relayed", lambda: fever.event.id in {i for _, i in c.district_events(a)})
    settings = DashboardSettings(ZoneInfo("Asia/Shanghai"))
    [case] = [x for x in open_cases(c.district.engine, settings, c.name)
              if x.event_id == fever.event.id]
    add_step(c.district.engine, case.id, "isolation", "组长", "")  # decided at the district

    def heard(k: Kiosk, route: Route) -> bool:
        route.run()
        with k.store.engine.connect() as conn:
            return (fever.event.id, "isolation") in {
                tuple(r) for r in conn.execute(select(FC.c.event_id, FC.c.state))}
    _wait("gate A hears the step through the hub", lambda: heard(a, c.routes[0]))
    _wait("and gate B too", lambda: heard(b, c.routes[1]))


# --- 5. the relay outbox ----------------------------------------------------------------
class DiesAfterSending(httpx.BaseTransport):
    """The hub's process dies right after the district answered a batch, before the hub
    took the acknowledgement."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        if request.url.path.endswith("/events"):
            raise RuntimeError("the hub died here")
        return response


def test_the_relay_outbox_keeps_only_what_the_district_has_not_acknowledged(
        links: Compound):
    c = links
    a = c.gates[0]

    def district_has_key() -> bool:  # else it holds what the hub relays (point 1), not stores
        c.routes[0].run()
        with c.district.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(KEYS).where(
                KEYS.c.device_id == a.settings.device.id)).scalar_one() > 0

    _wait("the district has the gate's key", district_has_key)
    c.wan.cut()
    for _ in range(3):
        a.check("W1")
    c.routes[0].run()
    assert _relayed_rows(c, a) == 3  # held for the district while the WAN is cut
    # the district stores the batch, the hub dies before it could take the answer
    with SyncClient(c.district.url, c.link.secret, transport=DiesAfterSending()) as client, \
            pytest.raises(RuntimeError):
        Relay(c.hub.engine, c.link, client).push(RelayReport())
    later = utc_now() + timedelta(seconds=hub.RELAY_KEEP_S + 60)
    hub.trim(c.hub.engine, later)  # however late: never a row not acknowledged
    assert _relay_rows(c, a) == (3, 0)
    mine = [(e["seq"], e["id"]) for e in _kiosk_events(a)]
    assert c.district_events(a) == mine
    c.wan.mend()  # sent again: the district answers "duplicate", the rows are acknowledged
    _wait("acknowledged", lambda: _relay_rows(c, a) == (0, 3))
    assert c.district_events(a) == mine  # each once
    with c.hub.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(RO)).scalar_one()
    assert hub.trim(c.hub.engine, later) >= 3  # kept for diagnosis a while, then trimmed
    with c.hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RO)).scalar_one() <= before - 3
    assert _relay_rows(c, a) == (0, 0)


# --- 4. a hub whose clock is off -------------------------------------------------------
def test_a_gate_behind_a_hub_whose_clock_is_off_keeps_the_districts_time(
        district: CentralServer, tmp_path: Path):
    c = Compound(district, tmp_path, hub_env=skewed_clock_env(tmp_path / "clock", 600))
    try:
        k, route = c.gates[0], c.routes[0]

        def status() -> str:
            r = CliRunner().invoke(main, ["--data-dir", str(k.data_dir), "sync", "status"])
            assert r.exit_code == 0, r.output
            return next(line for line in r.output.splitlines() if line.startswith("clock:"))

        # a hub that has not measured its clock against the district (cut off since it
        # was set up): the gate sees a 10 min error and says against what
        c.wan.cut()
        with c.hub.engine.begin() as conn:
            conn.execute(delete(HS).where(HS.c.key.in_([hub.CLOCK_OFFSET, hub.CLOCK_AT])))
        route.run()
        st = state.status(k.store.engine, k.data_dir, "")
        assert st.clock_offset_s is not None and abs(st.clock_offset_s + 600) < 5
        assert "WRONG" in status() and "the compound hub only" in status()

        c.wan.mend()  # the hub measures itself against the district: 10 min fast

        def district_time() -> bool:
            route.run()
            off = state.status(k.store.engine, k.data_dir, "").clock_offset_s
            return off is not None and abs(off) < 5
        _wait("the gate's clock is judged by the district's time", district_time)
        assert status().startswith("clock:        ok") and "through the hub" in status()
        with c.hub.engine.connect() as conn:
            assert abs(float(hub.get_state(conn, hub.CLOCK_OFFSET)[hub.CLOCK_OFFSET])
                       - 600) < 5
    finally:
        c.close()


# --- 1. an old gate's key, behind a hub ------------------------------------------------
def _signed_by(event: dict, key: Ed25519PrivateKey) -> dict:
    """``event`` re-hashed and signed with ``key`` (what a hub can make of a gate's event)."""
    event["personal_digest"] = personal_digest(event)
    event["hash"] = event_hash({k: v for k, v in event.items() if k != "readings"},
                               event["readings"])
    event["signature"] = signing.sign_hash(key, event["hash"])
    return event


def test_an_old_gate_behind_a_hub_gives_its_key_to_the_district_and_a_hub_cannot_swap_it(
        links: Compound, tmp_path: Path):
    c = links
    old = make_kiosk(tmp_path, "old-gate", c.district, c.name, ROSTER)  # enrolled keyless
    direct = LinkProxy(c.district.port)  # the old gate's own way to the district
    direct.cut()
    now = [0.0]  # the route's monotonic clock, moved on by hand
    route = Route(old.store.engine, old.data_dir, old.settings.device.id, old.secret,
                  direct.url, c.lan.url, clock=lambda: now[0])
    dev = old.settings.device.id
    try:
        _wait("the hub knows the gate", lambda: c.hub_knows(old))
        old.check("W1")  # recorded before the update: unsigned
        route.run()  # through the hub only: its key is made, and goes nowhere
        old.check("W1")  # signed from now on
        old.check("W1")
        route.run()
        genuine = _kiosk_events(old)
        assert [bool(e.get("signature")) for e in genuine] == [False, True, True]
        _wait("relayed", lambda: _relayed_rows(c, old) == 0)
        with c.district.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.public_key_hex)
                                .where(KEYS.c.device_id == dev)).all() == []
            assert conn.execute(select(func.count()).select_from(HELD)
                                .where(HELD.c.device_id == dev)).scalar_one() == 3
        assert c.district_events(old) == []  # held, not taken on the hub's word
        # and the district's dashboard says so on the gate's row and in its health strip
        page = _compound_page(c)
        assert "暂存 3 条：密钥未登记 / 3 held: key not yet registered" in _devices_row(
            page, "old-gate")
        assert ">暂存 3<" in page[:page.index('id="devices"')]

        # the hub swaps in its own key: a forged version of seq 3, and an invented seq 4
        mine = Ed25519PrivateKey.generate()
        forged = _signed_by({**json.loads(json.dumps(genuine[2])), "pass_number": "A1"},
                            mine)
        invented = _signed_by({**json.loads(json.dumps(genuine[2])), "seq": 4,
                               "id": str(uuid.uuid4()), "prev_hash": genuine[2]["hash"],
                               "readings": []}, mine)
        with SyncClient(c.district.url, c.link.secret) as as_hub:
            assert as_hub.push(dev, [forged, invented])["held"] == 2
            # nor can the hub's own credential give the gate a key
            as_hub.register_key(mine.public_key().public_bytes_raw().hex(), 1)
        with c.district.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.public_key_hex)
                                .where(KEYS.c.device_id == dev)).all() == []

        direct.mend()  # the gate's first direct contact: its key, then the held events
        now[0] += DISTRICT_INTERVAL_S
        route.run()
        with c.district.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.public_key_hex, KEYS.c.from_seq, KEYS.c.how)
                                .where(KEYS.c.device_id == dev)).all() == [
                                    (ensure_key(old.data_dir).public_hex, 2, "first use")]
            assert conn.execute(select(func.count()).select_from(HELD)
                                .where(HELD.c.device_id == dev)).scalar_one() == 0
            flagged = conn.execute(select(FI.c.kind, FI.c.seq).where(
                FI.c.device_id == dev)).all()
        assert c.district_events(old) == [(e["seq"], e["id"]) for e in genuine]
        with c.district.engine.connect() as conn:
            stored = {r.seq: r.hash for r in conn.execute(
                select(EV.c.seq, EV.c.hash).where(EV.c.device_id == dev))}
        assert stored == {e["seq"]: e["hash"] for e in genuine}
        assert sorted(flagged) == [("bad_signature", 3), ("bad_signature", 4)]
        page = _compound_page(c)  # nothing held any more
        assert "held" not in _devices_row(page, "old-gate") and ">暂存" not in page
        assert verify_device(c.district.engine, dev).problems == []
        with old.store.engine.connect() as conn:  # the gate knows the district has it
            assert state.get(conn, state.DEVICE_KEY) == ensure_key(old.data_dir).public_hex
    finally:
        route.close()
        direct.close()
        old.close()


def _compound_page(c: Compound) -> str:
    """The compound's page of the district's dashboard."""
    user = unique("查看")
    admin.add_user(c.district.engine, user, "correct horse battery")
    with httpx.Client(base_url=c.district.url) as web:
        web.post("/login", data={"user": user, "password": "correct horse battery"})
        return web.get("/compound", params={"name": c.name}).text


def _devices_row(page: str, checkpoint: str) -> str:
    """The gate's row in the page's devices table."""
    devices = page[page.index('id="devices"'):]
    devices = devices[:devices.index("</section>")]
    rows = {r.split("</a>")[0].rsplit(">", 1)[-1]: r for r in devices.split("<tr")[2:]}
    return rows[checkpoint]


def _flagged(engine: Engine, device_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(FI.c.kind).where(
            FI.c.device_id == device_id, FI.c.kind == "bad_signature")).first() is not None


def test_a_hub_that_registers_its_own_key_with_a_gates_secret_is_seen(
        links: Compound, tmp_path: Path):
    """What signatures cannot stop: the hub sees each gate's secret on the LAN, so it can
    be first to register a key for a gate the district has none of. It is seen: the gate's
    own key is refused (409), which the gate shows as its sync error, and the gate's
    genuine events are flagged, never stored under the hub's key."""
    c = links
    gate = make_kiosk(tmp_path, "old-gate-2", c.district, c.name, ROSTER)
    route = Route(gate.store.engine, gate.data_dir, gate.settings.device.id, gate.secret,
                  c.district.url, c.lan.url)
    dev = gate.settings.device.id
    try:
        _wait("the hub knows the gate", lambda: c.hub_knows(gate))
        mine = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
        with SyncClient(c.district.url, gate.secret) as seen_on_the_lan:
            seen_on_the_lan.register_key(mine, 1)
        route.run()  # the gate's key is made and refused at the district
        assert "another key" in (state.status(gate.store.engine, gate.data_dir, "")
                                 .last_error or "")
        gate.check("W1")
        route.run()
        _wait("flagged", lambda: route.run() is not None and (
            _flagged(c.hub.engine, dev) or _flagged(c.district.engine, dev)))
        assert c.district_events(gate) == []
        with c.district.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.public_key_hex)
                                .where(KEYS.c.device_id == dev)).scalars().all() == [mine]
    finally:
        route.close()
        gate.close()


# --- 3. keys an old hub took on trust -----------------------------------------------------
def test_an_upgraded_hub_drops_the_keys_it_took_on_trust_and_judges_by_the_districts(
        district: CentralServer, tmp_path: Path):
    """A hub from before session 5 registered gate keys by trust on first use, here the key
    of someone who had the gate's secret on the LAN. Upgraded, it drops that key at start
    (audited) and judges the gate's events only by the key the district passes down: the
    gate's genuine events are stored at the hub, the holder of the old key's are refused."""
    name = unique("c")
    gate = make_kiosk(tmp_path, "upgraded-gate", district, name, ROSTER)
    dev = gate.settings.device.id
    hub_dir = tmp_path / "old-hub"
    url = _hub_store(district, name, hub_dir)
    engine = open_server_store(url)
    taken = Ed25519PrivateKey.generate()  # what the old hub took on trust
    taken_hex = taken.public_key().public_bytes_raw().hex()
    with engine.begin() as conn:  # the old hub's store: the gate, and the key it took
        conn.execute(insert(hub.DEV).values(
            id=dev, checkpoint="upgraded-gate", compound=name, secret_hash=sha256_hex(
                gate.secret), enrolled_at=utc_now(), active=True, pending=0, quarantined=0,
            last_seq=0, gaps="[]", role="kiosk"))
        conn.execute(insert(KEYS).values(device_id=dev, from_seq=1, public_key_hex=taken_hex,
                                         registered_at=utc_now(), how="first use"))
    engine.dispose()
    server = CentralServer(url, hub_dir, options=("--hub",)).start()
    route = Route(gate.store.engine, gate.data_dir, dev, gate.secret, district.url,
                  server.url)
    try:
        with server.engine.connect() as conn:
            assert conn.execute(select(KEYS.c.public_key_hex)
                                .where(KEYS.c.how != hub.DISTRICT)).all() == []
            dropped = conn.execute(select(AUD.c.actor, AUD.c.detail).where(
                AUD.c.action == "device_key")).all()
        assert [(a, json.loads(d)["public_key"], json.loads(d)["dropped"])
                for a, d in dropped] == [(dev, taken_hex, "not passed down by the district")]
        route.run()  # the gate makes its key and gives it to the district itself
        own = ensure_key(gate.data_dir).public_hex
        _wait("the hub has the gate's key from the district", lambda: _keys(server, dev) == [
            (own, hub.DISTRICT)])
        gate.check("W1")
        gate.check("W1")
        route.run()
        genuine = _kiosk_events(gate)
        assert all(e.get("signature") for e in genuine)
        with server.engine.connect() as conn:
            assert conn.execute(select(EV.c.seq).where(EV.c.device_id == dev)
                                .order_by(EV.c.seq)).scalars().all() == [1, 2]
        assert not _flagged(server.engine, dev)
        forged = _signed_by({**json.loads(json.dumps(genuine[1])), "seq": 3,
                             "id": str(uuid.uuid4()), "prev_hash": genuine[1]["hash"],
                             "readings": []}, taken)
        with SyncClient(server.url, gate.secret) as with_the_secret:
            assert with_the_secret.push(dev, [forged])["rejected"]
        assert _flagged(server.engine, dev)
    finally:
        route.close()
        gate.close()
        server.stop()


def _keys(server: CentralServer, device_id: str) -> list[tuple[str, str]]:
    with server.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(KEYS.c.public_key_hex, KEYS.c.how).where(KEYS.c.device_id == device_id))]


def _hub_store(district: CentralServer, compound: str, hub_dir: Path) -> str:
    """A hub's store for ``compound``, enrolled at ``district`` (not serving yet): its URL."""
    hub_dir.mkdir()
    url = f"sqlite:///{hub_dir / 'hub.sqlite3'}"
    engine = open_server_store(url)
    code = admin.make_enrolment_code(district.engine, "hub", compound, role="hub")
    hub.enrol_hub(engine, hub_dir, code, district.url, str(uuid.uuid4()))
    engine.dispose()
    return url


# --- 2. quota conflicts across two hubs ---------------------------------------------------
def _conflicts(engine: Engine, household: str) -> list[tuple[str, bool]]:
    """The quota conflicts of ``household`` a store flagged: (gate, withdrawn)."""
    with engine.connect() as conn:
        return [(r.checkpoint, r.withdrawn_at is not None) for r in conn.execute(
            select(FI.c.checkpoint, FI.c.withdrawn_at).where(
                FI.c.kind == "quota_conflict", FI.c.detail.contains(f"household {household}:"))
            .order_by(FI.c.id))]


def _knows(server: CentralServer, gate: Kiosk) -> bool:
    with server.engine.connect() as conn:
        return conn.execute(select(hub.DEV.c.id).where(
            hub.DEV.c.id == gate.settings.device.id)).first() is not None


def test_two_outings_through_two_hubs_are_a_conflict_on_each_hub_and_withdrawn_there(
        links: Compound, tmp_path: Path):
    """The quota is the compound's: one household let out at a gate behind this hub and at
    a gate behind a second hub of the compound (each alone with its gates, so neither
    refused) is a quota conflict on both hubs' dashboards, where the volunteers look, not
    only at the district; when the second outing is undone at its gate, the first hub
    hears it from the district and withdraws the finding."""
    c = links
    a = c.gates[0]
    other = CentralServer(_hub_store(c.district, c.name, tmp_path / "hub-2"),
                          tmp_path / "hub-2", options=("--hub",)).start()
    far = make_kiosk(tmp_path, "gate-far", c.district, c.name, ROSTER)
    route = Route(far.store.engine, far.data_dir, far.settings.device.id, far.secret,
                  c.district.url, other.url)
    try:
        _wait("the second hub knows its gate", lambda: _knows(other, far))
        here = a.check("E1", "out")
        there = far.check("E2", "out")  # before either gate heard of the other's
        assert here.decision.outcome is Outcome.ALLOW is there.decision.outcome
        c.routes[0].run()
        route.run()
        _wait("the district flags it", lambda: len(_conflicts(c.district.engine, "h-5")) == 1)
        _wait("both hubs flag it", lambda: _conflicts(c.hub.engine, "h-5") != []
              and _conflicts(other.engine, "h-5") != [], timeout_s=30)
        assert _conflicts(c.hub.engine, "h-5") == [("gate-far", False)]  # learnt last
        assert _conflicts(other.engine, "h-5") == [("gate-1", False)]
        with c.hub.engine.connect() as conn:  # both outings, both gates, in its words
            detail = conn.execute(select(FI.c.detail).where(
                FI.c.kind == "quota_conflict", FI.c.event_id == there.event.id)).scalar_one()
        assert "gate-1" in detail and "gate-far" in detail and "quota 1" in detail

        far.gate.undo(there.event.id)  # a mistake at the far gate: one outing after all
        route.run()
        _wait("withdrawn at the first hub too", lambda: _conflicts(c.hub.engine, "h-5") == [
            ("gate-far", True)], timeout_s=30)
        assert _conflicts(other.engine, "h-5") == [("gate-1", True)]
    finally:
        route.close()
        far.close()
        other.stop()
