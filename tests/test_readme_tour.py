"""The README's "A short tour" runs as written.

Every ```sh block of that section is split into commands (backslash continuations joined) and each runs in
bash, in order, in a scratch folder holding a copy of examples/, against `kyso serve` on a free loopback
port with a fresh KYSO_DATA_DIR. Shell variables the tour sets (LAN_CERT, TOKEN, …) carry over from one
command to the next. Only what a reader takes from earlier output is put in, in place of the README's
stand-ins:

- ``NAME=SERIAL``: the serial the command before printed;
- ``password='…'`` next to ``username=U``: the one-time password printed for U (by ``kyso user add``);
- ``totp=123456`` next to ``username=U``, and ``"code": "123456"`` sent with a token that U's login
  produced: U's current authenticator code, computed with pyotp from the secret in the printed
  ``otpauth://`` URI; a code already spent is never reused (the next 30-second step is taken, waiting
  for it when it is not yet accepted);
- ``127.0.0.1:8000``: the test server's address.

A command that exits non-zero (curl -f turns an HTTP error into one) fails the test, showing its output
and the server's log; so does a stand-in the test does not know how to fill.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
README = ROOT / "README.md"
SECTION = "## A short tour"
COMMAND_TIMEOUT = 120  # seconds, for one command (bulk issuance starts worker processes)

_ASSIGNED = re.compile(r"^([A-Z][A-Z0-9_]*)=")
_SERIAL_PLACEHOLDER = re.compile(r"^([A-Z][A-Z0-9_]*)=SERIAL(\s+#.*)?$")
# 159 random bits, in even-length hex: 40 digits, or fewer when the leading bytes are zero (1 in 128)
_SERIAL_PRINTED = re.compile(r"serial\W+([0-9a-f]{16,40})\b")
_USERNAME = re.compile(r"-d username=([a-z0-9][a-z0-9._-]*)")
_CREATED = re.compile(r"account (\S+) \([a-z-]+\) created\s+one-time password: (\S+)")
_FIRST_ADMIN = re.compile(r"first admin account: (\S+)\s+one-time password \(shown once\): (\S+)")
_OTPAUTH = re.compile(r"otpauth://totp/Kyso:([^?\s]+)\?secret=([A-Z2-7]+)")
_TOKEN_FOR = re.compile(r"^([A-Z][A-Z0-9_]*)=\$\(curl .*auth/token")
_BEARER = re.compile(r"Authorization: Bearer \$([A-Z][A-Z0-9_]*)")
_CODE_IN_JSON = re.compile(r'(\\"code\\": \\")123456(\\")')


def tour_commands(readme: str) -> list[str]:
    """The commands of the tour's ```sh blocks, continuations joined, blank and comment lines dropped."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start : end if end != -1 else len(readme)]
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", section, flags=re.M | re.S):
        pending = ""
        for line in block.splitlines():
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            command = (pending + line.strip()).strip()
            pending = ""
            if command and not command.startswith("#"):
                commands.append(command)
        assert not pending, f"a ```sh block of the tour ends with a continuation: {pending!r}"
    return commands


def test_the_tour_blocks_are_found() -> None:
    commands = tour_commands(README.read_text(encoding="utf-8"))
    assert len(commands) > 20
    assert any(c.startswith("kyso user add lan.nguyen") for c in commands)
    assert all("docker" not in c for c in commands), "the Docker block is not part of the tour"


@dataclass
class Person:
    password: str | None = None
    secret: str | None = None
    last_step: int | None = None  # the last TOTP step spent: each code is accepted once

    def next_code(self) -> str:
        """The code the app shows now, or the next one when the current one is spent (waiting until the
        service accepts it: a code is valid for its own 30-s step and one step either side)."""
        assert self.secret is not None, "no otpauth:// URI was printed for this account"
        totp = pyotp.TOTP(self.secret)
        now_step = int(time.time()) // 30
        step = now_step if self.last_step is None else max(now_step, self.last_step + 1)
        while int(time.time()) // 30 < step - 1:
            time.sleep(0.5)
        self.last_step = step
        return totp.at(step * 30)


