"""Small builders for domain objects in tests."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from archive.domain.ids import uuid7
from archive.domain.model import Description, Digests, Item, MetadataVersion

T0 = datetime(2026, 3, 1, 1, 0, tzinfo=timezone.utc)


def digests(seed: str) -> Digests:
    return Digests(size=len(seed), sha256=hashlib.sha256(seed.encode()).hexdigest(),
                   sm3=hashlib.new("sm3", seed.encode()).hexdigest())


def make_item(*, seed: str | None = None, start: datetime | None = T0, minutes: float = 10,
              kind: str = "video", status: str = "archived", tier: str = "routine",
              **desc) -> Item:
    item_id = uuid7()
    seed = seed or item_id
    end = start + timedelta(minutes=minutes) if start is not None else None
    fields = {"unit": "market-001", "device_id": "DSJ-0001", "officers": ["P001"],
              "recorded_start": start, "recorded_end": end}
    fields.update(desc)
    d = Description(kind=kind, **fields)
    v = MetadataVersion(item_id=item_id, version=1, description=d, digests=digests(seed),
                        created_at=T0, created_by="P000", reason="ingest")
    return Item(id=item_id, sha256=v.digests.sha256, current=v, ingested_at=T0 + timedelta(
        days=1), status=status, tier=tier)
