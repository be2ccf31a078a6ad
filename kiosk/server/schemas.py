"""The central store's request and answer bodies, typed (pydantic): FastAPI checks what comes
in, shapes what goes out and publishes both as the OpenAPI schema (``/openapi.json``), from
which the test suite fuzzes every endpoint. The events push body (``POST /api/v1/events``) is
the event codec's (kiosk.server.ingest)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from kiosk.core.event import UUID_PATTERN


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """Every refusal: ``{"error": "what was wrong"}``."""

    error: str


class Health(BaseModel):
    ok: bool


class EnrolRequest(_Body):
    code: str = Field(min_length=1, max_length=40, description="ABCDE-FGHJK (any case, "
                      "dashes and spaces ignored)")
    #: the same form as the device id of every event (kiosk.core.event): an id the events
    #: could not carry would enrol a device that can never push
    device_id: str = Field(pattern=UUID_PATTERN, description="the kiosk's own UUID")


class Enrolled(BaseModel):
    secret: str = Field(description="the device's credential, shown once: "
                        "Authorization: Bearer <secret>")
    checkpoint: str
    compound: str
    device_id: str


class RosterEntry(BaseModel):
    pass_number: str
    name: str
    building: str
    unit: str
    room: str
    household: str
    phone: str
    kind: str
    valid_from: date
    valid_to: date


class Revocation(BaseModel):
    pass_number: str
    reason: str
    revoked_at: datetime


class PassKey(BaseModel):
    key_id: str
    public_key_hex: str
    active: bool


class Volunteer(BaseModel):
    name: str
    role: str
    pin_hash: str
    active: bool


class Movement(BaseModel):
    event_id: str
    device_id: str
    checkpoint: str
    seq: int
    pass_number: str
    household: str | None
    direction: str
    local_date: date
    wall_utc: datetime
    counts_against_quota: bool


class SignedRuleSet(BaseModel):
    """A rule set of the command (kiosk.core.rules): its canonical JSON body, the id of the
    pass key that signed it and the signature (base64); kiosks apply it only if it
    verifies."""

    body: str
    key_id: str
    signature: str


class GateCase(BaseModel):
    """A fever case of the gate's compound that someone took over (kiosk.server.cases)."""

    event_id: str
    state: str
    updated_at: datetime


class ChangesPage(BaseModel):
    roster: list[RosterEntry]
    revocations: list[Revocation]
    pass_keys: list[PassKey]
    policy: dict[str, str]
    volunteers: list[Volunteer]
    movements: list[Movement]
    cases: list[GateCase] = Field(default_factory=list,
                                  description="the compound's fever cases taken over")
    rules: list[SignedRuleSet] = Field(default_factory=list,
                                       description="the command's signed rule sets")
    cursor: str = Field(description="ask again from here: ADMIN.MOVEMENTS")
    more: bool


class DeviceView(BaseModel):
    device_id: str
    checkpoint: str
    compound: str
    last_seq: int
    missing: list[list[int]]


#: the error answers a route may give, for the schema
def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {s: {"model": Problem} for s in statuses}
