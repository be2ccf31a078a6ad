"""Sync state in the kiosk's ``meta`` table (key/value) and the status shown to people.

Kept in the database, not in a file, so the download cursor moves in the same transaction as
the rows it stands for: a crash can never leave the cursor ahead of what was applied.

The times (``sync.last_success``, ``sync.last_attempt``, ``sync.last_error_at``,
``sync.data_as_of``) are kept in UTC with their offset (``time_text``), and every reader
compares them as aware times (``read_time``): the kiosk's zone can change (a Pi set up in
UTC, then set to Asia/Shanghai), and local times without a zone would then make old data
look hours fresher, or a fresh sync hours stale, until the next sync. No migration: values
written before (local time without a zone) are read as local time in the zone set now,
which is how they were written unless the zone changed since; the next sync rewrites them.
People see these times in the kiosk's present zone (``shown``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.core.clock import clock_is_off
from kiosk.store import lite

if TYPE_CHECKING:
    from kiosk.store.lite import AnyConnection, Source

CURSOR = "sync.cursor"
LAST_SUCCESS = "sync.last_success"
LAST_ATTEMPT = "sync.last_attempt"
LAST_ERROR = "sync.last_error"
LAST_ERROR_AT = "sync.last_error_at"
MISSING = "sync.server_missing"
COMPOUND = "sync.compound"
CHECKPOINT = "sync.server_checkpoint"
POLICY = "sync.policy"
#: the store the last successful sync went to (the hub's URL or the district's)
VIA = "sync.via"
#: the hub's answer about its link to the district and the other gates (JSON; "" when the
#: last sync went to the district directly)
UPLINK = "sync.uplink"
#: when the last pull completed: the roster, revocations and pass keys the gate holds are
#: the command's as of then (they arrive in the same pages, so they are as old as each other)
DATA_AS_OF = "sync.data_as_of"
#: this kiosk's clock minus the central store's at the last sync (seconds)
CLOCK_OFFSET = "sync.clock_offset_s"
#: the public key (hex) the central store has registered for this kiosk's signatures
DEVICE_KEY = "sync.device_key"
#: the device secret lives in this file of the data directory (mode 0600), not in the
#: database (which is backed up and copied around) nor in settings.toml (which is printed)
SECRET_FILE = "sync.key"


_GET = "SELECT value FROM meta WHERE key = ?"
_PUT = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
#: (all, quarantined) in one pass without a GROUP BY's temporary b-tree
_OUTBOX_COUNTS = "SELECT count(*), coalesce(sum(quarantined = 1), 0) FROM outbox"


def get(conn: AnyConnection, key: str, default: str = "") -> str:
    value = lite.one(lite.driver(conn), _GET, (key,))
    return default if value is None else str(value)


def own_clock_error(conn: AnyConnection) -> timedelta:
    """How far this kiosk's wall clock was ahead of the central store's at the last sync
    (negative: behind), when that is more than ordinary drift (kiosk.core.clock.clock_is_off);
    zero otherwise or when never measured. Taken off this kiosk's own event times before
    they are compared with another gate's, so a clock 45 days fast does not decide who is
    out (kiosk.ui.vm.queries.who_is_out, kiosk.store.roster.last_direction)."""
    text = get(conn, CLOCK_OFFSET)
    try:
        offset = float(text) if text else None
    except ValueError:
        return timedelta(0)
    if offset is None or not math.isfinite(offset) or not clock_is_off(offset):
        return timedelta(0)
    return timedelta(seconds=offset)


def put(conn: AnyConnection, **values: str) -> None:
    """Set meta keys (``put(conn, **{CURSOR: "1.2"})``) inside the caller's transaction."""
    lite.driver(conn).executemany(_PUT, values.items())


def record(db: Source, **values: str) -> None:
    with lite.writing(db) as con:
        put(con, **values)


def time_text(at: datetime) -> str:
    """How the sync times are kept: ISO in UTC with its offset (``...+00:00``), so no reader
    has to guess the zone. ``at`` is aware."""
    return at.astimezone(UTC).isoformat(timespec="seconds")


def now_text() -> str:
    return time_text(datetime.now(UTC))


def read_time(text: str) -> datetime | None:
    """A kept sync time, aware; a value without a zone (written before times were kept in
    UTC) is local time in the zone set now. None: never, or not a time (the status shown
    at the gate must not fail on it; "never" is the cautious reading)."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at.astimezone() if at.tzinfo is None else at


def shown(text: str) -> str:
    """A kept sync time for people, in the kiosk's zone as it is set now, with its offset
    (``2026-12-01 04:22:11+0800``); "" for never."""
    at = read_time(text)
    return "" if at is None else f"{at.astimezone():%Y-%m-%d %H:%M:%S%z}"


def age_s(as_of: str, now: datetime | None = None) -> float | None:
    """Seconds since ``as_of`` (a kept sync time; "" never: None); ``now`` aware (default:
    now), so a change of the kiosk's zone changes nothing."""
    at = read_time(as_of)
    if at is None:
        return None
    return max(0.0, ((now or datetime.now(UTC)) - at).total_seconds())


def read_secret(data_dir: Path) -> str | None:
    path = data_dir / SECRET_FILE
    return path.read_text(encoding="ascii").strip() if path.exists() else None


