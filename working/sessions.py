"""The console's sessions, in working state (``working.db``): revocable, with an idle and an
absolute timeout.

The browser holds only a random id; the table keys it by its SHA-256, so a copy of
``working.db`` opens nobody's session. A session is created before sign-in (it carries the
CSRF token and the WebAuthn challenge state of a sign-in in progress) and replaced by a new
id when a person signs in, so an id seen before sign-in is worth nothing after it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field

from working.db import WorkingState

_DDL = """
CREATE TABLE IF NOT EXISTS web_sessions (
    key TEXT PRIMARY KEY,          -- sha256 of the id in the cookie
    person TEXT,                   -- NULL until a person signs in
    data TEXT NOT NULL,            -- JSON: CSRF token, challenge state, the sign-in
    created REAL NOT NULL,
    seen REAL NOT NULL,
    revoked REAL
);
CREATE INDEX IF NOT EXISTS web_sessions_person ON web_sessions (person);
CREATE INDEX IF NOT EXISTS web_sessions_seen ON web_sessions (seen);
"""


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class Session:
    """One session as read: its id (from the cookie), its person (None before sign-in) and
    its data."""

    id: str
    person: str | None
    data: dict = field(default_factory=dict)
    created: float = 0.0
    seen: float = 0.0


class Sessions:
    """Sessions over ``working.db``: ``idle_s`` without a request, or ``absolute_s`` after
    creation, ends one; ``revoke`` ends one (or all of a person's) at once."""

    def __init__(self, state: WorkingState, idle_s: float, absolute_s: float) -> None:
        self.state, self.idle_s, self.absolute_s = state, idle_s, absolute_s

    def _conn(self):
        return self.state.ensure("web_sessions", _DDL)

    def create(self, person: str | None = None, data: dict | None = None,
               now: float | None = None) -> Session:
        now = time.time() if now is None else now
        sid = secrets.token_urlsafe(32)
        self._conn().execute(
            "INSERT INTO web_sessions (key, person, data, created, seen) VALUES (?,?,?,?,?)",
            (_key(sid), person, json.dumps(data or {}), now, now))
        return Session(sid, person, dict(data or {}), now, now)

    def get(self, session_id: str | None, now: float | None = None) -> Session | None:
        """The live session with this id, its last-seen time moved on; None for an unknown,
        revoked or timed-out one (a timed-out one is revoked on the way)."""
        if not session_id:
            return None
        now = time.time() if now is None else now
        conn = self._conn()
        row = conn.execute("SELECT * FROM web_sessions WHERE key = ?",
                           (_key(session_id),)).fetchone()
        if row is None or row["revoked"] is not None:
            return None
        if now - row["seen"] > self.idle_s or now - row["created"] > self.absolute_s:
            conn.execute("UPDATE web_sessions SET revoked = ? WHERE key = ?",
                         (now, row["key"]))
            return None
        conn.execute("UPDATE web_sessions SET seen = ? WHERE key = ?", (now, row["key"]))
        return Session(session_id, row["person"], json.loads(row["data"]), row["created"], now)

    def save(self, session: Session) -> None:
        self._conn().execute("UPDATE web_sessions SET data = ? WHERE key = ? AND revoked IS NULL",
                             (json.dumps(session.data), _key(session.id)))

    def revoke(self, session_id: str, now: float | None = None) -> None:
        self._conn().execute("UPDATE web_sessions SET revoked = ? WHERE key = ?",
                             (time.time() if now is None else now, _key(session_id)))

    def revoke_person(self, person: str, now: float | None = None) -> int:
        """End every session of a person (disabled, a passkey revoked); how many were live."""
        cur = self._conn().execute(
            "UPDATE web_sessions SET revoked = ? WHERE person = ? AND revoked IS NULL",
            (time.time() if now is None else now, person))
        return cur.rowcount

    def live(self, person: str | None = None, now: float | None = None) -> int:
        now = time.time() if now is None else now
        sql = ("SELECT COUNT(*) FROM web_sessions WHERE revoked IS NULL AND seen > ? "
               "AND created > ?")
        args: list = [now - self.idle_s, now - self.absolute_s]
        if person is not None:
            sql += " AND person = ?"
            args.append(person)
        return self._conn().execute(sql, args).fetchone()[0]

    def purge(self, now: float | None = None) -> int:
        """Forget sessions ended more than a day ago (they open nothing; the table stays
        small)."""
        now = time.time() if now is None else now
        cur = self._conn().execute(
            "DELETE FROM web_sessions WHERE (revoked IS NOT NULL AND revoked < ?) "
            "OR seen < ? OR created < ?",
            (now - 86400, now - self.idle_s - 86400, now - self.absolute_s - 86400))
        return cur.rowcount
