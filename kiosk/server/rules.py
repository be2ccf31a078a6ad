"""The command's versioned rule sets on the central store (issue 15 point 5).

The command signs a rule set on its own machine (``kiosk serve rules publish --key``: the
private key never reaches the store), the store checks it before keeping it (the signature
verifies with a pass key it publishes to the kiosks, the version is the next number, the
body is a valid rule set) and sends it to every kiosk in /changes with what else the
command published. Each kiosk says which version it decides with (``X-Kiosk-Rules``), and
the dashboard shows it per gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, insert, select

from kiosk.core import rules as core
from kiosk.core.passcode import CheckReason, public_key_from_hex
from kiosk.server import audit
from kiosk.server.admin import ADMIN_SCOPE, KEYS
from kiosk.server.clock import utc_now
from kiosk.server.ingest import next_change_ids
from kiosk.server.models import RuleSetRow
from kiosk.store.models import table_of

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RULES = table_of(RuleSetRow)

#: audit action of a rule set published
PUBLISH_RULES = "publish_rules"


class RulesRefused(ValueError):
    """A rule set the store does not keep; the message says why."""


@dataclass(frozen=True, slots=True)
class Published:
    version: int
    effective_utc: datetime
    published_at: datetime
    published_by: str
    rules: core.RuleSet


def next_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(RULES.c.version), 0)))
                   .scalar_one()) + 1


def _keys(conn: Connection) -> dict[str, Ed25519PublicKey]:
    return {r.key_id: public_key_from_hex(r.public_key_hex)
            for r in conn.execute(select(KEYS.c.key_id, KEYS.c.public_key_hex)
                                  .where(KEYS.c.active.is_(True)))}


def publish(engine: Engine, signed: core.SignedRules, actor: str | None = None) -> int:
    """Keep a signed rule set and send it to the kiosks; returns its version. Refused
    whole (RulesRefused, nothing kept, the refusal audited) when the signature does not
    verify with an active published pass key, or the version is not the next one."""
    who = actor or audit.cli_actor()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        why, rules = core.verify(signed, _keys(conn))
        top = int(conn.execute(select(func.coalesce(func.max(RULES.c.version), 0)))
                  .scalar_one())
        problem = {
            CheckReason.UNKNOWN_KEY: f"key {signed.key_id!r} is not an active pass key of "
                                     "this store (kiosk serve trust)",
            CheckReason.FORGED: "the signature does not match the rule set",
            CheckReason.MALFORMED: "the signed text is not a valid rule set",
        }.get(why)
        if rules is not None and rules.version != top + 1:
            problem = f"version {rules.version}: the next version is {top + 1}"
        if problem is None and rules is not None:
            change = next_change_ids(conn, ADMIN_SCOPE, 1)
            conn.execute(insert(RULES).values(
                version=rules.version, effective_utc=rules.effective_utc, body=signed.body,
                key_id=signed.key_id, signature=signed.signature,
                published_at=utc_now(), published_by=who, change_id=change))
            audit.record_in(conn, who, PUBLISH_RULES, {
                "version": rules.version, "effective_utc": rules.effective_utc.isoformat(),
                "key_id": signed.key_id})
    if problem is not None or rules is None:
        audit.record(engine, who, PUBLISH_RULES,
                     {"refused": True, "why": problem, "key_id": signed.key_id})
        raise RulesRefused(problem or "not a rule set")
    return rules.version


def published(engine: Engine) -> list[Published]:
    """Every version, newest first."""
    with engine.connect() as conn:
        return [Published(r.version, r.effective_utc, r.published_at, r.published_by,
                          core.parse(r.body))
                for r in conn.execute(select(RULES).order_by(RULES.c.version.desc()))]


def in_force(engine: Engine, now_utc: datetime) -> int | None:
    """The version the gates should decide with at ``now_utc`` (naive UTC), if any."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(RULES.c.version))
                            .where(RULES.c.effective_utc <= now_utc)).scalar()