def write_secret(data_dir: Path, secret: str) -> None:
    path = data_dir / SECRET_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret + "\n", encoding="ascii")
    tmp.chmod(0o600)
    tmp.replace(path)


@dataclass
class SyncStatus:
    """What ``kiosk sync status`` prints and the app's status bar shows. The times are
    ISO in UTC with their offset ("" never), whatever zone they were written in."""

    url: str
    enrolled: bool
    pending: int
    quarantined: int
    last_success: str
    last_attempt: str
    last_error: str
    last_error_at: str
    #: [first, last] sequence ranges the server says it lacks (deleted here, or quarantined)
    server_missing: list[list[int]] = field(default_factory=list)
    cursor: str = ""
    #: this kiosk's clock minus the central store's at the last sync (None: not known)
    clock_offset_s: float | None = None
    #: the store the last successful sync went to (a hub's URL or the district's)
    via: str = ""
    #: when synced through a hub: what the hub says of the district and the other gates
    uplink: dict[str, Any] | None = None
    #: when the last pull completed (roster, revocations and keys as of then; "" never)
    data_as_of: str = ""

    def data_age_s(self, now: datetime | None = None) -> float | None:
        """Seconds since the gate's data came from the command; None: never."""
        return age_s(self.data_as_of, now)

    def succeeded_last(self) -> bool:
        """Whether the last sync that ended, ended well (no error since the last success)."""
        success, error = read_time(self.last_success), read_time(self.last_error_at)
        return success is not None and (error is None or success >= error)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


#: the meta keys holding times (``time_text``)
_TIMES = (LAST_SUCCESS, LAST_ATTEMPT, LAST_ERROR_AT, DATA_AS_OF)


def outbox_counts(conn: AnyConnection) -> tuple[int, int]:
    """(pending, quarantined) events in the outbox, in one pass without a GROUP BY's
    temporary b-tree: read for every batch and every status tick, so cheap matters with
    100,000 events queued."""
    total, quarantined = lite.driver(conn).execute(_OUTBOX_COUNTS).fetchone()
    return int(total) - int(quarantined), int(quarantined)


def status(db: Source, data_dir: Path, url: str) -> SyncStatus:
    with lite.reading(db) as conn:
        pending, quarantined = outbox_counts(conn)
        meta = {k: get(conn, k) for k in (LAST_SUCCESS, LAST_ATTEMPT, LAST_ERROR, LAST_ERROR_AT,
                                          MISSING, CURSOR, CLOCK_OFFSET, VIA, UPLINK,
                                          DATA_AS_OF)}
    for key in _TIMES:  # older values (local, no zone) with their offset from here on
        at = read_time(meta[key])
        meta[key] = "" if at is None else time_text(at)
    return SyncStatus(
        url=url, enrolled=read_secret(data_dir) is not None, pending=pending,
        quarantined=quarantined, last_success=meta[LAST_SUCCESS],
        last_attempt=meta[LAST_ATTEMPT], last_error=meta[LAST_ERROR],
        last_error_at=meta[LAST_ERROR_AT], server_missing=json.loads(meta[MISSING] or "[]"),
        cursor=meta[CURSOR],
        clock_offset_s=float(meta[CLOCK_OFFSET]) if meta[CLOCK_OFFSET] else None,
        via=meta[VIA], uplink=json.loads(meta[UPLINK]) if meta[UPLINK] else None,
        data_as_of=meta[DATA_AS_OF])


class Link(StrEnum):
    """How a gate reaches the district, as its status bar says it."""

    #: not set up for sync, or never synced yet
    NONE = "none"
    #: straight to the district
    DISTRICT = "district"
    #: through the compound's hub, which reaches the district
    HUB = "hub"
    #: through the hub, which does not reach the district now (the gates of the compound
    #: still agree through it)
    HUB_ALONE = "hub_alone"
    #: through the hub, which has never reached the district (not enrolled there yet, or
    #: cut off since it was set up): nothing the gates did has left the compound, and
    #: their clocks are measured against the hub's alone
    HUB_NEVER = "hub_never"


@dataclass(frozen=True, slots=True)
class GateLink:
    link: Link
    #: since when this gate's view of the other gates is stale (its last successful
    #: sync; aware: show it with ``.astimezone()``), None while it is fresh
    stale_since: datetime | None


def gate_link(st: SyncStatus, now: datetime, stale_after_s: float) -> GateLink:
    """Which way this gate syncs and whether its view of the other gates is stale: no
    successful sync for more than ``stale_after_s`` seconds before ``now`` (aware)."""
    last = read_time(st.last_success)
    if last is None:
        return GateLink(Link.NONE, None)
    stale = last if (now - last).total_seconds() > stale_after_s else None
    if st.uplink is None:
        return GateLink(Link.DISTRICT, stale)
    if st.uplink.get("district_ok"):
        return GateLink(Link.HUB, stale)
    return GateLink(Link.HUB_ALONE if st.uplink.get("district_last_success")
                    else Link.HUB_NEVER, stale)


def clock_offset(offset_s: float | None) -> dict[str, str]:
    """The meta value to record for a measured clock offset (nothing when unmeasured)."""
    return {} if offset_s is None else {CLOCK_OFFSET: f"{offset_s:.1f}"}
