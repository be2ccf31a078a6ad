"""Versioned rule sets the district command publishes (issue 15 point 5), signed like passes.

A rule set is numbered (1, 2, ...), takes effect at a moment (UTC), and says what the gates
decide with: the fever threshold and the forehead offset (°C), the quota (N outings per M
days), opening hours per pass kind, and which kinds each gate admits. Its body is one
canonical JSON text (sorted keys, no spaces), signed with the command's Ed25519 key (the
kind that signs passes, kiosk.core.passcode) under a context of its own, so a pass signature
can never pass for a rule set. A kiosk applies a version only if the signature verifies with
a key it trusts and its moment has come (``active``); it records the version with every
decision (``Policy.rules_version``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from kiosk.core.event import RULES_VERSION_MAX
from kiosk.core.model import Direction, PassKind
from kiosk.core.passcode import CheckReason
from kiosk.core.policy import HourWindow, Policy

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

#: signed together with the body: a signature made for a pass is no rule set's
_SIGNING_CONTEXT = b"checkpoint-kiosk/rules\x00"
#: limits of each rule (the same as the kiosk's settings: kiosk.settings.Settings.validate)
FEVER_RANGE_C = (35.0, 40.0)
OFFSET_RANGE_C = (-3.0, 3.0)
MAX_QUOTA_OUTINGS = 100
MAX_QUOTA_DAYS = 365
MAX_VERSION = RULES_VERSION_MAX
MAX_GATES = 1000
GATE_NAME_MAX = 40
MAX_BODY_CHARS = 64_000


class RulesError(ValueError):
    """A rule set that cannot be published or applied; the message says which rule."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """One numbered version of the command's rules. ``effective_utc`` is naive UTC.
    ``kinds``: per gate (checkpoint name), the pass kinds it admits; a gate not named admits
    every kind. ``hours``: per kind, the daily window it may pass in (local time)."""

    version: int
    effective_utc: datetime
    fever_threshold_c: float
    forehead_offset_c: float
    quota_outings: int
    quota_days: int
    hours: Mapping[PassKind, HourWindow] = field(default_factory=dict)
    kinds: Mapping[str, frozenset[PassKind]] = field(default_factory=dict)

    def body(self) -> str:
        """The canonical text that is signed and sent."""
        return json.dumps({
            "version": self.version,
            "effective_utc": self.effective_utc.isoformat(timespec="seconds"),
            "fever_threshold_c": self.fever_threshold_c,
            "forehead_offset_c": self.forehead_offset_c,
            "quota_outings": self.quota_outings,
            "quota_days": self.quota_days,
            "hours": {k.value: f"{w.start:%H:%M}-{w.end:%H:%M}"
                      for k, w in sorted(self.hours.items())},
            "kinds": {g: sorted(k.value for k in ks) for g, ks in sorted(self.kinds.items())},
        }, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def policy_for(self, base: Policy, checkpoint: str) -> Policy:
        """``base`` (the kiosk's own settings) with these rules, at gate ``checkpoint``."""
        admitted = self.kinds.get(checkpoint)
        allowed = ({d: admitted for d in Direction} if admitted is not None
                   else base.allowed_kinds)
        return replace(base, fever_threshold_c=self.fever_threshold_c,
                       forehead_offset_c=self.forehead_offset_c,
                       quota_outings=self.quota_outings, quota_days=self.quota_days,
                       hours=dict(self.hours), allowed_kinds=allowed,
                       rules_version=self.version)


@dataclass(frozen=True, slots=True)
class SignedRules:
    """A rule set as it travels and is stored: its body, the key id and the signature
    (base64 of the 64 bytes)."""

    body: str
    key_id: str
    signature: str

    def as_json(self) -> dict[str, str]:
        return {"body": self.body, "key_id": self.key_id, "signature": self.signature}


def window(text: str) -> HourWindow:
    """``HH:MM-HH:MM`` as an hour window; raises RulesError."""
    try:
        start, end = text.split("-")
        return HourWindow(time.fromisoformat(start), time.fromisoformat(end))
    except ValueError:
        raise RulesError(f"hours {text!r}: HH:MM-HH:MM, e.g. 06:00-20:00") from None


def kind_named(value: object, where: str) -> PassKind:
    try:
        return PassKind(str(value))
    except ValueError:
        raise RulesError(f"{where}: unknown pass kind {value!r} (one of "
                         f"{', '.join(k.value for k in PassKind)})") from None


def _number(raw: Mapping[str, Any], name: str, lo: float, hi: float, kind: type) -> Any:
    value = raw.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float
                                                  else int):
        raise RulesError(f"{name}: a number is needed")
    if not lo <= value <= hi:
        raise RulesError(f"{name} must be between {lo} and {hi}, got {value}")
    return kind(value)


