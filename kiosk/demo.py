"""The demo compound: the railway community of the source article, 99 buildings and about
20,000 residents with realistic Chinese names and every kind of pass, so a new user can try
the gate at once. Generated from a fixed seed, so it is the same on every machine."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, select

from kiosk.core.model import PassKind, Role
from kiosk.store.importer import ImportReport, RosterRow, upsert_roster
from kiosk.store.models import Meta, table_of
from kiosk.store.volunteers import add_volunteer, pin_is_guessable

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
    "丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌宇浩凯丹玲颖欣婷雪慧晨"
    "俊峰鑫博瑞佳琪思雨梓涵子轩一诺欣怡浩然宇航家豪晓东海燕春梅秋菊冬梅永福德胜金凤淑珍桂芝"
)
DEMO_KEY = "demo_compound"
BUILDINGS = 99
UNITS = 3
FLOORS = 6
ROOMS_PER_FLOOR = 4
SEED = 2020


@dataclass(frozen=True, slots=True)
class DemoVolunteer:
    name: str
    role: Role
    pin: str


def _name(rng: random.Random, surname: str | None = None) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return (surname or rng.choice(SURNAMES)) + given


def demo_roster(today: date) -> Iterator[RosterRow]:
    """About 20,000 people in 99 x 3 x 6 x 4 flats, plus outside suppliers and staff."""
    rng = random.Random(SEED)
    valid_from, valid_to = today - timedelta(days=14), today + timedelta(days=30)
    serial = 0
    for b in range(1, BUILDINGS + 1):
        for u in range(1, UNITS + 1):
            for floor in range(1, FLOORS + 1):
                for r in range(1, ROOMS_PER_FLOOR + 1):
                    room = f"{floor}{r:02d}"
                    surname = rng.choice(SURNAMES)
                    for _ in range(rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5))):
                        serial += 1
                        roll = rng.random()
                        kind = PassKind.WORKER if roll < 0.04 else PassKind.RESIDENT
                        start, end = valid_from, valid_to
                        if serial % 997 == 0:
                            end = today - timedelta(days=1)  # expired
                        elif serial % 1499 == 0:
                            start = today + timedelta(days=2)  # not yet valid
                        prefix = "W" if kind is PassKind.WORKER else "R"
                        yield RosterRow(
                            line=serial, name=_name(rng, surname), building=str(b), unit=str(u),
                            room=room, household=f"{b}-{u}-{room}",
                            phone=f"1{rng.randint(30, 99)}{rng.randint(0, 99999999):08d}",
                            pass_number=f"{prefix}{serial:06d}", pass_kind=kind,
                            valid_from=start, valid_to=end,
                        )
    for i, kind in enumerate([PassKind.SUPPLIER] * 30 + [PassKind.STAFF] * 20, start=1):
        prefix = "S" if kind is PassKind.SUPPLIER else "T"
        yield RosterRow(
            line=serial + i, name=_name(rng), building="", unit="", room="", household="",
            phone=f"1{rng.randint(30, 99)}{rng.randint(0, 99999999):08d}",
            pass_number=f"{prefix}{i:06d}", pass_kind=kind,
            valid_from=valid_from, valid_to=valid_to,
        )


DEMO_VOLUNTEERS = (("余融豪", Role.ADMIN), ("洪远方", Role.VOLUNTEER), ("李静", Role.VOLUNTEER))


def demo_exists(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(Meta.c.value).where(Meta.c.key == DEMO_KEY)).first() is not None


def make_demo(
    engine: Engine, today: date, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Create (or bring up to date) the demo roster in one transaction."""
    report = ImportReport()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        upsert_roster(conn, demo_roster(today), report, progress)
        conn.execute(table_of(Meta).delete().where(Meta.c.key == DEMO_KEY))
        conn.execute(table_of(Meta).insert().values(key=DEMO_KEY, value=today.isoformat()))
    report.committed = True
    return report


def reset_demo_volunteers(engine: Engine) -> list[DemoVolunteer]:
    """Give each demo volunteer a fresh random PIN (only hashes are stored, so a re-run of the
    demo cannot show the old ones)."""
    out = []
    for name, role in DEMO_VOLUNTEERS:
        pin = f"{secrets.randbelow(10**7):07d}"
        while pin_is_guessable(pin):  # 1 in ~10^5: 1111111, 1234567, ...
            pin = f"{secrets.randbelow(10**7):07d}"
        add_volunteer(engine, name, pin, role)
        out.append(DemoVolunteer(name, role, pin))
    return out


def demo_examples(engine: Engine, today: date) -> dict[str, str]:
    """Pass numbers that show each kind of decision right now: two residents of households
    that have not used the gate yet, a railway worker, and an expired pass."""
    from kiosk.store.models import GateEventRow, PassRow, ResidentRow, table_of

    p, r, e = table_of(PassRow), table_of(ResidentRow), table_of(GateEventRow)
    fresh = (
        select(p.c.number)
        .select_from(p.join(r, p.c.resident_id == r.c.id))
        .where(p.c.kind == PassKind.RESIDENT.value, p.c.valid_from <= today,
               p.c.valid_to >= today, p.c.revoked.is_(False),
               r.c.household.not_in(select(e.c.household).where(e.c.household.is_not(None))))
        .group_by(r.c.household)
        .order_by(p.c.number)
        .limit(2)
    )
    valid = p.c.valid_from <= today, p.c.valid_to >= today, p.c.revoked.is_(False)
    with engine.connect() as conn:
        residents = conn.execute(fresh).scalars().all()
        worker = conn.execute(select(p.c.number).where(p.c.kind == PassKind.WORKER.value, *valid)
                              .order_by(p.c.number).limit(1)).scalar()
        expired = conn.execute(select(p.c.number).where(p.c.valid_to < today)
                               .order_by(p.c.number).limit(1)).scalar()
    examples = {"worker": worker, "expired": expired}
    if residents:
        examples["resident"] = residents[0]
        examples["fever"] = residents[-1]
    return {k: v for k, v in examples.items() if v}
