"""Finding the compound's hub on the LAN by mDNS/DNS-SD (python-zeroconf), and announcing it.

The hub announces ``_checkpoint-hub._tcp.local.`` with its port and, in the TXT record, the
scheme (``https``/``http``) and path. A gate set to ``sync.hub = "auto"`` browses for it
when it needs a hub (at start, and after the hub it used stopped answering). zeroconf is
imported only here, and this module only when discovery is configured: a gate with a fixed
hub URL, or none, never loads it (its memory is tight).

Anyone on the LAN can announce a service: a discovered hub is only believed over HTTPS
(the certificate is checked as for any URL), unless the gate's settings allow plain HTTP on
the LAN (``sync.lan_http``), because the gate's credential travels with every request.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

SERVICE = "_checkpoint-hub._tcp.local."


def _lan_addresses(host: str) -> list[str]:
    """The addresses to announce: ``host`` itself, or every IPv4 address of this machine
    (but loopback) when it listens on all of them."""
    if host not in ("0.0.0.0", "", "::"):
        return [host]
    import ifaddr  # zeroconf's own dependency

    found = [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips
             if isinstance(ip.ip, str) and not ip.ip.startswith("127.")]
    return found or ["127.0.0.1"]


class Announcer:
    """An mDNS announcement of this hub, withdrawn by ``close()``."""

    def __init__(self, zc: Any, info: Any) -> None:
        self._zc = zc
        self._info = info

    def close(self) -> None:
        self._zc.unregister_service(self._info)
        self._zc.close()


def advertise_hub(host: str, port: int, scheme: str, name: str | None = None) -> Announcer:
    """Announce the hub listening on ``host:port`` on the LAN."""
    from zeroconf import ServiceInfo, Zeroconf

    label = name or socket.gethostname()
    addresses = _lan_addresses(host)
    info = ServiceInfo(SERVICE, f"{label}.{SERVICE}", port=port,
                       properties={"scheme": scheme, "path": "/"},
                       parsed_addresses=addresses, server=f"{label}.local.")
    zc = Zeroconf()
    zc.register_service(info, allow_name_change=True)
    return Announcer(zc, info)


def find_hub(timeout_s: float = 3.0, allow_http: bool = False) -> str | None:
    """The URL of a hub announced on the LAN, or None when none answers within
    ``timeout_s`` seconds. Plain-HTTP announcements count only with ``allow_http``."""
    from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf

    found: list[str] = []
    done = threading.Event()

    def on_change(zeroconf: Any, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Added:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=int(timeout_s * 1000))
        if info is None or not info.parsed_addresses():
            return
        props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
        scheme = props.get("scheme", "https")
        if scheme != "https" and not allow_http:
            return
        address = info.parsed_addresses()[0]
        host = f"[{address}]" if ":" in address else address
        found.append(f"{scheme}://{host}:{info.port}{props.get('path', '/').rstrip('/')}")
        done.set()

    zc = Zeroconf()
    try:
        ServiceBrowser(zc, SERVICE, handlers=[on_change])
        done.wait(timeout_s)
    finally:
        zc.close()
    return found[0] if found else None
