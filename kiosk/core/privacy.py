"""Masking personal data for screens and exports: the volunteer sees enough to recognise the
person in front of them (张*明, 138****5678), nobody looking over a shoulder sees more."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """张三明 -> 张*明, 李四 -> 李*, 欧阳娜娜 -> 欧**娜; Latin names keep first and last letter."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678; short or odd numbers keep only their last two digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return digits


def mask_id_number(id_number: str) -> str:
    """A resident ID (18 characters) keeps its first 6 and last 4: 420602********1234."""
    s = id_number.strip()
    if len(s) <= 10:
        return "*" * len(s)
    return s[:6] + "*" * (len(s) - 10) + s[-4:]
