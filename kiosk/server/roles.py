"""Who may see what on the central store (issue 15, "roles and scope").

A user's ``role`` and ``compound`` (columns of ``users``, migration 0004):

- ``district``: every compound, personal data shown (``compound`` is empty);
- ``compound``: only that compound (``compound`` set), personal data shown;
- ``viewer``: the counts and pictures, personal data masked; of one compound when
  ``compound`` is set, else of the district.

The dashboard's pages (kiosk.server.web.pages), contact tracing (kiosk.server.web.trace) and
``kiosk serve export --user`` (``export_scope``) enforce it. The kiosks' API takes no users:
a device only ever gets its own compound's data (kiosk.server.changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, select

from kiosk.server.models import UserRow
from kiosk.store.models import table_of

USERS = table_of(UserRow)


class ScopeRefused(ValueError):
    """A user asked for more than their role lets them have; the message says what."""


class Role(StrEnum):
    DISTRICT = "district"
    COMPOUND = "compound"
    VIEWER = "viewer"


def role_problem(role: str, compound: str | None) -> str | None:
    """Why this role and compound do not go together (None when they do)."""
    try:
        r = Role(role)
    except ValueError:
        return f"unknown role {role!r}: one of {', '.join(Role)}"
    if r is Role.DISTRICT and compound:
        return "a district user sees every compound: give no compound"
    if r is Role.COMPOUND and not compound:
        return "a compound user needs --compound"
    if compound is not None and len(compound) > 40:
        return "compound names are at most 40 characters"
    return None


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in user."""

    name: str
    role: Role
    compound: str | None

    @property
    def masked(self) -> bool:
        """Pass numbers, households and findings' details are hidden from this user."""
        return self.role is Role.VIEWER

    def may_see(self, compound: str | None) -> bool:
        """``compound`` None: the whole district."""
        return self.compound is None or compound == self.compound


def staff_named(engine: Engine, name: str) -> Staff | None:
    """The user ``name`` with their role and compound (None: no such user, or a role this
    version does not know)."""
    with engine.connect() as conn:
        row = conn.execute(select(USERS.c.role, USERS.c.compound)
                           .where(USERS.c.name == name)).first()
    if row is None:
        return None
    try:
        return Staff(name, Role(row.role), row.compound)
    except ValueError:
        return None


def export_scope(staff: Staff, compound: str | None, unmasked: bool) -> tuple[str | None, bool]:
    """(compound, mask) of an export run for ``staff``: a compound user's or compound
    viewer's own compound whatever they ask; never unmasked for a viewer. Raises
    ScopeRefused when they ask for another compound or for unmasked data they may not see."""
    if compound and not staff.may_see(compound):
        raise ScopeRefused(f"{staff.name} 只能导出自己的小区 ({staff.compound}) / may export "
                           f"only their own compound ({staff.compound})")
    if unmasked and staff.masked:
        raise ScopeRefused(f"{staff.name} 是观察员,不能导出未脱敏数据 / is a viewer: no "
                           f"unmasked export")
    return compound or staff.compound, not unmasked
