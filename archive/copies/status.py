"""custody status: where the catalog, the store and the second copy are, how many items in
which state, and how far the replica is behind."""

from __future__ import annotations

from archive.catalog.base import Query
from archive.copies.replica import lag
from archive.service import Archive
from config.settings import Settings

COUNTED = ("archived", "pending-metadata", "attention", "disposed")


def status(archive: Archive, settings: Settings) -> dict:
    """The backends (as configured), the item counts by status and the replica's lag (None
    without a replica)."""
    cfg = settings.section("replica")
    # kept counts: an archived item is in no index on its status (catalog schema step 8)
    by_status = archive.catalog.count_by("status")
    counts = {s: by_status.get(s, 0) for s in COUNTED}
    replica = {"backend": cfg.get("backend") or None,
               "location": (cfg.get("bucket") or cfg.get("path")) if cfg.get("backend")
               else None, "write_on_ingest": bool(cfg.get("write_on_ingest"))}
    return {"catalog": {"backend": settings.section("catalog")["backend"],
                        "endpoint": archive.catalog.endpoint},
            "store": archive.store.describe(), "replica": replica,
            "items": {"total": archive.catalog.count(Query()), **counts},
            "lag": lag(archive) if cfg.get("backend") else None}
