"""Completing items archived without full metadata, from a corrected manifest.

Each row names its item by ``item_id``, by ``sha256``, or by ``file`` (the original name under
which it was offloaded); the row's non-empty fields replace the item's. The result is a new
signed metadata version: the bytes are never uploaded again.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from archive.catalog.base import Query
from archive.domain.errors import CustodyError, InputError
from archive.domain.model import Description, Item, iso
from archive.domain.timeutil import parse_time
from archive.ledger.chain import Actor
from archive.service import Archive
from config.settings import Settings
from ingest.manifest import flag, normalise, officers_of
from retention.rules import routine_retain_until

_TEXT = ("unit", "device_id", "party", "cause", "case_id", "activity_id", "activity_type",
         "confidential", "note")


def _rows(path: Path) -> list[tuple[int, dict]]:
    text = path.read_bytes().decode("utf-8-sig")
    if not text.strip():
        raise InputError(f"manifest {path} is empty", subject=str(path))
    if path.suffix.lower() == ".json":
        doc = json.loads(text)
        rows = doc.get("files") if isinstance(doc, dict) else doc
        return [(n + 1, {k: "" if v is None else str(v) if not isinstance(v, list)
                         else ";".join(v) for k, v in r.items()}) for n, r in enumerate(rows)]
    reader = csv.DictReader(io.StringIO(text))
    return [(reader.line_num, {k.strip(): (v or "").strip() for k, v in r.items() if k})
            for r in reader]


def _find(archive: Archive, pending: list[Item], row: dict) -> Item | None:
    if row.get("item_id"):
        return archive.catalog.get_item(row["item_id"])
    if row.get("sha256"):
        found = archive.catalog.items_of_object(row["sha256"])
        return found[0] if len(found) == 1 else None
    name = normalise(row.get("file", ""))
    matches = [i for i in pending if i.description.source.get("original_name") == name]
    return matches[0] if len(matches) == 1 else None


def merged(item: Item, row: dict, settings: Settings) -> Description:
    d = item.description.to_dict()
    for key in _TEXT:
        if row.get(key):
            d[key] = row[key]
    officers, assisting = officers_of(row)
    if officers:
        d["officers"], d["assisting"] = officers, assisting
    zone = settings.unit_zone(d.get("unit"))
    for key in ("recorded_start", "recorded_end"):
        if row.get(key):
            d[key] = iso(parse_time(row[key], zone, key))
    for key in ("document_type", "title"):
        if row.get(key):
            d["extra"] = d["extra"] | {key: row[key]}
    if row.get("important"):
        d["important"] = flag(row, "important")
    return Description.from_dict(d)


def complete(archive: Archive, settings: Settings, actor: Actor, path: Path) -> dict:
    pending = archive.catalog.search(Query(status="pending-metadata"), limit=10_000).items
    result: dict = {"completed": [], "problems": []}
    for line, row in _rows(path):
        item = _find(archive, pending, row)
        if item is None:
            result["problems"].append({"line": line, "message": "names no single item (give "
                                       "item_id, sha256 or the original file name)"})
            continue
        try:
            desc = merged(item, row, settings)
            unit_rules = settings.units.get(desc.unit or "")
            until = None
            if unit_rules:
                until = routine_retain_until(unit_rules, desc.recorded_end, item.ingested_at,
                                             settings.unit_zone(desc.unit))
            updated = archive.correct(item.id, desc, actor, "metadata completed", until)
        except CustodyError as exc:
            result["problems"].append({"line": line, "item": item.id, "message": exc.message})
            continue
        result["completed"].append({"item": updated.id, "version": updated.version,
                                    "status": updated.status})
    return result
