"""No valid device credential, no data, in or out; batches too big or malformed are refused
as a whole with a clear status, and nothing is stored."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sync_testkit import CentralServer, Kiosk

from kiosk.server.app import MAX_BODY_BYTES
from kiosk.server.ingest import MAX_BATCH_EVENTS
from kiosk.sync.runner import load_events

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _batch(k: Kiosk) -> dict:
    k.check("W1")
    k.check("R1", "out")
    with k.store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        return {"device_id": k.settings.device.id, "events": load_events(conn, ids)}


def _post(k: Kiosk, body: bytes, token: str | None, authorization: str | None = None
          ) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return httpx.post(k.server_url + "/api/v1/events", content=body, headers=headers,
                      timeout=30)


@pytest.mark.parametrize("authorization", [None, "Bearer", "Basic dXNlcjpwYXNz",
                                           "Bearer not-a-secret", "Bearer " + "x" * 43])
def test_without_a_valid_credential_nothing_goes_in_or_out(
        central: CentralServer, kiosks: list[Kiosk], authorization: str | None):
    k = kiosks[0]
    r = _post(k, json.dumps(_batch(k)).encode(), None, authorization)
    assert r.status_code == 401 and "credential" in r.json()["error"]
    headers = {"Authorization": authorization} if authorization else {}
    r = httpx.get(k.server_url + "/api/v1/changes", headers=headers)
    assert r.status_code == 401
    assert central.event_count(k.compound) == 0


def test_a_device_cannot_post_as_another(central: CentralServer, kiosks: list[Kiosk]):
    gate1, gate2 = kiosks
    body = _batch(gate1)
    # gate 2's credential, gate 1's events: refused whether the envelope tells the truth or not
    r = _post(gate2, json.dumps(body).encode(), gate2.secret)
    assert r.status_code == 403 and "own events" in r.json()["error"]
    body["device_id"] = gate2.settings.device.id
    r = _post(gate2, json.dumps(body).encode(), gate2.secret)
    assert r.status_code == 403
    assert central.event_count(gate1.compound) == 0


def test_oversized_batches_are_refused(central: CentralServer, kiosks: list[Kiosk]):
    k = kiosks[0]
    body = _batch(k)
    too_many = {"device_id": body["device_id"],
                "events": body["events"] * (MAX_BATCH_EVENTS // 2 + 1)}
    r = _post(k, json.dumps(too_many).encode(), k.secret)
    assert r.status_code == 413 and str(MAX_BATCH_EVENTS) in r.json()["error"]
    huge = b'{"device_id": "x", "events": [' + b" " * MAX_BODY_BYTES + b"]}"
    r = _post(k, huge, k.secret)
    assert r.status_code == 413
    assert central.event_count(k.compound) == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"events": 3}',
                                  b'{"device_id": null}'])
def test_malformed_batches_are_refused(central: CentralServer, kiosks: list[Kiosk],
                                       body: bytes):
    k = kiosks[0]
    r = _post(k, body, k.secret)
    assert r.status_code == 422 and r.json()["error"]
    assert central.event_count(k.compound) == 0


@pytest.mark.parametrize("broken", ["seq", "extra", "no hash", "not an object"])
def test_a_batch_with_a_malformed_event_is_refused_whole(central: CentralServer,
                                                         kiosks: list[Kiosk], broken: str):
    """422 and nothing stored (the kiosk halves the batch until the one bad event is found,
    and quarantines that one alone)."""
    k = kiosks[0]
    body = _batch(k)
    good, other = body["events"]
    bad = {"seq": {**other, "seq": "two"}, "extra": {**other, "extra": 1},
           "no hash": {k: v for k, v in other.items() if k != "hash"},
           "not an object": 7}[broken]
    body["events"] = [good, bad]
    r = _post(k, json.dumps(body).encode(), k.secret)
    assert r.status_code == 422 and "events.1" in r.json()["error"]
    assert central.event_count(k.compound) == 0


def test_an_enrolment_code_works_once(central: CentralServer, kiosks: list[Kiosk]):
    code = central.enrolment_code("gate-9")
    # a device id its events could not carry (kiosk.core.event: a UUID) is refused, code kept
    odd = httpx.post(central.url + "/api/v1/enrol", json={"code": code, "device_id": "dev-10"})
    assert odd.status_code == 422
    device = str(uuid.uuid4())
    first = httpx.post(central.url + "/api/v1/enrol",
                       json={"code": code.lower().replace("-", ""), "device_id": device})
    assert first.status_code == 201 and len(first.json()["secret"]) >= 43
    again = httpx.post(central.url + "/api/v1/enrol",
                       json={"code": code, "device_id": str(uuid.uuid4())})
    assert again.status_code == 403
    wrong = httpx.post(central.url + "/api/v1/enrol", json={"code": "AAAAA-BBBBB",
                                                            "device_id": str(uuid.uuid4())})
    assert wrong.status_code == 403
    # only the hash of the secret is on the server
    from sqlalchemy import select

    from kiosk.server.ingest import DEV

    with central.engine.connect() as conn:
        stored = conn.execute(select(DEV.c.secret_hash).where(DEV.c.id == device)).scalar_one()
    assert first.json()["secret"] not in stored
