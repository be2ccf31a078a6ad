"""A network link that can be cut: a TCP proxy on 127.0.0.1 in front of one port. ``cut()``
drops every open connection and refuses new ones (a pulled cable, a dead uplink),
``mend()`` lets them through again. The hub tests and bench/bench_hub.py put one between
the gates and the hub (the LAN) and one between the hub and the district (the WAN)."""

from __future__ import annotations

import socket
import threading


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LinkProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, name="link-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        """The link goes down: open connections die, new ones are refused."""
        with self._lock:
            self.up = False
            doomed, self._open = self._open, set()
        for s in doomed:
            _drop(s)

    def mend(self) -> None:
        with self._lock:
            self.up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                _drop(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
            except OSError:
                _drop(client)
                continue
            with self._lock:
                self._open |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            _drop(s)
        with self._lock:
            self._open -= {src, dst}


def _drop(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
