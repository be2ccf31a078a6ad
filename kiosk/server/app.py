"""The central store's HTTP service (FastAPI, served by uvicorn).

API for kiosks under ``/api/v1`` (device secret as a bearer token), the command's dashboard
under ``/`` (kiosk.server.dashboard). Database work runs in the thread pool; the app holds no
state between requests beyond caches, so any number of workers can serve one database.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select, update
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kiosk.server import admin, audit, devicekeys, ratelimit
from kiosk.server.audit import client_of
from kiosk.server.auth import sha256_hex
from kiosk.server.changes import BadCursor, Cursor, changes
from kiosk.server.clock import utc_now
from kiosk.server.db import is_postgres, open_server_store
from kiosk.server.guard import Guard
from kiosk.server.ingest import (
    DEV,
    MAX_BATCH_EVENTS,
    Ingest,
    PushResponse,
    Refused,
    parse_push,
    push_request_schema,
)
from kiosk.server.ratelimit import minutes_to_wait, retry_after
from kiosk.server.schemas import (
    ChangesPage,
    DeviceView,
    Enrolled,
    EnrolRequest,
    Health,
    KeyRegistered,
    KeyRequest,
    UplinkView,
    problems,
)
from kiosk.sync import wire

#: a batch larger than this (bytes) is refused before it is read (HTTP 413)
MAX_BODY_BYTES = 16 * 1024 * 1024
#: any other request's body (an enrolment, a sign-in form) is refused above this (bytes)
MAX_SMALL_BODY_BYTES = 64 * 1024
#: seconds a client may take to send a request's body before it gets 408 (a slow sender
#: holds a worker's connection; a 16 MB batch at 1 Mbit/s takes ~130 s)
BODY_TIMEOUT_S = 180.0
DB_ENV = "KIOSK_SERVER_DB"
BODY_TIMEOUT_ENV = "KIOSK_SERVER_BODY_TIMEOUT"
#: seconds a client has to send a request's line and headers (kiosk.server.headtimeout;
#: nginx's client_header_timeout is 60 by default)
HEADER_TIMEOUT_S = 20.0
HEADER_TIMEOUT_ENV = "KIOSK_SERVER_HEADER_TIMEOUT"
EVENTS_PATH = "/api/v1/events"
#: the hub's data directory: set, the central store is a compound hub (kiosk.server.hub)
HUB_DIR_ENV = "KIOSK_HUB_DIR"


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    checkpoint: str
    compound: str
    role: str = "kiosk"


#: the largest count a kiosk reports in a header (the device row's 32-bit columns)
MAX_HEADER_COUNT = 2**31 - 1


def _int_header(request: Request, name: str) -> int | None:
    """A count the kiosk reports (``X-Kiosk-Pending``): None when absent, 422 when it is
    not a count the device row can hold."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 10
            and int(value) <= MAX_HEADER_COUNT):
        raise _problem(422, f"{name} must be a whole number from 0 to {MAX_HEADER_COUNT}")
    return int(value)


#: the oldest data age a kiosk may report (seconds; ten years)
MAX_DATA_AGE_S = 10 * 365 * 86400


def _data_age(request: Request) -> str | None:
    """``X-Kiosk-Data-Age``: seconds since the kiosk's roster, revocations and keys came
    from the command, or ``never``; None when absent (an older kiosk), 422 when neither."""
    value = request.headers.get("x-kiosk-data-age")
    if value is None or value == "never":
        return value
    if not (value.isascii() and value.isdigit() and len(value) <= 10
            and int(value) <= MAX_DATA_AGE_S):
        raise _problem(422, f"x-kiosk-data-age must be 'never' or whole seconds from 0 to "
                            f"{MAX_DATA_AGE_S}")
    return value


def _problem(status: int, detail: str) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status_code=status, detail=detail, headers=headers)


async def _read_body(request: Request) -> bytes:
    """The request body (its size and read time are bounded by kiosk.server.guard)."""
    return await request.body()


def _clock_offset(request: Request) -> float | None:
    """The kiosk's clock (``X-Kiosk-Clock``, UTC, ISO 8601) minus ours, in seconds; None if
    absent or unreadable. Includes the request's transit time (well under the minute that
    matters)."""
    try:
        theirs = datetime.fromisoformat(request.headers.get("x-kiosk-clock", ""))
    except ValueError:
        return None
    if theirs.tzinfo is None:
        return None
    return round((theirs - datetime.now(UTC)).total_seconds(), 1)


_bearer = HTTPBearer(auto_error=False, description="the device secret from enrolment")


