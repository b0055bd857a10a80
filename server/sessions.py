"""Dashboard sessions: signing in trades an admin token for a random session id.

The cookie carries the session id, never the admin token; the database keeps
only its sha256, the tenant, the admin token it came from, when it ends and
the session's CSRF token (every form of the dashboard posts it back).  A
session ends when it expires, when its admin says sign out (the row is
deleted), or when its admin token is revoked or expires: the lookup checks
the token on every request, so a session cannot outlive its credential.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Engine, or_, select

from server import schema as s
from server.audit import write_audit
from server.tokens import hash_token

__all__ = ["SESSION_SECONDS", "Session", "Sessions", "same_secret"]

#: How long a sign-in lasts.
SESSION_SECONDS: Final = 8 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in dashboard: whose it is and the CSRF token its forms carry."""

    tenant_id: int
    role: str
    admin_token_id: int
    csrf: str
    expires: float


def same_secret(a: str, b: str) -> bool:
    """Whether two secrets are equal, in time that does not depend on where they differ."""
    return bool(a) and hmac.compare_digest(
        a.encode("utf-8", "replace"), b.encode("utf-8", "replace")
    )


class Sessions:
    """The dashboard's sessions, over one engine (rows in ``dashboard_sessions``)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self._clock = clock

    def start(self, tenant_id: int, admin_token_id: int, role: str) -> tuple[str, Session]:
        """A new session for an admin token that was just checked: ``(session id, session)``."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + SESSION_SECONDS
        with self.engine.begin() as conn:
            # Expired sessions are swept when a new one starts (there are few of them).
            conn.execute(s.dashboard_sessions.delete().where(s.dashboard_sessions.c.expires <= now))
            conn.execute(
                s.dashboard_sessions.insert().values(
                    id_hash=hash_token(session_id),
                    tenant_id=tenant_id,
                    admin_token_id=admin_token_id,
                    created=now,
                    expires=expires,
                    csrf=csrf,
                )
            )
            write_audit(conn, tenant_id, now, "dashboard_sign_in", f"token:{admin_token_id}")
        return session_id, Session(tenant_id, role, admin_token_id, csrf, expires)

    def lookup(self, session_id: str) -> Session | None:
        """The live session of ``session_id``: not expired, not ended, its token still valid."""
        if not session_id:
            return None
        d, t = s.dashboard_sessions.c, s.admin_tokens.c
        now = self._clock()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(d.tenant_id, t.role, d.admin_token_id, d.csrf, d.expires)
                .join(s.admin_tokens, t.id == d.admin_token_id)
                .where(
                    d.id_hash == hash_token(session_id),
                    d.expires > now,
                    t.revoked.is_(None),
                    or_(t.expires.is_(None), t.expires > now),
                )
            ).first()
        if row is None:
            return None
        return Session(int(row[0]), str(row[1]), int(row[2]), str(row[3]), float(row[4]))

    def end(self, session_id: str) -> bool:
        """Sign out: delete the session, so its cookie is worth nothing even if kept."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(
                    s.dashboard_sessions.c.tenant_id, s.dashboard_sessions.c.admin_token_id
                ).where(s.dashboard_sessions.c.id_hash == hash_token(session_id))
            ).first()
            if row is None:
                return False
            conn.execute(
                s.dashboard_sessions.delete().where(
                    s.dashboard_sessions.c.id_hash == hash_token(session_id)
                )
            )
            write_audit(conn, int(row[0]), self._clock(), "dashboard_sign_out", f"token:{row[1]}")
        return True
