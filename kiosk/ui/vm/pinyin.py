"""Chinese on the touchscreen: pinyin typed on the on-screen keyboard, the characters it can
be picked from a candidate row ("bei" -> 北 被 备 倍 ...), the way every phone types Chinese.

The table (``assets/pinyin.txt``, made once by scripts/make_pinyin_table.py from pypinyin)
is read when the first text keyboard opens, never at start-up: the running kiosk does not
import pypinyin (55 MB; tests/test_lean_app.py). About 30 kB, 415 syllables, 9,000 entries.
"""

from __future__ import annotations

from functools import cache

from kiosk.ui.paths import assets_dir

TABLE_FILE = "pinyin.txt"
#: the longest syllable (zhuang, shuang, chuang): a longer buffer is split before it
LONGEST = 6


RANKED = "="
VOWELS = frozenset("aeiouv")


@cache
def _read() -> tuple[dict[str, tuple[str, str]], dict[str, int]]:
    text = (assets_dir() / TABLE_FILE).read_text(encoding="utf-8")
    syllables: dict[str, tuple[str, str]] = {}
    ranked = ""
    for line in text.splitlines():
        if line.startswith(RANKED):
            ranked = line[2:]
        elif line and not line.startswith("#"):
            syllable, _, chars = line.partition(" ")
            common, _, rare = chars.partition("|")
            syllables[syllable] = (common, rare)
    return syllables, {char: n for n, char in enumerate(ranked)}


def table() -> dict[str, tuple[str, str]]:
    """syllable -> (the characters it is the main reading of, those it is a rare reading
    of), each the most common first (read once)."""
    return _read()[0]


def rank(char: str) -> int:
    """How common ``char`` is: 0 the most common."""
    return _read()[1].get(char, len(_read()[1]))


def split(letters: str) -> tuple[str, str]:
    """(the first syllable of ``letters``, the rest): the longest syllable it starts with
    ("beijing" -> "bei", "jing"). No syllable yet ("zh"): ("", letters)."""
    syllables = table()
    for n in range(min(LONGEST, len(letters)), 0, -1):
        if letters[:n] in syllables:
            return letters[:n], letters[n:]
    return "", letters


def candidates(letters: str) -> tuple[str, int]:
    """The characters ``letters`` can start with, the most common first, and how many
    letters picking one of them uses up. While ``letters`` is (the start of) a syllable
    ("bei", "zh"), that syllable's characters and then those of every longer syllable it
    begins, by rank (北 被 备 ... 本 奔 崩; "zh": 中 这 ...): the first letters already
    offer the common characters. An interjection with no vowel ("n", "m": 嗯) does not go
    first; a rare reading (方 as wang) comes after every main one. Else the first
    syllable's ("beij": 北 被 ...)."""
    syllables = table()
    longer = [s for s in syllables if s.startswith(letters) and s != letters]
    exact = letters if letters in syllables and VOWELS & set(letters) else ""
    if not exact and letters in syllables:
        longer.append(letters)
    if exact or longer:
        shown = "".join(syllables[exact]) if exact else ""
        for part in (0, 1):
            more = {c for s in longer for c in syllables[s][part]} - set(shown)
            shown += "".join(sorted(more, key=rank))
        return shown, len(letters)
    syllable, _ = split(letters)
    return "".join(syllables.get(syllable, ("", ""))), len(syllable)


class PinyinInput:
    """The letters typed and the page of candidates shown (``per_page`` of them).
    ``pick`` takes a character of the page and returns it, leaving the letters after its
    syllable to go on with ("beijing", pick 北: "jing" is left)."""

    def __init__(self, per_page: int = 6) -> None:
        self.letters = ""
        self.page = 0
        self.per_page = per_page

    def type(self, letter: str) -> None:
        if len(self.letters) < 3 * LONGEST:
            self.letters += letter.lower()
            self.page = 0

    def backspace(self) -> bool:
        """Drop the last letter; False if there was none (the key deletes in the field)."""
        if not self.letters:
            return False
        self.letters, self.page = self.letters[:-1], 0
        return True

    def clear(self) -> None:
        self.letters, self.page = "", 0

    def all(self) -> str:
        return candidates(self.letters)[0] if self.letters else ""

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.all()) // self.per_page))

    def shown(self) -> str:
        """The candidates of the page shown."""
        start = self.page * self.per_page
        return self.all()[start:start + self.per_page]

    def next_page(self) -> None:
        self.page = (self.page + 1) % self.pages

    def pick(self, char: str) -> str:
        """``char`` if it is shown (the letters of its syllable are used up), else ""."""
        if not char or char not in self.shown():
            return ""
        _, used = candidates(self.letters)
        self.letters, self.page = self.letters[used:], 0
        return char
