"""The catalog journal: what makes the WORM store, not the database, the source of truth.

Every command's catalog changes (item states, small records) and the ledger entries it
appended are written, at its end, as one signed segment to the WORM store beside the ledger
checkpoint. Objects and their signed metadata versions are there already; with the segments,
``archive.rebuild`` can make a lost catalog again from the store alone, verifying every
signature on the way.

A command that dies before its end leaves no segment: its ledger entries are carried by the
next segment (ledger entries are read from the catalog, not from memory); its item states
and records are recovered from the store's own evidence (signed metadata versions, locks) by
the rebuild, as reconcile does.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from archive.domain.canonical import canonical
from archive.domain.ids import uuid7
from archive.domain.model import iso
from archive.integrity.signing import SigningKey
from archive.worm.base import WormStore

JOURNAL_PREFIX = "journal/"
WATERMARK = ("meta", "journal")  # the last ledger seq a segment carried: not journaled itself


class Journal:
    """Catalog changes noted in memory by the catalog backends, flushed once per command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: dict[str, dict] = {}
        self.records: dict[tuple[str, str], dict] = {}

    def note_item(self, record: dict) -> None:
        with self._lock:
            self.items[record["id"]] = record

    def note_record(self, collection: str, record_id: str, doc: dict) -> None:
        if (collection, record_id) == WATERMARK:
            return
        with self._lock:
            self.records[(collection, record_id)] = doc

    def __bool__(self) -> bool:
        return bool(self.items or self.records)

    def take(self) -> tuple[dict[str, dict], dict[tuple[str, str], dict]]:
        with self._lock:
            items, records = self.items, self.records
            self.items, self.records = {}, {}
            return items, records


def flush(journal: Journal, catalog, store: WormStore, key: SigningKey,
          years: int) -> str | None:
    """Write one signed segment: the noted changes and every ledger entry since the last
    segment. None when there was nothing to write."""
    mark = catalog.get_record(*WATERMARK) or {"seq": 0}
    entries = [e.to_dict() for e in catalog.ledger_entries(mark["seq"] + 1)]
    items, records = journal.take()
    # what the catalog holds now, not what this command last wrote: another process may have
    # written the same item or record since (two stations, one item), and the segment
    # flushed last is the one a rebuild believes
    for item_id in items:
        item = catalog.get_item(item_id)
        if item is not None:
            items[item_id] = item.to_record()
    for collection, record_id in records:
        doc = catalog.get_record(collection, record_id)
        if doc is not None:
            records[(collection, record_id)] = doc
    if not (items or records or entries):
        return None
    body = {"type": "custody.catalog-journal", "at": iso(datetime.now(timezone.utc)),
            "catalog": catalog.endpoint, "ledger": entries,
            "items": [items[i] for i in sorted(items)],
            "records": [{"collection": c, "id": i, "doc": d}
                        for (c, i), d in sorted(records.items())]}
    signed = {"segment": body, "key_id": key.key_id, "signature": key.sign(body)}
    name = f"{JOURNAL_PREFIX}{uuid7()}.json"
    until = datetime.now(timezone.utc) + timedelta(days=366 * years)
    store.put_blob(name, canonical(signed), until)
    if entries:
        catalog.put_record(*WATERMARK, {"seq": entries[-1]["seq"], "segment": name})
    return name
