"""HTTP client of the central store. The transport is injected (httpx), so tests route
requests to handler functions or through a faulty proxy, and production uses the real one."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from kiosk.sync import wire

API = "/api/v1"
#: seconds: a dead line is noticed in 5 s; a big batch may take a while to be stored
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def plain_http_to_remote(url: str) -> bool:
    """True when ``url`` is plain HTTP to another machine: the device secret, and every
    resident's movements, would cross the network in clear."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


class SyncError(Exception):
    """Sync could not complete; the message is shown as the last error."""


class Unavailable(SyncError):
    """No answer, a cut connection or a server error: try again later (backoff)."""


class Refused(SyncError):
    """The server refused the credential (401/403), or holds another key for this device
    (409): retrying will not help until an admin enrols the kiosk again."""


class BatchRefused(SyncError):
    """The server refused the batch as a whole (413 too large, 422 malformed): send fewer
    events, and quarantine a single event it still refuses."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _reason(response: httpx.Response) -> str | None:
    """The central store's own explanation (``{"error": ...}``), None for any other body
    (a proxy's error page, a framework's default): those are never grounds to quarantine."""
    try:
        body = response.json()
    except ValueError:
        return None
    return str(body["error"]) if isinstance(body, dict) and "error" in body else None


def _offset(response: httpx.Response, ours: datetime) -> float | None:
    """Our clock minus the server's (its ``Date`` header, whole seconds), or None."""
    try:
        theirs = parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None
    return round((ours - theirs).total_seconds(), 1)


class SyncClient:
    def __init__(self, base_url: str, secret: str | None = None, *,
                 transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        #: our clock minus the central store's at the last answer (seconds; None: unknown)
        self.clock_offset_s: float | None = None
        #: seconds since this kiosk's roster, revocations and keys came from the command, or
        #: "never" (None: not said): sent with every request (X-Kiosk-Data-Age), so the
        #: dashboard lists gates holding old data, quiet ones too
        self.data_age: str | None = None
        #: the command's rule set this kiosk decides with (0: its own settings; None: not
        #: said): sent with every request (X-Kiosk-Rules), shown per gate on the dashboard
        self.rules_version: int | None = None
        self._clock = clock
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), transport=transport,
                                  timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        # our clock travels with every request (the dashboard shows a kiosk whose clock is
        # off); the answer's Date header tells us how far off we are
        headers = {**kwargs.pop("headers", {}), "X-Kiosk-Clock": self._clock().isoformat()}
        if self.data_age is not None:
            headers["X-Kiosk-Data-Age"] = self.data_age
        if self.rules_version is not None:
            headers["X-Kiosk-Rules"] = str(self.rules_version)
        try:
            response = self._http.request(method, API + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}" if str(exc)
                              else type(exc).__name__) from exc
        measured = _offset(response, self._clock())
        if measured is not None:  # 0.0 is a measurement: a clock that was set right
            self.clock_offset_s = measured
        status, reason = response.status_code, _reason(response)
        if status in (401, 403, 409):
            raise Refused(f"HTTP {status}: {reason or response.reason_phrase}")
        if status in (413, 422) and reason is not None:
            raise BatchRefused(status, reason)
        if status >= 400:
            raise Unavailable(f"HTTP {status}: {reason or response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable("the server's answer is not JSON") from exc

    def enrol(self, code: str, device_id: str, public_key: str | None = None,
              key_from_seq: int = 1) -> dict[str, str]:
        """Spend a one-time enrolment code; the answer holds the device secret.
        ``public_key`` (hex): the kiosk's signing key, registered with the enrolment."""
        body: dict[str, Any] = {"code": code, "device_id": device_id}
        if public_key is not None:
            body.update(public_key=public_key, key_from_seq=key_from_seq)
        return dict(self._send("POST", "/enrol", json=body))

    def register_key(self, public_key: str, from_seq: int) -> dict[str, Any]:
        """Register this device's signing key once (a kiosk enrolled before keys)."""
        return dict(self._send("POST", "/device/key",
                               json={"public_key": public_key, "from_seq": from_seq}))

    def push(self, device_id: str, events: list[dict[str, Any]], *, pending: int = 0,
             quarantined: int = 0, volunteers: dict[int, str] | None = None
             ) -> dict[str, Any]:
        """One batch; ``volunteers`` names the kiosk's volunteer ids the events carry."""
        envelope: dict[str, Any] = {"device_id": device_id, "events": events}
        if volunteers:
            envelope["volunteers"] = {str(k): v for k, v in volunteers.items()}
        body = wire.dumps(envelope)
        return dict(self._send("POST", "/events", content=body, headers={
            "Content-Type": "application/json", "X-Kiosk-Pending": str(pending),
            "X-Kiosk-Quarantined": str(quarantined)}))

    def device(self, *, pending: int | None = None, quarantined: int | None = None
               ) -> dict[str, Any]:
        """The server's view of this kiosk: last sequence number stored, ranges missing.
        ``pending``/``quarantined``: the outbox as it is now, for the dashboard (a batch's
        own counts, sent before it was stored, still include it)."""
        headers = {} if pending is None else {"X-Kiosk-Pending": str(pending)}
        if quarantined is not None:
            headers["X-Kiosk-Quarantined"] = str(quarantined)
        return dict(self._send("GET", "/device", headers=headers))

    def uplink(self) -> dict[str, Any]:
        """Whether the server is a compound hub, and its link to the district."""
        return dict(self._send("GET", "/uplink"))

    def changes(self, cursor: str, limit: int = 2000) -> dict[str, Any]:
        return dict(self._send("GET", "/changes", params={"cursor": cursor, "limit": limit}))
