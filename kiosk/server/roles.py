"""Who may see what on the central store (issue 15, "roles and scope").

A user's ``role`` and ``compound`` (columns of ``users``, migration 0004):

- ``district``: every compound, personal data shown (``compound`` is empty);
- ``compound``: only that compound (``compound`` set), personal data shown;
- ``viewer``: the counts and pictures, personal data masked; of one compound when
  ``compound`` is set, else of the district.

The dashboard's pages enforce the scope (kiosk.server.web.pages); exports and the API do not
take users yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
