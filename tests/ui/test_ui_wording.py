"""Wording a volunteer reads: Chinese texts use full-width punctuation (，：！？（）), as
Chinese readers expect."""

from __future__ import annotations

import re

from kiosk.core.messages import MESSAGES
from kiosk.ui.i18n import CATALOGUE

#: an ASCII mark right after or before a Chinese character (field names like {state} aside)
ASCII_MARK = re.compile(r"[\u4e00-\u9fff][,:!?;()]|[,:!?;()][\u4e00-\u9fff]")


def test_chinese_texts_use_full_width_punctuation():
    texts = {key: zh for key, (zh, _en) in CATALOGUE.items()}
    texts |= {str(reason): m.zh for reason, m in MESSAGES.items()}
    wrong = {key: zh for key, zh in texts.items() if ASCII_MARK.search(zh)}
    assert not wrong

