"""HTTP spoken by hand over a socket, for tests of the connection handler (``api.fastpath.connection``): what they
check is how it copes with split, pipelined or odd requests, which no well-behaved client library sends."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def read_answer(sock: socket.socket, buffer: bytearray) -> Answer:
    """One HTTP response from ``sock`` (by Content-Length, or to EOF); leftover bytes stay in ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            rest += chunk
        body, leftover = rest[:length], rest[length:]
    else:
        body, leftover = rest + b"".join(iter(lambda: sock.recv(65536), b"")), b""
    buffer[:] = leftover
    return Answer(status, headers, body)


def exchange(port: int, raw: bytes, answers: int = 1, *, pieces: int = 1) -> list[Answer]:
    """Send ``raw`` (in ``pieces`` writes, a pause between them) and read ``answers`` responses."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        step = -(-len(raw) // pieces)
        for start in range(0, len(raw), step):
            sock.sendall(raw[start : start + step])
            if pieces > 1:
                time.sleep(0.05)
        buffer = bytearray()
        return [read_answer(sock, buffer) for _ in range(answers)]
