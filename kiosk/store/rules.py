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
from typing import TYPE_CHECKING

from kiosk.core import rules as core
from kiosk.core.passcode import CheckReason, public_key_from_hex
from kiosk.store import audit, lite

if TYPE_CHECKING:
    from kiosk.store.lite import AnyConnection, Source

#: audit action of a rule set refused at arrival
RULES_REFUSED = "rules_refused"


@lru_cache(maxsize=64)
def _verified(body: str, key_id: str, signature: str, key_hex: str | None
              ) -> core.RuleSet | None:
    keys = {key_id: public_key_from_hex(key_hex)} if key_hex else {}
    why, rules = core.verify(core.SignedRules(body, key_id, signature), keys)
    return rules if why is CheckReason.OK else None


_KEY_HEX = "SELECT public_key_hex FROM pass_keys WHERE key_id = ? AND active = 1"
_IN_FORCE = ("SELECT body, key_id, signature FROM rule_sets WHERE effective_utc <= ? "
             "ORDER BY version DESC")


def _key_hex(conn: AnyConnection, key_id: str) -> str | None:
    found = lite.one(lite.driver(conn), _KEY_HEX, (key_id,))
    return None if found is None else str(found)


_KEPT = "SELECT 1 FROM rule_sets WHERE version = ?"
_KEEP = ("INSERT INTO rule_sets (version, effective_utc, body, key_id, signature, received_at) "
         "VALUES (?, ?, ?, ?, ?, ?)")


def keep(db: Source, signed: Iterable[core.SignedRules]) -> tuple[list[int], int]:
    """Keep the rule sets that verify (a version already kept is left as it is);
    returns (versions kept, how many were refused)."""
    kept: list[int] = []
    refused = 0
    with lite.writing(db) as con:
        for s in signed:
            rules = _verified(s.body, s.key_id, s.signature, _key_hex(con, s.key_id))
            if rules is None:
                refused += 1
                audit.record_in(con, "sync", RULES_REFUSED,
                                {"key_id": s.key_id, "body": s.body[:200]})
                continue
            if lite.one(con, _KEPT, (rules.version,)) is None:
                con.execute(_KEEP, (rules.version, lite.sql_datetime(rules.effective_utc),
                                    s.body, s.key_id, s.signature,
                                    lite.sql_datetime(lite.utc_now())))
                kept.append(rules.version)
    return kept, refused


def active(conn: AnyConnection, now_utc: datetime) -> core.RuleSet | None:
    """The highest version whose moment has come and whose signature still verifies with an
    active trusted key (``now_utc``: naive UTC)."""
    con = lite.driver(conn)
    # read row by row, newest first: the first that verifies ends it, so a movement reads one
    # rule set however many versions the kiosk has kept
    for body, key_id, signature in con.execute(_IN_FORCE, (lite.sql_datetime(now_utc),)):
        rules = _verified(body, key_id, signature, _key_hex(con, key_id))
        if rules is not None:
            return rules
    return None
