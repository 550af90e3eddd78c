"""The TSA as a pyHanko ``TimeStamper``: the signing pipeline stamps in-process, without HTTP.

api/ or cli/ builds one and hands it to signing/ (which never imports ca/).
"""

from __future__ import annotations

import asyncio

from asn1crypto import tsp
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from ca.tsa import TimestampAuthority, TimestampRejected
from store.db import Database


class InProcessTimeStamper(TimeStamper):
    """Answers pyHanko's timestamp requests from a ``TimestampAuthority`` in a worker thread."""

    def __init__(self, authority: TimestampAuthority, db: Database, *, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)
        self.authority = authority
        self.db = db

    def _stamp(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        with self.db.reading() as session:
            token = self.authority.process(req, session)
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            return await asyncio.to_thread(self._stamp, req)  # signing and the DB read stay off the loop
        except TimestampRejected as rejected:
            # asn1crypto cannot represent a TimeStampResp without a token, so a refusal is raised here,
            # as pyHanko's own handling of a rejection would.
            raise TimestampRequestError(
                f"the timestamp authority refused the request ({rejected.fail_info}): {rejected.message}"
            ) from rejected
