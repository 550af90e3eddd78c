"""HTTP load for the status-services benchmark, and the CPU the servers and the load generator spend.

The load generator is ``bench/loadgen.c``, compiled with the system C compiler into the run's temporary
directory: one process, one epoll loop, N requests in flight. A Python generator spends more CPU per
request than the responders under test do (about 280 µs against openssl's 190 µs on this machine), so on
two shared cores it would measure itself. Without a C compiler the Python generator below is used and
the report says so.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOADGEN_SOURCE = Path(__file__).with_name("loadgen.c")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class LoadResult:
    ok: int
    errors: int
    seconds: float
    generator_cpu: float  # CPU seconds the load generator used
    server_cpu: float  # CPU seconds the server's processes used meanwhile

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def server_us_per_answer(self) -> float:
        return self.server_cpu / self.ok * 1e6 if self.ok else float("nan")

    @property
    def generator_us_per_answer(self) -> float:
        return self.generator_cpu / self.ok * 1e6 if self.ok else float("nan")


def http_request(path: str, body: bytes, content_type: str, *, keep_alive: bool) -> bytes:
    """A complete POST: HTTP/1.0 (the server closes, as `openssl ocsp` sends it) or HTTP/1.1 keep-alive."""
    version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
    head = f"POST {path} {version}\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def compile_loadgen(directory: Path) -> Path | None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    binary = directory / "loadgen"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(LOADGEN_SOURCE)], check=True, capture_output=True)
    return binary


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes in process group ``pgid``."""
    return _cpu(lambda command, fields: int(fields[2]) == pgid)


def command_cpu(name: str) -> float:
    """CPU seconds (user + system) of the live processes whose command is ``name`` (e.g. ``postgres``)."""
    return _cpu(lambda command, fields: command == name)


def _cpu(matches: Callable[[str, list[str]], bool]) -> float:
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command, _, rest = Path(f"/proc/{entry}/stat").read_text().partition(" (")[2].rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        if matches(command, fields):
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def run(
    loadgen: Path | None,
    requests: list[bytes],
    port: int,
    *,
    concurrency: int,
    seconds: float,
    keep_alive: bool,
    server_pgid: int,
    directory: Path,
) -> LoadResult:
    """Send ``requests`` in turn to 127.0.0.1:``port`` for ``seconds``; count the 200 answers."""
    before = group_cpu(server_pgid)
    if loadgen is None:
        ok, errors, elapsed, generator_cpu = _python_load(port, requests, concurrency, seconds)
    else:
        ok, errors, elapsed, generator_cpu = _c_load(
            loadgen, requests, port, concurrency, seconds, keep_alive, directory
        )
    return LoadResult(ok, errors, elapsed, generator_cpu, group_cpu(server_pgid) - before)


def _c_load(
    loadgen: Path,
    requests: list[bytes],
    port: int,
    concurrency: int,
    seconds: float,
    keep_alive: bool,
    directory: Path,
) -> tuple[int, int, float, float]:
    path = directory / "requests.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(r)) + r for r in requests))
    args = [
        str(loadgen),
        str(path),
        "127.0.0.1",
        str(port),
        str(concurrency),
        str(seconds),
        str(int(keep_alive)),
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err.decode(errors='replace')}")
    ok, errors, elapsed = out.split()
    return int(ok), int(errors), float(elapsed), usage.ru_utime + usage.ru_stime


# -- the Python fallback: processes that POST on a new connection each time -----------------------------


def _client(port: int, requests: list[bytes], seconds: float, queue: multiprocessing.Queue) -> None:
    done = errors = 0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(requests[i % len(requests)])
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            if b" 200 " in b"".join(chunks).partition(b"\r\n")[0]:
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        i += 1
    times = os.times()
    queue.put((done, errors, times.user + times.system))


def _python_load(
    port: int, requests: list[bytes], clients: int, seconds: float
) -> tuple[int, int, float, float]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_client, args=(port, requests, seconds, queue)) for _ in range(clients)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join()
    return sum(r[0] for r in results), sum(r[1] for r in results), seconds, sum(r[2] for r in results)
