"""Sortable identifiers (UUIDv7, RFC 9562): time-ordered so ids sort by creation."""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, last sequence: keeps ids monotonic within one process


def uuid7(now_ms: int | None = None) -> str:
    with _lock:
        ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms = _last[0]
            seq = _last[1] + 1
        else:
            seq = int.from_bytes(secrets.token_bytes(2), "big") & 0x3FF
        if seq > 0xFFF:
            ms += 1
            seq = 0
        _last[0], _last[1] = ms, seq
    rand = int.from_bytes(secrets.token_bytes(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return str(uuid.UUID(int=value))
