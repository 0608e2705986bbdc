"""Invite tokens: one-time enrollment links, kept only as their SHA-256 (working state).

A token is handed to the administrator once (``create``); what stays in ``working.db`` is its
hash, the person it enrolls, who invited and until when. ``take`` uses it up atomically: the
first to finish an enrollment with it wins, every later use is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from working.db import WorkingState

DDL = """
CREATE TABLE IF NOT EXISTS invites (
    token_hash TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    person TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE INDEX IF NOT EXISTS invites_person ON invites (person);
"""

UNKNOWN, USED, EXPIRED = "unknown", "used", "expired"


@dataclass(frozen=True)
class Invite:
    id: str
    person: str
    invited_by: str
    created_at: float
    expires_at: float
    used_at: float | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _row(row) -> Invite:
    return Invite(row["id"], row["person"], row["invited_by"], row["created_at"],
                  row["expires_at"], row["used_at"])


def create(state: WorkingState, person: str, invited_by: str, valid_seconds: float,
           now: float | None = None) -> tuple[str, Invite]:
    """A new token (returned once, never stored) and its invite."""
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    inv = Invite(secrets.token_hex(8), person, invited_by, now, now + valid_seconds, None)
    conn = state.ensure("invites", DDL)
    conn.execute("INSERT INTO invites VALUES (?, ?, ?, ?, ?, ?, NULL)",
                 (_hash(token), inv.id, person, invited_by, inv.created_at, inv.expires_at))
    return token, inv


def look(state: WorkingState, token: str, now: float | None = None
         ) -> tuple[Invite | None, str | None]:
    """The invite of a token still usable, or why not (UNKNOWN, USED, EXPIRED)."""
    now = time.time() if now is None else now
    row = state.ensure("invites", DDL).execute(
        "SELECT * FROM invites WHERE token_hash = ?", (_hash(token or ""),)).fetchone()
    if row is None:
        return None, UNKNOWN
    inv = _row(row)
    if inv.used_at is not None:
        return inv, USED
    if inv.expires_at <= now:
        return inv, EXPIRED
    return inv, None


def take(state: WorkingState, token: str, now: float | None = None
         ) -> tuple[Invite | None, str | None]:
    """Use the token up: its invite, or why it cannot be used. Atomic: of two racing uses one
    wins."""
    now = time.time() if now is None else now
    inv, why = look(state, token, now)
    if why is not None:
        return inv, why
    cur = state.ensure("invites", DDL).execute(
        "UPDATE invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
        "AND expires_at > ?", (now, _hash(token), now))
    if cur.rowcount != 1:
        return inv, USED
    return inv, None


def pending(state: WorkingState, person: str | None = None, now: float | None = None
            ) -> list[Invite]:
    """Invites not used and not expired (of one person)."""
    now = time.time() if now is None else now
    sql = "SELECT * FROM invites WHERE used_at IS NULL AND expires_at > ?"
    args: tuple = (now,)
    if person is not None:
        sql += " AND person = ?"
        args += (person,)
    return [_row(r) for r in state.ensure("invites", DDL).execute(sql + " ORDER BY created_at",
                                                                  args)]
