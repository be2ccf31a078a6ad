"""Attacks of the hostile review (issue 12) on a real central store on 127.0.0.1, each of
which succeeded before: taking over an enrolled device id, guessing faster than the limits by
sending at once, telling user names apart by time, forging X-Forwarded-For, sending huge or
slow bodies, cross-origin posts, plain HTTP off loopback."""

from __future__ import annotations

import csv
import socket
import ssl
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sync_testkit import REPO, ROSTER, CentralServer, Kiosk, database_url, make_kiosk, unique

from kiosk.cli import main
from kiosk.server import admin, audit
from kiosk.server.app import MAX_SMALL_BODY_BYTES
from kiosk.server.ingest import DEV
from kiosk.server.ratelimit import ENROL_PER_CLIENT, LOGIN_PER_USER_CLIENT
from kiosk.server.web.session import SESSIONS
from kiosk.sync.client import Refused

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    """A server as ``kiosk serve`` starts by default (no proxy trusted), with short body and
    head deadlines so a slow sender is cut off within the test."""
    d = tmp_path_factory.mktemp("plain")
    server = CentralServer(database_url("sqlite", d), d,
                           options=("--body-timeout", "1", "--header-timeout", "1")).start()
    yield server
    server.stop()


def _enrol(central: CentralServer, code: str, device_id: str,
           address: str = "10.20.0.1") -> httpx.Response:
    return httpx.post(central.url + "/api/v1/enrol", json={"code": code, "device_id": device_id},
                      headers={"X-Forwarded-For": address})


# --- 2. device takeover at enrolment ------------------------------------------------------
def test_a_fresh_code_cannot_take_over_an_enrolled_device(central: CentralServer,
                                                          kiosks: list[Kiosk]):
    victim = kiosks[0]
    victim_id = victim.settings.device.id
    code = central.enrolment_code("attacker-gate", unique("elsewhere"))
    r = _enrol(central, code, victim_id)
    assert r.status_code == 403 and "already enrolled" in r.json()["error"]
    with victim.client() as client:  # the victim's secret still works, nothing moved
        assert client.device()["compound"] == victim.compound
    with central.engine.connect() as conn:
        row = conn.execute(select(DEV).where(DEV.c.id == victim_id)).one()
    assert (row.checkpoint, row.compound) == ("gate-1", victim.compound)
    assert _enrol(central, code, str(uuid.uuid4())).status_code == 201  # the code was not spent

    # only a replacement code made for exactly this device re-binds it
    replacement = admin.make_enrolment_code(central.engine, replaces=victim_id)
    assert _enrol(central, replacement, str(uuid.uuid4())).status_code == 403
    r = _enrol(central, replacement, victim_id)
    assert r.status_code == 201
    assert (r.json()["checkpoint"], r.json()["compound"]) == ("gate-1", victim.compound)
    with victim.client() as client, pytest.raises(Refused):
        client.device()  # the old secret died with the replacement


def test_the_command_makes_a_replacement_code(central: CentralServer, kiosks: list[Kiosk],
                                              tmp_path: Path):
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path), "serve", "--db", central.db_url, "enrol"]
    r = runner.invoke(main, [*base, "--replace", kiosks[1].settings.device.id])
    assert r.exit_code == 0, r.output
    assert _enrol(central, r.stdout.strip(), kiosks[1].settings.device.id).status_code == 201
    r = runner.invoke(main, [*base, "--replace", "no-such-device"])
    assert r.exit_code == 1 and "no enrolled device" in r.output


# --- 5. rate limits -----------------------------------------------------------------------
@pytest.mark.slow  # five argon2 checks under 60 concurrent requests, on two backends
def test_sixty_concurrent_wrong_sign_ins_check_at_most_the_limit(central: CentralServer):
    user = unique("并发")
    admin.add_user(central.engine, user, "correct horse battery")

    def attempt(_: int) -> int:
        return httpx.post(central.url + "/login", data={"user": user, "password": "guess"},
                          headers={"X-Forwarded-For": "10.21.0.1"}, timeout=60).status_code

    with ThreadPoolExecutor(60) as pool:
        statuses = list(pool.map(attempt, range(60)))
    checked = [e for e in audit.entries(central.engine, action=audit.SIGN_IN_FAILED,
                                        limit=1000) if e.actor == user]
    assert statuses.count(401) == len(checked) <= LOGIN_PER_USER_CLIENT.failures
    assert statuses.count(429) == 60 - len(checked)


def test_sixty_concurrent_enrolment_guesses_check_at_most_the_limit(central: CentralServer):
    address = f"10.22.{time.monotonic_ns() % 250}.1"
    with ThreadPoolExecutor(60) as pool:
        statuses = list(pool.map(lambda i: _enrol(central, f"AAAAA-{i:05d}", str(uuid.uuid4()),
                                                  address).status_code, range(60)))
    failed = [e for e in audit.entries(central.engine, action=audit.ENROL_FAILED, limit=5000)
              if e.client == address]
    assert statuses.count(403) == len(failed) <= ENROL_PER_CLIENT.failures
    assert statuses.count(429) == 60 - len(failed)


