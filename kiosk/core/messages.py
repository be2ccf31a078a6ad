"""Reason codes for gate decisions and their plain-words messages, Chinese first.

These are the words on the red/green screen, read from two metres by tired volunteers:
short, concrete, and telling the volunteer what to do next.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Reason(StrEnum):
    OK = "ok"
    UNKNOWN_PASS = "unknown_pass"
    FORGED = "forged"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    WRONG_KIND = "wrong_kind"
    WRONG_HOUR = "wrong_hour"
    FEVER_REMEASURE = "fever_remeasure"
    FEVER = "fever"
    READING_INVALID = "reading_invalid"
    QUOTA_USED = "quota_used"
    #: a correction: the movement it names was recorded by mistake and did not happen
    UNDONE = "undone"
    #: the gate's acknowledgement of a confirmed fever: the team leader was called
    LEADER_NOTIFIED = "leader_notified"


class Message(NamedTuple):
    zh: str
    en: str


MESSAGES: dict[Reason, Message] = {
    Reason.OK: Message("通行", "Pass"),
    Reason.UNKNOWN_PASS: Message("无有效通行证，不予放行", "No valid pass: stop"),
    Reason.FORGED: Message("通行证无效（伪造或被改动），不予放行",
                           "Pass not genuine (forged or altered): stop"),
    Reason.EXPIRED: Message("通行证已过期", "Pass expired"),
    Reason.NOT_YET_VALID: Message("通行证尚未生效", "Pass not yet valid"),
    Reason.REVOKED: Message("通行证已作废", "Pass revoked"),
    Reason.WRONG_KIND: Message("此类通行证不能走本通道", "This pass kind may not use this gate"),
    Reason.WRONG_HOUR: Message("此时段不准通行", "Not allowed at this hour"),
    Reason.FEVER_REMEASURE: Message("体温偏高，请复测", "Temperature high: measure again"),
    Reason.FEVER: Message("体温异常，请联系组长", "Fever confirmed: call the team leader"),
    Reason.READING_INVALID: Message("未测到有效体温，请重测", "No valid reading: measure again"),
    Reason.QUOTA_USED: Message("本户外出次数已用完", "Household outing quota used up"),
    Reason.UNDONE: Message("已撤销（录错的通行）", "Undone (recorded by mistake)"),
    Reason.LEADER_NOTIFIED: Message("发热已通知组长", "Fever: team leader called"),
}


#: the facts behind a refusal, so it explains itself ({fields} from
#: ``kiosk.core.decision.explain``): a pass's dates ISO (2026-11-30); the quota's, inside a
#: window of days, month-day (11-30 09:15) to fit one line at 800x480
DETAILS: dict[Reason, Message] = {
    Reason.UNKNOWN_PASS: Message("证号：{number}", "Pass no.: {number}"),
    Reason.EXPIRED: Message("有效期：{valid_from} 至 {valid_to}",
                            "Valid {valid_from} to {valid_to}"),
    Reason.NOT_YET_VALID: Message("有效期：{valid_from} 至 {valid_to}",
                                  "Valid {valid_from} to {valid_to}"),
    Reason.QUOTA_USED: Message("本户上次外出 {last_out}，{next_day} 起可再外出",
                               "Household last out {last_out}; next outing from {next_day}"),
}


def message(reason: Reason) -> Message:
    return MESSAGES[reason]


def detail(reason: Reason, fields: dict[str, str]) -> Message | None:
    """The refusal's facts in both languages; None when the reason has none or a fact is
    missing (an empty line is better than a wrong one)."""
    template = DETAILS.get(reason)
    if template is None or not fields:
        return None
    try:
        return Message(template.zh.format(**fields), template.en.format(**fields))
    except KeyError:
        return None
