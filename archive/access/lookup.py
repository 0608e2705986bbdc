"""Reading the archive as a viewer: search, counts, one item, the items pending metadata and
the quarantine, each masked for the viewer's clearances (archive/access/masking.py).

Every function takes the archive, the viewer's clearances (the confidential classes they may
see; none for anyone not identified) and plain arguments, and returns plain data ready to
render: the command line and the web console show the same thing.
"""

from __future__ import annotations

from archive.access.masking import (
    MASK,
    hidden,
    mask_record,
    mask_show,
    mask_summary,
    visible,
)
from archive.catalog.base import Query, check_group_key, item_cases
from archive.domain.errors import InputError
from archive.domain.model import CONFIDENTIAL_CLASSES, Item, item_summary
from archive.service import Archive

SENSITIVE_KEYS = ("party", "cause", "case_id")  # what masking hides, as search keys
PENDING_LIMIT = 1000


def _sensitive(query: Query) -> bool:
    return any(getattr(query, k) is not None for k in SENSITIVE_KEYS)


def search_items(archive: Archive, clearances: frozenset[str], query: Query, limit: int = 50,
                 cursor: str | None = None) -> dict:
    """One page of items matching ``query`` as search rows (``item_summary``), masked: a
    hidden item's party, cause and case read ``***``, and a search by party, cause or case
    does not show that a hidden item matches it. ``next_cursor`` continues the search."""
    page = archive.search(query, limit, cursor)
    rows = [mask_summary(item_summary(i), i, clearances) for i in page.items
            if visible(i, query, clearances)]
    return {"items": rows, "next_cursor": page.next_cursor}


def count_items(archive: Archive, clearances: frozenset[str], key: str,
                query: Query | None = None) -> dict[str, int]:
    """Counts of matching items grouped by ``key`` (officer: per officer) that neither show a
    hidden item's party, cause or case (counted under ``***``) nor let a filter on them
    reveal it. The catalog counts when nothing could be hidden; otherwise item by item
    (slower, only for viewers without every clearance)."""
    check_group_key(key)
    query = query or Query()
    uncleared = set(CONFIDENTIAL_CLASSES) - set(clearances)
    if not uncleared or (key not in SENSITIVE_KEYS and not _sensitive(query)):
        return archive.catalog.count_by(key, query)
    counts: dict[str, int] = {}
    for item in archive.catalog.iter_items(query):
        if not visible(item, query, clearances):
            continue
        for value in _group_values(item, key, clearances):
            counts[value or ""] = counts.get(value or "", 0) + 1
    return counts


def _group_values(item: Item, key: str, clearances: frozenset[str]) -> list[str | None]:
    d = item.description
    if key in SENSITIVE_KEYS and hidden(d.confidential, clearances):
        return [MASK]
    if key == "officer":
        return list(d.officers)
    if key == "case_id":  # named or linked, as the catalog counts them
        return list(item_cases(item)) or [None]
    if key in ("tier", "status"):
        return [getattr(item, key)]
    return [getattr(d, key, None)]


def show_item(archive: Archive, clearances: frozenset[str], item_id: str,
              read_lock: bool = False) -> dict:
    """Everything the archive holds about one item (every metadata version, whether its
    signature verifies, with ``read_lock`` the lock read from the store), masked."""
    return mask_show(archive.show(item_id, read_lock), clearances)


def pending_items(archive: Archive, clearances: frozenset[str],
                  limit: int = PENDING_LIMIT) -> list[dict]:
    """Items archived while waiting for metadata, as search rows with what each lacks and
    its original file name, masked."""
    page = archive.search(Query(status="pending-metadata"), limit)
    return [mask_summary(item_summary(i) | {
        "missing": i.description.missing(),
        "original_name": i.description.source.get("original_name")}, i, clearances)
        for i in page.items]


def quarantine_list(archive: Archive, clearances: frozenset[str]) -> list[dict]:
    """The quarantine's records (infected files kept aside), masked."""
    return [mask_record(r, clearances) for r in archive.catalog.list_records("quarantine")]


def quarantine_show(archive: Archive, clearances: frozenset[str], entry_id: str) -> dict:
    """One quarantine record, masked."""
    doc = archive.catalog.get_record("quarantine", entry_id)
    if doc is None:
        raise InputError(f"no quarantine entry {entry_id!r}")
    return mask_record(doc, clearances)
