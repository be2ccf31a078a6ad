"""A deadline on each request's head, for ``kiosk serve`` without a proxy in front.

uvicorn times out neither a connection that never sends a request nor one that sends its
request line and headers a byte at a time: its keep-alive timer starts only after a response,
and its h11 parser waits for more bytes for ever. A few hundred such connections (a
"slowloris") hold the server's sockets for as long as the sender likes. Behind nginx the
proxy's ``client_header_timeout`` covers this; served directly (``--ssl-certfile``) nothing
did. This is uvicorn's own h11 protocol with one timer more: a connection whose request head
(request line and headers; h11 already caps it at 16 KiB) is not complete within
``--header-timeout`` seconds of its first byte, or of the connection itself, is answered
``408 Request Timeout`` (``Connection: close``) and closed. The
body has its own deadline (kiosk.server.guard); a TLS handshake has asyncio's (60 s).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from kiosk.server.app import HEADER_TIMEOUT_ENV, HEADER_TIMEOUT_S


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request head is too slow."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = float(os.environ.get(HEADER_TIMEOUT_ENV) or HEADER_TIMEOUT_S)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing at all is a slow head too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm()  # waiting for (the rest of) a request head: keep or start the clock
        else:
            self._disarm()  # the head is in: the body deadline and the app take over

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        self.logger.info("closing a connection whose request head took over %.0f s",
                         self.header_timeout_s)
        body = (f"no complete request head within {self.header_timeout_s:g} s\n"
                .encode("ascii"))
        try:
            # h11 lets a server answer before any request (its IDLE -> SEND_BODY): the
            # client, or a proxy in front, learns it was a deadline, not a crash
            for event in (h11.Response(status_code=408, reason=b"Request Timeout", headers=[
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"connection", b"close")]),
                    h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:
            pass  # a response already begun: only the close is left
        self.transport.close()