async def current_device(
        request: Request,
        credential: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Device:
    """The enrolled, active device whose secret the request carries, else 401."""
    token = credential.credentials.strip() if credential is not None else ""
    if not token:
        raise _problem(401, "no device credential: enrol the kiosk first")
    found: Device | None = await run_in_threadpool(
        request.app.state.lookup, token, _int_header(request, "x-kiosk-pending"),
        _int_header(request, "x-kiosk-quarantined"), _clock_offset(request),
        _data_age(request), _int_header(request, "x-kiosk-rules"))
    if found is None:
        raise _problem(401, "unknown or withdrawn device credential")
    return found


AuthDevice = Annotated[Device, Depends(current_device)]


def create_app(engine: Engine, *, body_timeout_s: float = BODY_TIMEOUT_S,
               hub_dir: Path | None = None) -> FastAPI:
    """The app on ``engine``; ``body_timeout_s``: seconds a request's body may take. With
    ``hub_dir`` (the hub's data directory) it is a compound hub: it relays what its gates
    send to the district and the district's changes to its gates (kiosk.server.hub), in a
    background thread while the app runs."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if hub_dir is None:
            yield
            return
        from kiosk.server.hub import RELAY_INTERVAL_S, RelayRunner
        from kiosk.sync.loop import SyncLoop

        runner = RelayRunner(engine, hub_dir)
        loop = SyncLoop(runner, interval_s=RELAY_INTERVAL_S, base_s=1.0, max_s=10.0)
        loop.start()
        _app.state.relay = loop
        try:
            yield
        finally:
            loop.stop()
            runner.close()

    app = FastAPI(title="Checkpoint Kiosk central store", docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.add_middleware(Guard, limits={EVENTS_PATH: MAX_BODY_BYTES},
                       default_limit=MAX_SMALL_BODY_BYTES, body_timeout_s=body_timeout_s)
    ingest = Ingest(engine)
    app.state.engine = engine
    if hub_dir is not None:  # keys an old hub took on trust judge nothing here
        from kiosk.server.hub import drop_keys_not_passed_down

        drop_keys_not_passed_down(engine)  # audited, key by key
    postgres = is_postgres(engine)

    def lookup(token: str, pending: int | None, quarantined: int | None,
               clock_offset_s: float | None = None,
               data_age: str | None = None, rules_version: int | None = None
               ) -> Device | None:
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            row = conn.execute(select(DEV.c.id, DEV.c.checkpoint, DEV.c.compound, DEV.c.role)
                               .where(DEV.c.secret_hash == sha256_hex(token),
                                      DEV.c.active.is_(True))).first()
            if row is None:
                return None
            device = Device(row.id, row.checkpoint, row.compound, row.role)
            if postgres and conn.execute(
                    select(DEV.c.id).where(DEV.c.id == row.id)
                    .with_for_update(skip_locked=True)).first() is None:
                # a batch of this device is being stored (kiosk.server.ingest locks its row
                # and sets last_contact itself at commit): waiting here held the kiosk's next
                # pipelined batch before its body was read; what this request reports is
                # reported again by the kiosk's next one (GET /device after each push)
                return device
            # naive UTC, as the findings and the events' times (server migration 0013)
            values: dict[str, Any] = {"last_contact": utc_now()}
            if pending is not None:
                values["pending"] = pending
            if quarantined is not None:
                values["quarantined"] = quarantined
            if clock_offset_s is not None:
                values["clock_offset_s"] = clock_offset_s
            if rules_version is not None:  # 0: the kiosk's own settings
                values["rules_version"] = rules_version or None
            if data_age is not None:  # "never" or seconds (checked by _data_age)
                values["data_reported"] = True
                values["data_as_of"] = (None if data_age == "never" else
                                        values["last_contact"]
                                        - timedelta(seconds=int(data_age)))
            conn.execute(update(DEV).where(DEV.c.id == row.id).values(**values))
            return device

    app.state.lookup = lookup

    @app.get("/healthz")
    def healthz() -> Health:
        return Health(ok=True)

    @app.post("/api/v1/enrol", status_code=201, responses=problems(403, 413, 422, 429))
    async def enrol(request: Request, body: EnrolRequest) -> Enrolled:
        """Spend a one-time enrolment code for ``device_id``; the answer's secret is the
        device's credential. Refused (403, code not spent) for an unknown, used or expired
        code, and for a device id already enrolled unless the code replaces exactly it."""
        client = client_of(request)
        attempt = await run_in_threadpool(ratelimit.admit, engine, ratelimit.ENROL, client)
        if not isinstance(attempt, int):
            raise HTTPException(429, "too many failed enrolments from this address: try "
                                f"again in {minutes_to_wait(attempt)} min",
                                headers=retry_after(attempt))
        if hub_dir is not None:  # a gate of the compound: identities are the district's
            return await _enrol_through_hub(body, client, attempt)
        try:
            done = await run_in_threadpool(admin.enrol_device, engine, body.code,
                                           body.device_id, client=client,
                                           public_key=body.public_key,
                                           key_from_seq=body.key_from_seq)
        except admin.AdminError as exc:
            await run_in_threadpool(audit.record, engine, body.device_id, audit.ENROL_FAILED,
                                    {"reason": str(exc)}, client)
            raise _problem(403, str(exc)) from None
        await run_in_threadpool(ratelimit.succeeded, engine, attempt)
        return Enrolled(secret=done.secret, checkpoint=done.checkpoint,
                        compound=done.compound, device_id=done.device_id, role=done.role)

    async def _enrol_through_hub(body: EnrolRequest, client: str, attempt: int) -> Enrolled:
        from kiosk.server import hub
        from kiosk.sync.client import Refused as DistrictRefused
        from kiosk.sync.client import SyncError

        assert hub_dir is not None
        link = await run_in_threadpool(hub.read_link, engine, hub_dir)
        try:
            answer = await run_in_threadpool(hub.relay_enrol, engine, link, body.code,
                                             body.device_id, None, body.public_key,
                                             body.key_from_seq)
        except DistrictRefused as exc:
            await run_in_threadpool(audit.record, engine, body.device_id, audit.ENROL_FAILED,
                                    {"reason": str(exc)}, client)
            raise _problem(403, f"the district refused: {exc}") from None
        except SyncError as exc:
            raise _problem(503, f"the district cannot be reached from this hub ({exc}): "
                                "enrol again when it can") from None
        await run_in_threadpool(ratelimit.succeeded, engine, attempt)
        await run_in_threadpool(audit.record, engine, body.device_id, audit.ENROL,
                                {"checkpoint": answer["checkpoint"],
                                 "compound": answer["compound"], "through_hub": True}, client)
        return Enrolled(secret=answer["secret"], checkpoint=answer["checkpoint"],
                        compound=answer["compound"], device_id=answer["device_id"])

    @app.post(EVENTS_PATH, response_model=PushResponse, openapi_extra=push_request_schema(),
              responses=problems(401, 403, 408, 413, 422))
    async def upload(request: Request, me: AuthDevice) -> dict[str, Any]:
        """A batch of the kiosk's gate events (``PushRequest``); idempotent by event id.
        A batch with any event outside the event's type (kiosk.core.event) is refused
        whole (422) and nothing of it is stored."""
        raw = await _read_body(request)
        try:
            body = parse_push(raw)
        except Refused as exc:
            raise _problem(422, str(exc)) from None
        if len(body.events) > MAX_BATCH_EVENTS:
            raise _problem(413, f"more than {MAX_BATCH_EVENTS} events in one batch")
        if {e.device_id for e in body.events} - {body.device_id}:
            raise _problem(403, "a device may only post its own events")
        if me.role == "hub":  # a hub records nothing: it relays its compound's gates
            allowed = await run_in_threadpool(_gate_of_compound, body.device_id, me.compound)
        else:
            allowed = body.device_id == me.id
        if not allowed:
            raise _problem(403, "a device may only post its own events (a hub: those of "
                                "its compound's gates)")
        if me.role == "hub" and hub_dir is None:  # at the district, relayed by a hub
            from kiosk.server import hub

            held = await run_in_threadpool(hub.hold_if_keyless, engine, body.device_id,
                                           wire.loads(raw)["events"], me.id)
            if held is not None:  # the gate's key is not known here yet: held for it
                return {"stored": 0, "duplicates": 0, "rejected": [], "missing": [],
                        "last_seq": 0, "held": held}
            await run_in_threadpool(hub.release_held, engine, ingest, body.device_id)
        relay = None
        if hub_dir is not None:  # the events as the kiosk sent them, for the district
            relay = wire.loads(raw)["events"]
        try:
            result = await run_in_threadpool(ingest.ingest, body.device_id, body.events,
                                             body.volunteers, relay,
                                             me.id if me.role == "hub" else None)
        except Refused as exc:
            raise _problem(422, str(exc)) from None
        if relay is not None and result.stored and hasattr(request.app.state, "relay"):
            request.app.state.relay.wake()  # up to the district now, not at the next round
        return result.as_json()

    def _gate_of_compound(device_id: str, compound: str) -> bool:
        with engine.connect() as conn:
            return conn.execute(select(DEV.c.id).where(
                DEV.c.id == device_id, DEV.c.compound == compound, DEV.c.role == "kiosk",
                DEV.c.active.is_(True))).first() is not None

    @app.get("/api/v1/changes", response_model=ChangesPage, responses=problems(401, 422))
    async def download(me: AuthDevice,
                       cursor: Annotated[str, Query(max_length=60)] = "",
                       limit: Annotated[int, Query(ge=1, le=1_000_000)] = 2000
                       ) -> dict[str, Any]:
        """One page of what changed since ``cursor`` (at most 5,000 items per stream)."""
        try:
            parsed = Cursor.parse(cursor)
        except BadCursor as exc:
            raise _problem(422, str(exc)) from None
        limit = max(1, min(limit, 5000))
        return await run_in_threadpool(changes, engine, me.id, me.compound, parsed, limit,
                                       None, me.role == "hub")

    @app.get("/api/v1/device", response_model=DeviceView, responses=problems(401))
    async def whoami(me: AuthDevice) -> dict[str, Any]:
        """The server's view of this device: what it holds and what is missing."""
        def read() -> dict[str, Any]:
            with engine.connect() as conn:
                row = conn.execute(select(DEV).where(DEV.c.id == me.id)).one()
                missing = json.loads(row.gaps)
                if hub_dir is not None:  # lost only if the district lacks it too
                    from kiosk.server.hub import district_view, missing_at_both

                    missing = missing_at_both((row.last_seq, missing),
                                              district_view(conn, me.id))
            return {"device_id": row.id, "checkpoint": row.checkpoint,
                    "compound": row.compound, "last_seq": row.last_seq, "missing": missing}
        return await run_in_threadpool(read)

    @app.get("/api/v1/uplink", response_model=UplinkView, responses=problems(401))
    async def uplink(me: AuthDevice) -> dict[str, Any]:
        """Whether this is a compound hub, and if so whether the district answers it, its
        relay backlog and when it last heard from each other gate of the compound."""
        if hub_dir is None:
            return {"hub": False}
        from kiosk.server.hub import uplink as hub_uplink

        return await run_in_threadpool(hub_uplink, engine, me.id, me.compound)

    @app.post("/api/v1/device/key", responses=problems(401, 409, 422))
    async def register_key(request: Request, me: AuthDevice, body: KeyRequest
                           ) -> KeyRegistered:
        """Register this device's Ed25519 key, once (a kiosk enrolled before keys): trust
        on first use, audited. The same key again is acknowledged; another key is refused
        (409): a key is only replaced by a replacement enrolment. Only the device's own
        credential registers its key. A compound hub registers none: it answers with the
        key the district passed down, or ``pending`` (register it at the district)."""
        if hub_dir is not None:
            from kiosk.server import hub

            try:
                from_seq = await run_in_threadpool(hub.known_key, engine, me.id,
                                                   body.public_key)
            except ValueError as exc:
                raise _problem(422, f"public_key: {exc}") from None
            return KeyRegistered(public_key=body.public_key.lower(),
                                 from_seq=body.from_seq if from_seq is None else from_seq,
                                 new=False, pending=from_seq is None)
        try:
            done = await run_in_threadpool(devicekeys.register_first_use, engine, me.id,
                                           body.public_key, body.from_seq,
                                           client_of(request))
        except devicekeys.KeyConflict as exc:
            raise _problem(409, str(exc)) from None
        except ValueError as exc:
            raise _problem(422, f"public_key: {exc}") from None
        from kiosk.server import hub  # what hubs relayed while the key was not known here

        await run_in_threadpool(hub.release_held, engine, ingest, me.id)
        return KeyRegistered(public_key=done.public_key, from_seq=done.from_seq, new=done.new)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's, and the body guard's 408/413
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        what = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                         for e in exc.errors()[:5])
        return JSONResponse({"error": what or "malformed request"}, status_code=422)

    try:
        from kiosk.server.dashboard import attach_dashboard
    except ImportError:  # pragma: no cover - the dashboard is optional
        pass
    else:
        attach_dashboard(app, engine)
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory (``--factory``): the database URL comes from $KIOSK_SERVER_DB, so
    every worker process opens the same store; $KIOSK_HUB_DIR makes it a compound hub."""
    timeout = float(os.environ.get(BODY_TIMEOUT_ENV) or BODY_TIMEOUT_S)
    hub_dir = os.environ.get(HUB_DIR_ENV)
    app = create_app(open_server_store(os.environ[DB_ENV]), body_timeout_s=timeout,
                     hub_dir=Path(hub_dir) if hub_dir else None)
    settle_heap()
    return app


def settle_heap() -> None:
    """Take what start-up made (modules, the app, its schemas: some 10^5 objects) out of the
    cycle collector's view, and let it run less often: an upload of 2,000 events makes
    about 10^5 short-lived objects, and each full collection walked all of them and all
    of start-up's again (a fifth of the server's CPU during a push, docs/BENCHMARKS_sync.md).
    Those objects are freed by reference counting when the request ends."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
