"""Which store a gate syncs with: its compound's hub while it answers, the district otherwise.

Both take the same credential (the district's: the hub learns the hashes of its gates'
credentials from the district), the same protocol and the same outbox, so every event goes
exactly once either way: an outbox row leaves the gate when one of them acknowledges it,
the hub relays what it acknowledged, and the district is idempotent by (device, seq, id,
hash). Each store has its own download cursor (a hub numbers its changes itself).

The hub is a URL from the settings, or found on the LAN by mDNS (``sync.hub = "auto"``,
kiosk.sync.discover, imported only then). While the hub answers, the gate syncs every
``HUB_INTERVAL_S`` seconds; when it does not, the gate syncs with the district directly,
at most every ``DISTRICT_INTERVAL_S`` seconds.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from kiosk.store.devicekey import ensure_key
from kiosk.store.events import first_signed_seq
from kiosk.sync import state, wire
from kiosk.sync.client import Refused, SyncClient, SyncError, Unavailable
from kiosk.sync.runner import SyncBusy, Syncer, SyncReport

if TYPE_CHECKING:
    from kiosk.store.lite import Source

log = logging.getLogger(__name__)

#: seconds between syncs with the hub: a household let out at one gate is refused at the
#: others within about this (the 5 s promise of docs/SYNC.md)
HUB_INTERVAL_S = 2.0
#: seconds between direct syncs with the district while the hub does not answer
DISTRICT_INTERVAL_S = 10.0
#: seconds between two mDNS searches while no hub is found, and how long one listens
SEARCH_INTERVAL_S = 30.0
SEARCH_S = 1.0
AUTO = "auto"


def hub_cursor_key(url: str) -> str:
    """The meta key of a hub's download cursor (one per hub URL)."""
    return "sync.cursor.hub." + hashlib.sha256(url.encode()).hexdigest()[:16]


class Route:
    """One sync: with the hub if it answers, else with the district (``run``)."""

    def __init__(self, engine: Source, data_dir: Path, device_id: str, secret: str,
                 district_url: str, hub: str, *, lan_http: bool = False,
                 transport: httpx.BaseTransport | None = None,
                 find: Callable[[float, bool], str | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.device_id = device_id
        self.secret = secret
        self.district_url = district_url
        self.hub = hub
        self.lan_http = lan_http
        self.transport = transport
        self._find = find
        self._clock = clock
        self._found: str | None = None
        self._searched_at: float | None = None
        self._district_at: float | None = None
        self._key_at: float | None = None
        self._key_confirmed = False
        self._key_refused: str | None = None
        self._clients: dict[str, SyncClient] = {}

    def _client(self, url: str) -> SyncClient:
        if url not in self._clients:
            self._clients[url] = SyncClient(url, self.secret, transport=self.transport,
                                            timeout=httpx.Timeout(10.0, connect=2.0))
        return self._clients[url]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def hub_url(self) -> str | None:
        """The hub to try: the configured URL, or one found on the LAN (searched again at
        most every SEARCH_INTERVAL_S seconds while none is found)."""
        if not self.hub:
            return None
        if self.hub != AUTO:
            return self.hub
        now = self._clock()
        if self._found is None and (self._searched_at is None
                                    or now - self._searched_at >= SEARCH_INTERVAL_S):
            self._searched_at = now
            if self._find is None:
                from kiosk.sync.discover import find_hub

                self._find = find_hub
            try:
                self._found = self._find(SEARCH_S, self.lan_http)
            except OSError as exc:  # no multicast on this network
                log.info("no hub search possible: %s", exc)
        return self._found

    def run(self) -> SyncReport:
        hub_url = self.hub_url()
        if hub_url is not None:
            self._register_key_at_district()
            try:
                report = Syncer(self.engine, self.data_dir, self.device_id,
                                self._client(hub_url), cursor_key=hub_cursor_key(hub_url)).run()
            except SyncBusy:
                raise
            except SyncError as exc:
                log.info("hub %s: %s", hub_url, exc)
                if self.hub == AUTO:
                    self._found = None  # look again: it may have moved
                if not self.district_url or self._district_recently():
                    raise
            else:
                self._note_uplink(hub_url)
                if self._key_refused:  # the gates agree through the hub all the same
                    state.record(self.engine, **{state.LAST_ERROR: self._key_refused,
                                                 state.LAST_ERROR_AT: state.now_text()})
                return report
        if not self.district_url:
            raise Unavailable("no hub found and no district store set")
        report = Syncer(self.engine, self.data_dir, self.device_id,
                        self._client(self.district_url)).run()
        self._district_at = self._clock()
        state.record(self.engine, **{state.VIA: self.district_url, state.UPLINK: ""})
        return report

    def _register_key_at_district(self) -> None:
        """The kiosk's signing key, registered with the district itself over the kiosk's
        own connection: once per process (the same key again is only acknowledged), and
        again at most every DISTRICT_INTERVAL_S until the district has taken it. A hub
        never takes a gate's key (it sees the gate's secret, so a key it passed on would be
        its word); the district holds what the hub relays for a gate it has no key of until
        then (docs/SYNC.md, "Old gates behind a hub"). Another key already there (409) is
        kept in ``_key_refused`` and shown as the sync's error."""
        now = self._clock()
        if self._key_confirmed or not self.district_url or (
                self._key_at is not None and now - self._key_at < DISTRICT_INTERVAL_S):
            return
        self._key_at = now
        key = ensure_key(self.data_dir)
        try:
            answer = self._client(self.district_url).register_key(
                key.public_hex, first_signed_seq(self.engine, self.device_id))
        except Refused as exc:
            if str(exc).startswith("HTTP 409"):
                self._key_refused = f"the district holds another key for this kiosk: {exc}"
                log.warning("%s", self._key_refused)
            else:
                log.info("key not registered at the district: %s", exc)
            return
        except SyncError as exc:
            log.info("key not registered at the district yet: %s", exc)
            return
        self._key_confirmed, self._key_refused = True, None
        state.record(self.engine, **{state.DEVICE_KEY: str(answer["public_key"])})

    def _district_recently(self) -> bool:
        return (self._district_at is not None
                and self._clock() - self._district_at < DISTRICT_INTERVAL_S)

    def _note_uplink(self, hub_url: str) -> None:
        """What the hub says of its link to the district and of the other gates. The gate's
        clock was measured against the hub's; when the hub has measured its own against the
        district's, the two add up to the gate's clock against the district (a hub whose
        clock is off must not make its gates believe a wrong time)."""
        client = self._client(hub_url)
        try:
            view = client.uplink()
        except SyncError:
            view = {}
        hub_off = view.get("district_clock_offset_s")
        clock = (state.clock_offset(client.clock_offset_s + float(hub_off))
                 if isinstance(hub_off, int | float) and client.clock_offset_s is not None
                 else {})
        state.record(self.engine, **{state.VIA: hub_url,
                                     state.UPLINK: wire.dumps(view).decode()}, **clock)
