"""What every request meets before a route sees it (pure ASGI middleware, so nothing is
buffered on the way): body size and read deadline, a same-origin check on state-changing
requests, and the security headers of every answer.

* **Bodies.** A body longer than its route's limit is refused (413) on its ``Content-Length``
  before a byte of it is read, and a chunked body the moment the bytes counted pass the limit;
  a body not received within ``body_timeout_s`` (a slow sender holding a worker) gets 408.
* **Origin.** A browser sends ``Origin`` (and ``Sec-Fetch-Site``) with every POST; one from
  another site is refused (403) before the route runs, so a page elsewhere cannot make a
  signed-in browser (or a login form) post here. Kiosks and scripts send neither and pass.
* **Headers.** Every answer carries a Content-Security-Policy (no scripts, no frames, forms
  only to this site), ``X-Frame-Options: DENY``, ``nosniff``, no referrer to other sites
  (``same-origin``: with ``no-referrer`` a browser sends ``Origin: null`` on its own posts)
  and ``Cache-Control: no-store``: the dashboard and the API carry personal data, which no
  browser or proxy cache should keep.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


async def _answer(send: Send, status: int, error: str,
                  headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """The central store's error body (``{"error": ...}``), sent before any body was read;
    the connection is closed after it, so an unread body is never waited for."""
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *SECURITY_HEADERS, *headers]})
    await send({"type": "http.response.body", "body": body})


def _origin(scheme: str, netloc: str) -> tuple[str | None, int]:
    """(host, port) of ``scheme://netloc``, the default port filled in."""
    parts = urlsplit(f"//{netloc}")
    return parts.hostname, parts.port or int(_DEFAULT_PORTS[scheme])


def cross_origin(headers: Mapping[str, str]) -> bool:
    """True when a browser says the request comes from another site: ``Sec-Fetch-Site`` is
    ``cross-site``/``same-site``, or ``Origin`` names another host than ``Host`` (``null``,
    from a sandboxed frame or a file, counts as another)."""
    if headers.get("sec-fetch-site", "") in ("cross-site", "same-site"):
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return True
    try:
        return _origin(parts.scheme, parts.netloc) != _origin(parts.scheme,
                                                              headers.get("host", ""))
    except ValueError:  # a port that is not a number
        return True


class Guard:
    """The middleware: ``limits`` maps a path to its body limit (bytes), ``default_limit``
    holds for every other path."""

    def __init__(self, app: ASGIApp, *, limits: Mapping[str, int], default_limit: int,
                 body_timeout_s: float) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default_limit = default_limit
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope["headers"]}
        if scope["method"] in _UNSAFE_METHODS and cross_origin(headers):
            await _answer(send, 403, "cross-origin request refused")
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, f"body larger than {limit} bytes")
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [
                    *message.get("headers", []),
                    *((k, v) for k, v in SECURITY_HEADERS if k not in names)]}
            await send(message)

        try:
            await self.app(scope, self._limited(receive, limit), send_with_headers)
        except HTTPException as exc:  # raised by the body reader outside a route's handler
            if started or exc.status_code not in (408, 413):
                raise
            await _answer(send, exc.status_code, str(exc.detail))

    def _limited(self, receive: Receive, limit: int) -> Receive:
        """``receive`` that counts body bytes (413 past ``limit``) and gives up on a body
        not complete within the deadline (408); after the body it passes through (a
        route may wait for the client to disconnect)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        received = 0
        done = False

        async def limited() -> Message:
            nonlocal received, done
            if done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                raise HTTPException(408, f"body not received within {self.body_timeout_s:g} s"
                                    ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"body larger than {limit} bytes")
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        return limited
