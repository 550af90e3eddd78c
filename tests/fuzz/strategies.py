"""Hypothesis settings, a byte-mutation strategy and seed inputs shared by the fuzz tests.

``KYSO_FUZZ_EXAMPLES`` sets how many inputs each property tries (default 150: the whole fuzz set runs in
about a minute on a busy 2-core machine); set it to tens of thousands for a long run.
"""

from __future__ import annotations

import os

from asn1crypto import algos, tsp
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("KYSO_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared; time per example is not a property
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=EXAMPLES <= 150,  # the default run in `make test` is reproducible; long runs explore
    database=None,
)

# a well-formed RFC 3161 request (SHA-256, a nonce, certReq): the seed of the TSA's mutated inputs
TSA_REQUEST = tsp.TimeStampReq(
    {
        "version": 1,
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": b"\x07" * 32,
        },
        "nonce": 12345,
        "cert_req": True,
    }
).dump()

_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, max_mutations: int = 4) -> bytes:
    """``seed`` with a few bit flips, truncations, insertions, deletions, duplications or boundary bytes:
    inputs that get past the first checks of a parser, where random bytes would not."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_mutations))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate", "boundary"]))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "truncate":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif operation == "duplicate":
            end = min(len(data), at + draw(st.integers(1, 64)))
            data[at:at] = data[at:end]
        else:
            data[at] = draw(st.sampled_from(_INTERESTING))
    return bytes(data)
