"""The one SQLite file of working state (``<home>/working.db``); each module keeps its tables."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

FILE = "working.db"


class WorkingState:
    """A connection per thread to ``working.db``; tables are created by who uses them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def of_home(cls, home: Path) -> WorkingState:
        return cls(Path(home) / FILE)

    def connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # working state: a lost second is harmless
            self._local.conn = conn
        return conn

    def ensure(self, name: str, ddl: str) -> sqlite3.Connection:
        """The connection, with ``ddl`` (CREATE … IF NOT EXISTS statements) run once."""
        conn = self.connect()
        if name not in self._ready:
            with self._lock:
                conn.executescript(ddl)
                self._ready.add(name)
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
