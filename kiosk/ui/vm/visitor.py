"""The visitor / delivery form: checked here, then handed to the gate flow for the
temperature step, exactly like a pass holder.

The kiosk has no physical keyboard, so every field is filled from an on-screen pad chosen by
the field being edited: the name from a grid of common surnames plus 先生/女士 (the way
volunteers write it on paper) or from a Latin/pinyin keyboard, the phone and the building from
a digit pad, the reason from chips. A USB keyboard still types into the field being edited
(``type_text``). On-screen keys are debounced (one touch can arrive twice on a Pi panel) and
ignored briefly after the pad under the finger changed.

The form moves on by itself where the end of a field is certain (a title after the surname,
the 11th digit of a mobile number, a building number no other building starts with, a
reason chip), and the couriers who came lately are one tap away ("最近"): a returning
delivery is registered in a handful of taps.

A courier is identified by the mobile number, which contact tracing calls; "王师傅" adds
almost nothing a tracer can use. So a delivery's form opens on the phone and a courier who
gives no surname is recorded as 快递员 (``COURIER_NAME``); the volunteer may still tap the
name box and give one. A team that wants the surname asked first says so in the settings
(``checkpoint.courier_surname = "ask"``: ``ask_courier_surname``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from kiosk.core.model import COURIER_NAME, Direction
from kiosk.core.privacy import mask_name, mask_phone
from kiosk.store.events import Visitor
from kiosk.ui.vm.base import Debouncer, Observable

REASON_KEYS = ("r_delivery", "r_groceries", "r_repair", "r_visit")
#: reasons where the resident must be reachable by phone (the courier waits at the gate)
DELIVERY_REASONS = frozenset({"r_delivery", "r_groceries"})
FIELDS = ("name", "phone", "building", "reason")
#: the most common Chinese surnames, most common first (the first page covers about half
#: of the population)
SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严")
TITLES = ("先生", "女士")
#: how a courier is addressed, whoever it is (王师傅): a delivery's surname alone makes the
#: name; 先生 / 女士 still replace it
COURIER_TITLE = "师傅"
#: 8 columns x 3 rows of surnames per page: every key stays over 15 mm at 800x480
SURNAMES_PER_PAGE = 24
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# control keys shared by the pads (the screen shows them as translated words)
BACK, CLEAR, SPACE = "←", "CLR", "␣"  # not "C": that is a letter
TO_LETTERS, TO_SURNAMES, MORE, TO_RECENT = "ABC", "百家姓", "▶", "最近"
LETTER_KEYS = (*LETTERS, SPACE, BACK, CLEAR, TO_SURNAMES)
SURNAME_CONTROLS = (*TITLES, BACK, TO_LETTERS, TO_RECENT, MORE)
#: recent visitors offered on the "recent" pad (2 columns x 3 rows of 15 mm, with the key
#: back to the surnames)
RECENT_MAX = 5
DIGIT_KEYS = ("1", "2", "3", BACK, "4", "5", "6", CLEAR, "7", "8", "9", "0")
MAX_LEN = {"name": 40, "phone": 11, "building": 8, "reason": 100}
MOBILE = re.compile(r"1\d{10}")
#: every Chinese mobile number starts with it: the phone field starts with it typed (a "1"
#: tapped on it by habit is dropped: no mobile number starts 11), and it alone is no phone
MOBILE_START = "1"
#: on-screen keys are ignored this long after the pad changed (field, name mode, page), so
#: the second copy of a doubled touch cannot land on the key that replaced the one tapped
PAD_GUARD_S = 0.35


def shown_name(name: str) -> str:
    """A visitor's name as the screens show it: a surname and a title (王女士) is how the
    visitor gave it and says no more than that, shown whole; any other name is masked like
    a resident's (the courier word 快递员 names nobody: the name mask shows it whole)."""
    for title in (*TITLES, COURIER_TITLE):
        if name.endswith(title) and name[:-len(title)] in SURNAMES:
            return name
    return mask_name(name)


