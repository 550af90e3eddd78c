"""Only Kyso's own output reaches the terminal: pyHanko's log lines (the "fetching is not allowed" warning
of every B-LT signature, the traceback its diff analysis logs for an edited file) and Python warnings go
to the data directory's kyso-cli.log, or to stderr with --verbose."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from cli.common import CLI_LOG
from tests.conftest import kyso, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody

ROOT = Path(__file__).resolve().parents[2]
LIBRARY_TEXT = ("Traceback", "WARNING", "pyhanko", "fetching is not allowed", "SuspiciousModification")


def assert_quiet(result) -> None:
    for text in LIBRARY_TEXT:
        assert text not in result.stdout, result.stdout
        assert text not in result.stderr, result.stderr


def incrementally_updated(signed: bytes) -> bytes:
    """The signed file with a page rotated in an incremental update: a modification pyHanko's diff
    analysis cannot explain (and logs, with its traceback)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """An instance and a PDF its `kyso sign` signed B-LT (with the warning pyHanko logs for it)."""
    tmp = tmp_path_factory.mktemp("library-output")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    instance.settings.data_dir.mkdir(exist_ok=True)  # the log goes to a data directory that exists

    serial = issue_in_custody(instance, "official")
    source = tmp / "in.pdf"
    source.write_bytes(sample_pdf(1))
    result = kyso(instance, "sign", source, "-o", tmp / "signed.pdf", "--cert", serial, "--level", "b-lt")
    yield instance, tmp / "signed.pdf", result
    instance.db.dispose()


def test_sign_prints_no_library_warning(signed):
    instance, _, result = signed
    assert result.returncode == 0, result.stderr
    assert_quiet(result)
    assert result.stderr.startswith("signed in.pdf → ")
    log = (instance.settings.data_dir / CLI_LOG).read_text(encoding="utf-8")
    assert "fetching is not allowed" in log  # kept, in the log


@pytest.mark.parametrize("edit", ["incremental update", "flipped byte", "appended bytes"])
def test_verify_of_an_edited_pdf_prints_only_the_report(signed, tmp_path, edit):
    instance, output, _ = signed
    data = output.read_bytes()
    if edit == "incremental update":
        data = incrementally_updated(data)
    elif edit == "flipped byte":
        data = bytearray(data)
        data[300] ^= 0x01  # in the first objects, inside the signed byte range
        data = bytes(data)
    else:
        data += b"\n1 0 obj\n<< >>\nendobj\n"
    edited = tmp_path / "edited.pdf"
    edited.write_bytes(data)
    result = kyso(instance, "verify", edited)
    # bytes after %%EOF change nothing signed: still valid; the other two are not
    assert result.returncode in ((0,) if edit == "appended bytes" else (1, 2)), (result.stdout, result.stderr)
    assert_quiet(result)
    if result.returncode in (0, 1):
        assert result.stdout and result.stderr == ""
    else:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_verbose_shows_the_library_lines(signed, tmp_path):
    instance, output, _ = signed
    edited = tmp_path / "edited.pdf"
    edited.write_bytes(incrementally_updated(output.read_bytes()))
    result = kyso(instance, "--verbose", "verify", edited)
    assert result.returncode == 1
    assert "pyhanko" in result.stderr


QUIET_PROBE = """
import logging, warnings
from cli.common import route_library_logs
route_library_logs(False)
logging.getLogger("pyhanko.test").warning("a library warning")
warnings.warn("a Python warning", UserWarning, stacklevel=1)
print("done")
"""


def test_without_a_data_directory_library_lines_go_nowhere(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    result = subprocess.run(
        [sys.executable, "-c", QUIET_PROBE], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
    assert list(tmp_path.iterdir()) == []  # nothing created
