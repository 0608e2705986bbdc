"""Reading the archive as a viewer: search, counts, one item, the items pending metadata and
the quarantine, each masked for the viewer's clearances (archive/access/masking.py).

Every function takes the archive, the viewer's clearances (the confidential classes they may
see; none for anyone not identified) and plain arguments, and returns plain data ready to
render: the command line and the web console show the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable

from archive.access.masking import (
    MASK,
    SAFE_EXTRA,
    hidden,
    mask_description,
    mask_record,
    mask_show,
    mask_summary,
    visible,
)
from archive.catalog.base import Catalog, Query, check_group_key, item_cases
from archive.domain.errors import InputError
from archive.domain.model import CONFIDENTIAL_CLASSES, Item, item_summary
from archive.domain.names import (
    ARCHIVED_WITH_CODE_ZH,
    CONFIDENTIAL_ZH,
    KIND_ZH,
    STATUS_ZH,
    TIER_ZH,
    View,
    zh,
)
from archive.domain.titles import masked_title, title_of
from archive.people import people_names
from archive.service import Archive
from i18n import N_

SENSITIVE_KEYS = ("party", "cause", "case_id")  # what masking hides, as search keys
PENDING_LIMIT = 1000


def _sensitive(query: Query) -> bool:
    return any(getattr(query, k) is not None for k in SENSITIVE_KEYS)


def search_items(archive: Archive, clearances: frozenset[str], query: Query, limit: int = 50,
                 cursor: str | None = None, view: View | None = None) -> dict:
    """One page of items matching ``query`` as search rows (``item_summary``), masked: a
    hidden item's party, cause, case and the title's party and cause read ``***``, and a
    search by party, cause or case does not show that a hidden item matches it.
    ``next_cursor`` continues the search. Each row carries its 题名 (composed now for an item
    stored before titles existed), its 档号 once archived, and under ``zh`` what a person
    reads: Chinese names, people by name, times in the unit's zone (``zone``)."""
    page = archive.search(query, limit, cursor)
    items = [i for i in page.items if visible(i, query, clearances)]
    view = _with_people(archive.catalog, view or View(), items)
    codes = archive.catalog.archive_codes_of(i.id for i in items)
    rows = [present_row(mask_summary(item_summary(i), i, clearances), i, codes.get(i.id), view)
            for i in items]
    return {"items": rows, "next_cursor": page.next_cursor,
            "zone": view.zone(query.unit)}


def item_rows(archive: Archive, clearances: frozenset[str], ids: list[str],
              view: View | None = None) -> list[dict]:
    """The items ``ids`` as search rows, in that order, masked as a search masks them, with
    their 题名 and 档号 (an id the catalog does not hold is left out): the items behind a
    figure or a blocker."""
    items = [i for i in (archive.catalog.get_item(x) for x in ids) if i is not None]
    view = _with_people(archive.catalog, view or View(), items)
    codes = archive.catalog.archive_codes_of(i.id for i in items)
    return [present_row(mask_summary(item_summary(i), i, clearances), i, codes.get(i.id), view)
            for i in items]


def masked_description(item: Item, clearances: frozenset[str]) -> dict:
    """An item's description as ``clearances`` may read it (the form that completes a
    pending item): masked as ``custody show`` masks it, and the offloaded file's original
    name under ``original_name`` (``***`` where the item is hidden from this reader)."""
    d = mask_description(item.description.to_dict(), clearances)
    return d | {"original_name": MASK if hidden(item.description.confidential, clearances)
                else item.description.source.get("original_name")}


def codes_by_item(catalog: Catalog, item_ids: Iterable[str]) -> dict[str, str]:
    """item id -> its 档号 (custody archive finalize) for the items asked about, through the
    catalog's index rather than every code of the archive; a destroyed item keeps its code."""
    return catalog.archive_codes_of(item_ids)


def _with_people(catalog: Catalog, view: View, items: list[Item]) -> View:
    ids = {p for i in items for p in (*i.description.officers, *i.description.assisting)}
    return view.with_people(people_names(catalog, ids) | dict(view.people))


