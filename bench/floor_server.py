"""The floor for a Python responder on this machine: an asyncio (uvloop) server that does nothing.

``python -m bench.floor_server PORT PROCESSES ANSWER_FILE`` answers every POST with the same prepared
bytes and closes the connection: no parsing beyond finding the body, no lookup, no database. It shares
one listening socket between PROCESSES forked workers, as ``kyso serve --workers`` does. What it reaches
under the benchmark's load is what accepting, reading, writing and closing a connection costs a Python
event loop here; the difference to Kyso is what Kyso's own work costs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import uvloop


class _Answer(asyncio.Protocol):
    answer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buffer[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if len(self.buffer) >= end + 4 + length:
            self.transport.write(self.answer)  # type: ignore[attr-defined]
            self.transport.close()


async def _serve(sock: socket.socket) -> None:
    server = await asyncio.get_running_loop().create_server(_Answer, sock=sock)
    await server.serve_forever()


def main(port: int, processes: int, answer: bytes) -> None:
    _Answer.answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/ocsp-response\r\n"
    _Answer.answer += b"content-length: %d\r\nconnection: close\r\n\r\n" % len(answer) + answer
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    for _ in range(processes):
        if os.fork() == 0:
            uvloop.run(_serve(sock))
            os._exit(0)
    print("floor server ready", flush=True)
    os.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]).read_bytes())
