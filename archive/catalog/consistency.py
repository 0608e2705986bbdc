"""Does the search index say what the signed record says?

Searches, verification lots, access requests by query and the statistics choose items by the
catalog's index (columns, officer and case rows, party and cause terms and their bigrams),
not by the signed metadata. An index edited outside custody (a row changed in SQLite, a field
in a MongoDB document) hides an item from a search or a lot, or files it under another unit,
while every signature still verifies. So each field is recomputed from the item's current
signed metadata version (signature checked) and its state, and compared with what the index
holds (``Catalog.index_state``); totals kept beside the rows (the longest recording, counts)
are compared with the totals of the items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from archive.catalog.base import COUNTED, Catalog, Query, counted
from archive.domain.model import Item, MetadataVersion
from archive.integrity.signing import Keyring
from i18n import N_, Text, localize

FIELD_MISMATCH = "search-field-mismatch"
VERSION_MISMATCH = "version-mismatch"
SIGNATURE_INVALID = "signature-invalid"
MISSING = "index-missing"
TOTAL_MISMATCH = "index-total-mismatch"
# what is compared with the item's state (catalog record), not its signed description
STATE_FIELDS = ("tier", "status", "retain_until", "cases", "cases_sort")
_US = timedelta(microseconds=1)


def _signed(keys: Keyring | None, version: MetadataVersion) -> bool:
    return keys is None or keys.verify(version.manifest(), version.key_id, version.signature)


def _problem(code: str, item_id: str, message: Text, **extra: object) -> dict:
    """``message`` in English (kept in reports and JSON), ``text`` in the reader's language."""
    return {"code": code, "item": item_id, "message": str(message),
            "text": localize(message), **extra}


def item_index_problems(catalog: Catalog, item: Item, keys: Keyring | None) -> list[dict]:
    """Every field of ``item``'s index entry that differs from its signed description (and
    its state), each with the field, the stored and the signed value. ``keys``: the archive
    keys its metadata versions must verify under (None: not checked)."""
    problems: list[dict] = []
    versions = catalog.versions(item.id)
    latest = versions[-1] if versions else None
    if latest is not None and latest.to_dict() != item.current.to_dict():
        problems.append(_problem(
            VERSION_MISMATCH, item.id, Text(N_(
                "item {item}: the item's current metadata version ({current}) is not its "
                "latest stored version ({latest})"), item=item.id, current=item.version,
                latest=latest.version),
            field="current", stored=item.version, signed=latest.version))
    numbers = [v.version for v in versions]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        # a version row rewritten or copied over another: the history is not the signed one
        problems.append(_problem(
            VERSION_MISMATCH, item.id, Text(N_(
                "item {item}: its stored versions are numbered {numbers}, not 1 to {n}"),
                item=item.id, numbers=numbers, n=len(numbers)), field="current", stored=numbers,
            signed=list(range(1, len(numbers) + 1))))
    reference = next((v for v in (item.current, latest)
                      if v is not None and _signed(keys, v)), None)
    if reference is None:
        problems.append(_problem(SIGNATURE_INVALID, item.id, Text(N_(
            "item {item}: no metadata version of it verifies with an archive key; its index "
            "cannot be checked"), item=item.id), field="metadata"))
        return problems
    if reference is not item.current:
        item = Item.from_record(item.to_record() | {"current": reference.to_dict()})
    stored = catalog.index_state(item.id)
    if stored is None:
        return problems + [_problem(MISSING, item.id, Text(N_("item {item} is not in the index"),
                                                           item=item.id), field="item")]
    for name, want in catalog.expected_index(item).items():
        have = stored.get(name)
        if have != want:
            source = Text(N_("the item's record")) if name in STATE_FIELDS else \
                Text(N_("the signed description"))
            problems.append(_problem(
                FIELD_MISMATCH, item.id, Text(N_(
                    "item {item}: {field} is {stored} in the catalog's index, {signed} in "
                    "{source}"), item=item.id, field=name, stored=repr(have),
                    signed=repr(want), source=source), field=name, stored=have, signed=want))
    return problems


class Totals:
    """The totals of the items seen, for comparison with those the index keeps."""

    def __init__(self) -> None:
        self.span_us = 0
        self.counts: dict[str, Counter] = {key: Counter() for key in COUNTED}
        self.terms: dict[str, Counter] = {"party": Counter(), "cause": Counter()}
        self.items = 0

    def add(self, item: Item) -> None:
        self.items += 1
        d = item.description
        if d.recorded_start and d.recorded_end:
            self.span_us = max(self.span_us, (d.recorded_end - d.recorded_start) // _US)
        for key, value in counted(item).items():
            self.counts[key][value] += 1
        for name in ("party", "cause"):
            if getattr(d, name):
                self.terms[name][getattr(d, name)] += 1

    def problems(self, catalog: Catalog) -> list[dict]:
        """Only what the backend stores is compared."""
        stored = catalog.index_totals()
        out: list[dict] = []

        def differ(field: str, have: object, want: object, message: Text) -> None:
            out.append(_problem(TOTAL_MISMATCH, "-", message, field=field, stored=have,
                                signed=want))

        if "max_span_us" in stored and stored["max_span_us"] < self.span_us:
            differ("max_span_us", stored["max_span_us"], self.span_us,
                   Text(N_("the longest recording lasts {longest} µs, but time-range "
                           "searches assume {assumed} µs: longer recordings are missed"),
                        longest=self.span_us, assumed=stored["max_span_us"]))
        for group, want_all in (("counts", self.counts), ("terms", self.terms)):
            have_all = stored.get(group)
            if have_all is None:
                continue
            for key, want in want_all.items():
                have = have_all.get(key, {})
                for value in sorted(set(want) | set(have)):
                    if have.get(value, 0) != want.get(value, 0):
                        differ(f"{group}.{key}.{value}", have.get(value, 0),
                               want.get(value, 0), Text(N_(
                                   "{group} of {key} '{value}': {stored} in the index, "
                                   "{items} items"), group=group, key=key, value=value,
                                   stored=have.get(value, 0), items=want.get(value, 0)))
        return out


def check_catalog(catalog: Catalog, keys: Keyring | None,
                  progress: Callable[[int], None] | None = None) -> dict:
    """Every item's index entry and the index totals: ``{"items": n, "problems": [...]}``."""
    problems: list[dict] = []
    totals = Totals()
    with catalog.snapshot():  # an ingest meanwhile must not look like a wrong count
        for item in catalog.iter_items(Query()):
            problems += item_index_problems(catalog, item, keys)
            totals.add(item)
            if progress:
                progress(1)
        problems += totals.problems(catalog)
    return {"items": totals.items, "problems": problems}
