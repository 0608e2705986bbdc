"""What the console process holds: the settings, one archive (opened on first use, after a
server's fork), the relying party, the sessions and the sign-in limit; and the journal
flush that runs at most once a minute, not per request (issue 15)."""

from __future__ import annotations

import atexit
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from config.settings import Settings
from working.db import WorkingState
from working.sessions import Sessions

if TYPE_CHECKING:
    from archive.service import Archive

FLUSH_EVERY_S = 60.0
_SECRET_DDL = "CREATE TABLE IF NOT EXISTS web_secret (id INTEGER PRIMARY KEY, value TEXT);"


def origin_of(cfg: dict) -> str:
    """The origin browsers use: ``[web] origin``, else made from rp_id and port (https with a
    certificate, http only on localhost)."""
    if cfg.get("origin"):
        return cfg["origin"].rstrip("/")
    scheme = "https" if cfg.get("cert") else "http"
    return f"{scheme}://{cfg['rp_id']}:{cfg['port']}"


class Console:
    """One per process; ``archive`` opens the archive the first time a request needs it."""

    def __init__(self, settings: Settings, archive_factory: Callable[[], Archive]) -> None:
        self.settings = settings
        self.cfg = settings.section("web")
        self.origin = origin_of(self.cfg)
        self.state = WorkingState.of_home(settings.home)
        self.sessions = Sessions(self.state, self.cfg["session_idle_minutes"] * 60.0,
                                 self.cfg["session_hours"] * 3600.0)
        self.failure_limit = self.cfg["sign_in_failures_per_minute"]
        self._factory = archive_factory
        self._archive: Archive | None = None
        self._lock = threading.Lock()
        self._flushed = time.monotonic()
        atexit.register(self.flush)

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            with self._lock:
                if self._archive is None:
                    from archive.passkeys.service import attach

                    self._archive = attach(self._factory(), self.settings.home)
        return self._archive

    def relying_party(self):
        from archive.passkeys.service import RelyingParty

        return RelyingParty(self.cfg["rp_id"], self.origin,
                            self.cfg.get("name") or "custody")

    def blocked(self, *kinds: str) -> bool:
        """Too many failed ceremonies of these kinds in the last minute, counted for
        everyone (the passkey service counts each failure, without who failed)."""
        from archive.passkeys.service import failures

        counts = failures(self.archive, 60)
        return sum(counts.get(k, 0) for k in kinds) >= self.failure_limit

    def secret(self) -> str:
        """The key Flask-WTF signs CSRF tokens with: one per data home, in working state, so
        every worker process of a server agrees on it."""
        conn = self.state.ensure("web_secret", _SECRET_DDL)
        conn.execute("INSERT OR IGNORE INTO web_secret (id, value) VALUES (1, ?)",
                     (secrets.token_hex(32),))
        return conn.execute("SELECT value FROM web_secret WHERE id = 1").fetchone()[0]

    def maybe_flush(self) -> None:
        """The journal segment and the ledger checkpoint, when a minute has passed since the
        last ones (a request never waits for the store otherwise)."""
        if time.monotonic() - self._flushed >= FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Write what the console appended since the last flush (at exit too)."""
        with self._lock:
            self._flushed = time.monotonic()
            if self._archive is not None:
                self._archive.finish_command()
            self.sessions.purge()

    def close(self) -> None:
        self.flush()
        if self._archive is not None:
            self._archive.catalog.close()
            self._archive = None
        atexit.unregister(self.flush)
