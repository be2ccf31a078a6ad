"""Masking personal data for screens and exports: the volunteer sees enough to recognise the
person in front of them (张*明, 138****5678), nobody looking over a shoulder sees more.

Each mask is a rule (data), not code: which characters stay visible at which length. The
Python functions here apply it; the nightly export turns the same rule into SQL
(kiosk/export/sql.py), and a property test proves the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.core.model import COURIER_NAME


@dataclass(frozen=True, slots=True)
class Mask:
    """Which characters of a value stay visible, by its length.

    ``rules`` are ``(shortest, head, tail)`` in increasing ``shortest`` (the first is 0): a
    value of length n follows the last rule with ``shortest <= n`` and shows its first
    ``head`` and last ``tail`` characters, one ``*`` for each other. A value shorter than
    ``head + tail`` is shown whole. Values are stripped first. ``whole``: values that name
    nobody (the courier word), shown as they are.
    """

    rules: tuple[tuple[int, int, int], ...]
    whole: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        lengths = [r[0] for r in self.rules]
        if not lengths or lengths[0] != 0 or lengths != sorted(set(lengths)):
            raise ValueError("mask rules start at length 0, in increasing length")

    def rule_for(self, n: int) -> tuple[int, int, int]:
        """The rule a value of length ``n`` follows."""
        return next(r for r in reversed(self.rules) if r[0] <= n)

    def __call__(self, value: str) -> str:
        s = value.strip()
        if s in self.whole:
            return s
        _, head, tail = self.rule_for(len(s))
        if len(s) < head + tail:
            return s
        return s[:head] + "*" * (len(s) - head - tail) + s[len(s) - tail:]


#: 张三明 -> 张*明, 李四 -> 李*, 欧阳娜娜 -> 欧**娜; Latin names keep first and last letter;
#: a courier recorded without a name stays 快递员 (not 快*员, which reads as a person)
NAME = Mask(((0, 1, 0), (3, 1, 1)), whole=frozenset({COURIER_NAME}))
#: 13812345678 -> 138****5678; short or odd numbers keep only their last two digits
PHONE = Mask(((0, 2, 0), (3, 0, 2), (11, 3, 4)))
#: R20230001 -> R******01: the kind letter and the last two characters stay, so a volunteer
#: can match a row to a paper without the number being reusable; 4 or fewer: all hidden
PASS_NUMBER = Mask(((0, 0, 0), (5, 1, 2)))
#: a resident ID (18 characters) keeps its first 6 and last 4: 420602********1234
ID_NUMBER = Mask(((0, 0, 0), (11, 6, 4)))


def mask_name(name: str) -> str:
    """张三明 -> 张*明, 李四 -> 李*, 欧阳娜娜 -> 欧**娜 (rule: NAME)."""
    return NAME(name)


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678, 5678 -> **78 (rule: PHONE)."""
    return PHONE(phone)


def mask_pass_number(number: str) -> str:
    """R20230001 -> R******01 (rule: PASS_NUMBER)."""
    return PASS_NUMBER(number)


def mask_id_number(id_number: str) -> str:
    """420602199001011234 -> 420602********1234 (rule: ID_NUMBER)."""
    return ID_NUMBER(id_number)