def test_sign_in_time_does_not_tell_known_users_from_unknown(plain: CentralServer):
    user = unique("known")
    admin.add_user(plain.engine, user, "correct horse battery")

    def seconds(name: str) -> float:
        start = time.perf_counter()
        r = httpx.post(plain.url + "/login", data={"user": name, "password": "guess"})
        assert r.status_code == 401
        return time.perf_counter() - start

    known, unknown = [], []
    for _ in range(3):
        known.append(seconds(user))
        unknown.append(seconds(unique("nobody")))
    assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)


def test_x_forwarded_for_is_believed_only_from_a_configured_proxy(plain: CentralServer):
    user = unique("xff")
    for _ in range(2):
        r = httpx.post(plain.url + "/login", data={"user": user, "password": "guess"},
                       headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 401
    clients = {e.client for e in audit.entries(plain.engine, action=audit.SIGN_IN_FAILED)
               if e.actor == user}
    assert clients == {"127.0.0.1"}  # a forged header neither hides nor frames anyone


# --- 9. bodies before auth ----------------------------------------------------------------
def _raw(server: CentralServer, head: str, body_parts: list[bytes], pause_s: float = 0.0,
         timeout_s: float = 10.0) -> str:
    """Send a request by hand (headers, then the body parts); the status line answered."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            for part in body_parts:
                s.sendall(part)
            time.sleep(pause_s)
        except OSError:  # the server answered and closed while we were still sending
            pass
        return s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]


@pytest.mark.parametrize("path", ["/login", "/api/v1/enrol"])
def test_a_300_mb_body_is_refused_before_it_is_read(plain: CentralServer, path: str):
    head = (f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
            "Content-Length: 300000000\n")
    start = time.monotonic()
    assert _raw(plain, head, [b"x" * 1000], timeout_s=5).startswith("HTTP/1.1 413")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("path", ["/login", "/api/v1/enrol"])
def test_a_chunked_body_is_cut_off_at_the_limit(plain: CentralServer, path: str):
    chunk = b"x" * 16384
    head = (f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nTransfer-Encoding: chunked\n"
            "Content-Type: application/json\n")
    parts = [b"4000\r\n" + chunk + b"\r\n"] * (MAX_SMALL_BODY_BYTES // len(chunk) + 2)
    assert _raw(plain, head, parts, timeout_s=5).startswith("HTTP/1.1 413")


def test_a_slow_sender_is_cut_off(plain: CentralServer):
    head = ("POST /api/v1/enrol HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
            "Content-Length: 100\n")
    start = time.monotonic()
    assert _raw(plain, head, [b'{"code": '], timeout_s=8).startswith("HTTP/1.1 408")
    assert time.monotonic() - start < 5


def _answer_to_a_slow_head(server: CentralServer, head: bytes) -> tuple[bytes, float]:
    """Send ``head`` (no end of headers), then nothing: what the server sends before it
    closes, and when it closed (seconds)."""
    start = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=8) as s:
        s.sendall(head)
        while chunk := s.recv(4096):
            answer += chunk
    return answer, time.monotonic() - start


@pytest.mark.parametrize("head", [b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag", b""])
def test_a_head_not_in_by_the_deadline_is_answered_408_and_closed(plain: CentralServer,
                                                                 head: bytes):
    """--header-timeout closed a slow client without a word: the client could not tell a
    deadline from a crash (and a proxy logs a 502). It gets ``408 Request Timeout`` with
    ``Connection: close``, then the close, whether it sent part of a head or nothing."""
    answer, took = _answer_to_a_slow_head(plain, head)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", answer[:200]
    headers = rest.split(b"\r\n\r\n")[0].lower()
    assert b"connection: close" in headers
    assert took < 4


def _open_for(s: socket.socket, trickle: bytes, limit_s: float) -> float:
    """Send ``trickle`` a byte every 0.2 s (nothing when empty) until the server closes the
    connection; how long it stayed open (``limit_s`` when it never closed)."""
    start = time.monotonic()
    i = 0
    s.settimeout(0.2)
    while time.monotonic() - start < limit_s:
        try:
            if i < len(trickle):
                s.sendall(trickle[i:i + 1])
                i += 1
            if s.recv(1024) == b"":
                return time.monotonic() - start
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except OSError:  # reset, or a TLS close without close_notify
            return time.monotonic() - start
    return limit_s


def test_headers_sent_byte_by_byte_over_direct_tls_are_cut_off(tmp_path: Path):
    """Point 9's residue: served directly over TLS (no nginx in front), a client that sends
    its headers a byte at a time, or nothing at all after the handshake, held a connection
    for as long as it liked. With --header-timeout 1 each is closed within about a second;
    a normal request is still answered."""
    cert, key = _self_signed(tmp_path)
    server = CentralServer(database_url("sqlite", tmp_path), tmp_path, options=(
        "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
        "--header-timeout", "1")).start()
    trust = ssl.create_default_context(cafile=str(cert))
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"s" * 100
    try:
        for trickle in (head, b""):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw, \
                    trust.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert _open_for(s, trickle, limit_s=8) < 4, trickle[:20]
        r = httpx.get(f"https://127.0.0.1:{server.port}/healthz", verify=trust)
        assert r.json() == {"ok": True}
    finally:
        server.stop()


# --- 18. dashboard headers ----------------------------------------------------------------
def test_pages_forbid_framing_scripts_and_caching(plain: CentralServer):
    for path in ("/login", "/", "/api/v1/device"):
        r = httpx.get(plain.url + path)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none'
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"


def test_a_cross_origin_sign_in_is_refused(plain: CentralServer):
    user = unique("csrf")
    admin.add_user(plain.engine, user, "correct horse battery")
    form = {"user": user, "password": "correct horse battery"}
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = httpx.post(plain.url + "/login", data=form, headers=headers)
        assert r.status_code == 403 and "kiosk_session" not in r.cookies, headers
    with plain.engine.connect() as conn:
        sessions = conn.execute(select(func.count()).select_from(SESSIONS)
                                .where(SESSIONS.c.user == user)).scalar_one()
    assert sessions == 0
    assert not [e for e in audit.entries(plain.engine, action=audit.SIGN_IN) if e.actor == user]
    # the dashboard's own form (same origin) still signs in
    r = httpx.post(plain.url + "/login", data=form, headers={
        "Origin": plain.url, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 303 and r.cookies["kiosk_session"]


# --- 13. plain HTTP -----------------------------------------------------------------------
def test_serve_refuses_plain_http_off_loopback(tmp_path: Path):
    r = subprocess.run(
        [sys.executable, "-m", "kiosk", "--data-dir", str(tmp_path), "serve", "--host",
         "0.0.0.0", "--port", "0"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "refusing plain HTTP" in r.stderr
    assert "--behind-tls-proxy" in r.stderr and "--ssl-certfile" in r.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_serve_speaks_tls_with_a_certificate(tmp_path: Path):
    import ssl

    cert, key = _self_signed(tmp_path)
    server = CentralServer(database_url("sqlite", tmp_path), tmp_path, options=(
        "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))).start()
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        r = httpx.get(f"https://127.0.0.1:{server.port}/healthz", verify=trust)
        assert r.json() == {"ok": True}
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=3)
    finally:
        server.stop()


def test_enrol_refuses_plain_http_to_another_machine(tmp_path: Path):
    r = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "sync", "enrol", "ABCDE-FGHJK",
                                  "--url", "http://192.0.2.10:8470/"])
    assert r.exit_code == 1 and "refusing plain HTTP" in r.output
    assert "--insecure-http" in r.output
    assert not (tmp_path / "sync.key").exists()


# --- 8. whose checkpoint ------------------------------------------------------------------
def test_the_district_export_names_the_checkpoint_of_the_enrolment(central: CentralServer,
                                                                   tmp_path: Path):
    from datetime import date

    from kiosk.gate import Gate
    from kiosk.server.export import export_central

    compound = unique("c")
    made = [make_kiosk(tmp_path, name, central, compound) for name in ("北门", "南门")]
    try:
        for k in made:  # both kiosks call themselves gate-1, as the review found
            k.settings.checkpoint.id = "gate-1"
            k.gate.close()
            k.gate = Gate(k.store, k.settings)
            k.check("R1", "out")
            assert k.sync().quarantined == 0
        result = export_central(central.engine, date.today(), tmp_path / "out", mask=False,
                                lang="en")
    finally:
        for k in made:
            k.close()
    with open(result.files[0].path, encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    labels = Counter(r[header.index("checkpoint")] for r in rows)
    assert labels["北门"] == labels["南门"] == 1, labels


# --- 10. PINs and data at rest ------------------------------------------------------------
def test_a_kiosk_receives_only_its_own_compounds_volunteers(plain: CentralServer):
    mine, theirs = unique("mine"), unique("theirs")
    admin.publish_volunteer(plain.engine, "本院", "5829137", "admin", mine)
    admin.publish_volunteer(plain.engine, "别院", "5829148", "admin", theirs)
    secret = _enrol(plain, admin.make_enrolment_code(plain.engine, "gate", mine),
                    str(uuid.uuid4())).json()["secret"]
    page = httpx.get(plain.url + "/api/v1/changes",
                     headers={"Authorization": f"Bearer {secret}"}).json()
    assert [v["name"] for v in page["volunteers"]] == ["本院"]


def test_new_pins_are_long_and_costly_and_old_short_ones_still_work(tmp_path: Path):
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY
    from sqlalchemy import insert

    from kiosk.store.db import open_store
    from kiosk.store.models import VolunteerRow as V
    from kiosk.store.volunteers import (
        PIN_HASHER,
        VolunteerError,
        add_volunteer,
        verify_pin,
        weak_pins,
    )

    store = open_store(tmp_path / "kiosk.sqlite3")
    for short_or_guessable in ("1234", "582913", "1111111", "1234567", "9876543", "1212121",
                               "12312312"):
        with pytest.raises(VolunteerError):
            add_volunteer(store.engine, "新人", short_or_guessable)
        with pytest.raises(admin.AdminError):
            admin.publish_volunteer(store.engine, "新人", short_or_guessable)
    add_volunteer(store.engine, "李静", "5829137")
    with store.engine.connect() as conn:
        stored = conn.execute(select(V.c.pin_hash).where(V.c.name == "李静")).scalar_one()
    params = PIN_HASHER.check_needs_rehash(stored) is False and stored.split("$")[3]
    assert params == "m=131072,t=4,p=4"  # the cost docs/SECURITY.md computes with
    # a 4-digit PIN set before (argon2-cffi's default cost) signs in until it is changed
    old = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash("2468")
    with store.engine.begin() as conn:
        conn.execute(insert(V).values(name="老王", role="volunteer", pin_hash=old, active=True))
    assert verify_pin(store.engine, "老王", "2468") is not None
    assert weak_pins(store.engine) == ["老王"]
    store.close()


@pytest.mark.slow  # two kiosk commands in child processes (~5-10 s)
def test_data_at_rest_is_0600_in_0700_directories(plain: CentralServer, tmp_path: Path):
    import os
    import stat
    from datetime import date

    data, out = tmp_path / "data", tmp_path / "unmasked"
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    old = os.umask(0o022)  # the usual default, under which files come out 0644
    try:
        for args in (["residents", "import", str(roster)],  # the store and its first backup
                     ["export", "--date", date.today().isoformat(), "--unmasked", "--out",
                      str(out)]):
            r = subprocess.run([sys.executable, "-m", "kiosk", "--data-dir", str(data), *args],
                               cwd=REPO, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
    finally:
        os.umask(old)
    found = {p: stat.S_IMODE(p.stat().st_mode)
             for p in [data, out, *data.rglob("*"), *out.rglob("*")]}
    central = plain.data_dir / "central.sqlite3"  # made by the `kiosk serve` child process
    found.update({p: stat.S_IMODE(p.stat().st_mode)
                  for p in plain.data_dir.glob("central.sqlite3*")})
    assert data / "kiosk.sqlite3" in found and central in found
    assert any(p.parent.name == "backups" for p in found)
    assert any(p.name.startswith("movements_") for p in found)
    wrong = {str(p): oct(m) for p, m in found.items() if m != (0o700 if p.is_dir() else 0o600)}
    assert not wrong, wrong


def test_markup_in_device_data_is_shown_as_text(plain: CentralServer):
    evil = "<script>alert(1)</script>"
    code = admin.make_enrolment_code(plain.engine, evil)
    assert _enrol(plain, code, str(uuid.uuid4())).status_code == 201
    user = unique("xss")
    admin.add_user(plain.engine, user, "correct horse battery")
    r = httpx.post(plain.url + "/login", data={"user": user,
                                               "password": "correct horse battery"})
    page = httpx.get(plain.url + "/", cookies={"kiosk_session": r.cookies["kiosk_session"]})
    assert evil not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_request_does_not_wait_for_the_same_kiosks_batch_being_stored(
        central: CentralServer, kiosks: list[Kiosk], backend: str):
    """PostgreSQL: ingest holds the device's row until its batch commits. A request of the
    same kiosk (its next pipelined batch, its outbox counts) used to wait for that commit in
    the authentication, before its body was even read; it is answered now, and the stored
    batch's commit records the contact."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: every request waits its turn there")
    k = kiosks[0]
    k.sync()
    dev = k.settings.device.id
    with central.engine.connect() as lock, lock.begin():  # a batch of k being stored
        lock.execute(select(DEV.c.id).where(DEV.c.id == dev).with_for_update())
        started = time.monotonic()
        with k.client(timeout=5.0) as client:
            answer = client.device(pending=0, quarantined=0)
        waited = time.monotonic() - started
    assert "missing" in answer and waited < 2.0, waited
    with k.client() as client:  # and with the row free, the contact is recorded as before
        client.device(pending=7, quarantined=0)
    with central.engine.connect() as conn:
        assert conn.execute(select(DEV.c.pending).where(DEV.c.id == dev)).scalar_one() == 7
