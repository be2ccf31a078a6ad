"""A compound hub between the gates and the district, all real processes on 127.0.0.1: the
district store and the hub are ``kiosk serve`` children (SQLite files), the gates sync
through kiosk.sync.route. What a user relies on: gates agree without the internet, every
event reaches the district exactly once as its kiosk's own, nothing lost when the hub dies
or a gate sometimes reaches the district directly."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from link_proxy import LinkProxy
from sqlalchemy import func, select
from sync_testkit import EV, CentralServer, Kiosk, database_url, make_kiosk, unique

from kiosk import settings as settings_mod
from kiosk.core.decision import Outcome
from kiosk.server import admin, hub
from kiosk.server.briefing import briefing_name
from kiosk.server.db import open_server_store
from kiosk.server.export import export_central
from kiosk.server.hub import RO
from kiosk.server.ingest import FI
from kiosk.server.verify import verify_device
from kiosk.sync import state
from kiosk.sync.client import SyncClient
from kiosk.sync.discover import advertise_hub
from kiosk.sync.route import AUTO, Route
from kiosk.sync.runner import load_events


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    d = tmp_path_factory.mktemp("district")
    server = CentralServer(database_url("sqlite", d), d).start()
    yield server
    server.stop()


def _wait(what: str, ok: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


#: households of their own for each test (one compound serves the module)
ROSTER = (
    "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"
    "甲一,1,1,101,h-1,13800000001,A1,resident,2020-01-01,2099-12-31\n"
    "甲二,1,1,101,h-1,13800000002,A2,resident,2020-01-01,2099-12-31\n"
    "乙一,2,1,201,h-2,13800000003,B1,resident,2020-01-01,2099-12-31\n"
    "乙二,2,1,201,h-2,13800000004,B2,resident,2020-01-01,2099-12-31\n"
    "丙一,3,1,301,h-3,13800000005,C1,resident,2020-01-01,2099-12-31\n"
    "丁一,4,1,401,h-4,13800000007,D1,resident,2020-01-01,2099-12-31\n"
    "丁二,4,1,401,h-4,13800000008,D2,resident,2020-01-01,2099-12-31\n"
    "戊一,5,1,501,h-5,13800000009,E1,resident,2020-01-01,2099-12-31\n"
    "戊二,5,1,501,h-5,13800000010,E2,resident,2020-01-01,2099-12-31\n"
    "王铁路,7,1,201,7-1-201,13800000006,W1,worker,2020-01-01,2099-12-31\n"
)


class Compound:
    """A compound: its hub (enrolled at the district, behind a WAN link that can be cut)
    and two gates syncing with it over a LAN link that can be cut."""

    def __init__(self, district: CentralServer, root: Path,
                 hub_env: dict[str, str] | None = None) -> None:
        self.name = unique("c")
        self.district = district
        hub_dir = root / "hub"
        hub_dir.mkdir()
        self.gates = [make_kiosk(root, f"gate-{i}", district, self.name, ROSTER)
                      for i in (1, 2)]
        self.wan = LinkProxy(district.port)
        url = f"sqlite:///{hub_dir / 'hub.sqlite3'}"
        engine = open_server_store(url)  # as `kiosk serve hub enrol` does before serving
        code = admin.make_enrolment_code(district.engine, "hub", self.name, role="hub")
        self.link = hub.enrol_hub(engine, hub_dir, code, self.wan.url, str(uuid.uuid4()))
        engine.dispose()
        self.hub = CentralServer(url, hub_dir, options=("--hub",), env=hub_env).start()
        self.lan = LinkProxy(self.hub.port)
        # the hub learns its gates' credentials from the district in its first relay round
        _wait("the hub knows the gates", lambda: self.hub_knows(*self.gates))
        self.routes = [self.route(k) for k in self.gates]

    def route(self, k: Kiosk) -> Route:
        return Route(k.store.engine, k.data_dir, k.settings.device.id, k.secret,
                     self.district.url, self.lan.url)

    def hub_knows(self, *gates: Kiosk) -> bool:
        with self.hub.engine.connect() as conn:
            known = set(conn.execute(select(hub.DEV.c.id)).scalars())
        return {k.settings.device.id for k in gates} <= known

    def relay_backlog(self) -> int:
        with self.hub.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(RO)
                                    .where(RO.c.acked_at.is_(None))).scalar_one())

    def district_events(self, k: Kiosk) -> list[tuple[int, str]]:
        with self.district.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(  # type: ignore[misc]
                select(EV.c.seq, EV.c.id).where(EV.c.device_id == k.settings.device.id)
                .order_by(EV.c.seq))]

    def close(self) -> None:
        for r in self.routes:
            r.close()
        for k in self.gates:
            k.close()
        self.lan.close()
        self.wan.close()
        self.hub.stop()


@pytest.fixture(scope="module")
def compound(district: CentralServer, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Compound]:
    c = Compound(district, tmp_path_factory.mktemp("compound"))
    yield c
    c.close()


@pytest.fixture
def links(compound: Compound) -> Iterator[Compound]:
    """The compound with both links up afterwards and the relay drained."""
    yield compound
    compound.wan.mend()
    compound.lan.mend()
    _wait("relayed", lambda: compound.relay_backlog() == 0)


def _kiosk_events(k: Kiosk) -> list[dict]:
    with k.store.engine.connect() as conn:
        ids = [r.id for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        return load_events(conn, ids)


def _assert_exactly_once_and_verified(c: Compound) -> None:
    for k in c.gates:
        mine = [(e["seq"], e["id"]) for e in _kiosk_events(k)]
        assert c.district_events(k) == mine
        check = verify_device(c.district.engine, k.settings.device.id)
        assert check.problems == [] and check.events == len(mine)
    with c.district.engine.connect() as conn:
        kinds = set(conn.execute(select(FI.c.kind).where(FI.c.compound == c.name)).scalars())
    assert not kinds & {"rejected", "altered", "seq_conflict", "chain_break"}


def test_with_the_wan_cut_a_household_let_out_at_one_gate_is_refused_at_the_other(
        links: Compound):
    c = links
    a, b = c.gates
    c.wan.cut()  # only the LAN and the hub are left
    assert a.check("A1", "out").decision.outcome is Outcome.ALLOW
    c.routes[0].run()  # gate A pushes to the hub ...
    c.routes[1].run()  # ... gate B pulls from it
    refused = b.check("A2", "out")  # the same household, quota 1 in 2 days
    assert refused.decision.outcome is Outcome.DENY
    st = state.status(b.store.engine, b.data_dir, "")
    assert st.via == c.lan.url and st.uplink is not None and st.uplink["hub"] is True

    def district_out_of_reach() -> bool:
        c.routes[1].run()
        up = state.status(b.store.engine, b.data_dir, "").uplink
        return up is not None and up["district_ok"] is False
    _wait("the gate says the district is out of reach", district_out_of_reach)
    assert c.relay_backlog() == 2  # kept for the district: A's exit, B's refusal
    c.hub.kill()  # the hub dies before it could relay, and comes back
    c.hub.start()
    c.wan.mend()
    _wait("relayed", lambda: c.relay_backlog() == 0)
    _assert_exactly_once_and_verified(c)
    _wait("the gate says the district is reachable", lambda: not district_out_of_reach())


def test_a_gate_that_sometimes_reaches_the_district_directly_leaves_no_duplicate_or_gap(
        links: Compound):
    c = links
    a = c.gates[0]
    for rounds in range(3):
        for _ in range(3):
            a.check("W1")
        if rounds == 1:  # the hub is out of reach this time: straight to the district
            c.lan.cut()
            c.routes[0].run()
            assert state.status(a.store.engine, a.data_dir, "").via == c.district.url
            c.lan.mend()
        else:
            c.routes[0].run()
    # all of them once more to the hub and to the district: duplicates, nothing stored
    events = _kiosk_events(a)
    with SyncClient(c.lan.url, a.secret) as client:
        assert client.push(a.settings.device.id, events)["stored"] == 3  # the direct ones
    _wait("relayed", lambda: c.relay_backlog() == 0)
    with a.client() as client:
        ack = client.push(a.settings.device.id, events)
        assert ack["stored"] == 0 and ack["duplicates"] == len(events)
        assert ack["missing"] == []
    _assert_exactly_once_and_verified(c)


def test_through_the_hub_a_gate_hears_only_of_what_is_really_lost(links: Compound):
    c = links
    a = c.gates[1]
    a.check("W1")
    a.sync()  # this one goes to the district directly: the hub never holds it
    a.check("W1")
    # the hub lacks seq 2 but the district has it: once the hub has heard so (its next
    # relay round), the gate is told of no loss
    _wait("no loss reported", lambda: c.routes[1].run().missing == [])


def test_a_gate_the_district_refuses_does_not_hold_up_the_others_and_loses_nothing(
        links: Compound):
    from click.testing import CliRunner

    from kiosk.cli import main

    c = links
    a, b = c.gates
    c.wan.cut()
    a.check("W1")
    b.check("W1")
    c.routes[0].run()
    c.routes[1].run()
    a_id = a.settings.device.id
    with c.district.engine.begin() as conn:  # the command withdrew gate A meanwhile
        conn.execute(hub.DEV.update().where(hub.DEV.c.id == a_id).values(active=False))
    try:
        c.wan.mend()
        _wait("B relayed", lambda: c.district_events(b)[-1:] == [
            (e["seq"], e["id"]) for e in _kiosk_events(b)][-1:])
        with c.hub.engine.connect() as conn:
            refused = list(conn.execute(select(RO.c.device_id, RO.c.last_error)
                                        .where(RO.c.quarantined.is_(True))))
        assert [r.device_id for r in refused] == [a_id] and "403" in refused[0].last_error
    finally:
        with c.district.engine.begin() as conn:
            conn.execute(hub.DEV.update().where(hub.DEV.c.id == a_id).values(active=True))
    # put back once the command re-admitted the gate: relayed, nothing lost
    r = CliRunner().invoke(main, ["--data-dir", str(c.hub.data_dir), "serve", "--db",
                                  c.hub.db_url, "hub", "quarantine", "--requeue"])
    assert r.exit_code == 0 and a_id in r.output
    _wait("A relayed", lambda: c.relay_backlog() == 0)
    _assert_exactly_once_and_verified(c)


def test_the_relay_forwards_each_event_as_the_kiosk_sent_it(links: Compound):
    c = links
    a = c.gates[0]
    c.wan.cut()
    before = {e["id"] for e in _kiosk_events(a)}
    a.check("C1", "out")
    a.check("W1")
    c.routes[0].run()
    with c.hub.engine.connect() as conn:
        queued = [json.loads(r) for r in conn.execute(
            select(RO.c.record).where(RO.c.device_id == a.settings.device.id,
                                      RO.c.acked_at.is_(None))
            .order_by(RO.c.seq)).scalars()]
    assert queued == [e for e in _kiosk_events(a) if e["id"] not in before]
    c.wan.mend()
    _wait("relayed", lambda: c.relay_backlog() == 0)
    with c.district.engine.connect() as conn:
        stored = {json.loads(r)["id"]: json.loads(r) for r in conn.execute(
            select(EV.c.record).where(EV.c.device_id == a.settings.device.id)).scalars()}
    assert [stored[e["id"]] for e in queued] == queued


def test_double_outings_while_the_lan_was_cut_are_conflicts_on_the_hub_and_the_district(
        links: Compound, tmp_path: Path):
    c = links
    a, b = c.gates
    c.lan.cut()  # each gate alone lets the same household out
    assert a.check("B1", "out").decision.outcome is Outcome.ALLOW
    assert b.check("B2", "out").decision.outcome is Outcome.ALLOW
    c.lan.mend()
    c.routes[0].run()
    c.routes[1].run()

    def conflicts(engine: object) -> list[str]:
        with engine.connect() as conn:  # type: ignore[attr-defined]
            return list(conn.execute(select(FI.c.kind).where(
                FI.c.kind == "quota_conflict", FI.c.detail.contains("h-2"))).scalars())
    assert conflicts(c.hub.engine) == ["quota_conflict"]
    _wait("relayed", lambda: c.relay_backlog() == 0)
    assert conflicts(c.district.engine) == ["quota_conflict"]
    # and in the district's nightly export: both exits in the movements, the conflict in
    # the briefing handed over with the files
    out = tmp_path / "export"
    export_central(c.district.engine, date.today(), out, compound=c.name, label="hubtest")
    briefing = (out / briefing_name("hubtest", date.today())).read_text("utf-8")
    found = briefing[briefing.index('id="findings"'):]
    assert "<td>quota_conflict</td>" in found.split("</section>")[0]


def test_the_district_dashboard_shows_the_hub_the_gates_behind_it_and_their_conflict(
        links: Compound):
    c = links
    admin.add_user(c.district.engine, "枢纽查看", "correct horse battery")
    with httpx.Client(base_url=c.district.url) as web:
        web.post("/login", data={"user": "枢纽查看", "password": "correct horse battery"})
        page = web.get("/compound", params={"name": c.name}).text
    devices = page[page.index('id="devices"'):page.index('id="findings"')]
    rows = {r.split("</a>")[0].rsplit(">", 1)[-1]: r for r in devices.split("<tr")[2:]}
    assert "枢纽 / compound hub" in rows["hub"]
    for gate in ("gate-1", "gate-2"):  # both synced through the hub last
        assert "经枢纽 hub / via hub" in rows[gate]
    assert "quota_conflict" in page[page.index('id="findings"'):]


def test_the_hub_and_the_gate_say_how_they_reach_the_district(compound: Compound):
    from click.testing import CliRunner

    from kiosk.cli import main

    c = compound
    c.routes[0].run()
    r = CliRunner().invoke(main, ["--data-dir", str(c.hub.data_dir), "serve", "--db",
                                  c.hub.db_url, "hub", "status"])
    assert r.exit_code == 0, r.output
    assert f"district:      {c.wan.url} (reachable)" in r.output
    assert "gate gate-1: last contact 20" in r.output and "to relay:      0 events" in r.output
    k = c.gates[0]
    r = CliRunner().invoke(main, ["--data-dir", str(k.data_dir), "sync", "status"])
    assert r.exit_code == 0, r.output
    assert f"synced with:  {c.lan.url} (compound hub)" in r.output
    assert "district:     reachable through the hub" in r.output


def test_a_gate_finds_the_hub_announced_on_the_lan(compound: Compound):
    c = compound
    k = c.gates[0]
    announced = advertise_hub("127.0.0.1", c.lan.port, "http", name=unique("hub"))
    try:
        # anyone on the LAN can announce: plain HTTP is believed only when allowed
        wary = Route(k.store.engine, k.data_dir, k.settings.device.id, k.secret, "", AUTO)
        assert wary.hub_url() is None
        route = Route(k.store.engine, k.data_dir, k.settings.device.id, k.secret, "", AUTO,
                      lan_http=True)
        assert route.hub_url() == c.lan.url
        route.run()
        assert state.status(k.store.engine, k.data_dir, "").via == c.lan.url
        route.close()
    finally:
        announced.close()


def test_a_gate_enrols_through_the_hub_with_an_identity_the_district_knows(
        compound: Compound):
    c = compound
    code = c.district.enrolment_code("gate-3", c.name)
    device_id = str(uuid.uuid4())
    with SyncClient(c.lan.url) as client:
        answer = client.enrol(code, device_id)
    assert answer["compound"] == c.name
    for url in (c.lan.url, c.district.url):  # the one secret works at both at once
        r = httpx.get(url + "/api/v1/device",
                      headers={"Authorization": f"Bearer {answer['secret']}"})
        assert r.status_code == 200 and r.json()["device_id"] == device_id
    # the code is spent at the district: no second device with it
    with SyncClient(c.lan.url) as client, pytest.raises(Exception, match="refused"):
        client.enrol(code, str(uuid.uuid4()))


def test_a_hub_posts_only_for_the_gates_of_its_own_compound(
        compound: Compound, district: CentralServer, tmp_path: Path):
    c = compound
    other = make_kiosk(tmp_path, "gate-x", district, unique("c"))
    try:
        other.check("W1")
        with SyncClient(district.url, c.link.secret) as client, \
                pytest.raises(Exception, match="403"):
            client.push(other.settings.device.id, _kiosk_events(other))
        assert district.event_count(other.compound) == 0
    finally:
        other.close()


def test_a_gate_is_pointed_at_its_hub_from_the_command_line(tmp_path: Path):
    from click.testing import CliRunner

    from kiosk.cli import main

    def hub_of(*args: str) -> tuple[int, str, str]:
        r = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "sync", "hub", *args])
        return r.exit_code, r.output, settings_mod.load(tmp_path).sync.hub

    code, out, hub_set = hub_of("http://10.0.0.5:8470/")  # the credential in clear: no
    assert code != 0 and "refusing plain HTTP" in out and hub_set == ""
    assert hub_of("https://10.0.0.5:8470/")[2] == "https://10.0.0.5:8470/"
    assert hub_of("auto")[2] == "auto"
    assert hub_of("off")[2] == ""