def parse(body: str) -> RuleSet:
    """The rule set a body states, every rule checked; raises RulesError with the first
    problem. The body must be canonical (the one spelling ``RuleSet.body`` writes)."""
    if len(body) > MAX_BODY_CHARS:
        raise RulesError(f"rule set longer than {MAX_BODY_CHARS} characters")
    try:
        raw = json.loads(body)
    except ValueError:
        raise RulesError("rule set is not JSON") from None
    if not isinstance(raw, dict):
        raise RulesError("rule set is not a JSON object")
    expected = {"version", "effective_utc", "fever_threshold_c", "forehead_offset_c",
                "quota_outings", "quota_days", "hours", "kinds"}
    if set(raw) != expected:
        raise RulesError(f"rule set must have exactly {', '.join(sorted(expected))}")
    try:
        effective = datetime.fromisoformat(str(raw["effective_utc"]))
    except ValueError:
        raise RulesError("effective_utc: an ISO date and time (UTC)") from None
    if effective.tzinfo is not None:
        raise RulesError("effective_utc: UTC without an offset")
    hours, kinds = raw["hours"], raw["kinds"]
    if not isinstance(hours, dict) or not isinstance(kinds, dict):
        raise RulesError("hours and kinds are objects")
    if len(kinds) > MAX_GATES:
        raise RulesError(f"kinds: at most {MAX_GATES} gates")
    admitted: dict[str, frozenset[PassKind]] = {}
    for gate, ks in kinds.items():
        if not 1 <= len(gate) <= GATE_NAME_MAX or not isinstance(ks, list):
            raise RulesError(f"kinds: gate {gate!r} needs a name of 1-{GATE_NAME_MAX} "
                             "characters and a list of kinds")
        admitted[gate] = frozenset(kind_named(k, f"kinds.{gate}") for k in ks)
    rules = RuleSet(
        version=_number(raw, "version", 1, MAX_VERSION, int),
        effective_utc=effective,
        fever_threshold_c=_number(raw, "fever_threshold_c", *FEVER_RANGE_C, float),
        forehead_offset_c=_number(raw, "forehead_offset_c", *OFFSET_RANGE_C, float),
        quota_outings=_number(raw, "quota_outings", 0, MAX_QUOTA_OUTINGS, int),
        quota_days=_number(raw, "quota_days", 1, MAX_QUOTA_DAYS, int),
        hours={kind_named(k, "hours"): window(str(w)) for k, w in hours.items()},
        kinds=admitted)
    if rules.body() != body:
        raise RulesError("rule set is not in its canonical form")
    return rules


def _signed_bytes(body: str) -> bytes:
    return _SIGNING_CONTEXT + body.encode("utf-8")


def sign(rules: RuleSet, private_key: Ed25519PrivateKey, key_id: str) -> SignedRules:
    """The command signs a rule set (on its own machine: the key never goes to the store)."""
    body = rules.body()
    return SignedRules(body, key_id, base64.b64encode(
        private_key.sign(_signed_bytes(body))).decode("ascii"))


def verify(signed: SignedRules, keys: Mapping[str, Ed25519PublicKey]
           ) -> tuple[CheckReason, RuleSet | None]:
    """(OK, the rule set) when the body is a valid rule set signed by one of ``keys``;
    otherwise why not (UNKNOWN_KEY, FORGED, MALFORMED) and None. Never raises."""
    key = keys.get(signed.key_id)
    if key is None:
        return CheckReason.UNKNOWN_KEY, None
    try:
        signature = base64.b64decode(signed.signature, validate=True)
    except (binascii.Error, ValueError):
        return CheckReason.FORGED, None
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(signature, _signed_bytes(signed.body))
    except InvalidSignature:
        return CheckReason.FORGED, None
    try:
        return CheckReason.OK, parse(signed.body)
    except RulesError:
        return CheckReason.MALFORMED, None


def active(rule_sets: Iterable[RuleSet], now_utc: datetime) -> RuleSet | None:
    """The highest version whose moment has come (``now_utc`` naive UTC), or None."""
    due = [r for r in rule_sets if r.effective_utc <= now_utc]
    return max(due, key=lambda r: r.version, default=None)
