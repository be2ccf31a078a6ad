"""The command's rule sets at the kiosk: kept when their signature verifies with a key the
kiosk trusts, applied once their moment has come (kiosk.core.rules).

A rule set is verified twice: when it arrives (one that does not verify is not kept, and
the refusal is in the audit log) and before it is applied (a retired key's rule sets stop
applying; a row edited in the database does not verify). Verification results are cached
by the exact text, key and signature, so a decision pays for a signature check once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, Engine, insert, select

from kiosk.core import rules as core
from kiosk.core.passcode import CheckReason, public_key_from_hex
from kiosk.store import audit
from kiosk.store.models import PassKeyRow, RuleSetRow, table_of

RS = table_of(RuleSetRow)
K = table_of(PassKeyRow)

#: audit action of a rule set refused at arrival
RULES_REFUSED = "rules_refused"


@lru_cache(maxsize=64)
def _verified(body: str, key_id: str, signature: str, key_hex: str | None
              ) -> core.RuleSet | None:
    keys = {key_id: public_key_from_hex(key_hex)} if key_hex else {}
    why, rules = core.verify(core.SignedRules(body, key_id, signature), keys)
    return rules if why is CheckReason.OK else None


def _key_hex(conn: Connection, key_id: str) -> str | None:
    return conn.execute(select(K.c.public_key_hex).where(
        K.c.key_id == key_id, K.c.active.is_(True))).scalar()


def keep(engine: Engine, signed: Iterable[core.SignedRules]) -> tuple[list[int], int]:
    """Keep the rule sets that verify (a version already kept is left as it is);
    returns (versions kept, how many were refused)."""
    kept: list[int] = []
    refused = 0
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        for s in signed:
            rules = _verified(s.body, s.key_id, s.signature, _key_hex(conn, s.key_id))
            if rules is None:
                refused += 1
                audit.record_in(conn, "sync", RULES_REFUSED,
                                {"key_id": s.key_id, "body": s.body[:200]})
                continue
            if conn.execute(select(RS.c.version).where(RS.c.version == rules.version)
                            ).first() is None:
                conn.execute(insert(RS).values(
                    version=rules.version, effective_utc=rules.effective_utc, body=s.body,
                    key_id=s.key_id, signature=s.signature, received_at=datetime.now()))
                kept.append(rules.version)
    return kept, refused


def active(conn: Connection, now_utc: datetime) -> core.RuleSet | None:
    """The highest version whose moment has come and whose signature still verifies with an
    active trusted key (``now_utc``: naive UTC)."""
    for r in conn.execute(select(RS.c.body, RS.c.key_id, RS.c.signature)
                          .where(RS.c.effective_utc <= now_utc)
                          .order_by(RS.c.version.desc())):
        rules = _verified(r.body, r.key_id, r.signature, _key_hex(conn, r.key_id))
        if rules is not None:
            return rules
    return None
