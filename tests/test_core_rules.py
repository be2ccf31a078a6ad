"""The command's versioned rule sets (kiosk.core.rules): only a rule set signed by a trusted
key, in its one canonical spelling, within every limit, is applied, and only from its
moment on; the gate's policy then carries the version into every decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time

import pytest

from kiosk.core import rules
from kiosk.core.decision import decide
from kiosk.core.model import Direction, Pass, PassKind
from kiosk.core.passcode import (
    CheckReason,
    PassFields,
    encode_pass,
    generate_key_pair,
)
from kiosk.core.policy import HourWindow, Policy
from kiosk.core.rules import RulesError, RuleSet, SignedRules

PRIVATE, PUBLIC = generate_key_pair()
KEYS = {"CMD1": PUBLIC}
V1 = RuleSet(1, datetime(2026, 12, 1, 0, 0), 37.0, 0.5, 2, 3,
             {PassKind.SUPPLIER: HourWindow(time(6), time(20))},
             {"北门": frozenset({PassKind.WORKER, PassKind.STAFF})})


def test_a_signed_rule_set_verifies_and_says_what_the_command_set():
    signed = rules.sign(V1, PRIVATE, "CMD1")
    assert rules.verify(signed, KEYS) == (CheckReason.OK, V1)
    p = V1.policy_for(Policy(), "北门")
    assert (p.fever_threshold_c, p.forehead_offset_c, p.quota_outings, p.quota_days,
            p.rules_version) == (37.0, 0.5, 2, 3, 1)
    assert p.allowed_kinds[Direction.OUT] == {PassKind.WORKER, PassKind.STAFF}
    assert V1.policy_for(Policy(), "南门").allowed_kinds == Policy().allowed_kinds


@pytest.mark.parametrize("attack", ["altered", "other key", "unknown key", "pass signature",
                                    "bad base64", "respelled"])
def test_a_rule_set_that_is_not_the_commands_is_never_applied(attack: str):
    signed = rules.sign(V1, PRIVATE, "CMD1")
    stranger, _ = generate_key_pair()
    if attack == "altered":  # a fever threshold raised in transit
        signed = replace(signed, body=signed.body.replace('"fever_threshold_c":37.0',
                                                          '"fever_threshold_c":39.0'))
    elif attack == "other key":
        signed = replace(rules.sign(V1, stranger, "CMD1"))
    elif attack == "unknown key":
        signed = replace(signed, key_id="CMD9")
    elif attack == "pass signature":  # a pass's signature over the same text is no rule's
        payload = encode_pass(PassFields("R1", PassKind.RESIDENT, datetime(2026, 1, 1).date(),
                                         datetime(2026, 1, 2).date()), PRIVATE, "CMD1")
        signed = SignedRules(payload, "CMD1", signed.signature)
    elif attack == "bad base64":
        signed = replace(signed, signature="not base64!")
    else:  # the same rules spelled with spaces: only the canonical text is signed
        body = signed.body.replace(",", ", ")
        signed = SignedRules(body, "CMD1", rules.sign(V1, PRIVATE, "CMD1").signature)
    why, found = rules.verify(signed, KEYS)
    assert found is None and why in (CheckReason.FORGED, CheckReason.UNKNOWN_KEY,
                                     CheckReason.MALFORMED)


@pytest.mark.parametrize(("change", "message"), [
    ({"fever_threshold_c": 41.0}, "fever_threshold_c must be between"),
    ({"forehead_offset_c": -5}, "forehead_offset_c must be between"),
    ({"quota_days": 0}, "quota_days must be between"),
    ({"version": 0}, "version must be between"),
    ({"hours": {"supplier": "6-20"}}, "HH:MM-HH:MM"),
    ({"kinds": {"北门": ["tourist"]}}, "unknown pass kind"),
    ({"effective_utc": "2026-12-01T08:00:00+08:00"}, "UTC without an offset"),
    ({"extra": 1}, "exactly"),
])
def test_a_rule_outside_its_limits_is_refused_with_its_name(change: dict[str, object],
                                                            message: str):
    import json

    raw = json.loads(V1.body()) | change
    with pytest.raises(RulesError, match=message):
        rules.parse(json.dumps(raw, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False))


def test_the_highest_version_whose_moment_has_come_applies():
    v2 = replace(V1, version=2, effective_utc=datetime(2026, 12, 5))
    v3 = replace(V1, version=3, effective_utc=datetime(2026, 12, 3))
    assert rules.active([V1, v2, v3], datetime(2026, 11, 30)) is None
    assert rules.active([V1, v2, v3], datetime(2026, 12, 1)) == V1
    assert rules.active([V1, v2, v3], datetime(2026, 12, 4)) == v3
    assert rules.active([V1, v2, v3], datetime(2026, 12, 6)) == v3  # 3 over the later 2


def test_a_gate_that_admits_only_workers_turns_a_resident_away():
    resident = Pass("R1", PassKind.RESIDENT, datetime(2026, 1, 1).date(),
                    datetime(2099, 1, 1).date())
    policy = V1.policy_for(Policy(), "北门")
    d = decide(resident, Direction.OUT, [], datetime(2026, 12, 2, 9), policy, [])
    assert not d.allowed
    assert decide(resident, Direction.OUT, [], datetime(2026, 12, 2, 9),
                  V1.policy_for(Policy(), "南门"), []).reason != d.reason
