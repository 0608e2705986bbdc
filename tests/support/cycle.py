"""An archive for the annual cycle's tests: archivists, items of a year, the cycle policy."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from archive import people
from archive.domain.model import Description
from archive.integrity.signing import SigningKey
from archive.ledger.chain import Actor
from config import settings
from retention.policy import CyclePolicy

SH = ZoneInfo("Asia/Shanghai")


def policy() -> CyclePolicy:
    return CyclePolicy(fonds="J001", zone=SH, units=settings.load().units)


def archivist(setup, person_id: str) -> Actor:
    key = SigningKey.generate(setup.key_dir / f"person-{person_id}.key")
    people.register(setup.catalog, person_id, f"档案员{person_id}", f"acct-{person_id}",
                    ["archivist"], key)
    return Actor(person_id, key)


def add(setup, n: int, unit: str = "market-001", when: datetime | None = None,
        checks: dict | None = None, **kw):
    """An item of 2025 (``checks``: what ingest would have recorded on it)."""
    start = when or datetime(2025, 5, 1, 9, tzinfo=SH) + timedelta(hours=n)
    fields = {"unit": unit, "device_id": f"D{n}", "officers": ["P1"],
              "recorded_start": start, "recorded_end": start + timedelta(minutes=5)} | kw
    until = datetime.now(timezone.utc) + timedelta(days=30)
    return setup.archive.archive_stream([os.urandom(3000)], Description(kind="video",
                                        **fields), setup.actor, until, checks=checks).item