def status_zh(status: str, code: str | None) -> str:
    """What an item's state reads: 已归档 once it has a 档号, 已销毁 when destroyed, else the
    stored status's name (已入库 for ``archived``: stored and locked, no 档号 yet)."""
    if status == "archived" and code:
        return ARCHIVED_WITH_CODE_ZH
    return zh(STATUS_ZH, status)


def present_row(row: dict, item: Item, code: str | None, view: View) -> dict:
    """A (masked) search row with its title, 档号 and the text people read beside the codes."""
    unit = row.get("unit")
    if not row.get("title"):  # composed from the row as masked: a hidden party stays hidden
        extra = item.description.extra if not row.get("masked") else {
            k: v for k, v in item.description.extra.items() if k in SAFE_EXTRA}
        row = row | {"title": title_of(row | {"extra": extra}, view.zone_of(unit),
                                       view.people)}
    return row | {"archive_code": code, "destroyed": item.status == "disposed", "zh": {
        "kind": zh(KIND_ZH, row["kind"]), "unit": view.unit(unit),
        "officers": [view.person(o) for o in row.get("officers") or []],
        "recorded_start": view.time(row.get("recorded_start"), unit),
        "recorded_end": view.time(row.get("recorded_end"), unit),
        "tier": zh(TIER_ZH, row["tier"]), "status": status_zh(row["status"], code),
        "activity_type": row.get("activity_type") or "", "zone": view.zone(unit)}}


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
              read_lock: bool = False, view: View | None = None) -> dict:
    """Everything the archive holds about one item (every metadata version, whether its
    signature verifies, with ``read_lock`` the lock read from the store), masked; with its
    title, its 档号 once archived, and under ``zh`` what a person reads (as search rows)."""
    out = mask_show(archive.show(item_id, read_lock), clearances)
    d = out["description"]
    view = view or View()
    view = view.with_people(people_names(archive.catalog, {*d.get("officers", []),
                                                           *d.get("assisting", [])})
                            | dict(view.people))
    code = archive.catalog.archive_codes_of([item_id]).get(item_id)
    unit = d.get("unit")
    title = title_of(d, view.zone_of(unit), view.people)
    out["title"], out["archive_code"] = title, code
    out["destroyed"] = out["status"] == "disposed"
    out["zh"] = {
        "kind": zh(KIND_ZH, d["kind"]), "unit": view.unit(unit),
        "officers": [view.person(o) for o in d.get("officers") or []],
        "assisting": [view.person(o) for o in d.get("assisting") or []],
        "recorded_start": view.time(d.get("recorded_start"), unit),
        "recorded_end": view.time(d.get("recorded_end"), unit),
        "ingested_at": view.time(out.get("ingested_at"), unit),
        "retain_until": view.time(out.get("retain_until"), unit),
        "tier": zh(TIER_ZH, out["tier"]), "status": status_zh(out["status"], code),
        "confidential": zh(CONFIDENTIAL_ZH, d.get("confidential")),
        "activity_type": d.get("activity_type") or "", "zone": view.zone(unit)}
    return out



def item_title(archive: Archive, clearances: frozenset[str], item_id: str,
               view: View | None = None) -> str | None:
    """An item's 题名 as this viewer may read it: a title names party and cause, so for a
    confidential item without the clearance it is the masked title. None: no such item."""
    item = archive.catalog.get_item(item_id) if item_id else None
    if item is None:
        return None
    d = item.description
    view = view or View()
    names = people_names(archive.catalog, {*d.officers, *d.assisting}) | dict(view.people)
    title = title_of(d, view.zone_of(d.unit), names)
    if d.confidential and hidden(d.confidential, clearances):
        title = masked_title(d.to_dict() | {"title": title}) or title
    return title


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
        raise InputError(N_("no quarantine entry {entry!r}"), subject=entry_id, entry=entry_id)
    return mask_record(doc, clearances)