@dataclass
class Tour:
    port: int
    work: Path
    env: dict[str, str]
    server_log: Path
    people: dict[str, Person] = field(default_factory=dict)
    token_owner: dict[str, str] = field(default_factory=dict)  # shell variable → username
    last_output: str = ""
    variables: list[str] = field(default_factory=list)

    def person(self, username: str) -> Person:
        return self.people.setdefault(username, Person())

    def learn(self, output: str) -> None:
        """Remember the one-time passwords and TOTP secrets a command printed."""
        for pattern in (_CREATED, _FIRST_ADMIN):
            for username, password in pattern.findall(output):
                self.person(username).password = password
        for username, secret in _OTPAUTH.findall(output):
            person = self.person(username)
            person.secret, person.last_step = secret, None

    def fill(self, command: str) -> str:
        """The command with the README's stand-ins replaced by what the reader would type."""
        command = command.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        serial = _SERIAL_PLACEHOLDER.match(command)
        if serial:
            printed = _SERIAL_PRINTED.search(self.last_output)
            assert printed, f"{command!r}: the command before printed no serial:\n{self.last_output}"
            return f"{serial.group(1)}={printed.group(1)}"
        username = _USERNAME.search(command)
        if username:
            person = self.person(username.group(1))
            if "password='…'" in command:
                assert person.password, f"no one-time password was printed for {username.group(1)}"
                command = command.replace("password='…'", f"password={shlex.quote(person.password)}")
            if "totp=123456" in command:
                command = command.replace("totp=123456", f"totp={person.next_code()}")
            owner = _TOKEN_FOR.match(command)
            if owner:
                self.token_owner[owner.group(1)] = username.group(1)
        if _CODE_IN_JSON.search(command):
            bearer = _BEARER.search(command)
            assert bearer and bearer.group(1) in self.token_owner, f"whose code? {command!r}"
            code = self.person(self.token_owner[bearer.group(1)]).next_code()
            command = _CODE_IN_JSON.sub(lambda m: m.group(1) + code + m.group(2), command)
        for stand_in in ("'…'", "123456", "=SERIAL"):
            assert stand_in not in command, f"the test does not know how to fill {stand_in} in {command!r}"
        return command

    def run(self, command: str) -> str:
        filled = self.fill(command)
        assigned = _ASSIGNED.match(filled)
        if assigned and assigned.group(1) not in self.variables:
            self.variables.append(assigned.group(1))
        state = self.work / ".tour-variables.sh"
        save = f"{{ declare -p {' '.join(self.variables)} 2>/dev/null || true; }} > {state}\n"
        script = (
            "set -o pipefail\n"
            f"[ -f {state} ] && source {state}\n"
            f"{filled}\n"
            "status=$?\n"
            + (save if self.variables else "")  # a bare `declare -p` would dump every variable
            + 'exit "$status"\n'
        )
        try:
            done = subprocess.run(
                ["bash", "-c", script], cwd=self.work, env=self.env, capture_output=True, text=True,
                timeout=COMMAND_TIMEOUT,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"README tour command timed out after {COMMAND_TIMEOUT} s:\n  {command}")
        output = done.stdout + done.stderr
        if done.returncode != 0:
            pytest.fail(
                f"README tour command failed (exit {done.returncode}):\n  {command}\n"
                f"ran as:\n  {filled}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n"
                f"--- server log (last lines)\n{self._server_tail()}"
            )
        self.learn(output)
        self.last_output = output
        return output

    def _server_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tour(tmp_path: Path) -> Iterator[Tour]:
    for tool in ("bash", "curl", "jq", "sha256sum"):
        if shutil.which(tool) is None:
            pytest.fail(f"the README tour needs {tool} (Debian: apt-get install {tool})")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        KYSO_DATA_DIR=str(tmp_path / "var"),
        KYSO_BASE_URL=base,
        KYSO_PKI_BASE_URL=base,
        LC_ALL="C.UTF-8",
    )
    log = tmp_path / "serve.log"
    tour = Tour(port=port, work=work, env=env, server_log=log)
    # `make run`: kyso init, then kyso serve (here on the free port)
    tour.run("kyso init")
    with log.open("w") as sink:
        server = subprocess.Popen(
            [str(VENV_BIN / "kyso"), "serve", "--port", str(port)], cwd=work, env=env, stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"kyso serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield tour
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_readme_tour_runs_as_written(tour: Tour) -> None:
    outputs: dict[str, str] = {}
    for command in tour_commands(README.read_text(encoding="utf-8")):
        outputs[command] = tour.run(command)

    # the first login, with the one-time password and a code, confirmed the enrolment and chose a password
    me = next(out for cmd, out in outputs.items() if "/api/v1/auth/me" in cmd)
    assert '"second_factor":true' in me, me
    scanned = next(out for cmd, out in outputs.items() if "/api/v1/checkins/scan" in cmd)
    assert '"decision":"admit"' in scanned.replace(" ", ""), scanned
    # `kyso verify` exits 0 only when every signature passed; the clerk's seal is the second one
    verified = next(out for cmd, out in outputs.items() if cmd.startswith("kyso verify"))
    assert "Signature2" in verified, verified
    for made in ("decision-signed.pdf", "decision-sealed.pdf", "decision-lta.pdf", "citizen.cer",
                 "citizen-chain.pem", "citizens.results.csv", "pass.png"):  # fmt: skip
        assert (tour.work / made).stat().st_size > 0, made
    results = (tour.work / "citizens.results.csv").read_text(encoding="utf-8").splitlines()
    assert len(results) == 1 + 4 and all(",issued," in row for row in results[1:]), results


def test_stand_ins_are_filled_from_earlier_output(tmp_path: Path) -> None:
    tour = Tour(port=4321, work=tmp_path, env={}, server_log=tmp_path / "log")
    secret = pyotp.random_base32()
    tour.learn(
        "account lan.nguyen (official) created\none-time password: pw-Lan_1\n"
        f"otpauth://totp/Kyso:lan.nguyen?secret={secret}&issuer=Kyso\n"
    )
    login = tour.fill(
        "LAN_TOKEN=$(curl -fsS http://127.0.0.1:8000/api/v1/auth/token -d username=lan.nguyen "
        "-d password='…' -d totp=123456 | jq -r .access_token)"
    )
    assert "127.0.0.1:4321" in login and "password=pw-Lan_1" in login
    first = tour.people["lan.nguyen"].last_step
    assert first is not None and f"totp={pyotp.TOTP(secret).at(first * 30)}" in login
    confirm = tour.fill(r'curl -H "Authorization: Bearer $LAN_TOKEN" -d "{\"code\": \"123456\"}" x')
    # the login spent the current code: the next one is sent
    assert tour.people["lan.nguyen"].last_step == first + 1
    assert rf"\"code\": \"{pyotp.TOTP(secret).at((first + 1) * 30)}\"" in confirm
    tour.last_output = "serial      " + "ab" * 20 + "\nprofile     official\n"
    assert tour.fill("LAN_CERT=SERIAL                  # the serial printed above") == "LAN_CERT=" + "ab" * 20
    tour.last_output = "serial      " + "0c" * 19 + "\nprofile     official\n"  # a leading zero byte
    assert tour.fill("LAN_CERT=SERIAL") == "LAN_CERT=" + "0c" * 19
    with pytest.raises(AssertionError, match="does not know how to fill"):
        tour.fill("kyso user add x --password='…'")
