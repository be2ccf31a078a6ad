"""Every endpoint of the central store fuzzed from its own OpenAPI schema (schemathesis, on
hypothesis) against a real server on 127.0.0.1: no request, however malformed, gets a 500,
and a refused request stores nothing. Bounded: a fixed number of examples per endpoint."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select
from sync_testkit import CentralServer, database_url

from kiosk.server import admin
from kiosk.server.admin import CODES, DEVICE_VOLUNTEERS
from kiosk.server.devicekeys import KEYS
from kiosk.server.ingest import DEV, EV, FI
from kiosk.server.web.session import SESSIONS

#: examples per endpoint (a few seconds each on a loaded 2-core machine); a sign-in runs
#: argon2 (~0.1-1 s), so that one gets fewer
EXAMPLES = 20
FEWER = {"POST /login": 6}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    d = tmp_path_factory.mktemp("fuzz")
    s = CentralServer(database_url("sqlite", d), d).start()
    yield s
    s.stop()


def _stored(server: CentralServer) -> tuple[int, ...]:
    """What a request could have stored: devices, events, findings, sessions, spent
    codes, volunteer names, device keys."""
    with server.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t).where(*w)).scalar_one()
                     for t, w in ((DEV, ()), (EV, ()), (FI, ()), (SESSIONS, ()),
                                  (CODES, (CODES.c.used_at.is_not(None),)),
                                  (DEVICE_VOLUNTEERS, ()), (KEYS, ())))


ENDPOINTS = ["POST /api/v1/enrol", "POST /api/v1/events", "GET /api/v1/changes",
             "POST /api/v1/device/key",
             "GET /api/v1/device", "GET /api/v1/uplink", "GET /healthz", "GET /",
             "GET /login", "POST /login",
             "GET /logout", "GET /compound", "GET /gate", "GET /out", "GET /trace",
             "POST /trace", "POST /trace.csv", "GET /case", "POST /case"]


@pytest.fixture(scope="module")
def api(server: CentralServer) -> tuple[dict[str, schemathesis.APIOperation], str]:
    """The schema's operations by "METHOD /path", and an enrolled device's secret."""
    code = admin.make_enrolment_code(server.engine, "fuzz-gate")
    secret = httpx.post(server.url + "/api/v1/enrol",
                        json={"code": code, "device_id": str(uuid.uuid4())}).json()["secret"]
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = {f"{o.method.upper()} {o.path}": o
                  for o in (r.ok() for r in schema.get_all_operations())}
    assert set(operations) == set(ENDPOINTS)  # a new endpoint is fuzzed once listed here
    return operations, secret


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_request_gets_a_500_or_stores_anything_when_refused(
        server: CentralServer, api: tuple[dict[str, schemathesis.APIOperation], str],
        endpoint: str):
    operations, secret = api
    statuses: set[int] = set()

    @settings(max_examples=FEWER.get(endpoint, EXAMPLES), deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(case=operations[endpoint].as_strategy())
    def attack(case: schemathesis.Case) -> None:
        before = _stored(server)
        response = case.call(base_url=server.url, timeout=30,
                             headers={"Authorization": f"Bearer {secret}"})
        statuses.add(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text)
        if response.status_code >= 400:
            assert _stored(server) == before, response.status_code

    started = time.monotonic()
    attack()
    assert time.monotonic() - started < 20, "fuzzing one endpoint took too long"
    assert statuses
