"""A real TCP server on loopback for tests that must see whether (and how) faktory connects: it counts the
connections it accepts and runs `behaviour(conn)` for each one (default: close at once)."""

from __future__ import annotations

import socket
import threading
from typing import Callable


class Listener:
    def __init__(self, behaviour: Callable[[socket.socket], None] | None = None) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.behaviour = behaviour
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.behaviour is None:
                conn.close()
                continue
            self._conns.append(conn)
            threading.Thread(target=self.behaviour, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._conns:
            conn.close()
