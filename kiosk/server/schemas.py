"""The central store's request and answer bodies, typed (pydantic): FastAPI checks what comes
in, shapes what goes out and publishes both as the OpenAPI schema (``/openapi.json``), from
which the test suite fuzzes every endpoint. The events push body (``POST /api/v1/events``) is
the event codec's (kiosk.server.ingest)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from kiosk.core.event import MAX_SEQ, UUID_PATTERN

#: an Ed25519 public key in hex (kiosk.core.signing)
PUBLIC_KEY_PATTERN = r"^[0-9a-fA-F]{64}$"


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
    public_key: str | None = Field(
        default=None, pattern=PUBLIC_KEY_PATTERN,
        description="the kiosk's Ed25519 public key (hex): its events are signed by it")
    key_from_seq: int = Field(default=1, ge=1, le=MAX_SEQ,
                              description="the first sequence number signed by the key")


class KeyRequest(_Body):
    """A kiosk enrolled before keys registers its key once (trust on first use)."""

    public_key: str = Field(pattern=PUBLIC_KEY_PATTERN,
                            description="the kiosk's Ed25519 public key (hex)")
    from_seq: int = Field(ge=1, le=MAX_SEQ,
                          description="the first sequence number signed by the key")


class KeyRegistered(BaseModel):
    public_key: str
    from_seq: int
    new: bool = Field(description="false: the device already had this key")
    pending: bool = Field(default=False, description="from a compound hub: the district "
                          "has not got this key yet; register it there directly")


class Enrolled(BaseModel):
    secret: str = Field(description="the device's credential, shown once: "
                        "Authorization: Bearer <secret>")
    checkpoint: str
    compound: str
    device_id: str
    role: str = Field(default="kiosk", description="kiosk (a gate) or hub (a compound hub)")


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
    undone: list[str] = Field(default_factory=list,
                              description="movements of other gates undone there (event ids)")
    cases: list[GateCase] = Field(default_factory=list,
                                  description="the compound's fever cases taken over")
    devices: list[HubDevice] = Field(default_factory=list,
                                     description="for a compound hub: its compound's gates")
    rules: list[SignedRuleSet] = Field(default_factory=list,
                                       description="the command's signed rule sets")
    cursor: str = Field(description="ask again from here: ADMIN.MOVEMENTS")
    more: bool


class HubDevice(BaseModel):
    """A gate of the hub's compound, for a compound hub: its credential's SHA-256 (the hub
    authenticates the gate with the district's credential) and what the district holds."""

    device_id: str
    checkpoint: str
    secret_hash: str
    active: bool
    last_seq: int
    missing: list[list[int]]
    keys: list[tuple[int, str]] = Field(
        default_factory=list, description="the gate's signing keys: [from_seq, public key]")


class GateContact(BaseModel):
    checkpoint: str
    last_contact: datetime | None


class UplinkView(BaseModel):
    """``GET /api/v1/uplink``: what a gate shows of the store it syncs with."""

    hub: bool
    district_url: str | None = None
    district_ok: bool | None = None
    district_last_success: datetime | None = None
    district_last_error: str | None = None
    relay_pending: int | None = None
    relay_refused: int | None = None
    relay_recent: int | None = Field(default=None, description="events the district "
                                     "acknowledged in the last RELAY_KEEP_S seconds")
    district_clock_offset_s: float | None = Field(
        default=None, description="the hub's clock minus the district's at its last "
        "successful relay round (seconds); null: the hub never reached the district")
    district_clock_at: datetime | None = None
    gates: list[GateContact] = Field(default_factory=list)


class DeviceView(BaseModel):
    device_id: str
    checkpoint: str
    compound: str
    last_seq: int
    missing: list[list[int]]


#: the error answers a route may give, for the schema
def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {s: {"model": Problem} for s in statuses}
