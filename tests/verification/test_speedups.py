"""The verifier's shortcuts through pyHanko answer exactly what pyHanko answers."""

from __future__ import annotations

import io

import pytest
from asn1crypto.x509 import NameTypeAndValue
from pyhanko.pdf_utils import generic
from pyhanko.sign.validation import generic_cms

from verification import speedups


@pytest.mark.parametrize(
    "raw",
    [
        b"<48656c6c6f> rest",
        b"<48 65\n6c\t6c 6f\r\n> rest",
        b"<4865 6c6c 6f2> rest",  # odd: a trailing 0 is implied
        b"<> rest",
        b"<" + b"ab" * 20000 + b"> rest",  # longer than one read block
        b"<4865 %comment\n 6c> rest",  # a comment inside: pyHanko's own reader decides
    ],
)
def test_hex_strings_read_as_pyhanko_reads_them(raw):
    ours, theirs = io.BytesIO(raw), io.BytesIO(raw)
    assert speedups.read_hex_string(ours) == speedups._original_hex(theirs)
    assert ours.tell() == theirs.tell() and ours.read() == b" rest"


@pytest.mark.parametrize("raw", [b"<48zz65>", b"<4865"])
def test_bad_hex_strings_fail_as_pyhanko_fails(raw):
    with pytest.raises(Exception) as theirs:
        speedups._original_hex(io.BytesIO(raw))
    with pytest.raises(type(theirs.value)):
        speedups.read_hex_string(io.BytesIO(raw))


def test_names_compare_as_asn1crypto_compares_them():
    from asn1crypto.x509 import Name

    one = Name.build({"common_name": "Trần  Thị Bình", "country_name": "VN"})
    same_after_prep = Name.build({"common_name": "trần thị bình", "country_name": "VN"})
    other = Name.build({"common_name": "Trần Thị Hoa", "country_name": "VN"})
    pairs = [(one, Name.load(one.dump())), (one, same_after_prep), (one, other), (one, "not a name")]
    expected = [a == b for a, b in pairs]
    with speedups.shortcuts():
        assert [a == b for a, b in pairs] == expected
    assert expected == [True, True, False, False]


def test_shortcuts_are_in_place_only_while_active():
    originals = (generic.read_hex_string_from_stream, NameTypeAndValue._ldap_string_prep,
                 generic_cms.find_valid_path)  # fmt: skip
    with speedups.shortcuts(), speedups.shortcuts():
        assert generic.read_hex_string_from_stream is speedups.read_hex_string
        assert generic_cms.find_valid_path is not originals[2]
    assert (generic.read_hex_string_from_stream, NameTypeAndValue._ldap_string_prep,
            generic_cms.find_valid_path) == originals  # fmt: skip