def recent_label(v: Visitor, courier: str = COURIER_NAME) -> str:
    """A recent visitor's key: name, phone tail and reason, enough to ask "are you...?"
    (couriers recorded without a name differ by the phone tail). ``courier``: the courier
    word in the volunteer's language."""
    name = courier if v.name == COURIER_NAME else shown_name(v.name)
    return "  ".join(x for x in (name, mask_phone(v.phone) if v.phone else "", v.reason) if x)


def norm_building(text: str) -> str:
    """'03' and '3' are the same building; anything not numeric is compared as typed."""
    text = text.strip()
    return str(int(text)) if text.isdigit() else text


class VisitorForm(Observable):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.debounce = Debouncer(clock=clock)
        #: the roster's buildings (set once per screen entry); None or empty: not checked
        self.known_buildings: frozenset[str] | None = None
        #: visitors who came lately, newest first (set once per screen entry)
        self.recent: tuple[Visitor, ...] = ()
        #: the reason chips' words in both languages -> chip key (a recalled reason)
        self.reason_words: dict[str, str] = {}
        #: the team asks a courier's surname first (``checkpoint.courier_surname``; set once
        #: per screen entry): else a delivery needs no name
        self.ask_courier_surname = False
        self.clear()

    def clear(self) -> None:
        self.name = ""
        self.phone = ""
        self.reason = ""
        self.reason_key = ""
        self.host_building = ""
        self.direction = Direction.IN
        self.message: tuple[str, dict[str, Any]] | None = None
        self.field = "name"
        self.name_mode = "surnames"
        self.page = 0
        self._pad_changed_at = float("-inf")
        #: a field that ends by itself filled the last one and nothing is wrong: on to the
        #: temperature with no tap on Next (the screen takes it and clears it)
        self.finished = False
        self._given_before = False

    # -- what the screen shows -----------------------------------------------------------

    @property
    def pages(self) -> int:
        return -(-len(SURNAMES) // SURNAMES_PER_PAGE)

    def page_surnames(self) -> tuple[str, ...]:
        start = self.page * SURNAMES_PER_PAGE
        return SURNAMES[start:start + SURNAMES_PER_PAGE]

    def pad(self) -> str:
        """Which pad the screen shows: surnames, letters, recent, digits or reasons."""
        if self.field == "name":
            return self.name_mode
        return "reasons" if self.field == "reason" else "digits"

    def hint(self) -> str:
        """The catalogue key of what to do on the pad now shown."""
        if self.field == "phone" and self.courier_unnamed:
            return "v_hint_courier_phone"  # the phone alone identifies the courier
        if self.field == "name" and self.name_mode == "surnames" and not self.name and \
                self.reason_key in DELIVERY_REASONS:
            return "v_hint_courier"  # the surname alone makes the name
        return f"v_hint_{self.name_mode if self.field == 'name' else self.field}"

    def value(self, field: str) -> str:
        return {"name": self.name, "phone": self.phone, "building": self.host_building,
                "reason": self.reason}[field]

    def guarded(self) -> bool:
        """True just after the pad changed: on-screen keys are ignored then."""
        return self.clock() - self._pad_changed_at < PAD_GUARD_S

    # -- input ---------------------------------------------------------------------------

    def set_recent(self, visitors: Iterable[Visitor]) -> None:
        self.recent = tuple(visitors)[:RECENT_MAX]
        self.notify()

    def pick_recent(self, index: int) -> None:
        """A recent visitor's key: name, phone and reason as they gave them last time; the
        building is asked again (a courier goes where the parcel goes)."""
        if self.guarded() or not self.debounce.accept(f"recent:{index}") or \
                not 0 <= index < len(self.recent):
            return
        v = self.recent[index]
        self._given_before = self.all_given()
        self.name, self.phone, self.reason = v.name, v.phone, v.reason
        self.reason_key = self.reason_words.get(v.reason, "")
        self.name_mode, self.message = "surnames", None
        self._advance()
        self.notify()

    def set_buildings(self, buildings: Iterable[str]) -> None:
        self.known_buildings = frozenset(norm_building(b) for b in buildings if b.strip())

    def select(self, field: str) -> None:
        """Edit ``field`` next (a tap on its box, or Tab on a USB keyboard); an empty phone
        starts with the 1 of every mobile number."""
        if field != self.field:
            self.field = field
            self._pad_changed()
        if field == "phone" and not self.phone:
            self.phone = MOBILE_START
        self.notify()

    @property
    def courier_unnamed(self) -> bool:
        """A delivery with no name where the team does not ask a courier's surname: the
        name is given as 快递员 (``COURIER_NAME``)."""
        return self.reason_key in DELIVERY_REASONS and not self.ask_courier_surname and \
            not self.name.strip()

    def given(self, field: str) -> bool:
        """``field`` needs nothing more: the lone 1 is no phone; an unnamed courier's name
        is 快递员."""
        if field == "phone":
            return bool(self.phone_given)
        return bool(self.value(field).strip()) or (field == "name" and self.courier_unnamed)

    @property
    def phone_given(self) -> str:
        """The phone number typed: the 1 the field starts with alone is none."""
        phone = self.phone.strip()
        return "" if phone == MOBILE_START else phone

    def next_field(self) -> None:
        self.select(FIELDS[(FIELDS.index(self.field) + 1) % len(FIELDS)])

    def key(self, key: str) -> None:
        """A key of the on-screen pad now shown."""
        if self.guarded() or not self.debounce.accept(f"{self.pad()}:{key}"):
            return
        self._given_before = self.all_given()
        self.message = None
        if key in (TO_LETTERS, TO_SURNAMES, TO_RECENT):
            self.name_mode = {TO_LETTERS: "letters", TO_SURNAMES: "surnames",
                              TO_RECENT: "recent"}[key]
            self._pad_changed()
        elif key == MORE:
            self.page = (self.page + 1) % self.pages
            self._pad_changed()
        elif key == BACK:
            self._set(self.value(self.field)[:-1])
        elif key == CLEAR:
            self._set("")
        elif key in TITLES:
            if self._pick_title(key):
                self._advance()  # 王 + 女士: the name is done
        elif key in SURNAMES and self.field == "name":
            self._pick_surname(key)
            if self.reason_key in DELIVERY_REASONS and self.name == key:
                self.name += COURIER_TITLE  # 王师傅: the name is done
                self._advance()
        else:
            self._append(" " if key == SPACE else key)
            if self._complete():
                self._advance()
        self.notify()

    def _complete(self) -> bool:
        """The field being typed cannot go on: a whole mobile number, or a building number
        of the roster that no other building number starts with."""
        if self.field == "phone":
            return MOBILE.fullmatch(self.phone) is not None
        if self.field == "building" and self.known_buildings:
            typed = norm_building(self.host_building)
            return typed in self.known_buildings and not any(
                b != typed and b.startswith(typed) for b in self.known_buildings)
        return False

    def _advance(self) -> None:
        """On to the next field still empty (after the last, the first empty one); a
        visit needs no phone. When every field is given (the phone too) and nothing is
        wrong, the form is ``finished``: the temperature step, which shows who and which
        way and can be cancelled, is next. Else (a visit without a phone) Next is."""
        needed = [f for f in FIELDS if not self.given(f)
                  and (f != "phone" or self.reason_key in DELIVERY_REASONS or not self.reason)]
        later = FIELDS[FIELDS.index(self.field) + 1:]
        target = next((f for f in (*later, *FIELDS) if f in needed and f != self.field), None)
        if target is not None:
            self.select(target)
        else:  # only when this field was the last one missing (not a later correction)
            self.finished = not self._given_before and self.all_given() and \
                self.problem() is None

    def all_given(self) -> bool:
        return all(self.given(f) for f in FIELDS)

    def type_text(self, text: str) -> None:
        """Text from a USB keyboard (or its input method) into the field being edited."""
        self.message = None
        self._append(text)
        self.notify()

    def backspace(self) -> None:
        self._set(self.value(self.field)[:-1])
        self.notify()

    def pick_reason(self, key: str, text: str) -> None:
        """A reason chip: ``text`` is what is recorded, ``key`` says if it is a delivery."""
        self._given_before = self.all_given()
        self.reason_key, self.reason, self.message = key, text, None
        self._advance()
        self.notify()

    def open_for(self, key: str, text: str) -> None:
        """The form opened for a reason (快递外卖 on the gate screen): its chip is given. A
        delivery opens on the phone (the 1 typed) unless the team asks the courier's
        surname; anything else asks the name first."""
        self.reason_key, self.reason = key, text
        if self.courier_unnamed:
            self.select("phone")  # notifies
        else:
            self.notify()

    def _pad_changed(self) -> None:
        self._pad_changed_at = self.clock()

    def _append(self, text: str) -> None:
        if self.field in ("phone", "building"):
            text = "".join(c for c in text if c.isdigit())
            if self.field == "phone" and self.phone == MOBILE_START and \
                    text.startswith(MOBILE_START):
                text = text[1:]  # the 1 typed again by habit
        else:
            text = "".join(c for c in text if c.isprintable())
        self._set(self.value(self.field) + text)

    def _set(self, value: str) -> None:
        value = value[:MAX_LEN[self.field]]
        if self.field == "name":
            self.name = value
        elif self.field == "phone":
            self.phone = value
        elif self.field == "building":
            self.host_building = value
        elif value != self.reason:  # typed: no longer one of the chips
            self.reason, self.reason_key = value, ""

    def _split_name(self) -> tuple[str, str] | None:
        """(surname, title) when the name was made on the surname pad ('王先生', '王')."""
        for title in ("", *TITLES, COURIER_TITLE):
            surname = self.name[:len(self.name) - len(title)]
            if self.name.endswith(title) and surname in SURNAMES:
                return surname, title
        return None

    def _pick_surname(self, surname: str) -> None:
        parts = self._split_name()
        self.name = surname + (parts[1] if parts else "")

    def _pick_title(self, title: str) -> bool:
        parts = self._split_name()
        if parts is None:
            self.message = ("v_need_surname", {})
            return False
        self.name = parts[0] + title
        self.message = None
        return True

    # -- checking ------------------------------------------------------------------------

    def problem(self) -> tuple[str, str, dict[str, Any]] | None:
        """(field, message key, fields) of the first thing wrong, or None."""
        name, phone = self.name.strip(), self.phone_given
        building = norm_building(self.host_building)
        if not name and not self.courier_unnamed:
            return "name", "v_need_name", {}
        if name in SURNAMES:
            return "name", "v_need_title", {}
        if phone and not MOBILE.fullmatch(phone):
            return "phone", "v_bad_phone", {}
        if not phone and self.reason_key in DELIVERY_REASONS:
            return "phone", "v_need_phone", {}
        if building and self.known_buildings and building not in self.known_buildings:
            return "building", "v_bad_building", {"building": building}
        return None

    def visitor(self) -> Visitor | None:
        """The visitor to register, or None with ``message`` saying what is wrong and the
        wrong field selected, so its pad is already under the volunteer's hand."""
        problem = self.problem()
        if problem is None:
            self.message = None
            name = COURIER_NAME if self.courier_unnamed else self.name.strip()
            return Visitor(name=name[:100], phone=self.phone_given,
                           reason=self.reason.strip()[:200],
                           host_building=norm_building(self.host_building)[:20])
        field, key, fields = problem
        self.message = (key, fields)
        if field != self.field:
            self.field = field
            self._pad_changed()
        self.notify()
        return None
