"""The central store's audit log (who signed in, looked, exported, published, enrolled) and
the limits on guessing passwords and enrolment codes, against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from click.testing import CliRunner
from sync_testkit import CentralServer, Kiosk, unique

from kiosk.cli import main
from kiosk.server import admin, audit
from kiosk.server.clock import utc_now
from kiosk.server.ratelimit import (
    LOGIN_PER_CLIENT,
    LOGIN_PER_USER,
    LOGIN_PER_USER_CLIENT,
    Limit,
)

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _login(central: CentralServer, user: str, password: str,
           address: str) -> httpx.Response:
    """A sign-in as if from ``address``: the server trusts X-Forwarded-For from loopback, as
    it does from a TLS proxy on the same machine."""
    return httpx.post(central.url + "/login", data={"user": user, "password": password},
                      headers={"X-Forwarded-For": address}, follow_redirects=False)


def _log(central: CentralServer, action: str) -> list[audit.AuditEntry]:
    return audit.entries(central.engine, action=action, limit=1000)


def test_sign_ins_views_and_sign_outs_are_audited(central: CentralServer):
    user = unique("组长")
    admin.add_user(central.engine, user, "correct horse battery", actor="cli:test")
    assert _login(central, user, "wrong", "10.1.0.1").status_code == 401
    r = _login(central, user, "correct horse battery", "10.1.0.1")
    assert r.status_code == 303
    cookies = {"kiosk_session": r.cookies["kiosk_session"]}
    assert httpx.get(central.url + "/", cookies=cookies).status_code == 200
    httpx.get(central.url + "/logout", cookies=cookies, follow_redirects=False)

    def mine(action: str) -> list[audit.AuditEntry]:
        return [e for e in _log(central, action) if e.actor == user]

    assert [e.client for e in mine(audit.SIGN_IN_FAILED)] == ["10.1.0.1"]
    assert [e.client for e in mine(audit.SIGN_IN)] == ["10.1.0.1"]
    assert len(mine(audit.VIEW)) == 1 and len(mine(audit.SIGN_OUT)) == 1
    added = [e for e in _log(central, audit.ADD_USER) if user in e.detail]
    assert [e.actor for e in added] == ["cli:test"]
    assert "correct horse" not in json.dumps([e.detail for e in _log(central, "sign_in")])


def test_password_guessing_is_slowed_without_locking_the_real_user_out(
        central: CentralServer):
    user = unique("值班")
    admin.add_user(central.engine, user, "correct horse battery")
    for _ in range(LOGIN_PER_USER_CLIENT.failures):
        assert _login(central, user, "guess", "10.2.0.1").status_code == 401
    r = _login(central, user, "correct horse battery", "10.2.0.1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 60
    assert "Too many failed sign-ins" in r.text and "分钟后再试" in r.text
    # the right password from another address still works: the limit is on the guesser
    assert _login(central, user, "correct horse battery", "10.2.0.2").status_code == 303

    # a guesser spreading over many addresses is stopped at every address the user never
    # signed in from; the user's own address (10.4.0.9) is never locked out by it. (The
    # spread's failures are written as the server writes them: 20 argon2 checks take long.)
    target = unique("指挥")
    admin.add_user(central.engine, target, "another good password")
    assert _login(central, target, "another good password", "10.4.0.9").status_code == 303
    _failed_before(central, target, [f"10.3.{i}.1" for i in range(LOGIN_PER_USER.failures)])
    assert _login(central, target, "guess", "10.3.99.1").status_code == 429
    assert _login(central, target, "another good password", "10.4.0.1").status_code == 429
    assert _login(central, target, "another good password", "10.4.0.9").status_code == 303

    # one address trying many user names is stopped as well
    _failed_before(central, "", ["10.6.0.1"] * LOGIN_PER_CLIENT.failures,
                   users=[unique("u") for _ in range(LOGIN_PER_CLIENT.failures)])
    assert _login(central, user, "correct horse battery", "10.6.0.1").status_code == 429


def _failed_before(central: CentralServer, user: str, clients: list[str],
                   users: list[str] | None = None) -> None:
    """Failed sign-ins a minute ago, as the server counts them (kiosk.server.ratelimit)."""
    from sqlalchemy import insert

    from kiosk.server.ratelimit import ATT, SIGN_IN

    at = utc_now() - timedelta(minutes=1)  # naive UTC, as the server keeps it
    with central.engine.begin() as conn:
        conn.execute(insert(ATT), [
            {"kind": SIGN_IN, "at": at, "user": (users or [user] * len(clients))[i],
             "client": c, "failed": True} for i, c in enumerate(clients)])


def test_enrolment_code_guessing_is_slowed(central: CentralServer):
    def enrol(code: str, address: str) -> httpx.Response:
        return httpx.post(central.url + "/api/v1/enrol",
                          json={"code": code, "device_id": str(uuid.uuid4())},
                          headers={"X-Forwarded-For": address})

    for i in range(10):
        r = enrol(f"AAAAA-AAAA{i}", "10.5.0.1")
        assert r.status_code == 403 and "enrolment code" in r.json()["error"]
    good = central.enrolment_code(unique("gate"))
    r = enrol(good, "10.5.0.1")
    assert r.status_code == 429 and "too many failed enrolments" in r.json()["error"]
    assert r.headers["Retry-After"].isdigit()
    assert enrol(good, "10.5.0.2").status_code == 201  # the code was not spent by the refusal
    failed = [e for e in _log(central, audit.ENROL_FAILED) if e.client == "10.5.0.1"]
    assert len(failed) == 10
    assert any(e.client == "10.5.0.2" for e in _log(central, audit.ENROL))
    assert _log(central, audit.ENROL_CODE)  # who printed the code


def test_exports_and_publishing_are_audited(central: CentralServer, kiosks: list[Kiosk],
                                            tmp_path: Path):
    gate1, _ = kiosks
    gate1.check("R1", "out")
    gate1.sync()
    admin.publish_policy(central.engine, "quota.days", "3", actor="cli:planner")
    day = datetime.now().date()
    runner = CliRunner()
    for extra in ([], ["--unmasked"]):
        r = runner.invoke(main, ["--data-dir", str(tmp_path), "serve", "export", "--db",
                                 central.db_url, "--date", day.isoformat(), "--out",
                                 str(tmp_path / "out"), *extra])
        assert r.exit_code == 0, r.output
    (unmasked,) = [e for e in _log(central, audit.EXPORT_UNMASKED)
                   if str(tmp_path) in e.detail]
    assert unmasked.actor.startswith("cli:") and json.loads(unmasked.detail)["masked"] is False
    assert [e for e in _log(central, audit.EXPORT) if str(tmp_path) in e.detail]
    assert any(json.loads(e.detail) == {"what": "policy", "key": "quota.days", "value": "3"}
               and e.actor == "cli:planner" for e in _log(central, audit.PUBLISH))

    r = runner.invoke(main, ["--data-dir", str(tmp_path), "serve", "--db", central.db_url,
                             "audit", "--action", "export_unmasked"])
    assert r.exit_code == 0 and str(tmp_path) in r.output and "export_unmasked" in r.output


def test_the_limit_counts_only_failures_inside_its_window():
    limit = Limit(3, timedelta(minutes=15))
    now = datetime(2026, 11, 29, 6, 0)
    old = [now - timedelta(minutes=20)] * 5
    assert limit.wait(old, now) is None
    recent = [now - timedelta(minutes=m) for m in (14, 10, 5)]
    assert limit.wait(recent[1:], now) is None
    assert limit.wait(recent, now) == timedelta(minutes=1)  # the 14-min-old one leaves first
