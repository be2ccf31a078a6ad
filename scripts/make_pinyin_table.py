"""Make the on-screen keyboard's pinyin table (assets/pinyin.txt): for each toneless pinyin
syllable, the characters read that way, the most common first.

The running kiosk must not import pypinyin (55 MB, tests/test_lean_app.py): this script runs
once, by hand, and the app reads the small text file it writes when the text keyboard opens.
tests/ui/test_pinyin_table.py fails when the file is not what this script makes.

Which characters: the 6,763 of GB2312 (Python's own codec), level 1 (3,755 common
characters) before level 2 (3,008 rarer ones, many of them in names and places).
Their order: level 1 by the frequency rank of Mozilla's character-frequency table for
GB2312 (the one chardet 5 ships, ``GB2312_CHAR_TO_FREQ_ORDER``), level 2 after it in GB2312's
own order (radical, strokes). A character with several readings is listed under each:
under its main reading (pypinyin's first) and under any other reading that pypinyin's
phrase dictionary uses in at least a fifth of the character's phrases (长 chang / zhang,
行 xing / hang) at its frequency rank; under a rare reading (方 wang) after all of those.
ü is typed v (lv: 绿 律 旅), as on every pinyin keyboard.

    .venv/bin/python scripts/make_pinyin_table.py   # writes assets/pinyin.txt
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "assets" / "pinyin.txt"
HEADER = ("# pinyin -> characters, the most common first; one syllable a line: those for\n"
          "# which it is a main reading | those it is a rare reading of. The line '='\n"
          "# ranks every character (common first), to merge syllables by it.\n"
          "# Made by scripts/make_pinyin_table.py (do not edit: run it again).\n")
#: GB2312's two levels of hanzi: rows 0xB0-0xD7 (level 1) and 0xD8-0xF7 (level 2)
LEVEL2_ROW = 0xD8
#: a reading used in at least this share of a character's phrases counts as common
COMMON_SHARE = 0.2
LEVEL2_BASE = 10_000


def gb2312_hanzi() -> list[tuple[str, int]]:
    """(character, its index in GB2312's hanzi rows), in GB2312 order."""
    out = []
    for row in range(0xB0, 0xF8):
        for col in range(0xA1, 0xFF):
            try:
                char = bytes([row, col]).decode("gb2312")
            except UnicodeDecodeError:  # the five empty places at the end of level 1
                continue
            out.append((char, (row - 0xB0) * 94 + (col - 0xA1)))
    return out


def build() -> str:
    """The table's text (what OUT holds)."""
    from chardet.gb2312freq import GB2312_CHAR_TO_FREQ_ORDER as FREQ
    from pypinyin import Style, pinyin
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.phrases_dict import phrases_dict

    phrase_readings: Counter[tuple[str, str]] = Counter()
    for phrase, readings in phrases_dict.items():
        for char, reading in zip(phrase, readings, strict=False):
            phrase_readings[char, to_normal(reading[0], v_to_u=False)] += 1
    #: syllable -> (rank, character, a rare reading)
    table: dict[str, list[tuple[int, str, bool]]] = {}
    ranks: list[tuple[int, str]] = []
    for char, index in gb2312_hanzi():
        rank = FREQ[index] if index < len(FREQ) else LEVEL2_BASE + index
        ranks.append((rank, char))
        readings = list(dict.fromkeys(pinyin(char, style=Style.NORMAL, heteronym=True)[0]))
        total = sum(phrase_readings[char, r] for r in readings)
        for n, reading in enumerate(readings):
            if not reading.isascii() or not reading.isalpha():
                continue
            used = phrase_readings[char, reading]
            rare = n > 0 and (used == 0 or used < COMMON_SHARE * total)
            table.setdefault(reading, []).append((rank, char, rare))

    def line(syllable: str, chars: list[tuple[int, str, bool]]) -> str:
        ordered = sorted(chars)
        return (f"{syllable} {''.join(c for _, c, rare in ordered if not rare)}"
                f"|{''.join(c for _, c, rare in ordered if rare)}\n")

    ranked = "".join(char for _, char in sorted(ranks))
    return (HEADER + f"= {ranked}\n"
            + "".join(line(s, chars) for s, chars in sorted(table.items())))


def main() -> None:
    OUT.write_text(build(), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
