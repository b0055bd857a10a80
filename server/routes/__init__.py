"""The HTTP side of the server: one ``APIRouter`` per area, and what they share.

- :mod:`.device` — what agents call: enroll, send events, fetch the pack;
- :mod:`.admin` — what publishers and analysts call: bundles, rollout, reports;
- :mod:`.enrollment_admin` — enrollment tokens, approval mode, pending devices;
- :mod:`.service` — health and metrics for operators;
- :mod:`.dashboard` — the HTML dashboard (not part of the OpenAPI contract);
- :mod:`.dependencies` and :mod:`.auth` — what handlers get injected;
- :mod:`.errors` — the one translation of domain errors into answers.

Handlers translate HTTP to calls on the domain modules (``server.store``,
``server.ingest_service``, ``server.publishing``, ``server.reports``) and
back; they hold no state of their own.
"""
