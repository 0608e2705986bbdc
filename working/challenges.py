"""WebAuthn challenges (single use, with an expiry), the credentials' signature counters, and
failed attempts counted in aggregate — working state, never journaled or signed.

A challenge is issued with what the ceremony needs to finish (``payload``: the person, the
decision record) and a ``state`` id that goes to the browser and back. ``take`` uses it up
atomically, so an assertion over it is accepted once: a replay finds it used.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from working.db import WorkingState

DDL = """
CREATE TABLE IF NOT EXISTS challenges (
    state TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    challenge BLOB NOT NULL,
    payload TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE IF NOT EXISTS sign_counts (
    credential_id TEXT PRIMARY KEY,
    sign_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    minute INTEGER NOT NULL,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (minute, kind)
);
"""

TTL = 300.0  # seconds a ceremony may take (WebAuthn's own timeout is 60 s in the options)
UNKNOWN, USED, EXPIRED, WRONG = "unknown", "used", "expired", "wrong-purpose"


@dataclass(frozen=True)
class Challenge:
    state: str
    purpose: str
    challenge: bytes
    payload: dict
    expires_at: float


def _conn(state: WorkingState):
    return state.ensure("challenges", DDL)


def issue(state: WorkingState, purpose: str, challenge: bytes, payload: dict,
          ttl: float = TTL, now: float | None = None, sid: str | None = None) -> str:
    """Keep a challenge for one ceremony; the ``state`` id the browser sends back. A given
    ``sid`` (an enrollment's, named by its invite) replaces the challenge it held: a page
    opened again begins afresh."""
    now = time.time() if now is None else now
    sid = sid or secrets.token_urlsafe(24)
    conn = _conn(state)
    conn.execute("DELETE FROM challenges WHERE expires_at < ?", (now - 86400,))
    conn.execute("INSERT OR REPLACE INTO challenges VALUES (?, ?, ?, ?, ?, NULL)",
                 (sid, purpose, challenge, json.dumps(payload), now + ttl))
    return sid


def take(state: WorkingState, sid: str, purpose: str, now: float | None = None
         ) -> tuple[Challenge | None, str | None]:
    """Use a challenge up: it, or why not (UNKNOWN, USED, EXPIRED, WRONG). Used up even when
    the assertion over it then fails: a ceremony is tried once."""
    now = time.time() if now is None else now
    conn = _conn(state)
    row = conn.execute("SELECT * FROM challenges WHERE state = ?", (sid or "",)).fetchone()
    if row is None:
        return None, UNKNOWN
    ch = Challenge(row["state"], row["purpose"], bytes(row["challenge"]),
                   json.loads(row["payload"]), row["expires_at"])
    if row["purpose"] != purpose:
        return None, WRONG
    cur = conn.execute("UPDATE challenges SET used_at = ? WHERE state = ? AND used_at IS NULL",
                       (now, sid))
    if cur.rowcount != 1:
        return ch, USED
    if ch.expires_at <= now:
        return ch, EXPIRED
    return ch, None


def sign_count(state: WorkingState, credential_id: str) -> int:
    row = _conn(state).execute("SELECT sign_count FROM sign_counts WHERE credential_id = ?",
                               (credential_id,)).fetchone()
    return int(row["sign_count"]) if row else 0


def set_sign_count(state: WorkingState, credential_id: str, count: int) -> None:
    _conn(state).execute(
        "INSERT INTO sign_counts VALUES (?, ?) ON CONFLICT (credential_id) DO UPDATE SET "
        "sign_count = MAX(sign_count, excluded.sign_count)", (credential_id, count))


def count_failure(state: WorkingState, kind: str, now: float | None = None) -> None:
    """One more failed attempt of ``kind`` this minute (who failed is not kept)."""
    minute = int((time.time() if now is None else now) // 60)
    _conn(state).execute(
        "INSERT INTO failures VALUES (?, ?, 1) ON CONFLICT (minute, kind) DO UPDATE SET "
        "n = n + 1", (minute, kind))


def failures(state: WorkingState, seconds: float = 600, now: float | None = None) -> dict:
    """Failed attempts by kind over the last ``seconds`` (what rate limits read)."""
    since = int(((time.time() if now is None else now) - seconds) // 60)
    rows = _conn(state).execute("SELECT kind, SUM(n) AS n FROM failures WHERE minute > ? "
                                "GROUP BY kind", (since,))
    return {r["kind"]: int(r["n"]) for r in rows}
