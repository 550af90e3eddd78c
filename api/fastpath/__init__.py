"""The fast path: the two requests that dominate by count, answered ahead of FastAPI.

A relying party's OCSP request and a desk's check-in scan are a few hundred bytes each, and FastAPI's
layers (routing, dependencies, middleware, a thread hop) cost several times the work itself. So
``kyso serve`` runs uvicorn with its own HTTP protocol, and this package is everything that protocol does:

- ``connection`` — ``FastPathProtocol``, the door: it reads each new connection first and, per complete
  request at the start of the buffer, looks its request line up in one route table (``routes``: OCSP and
  check-ins, as equals) and lets the route answer, or hands the connection — with every byte read so far,
  at a request boundary — to uvicorn's own protocol, after which the application answers as for any
  request (401, 404, 422 …).
- ``http`` — what the routes share: the one reading of a head (``read_head``, ``header_lines``), its bound
  (``MAX_HEAD``), the hand-off sentinel (``FOREIGN``), the keep-alive rule. A head a route does not fully
  understand (a folded or malformed line, a control byte, Transfer-Encoding, Expect, Upgrade, a repeated
  header) is handed off, never guessed at: uvicorn, or a proxy in front, must never frame a request
  differently from here.
- ``ocsp`` — ``POST /ocsp/{ca}`` and ``GET /ocsp/{ca}/{base64}``: decoding, answers rendered once with
  their HTTP headers from ``ca.ocsp_cache``, a miss sent to the full responder in a thread, the per-client
  limit on misses. The ``/ocsp`` routes of ``api/routers/status.py`` give the same answers (``answer``)
  under any other ASGI server and the TestClient, and document the endpoint in OpenAPI.
- ``checkins`` — ``POST /api/v1/checkins`` with a bearer token and the plain JSON body: the ``Decider``
  decides every scan waiting in one PostgreSQL transaction of three pipelined round trips
  (``store.checkin_groups``). The decision is ``invitations.checkin``'s, the audit entry
  ``services.checkins.decision_entry``'s, the answer the route's JSON with its headers
  (``api.security_headers``). On SQLite every scan goes to the route.

Correctness does not depend on any of this: the route gives the same answers (tests compare bytes), N
desks scanning one single-entry pass admit it once, and a killed worker loses no check-in.
"""
