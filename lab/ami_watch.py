"""A read-only AMI session of the lab's own (user `lab` in the lab's manager.conf), in a
thread: every event it hears, for tests that assert what Asterisk told AMI clients."""

from __future__ import annotations

import socket
import threading

from lab.pbx import AMI_PORT


class AmiWatch:
    def __init__(self, user: str, secret: str) -> None:
        self.events: list[dict[str, str]] = []
        self._sock = socket.create_connection(("127.0.0.1", AMI_PORT), timeout=5)
        login = f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nEvents: on\r\n\r\n"
        self._sock.sendall(login.encode())
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                block, buffer = buffer.split(b"\r\n\r\n", 1)
                fields = dict(
                    line.split(": ", 1)
                    for line in block.decode(errors="replace").split("\r\n")
                    if ": " in line
                )
                if "Event" in fields:
                    self.events.append(fields)

    def named(self, name: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == name]

    def close(self) -> None:
        self._sock.close()
