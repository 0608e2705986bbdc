"""Completing items archived without full metadata, from a corrected manifest.

Each row names its item by ``item_id``, by ``sha256``, or by ``file`` (the original name under
which it was offloaded); the row's non-empty fields replace the item's. The result is a new
signed metadata version: the bytes are never uploaded again. The manifest is read by the same
reader as ingest's (ingest.manifest): a file that cannot be a manifest is refused as a whole
(exit 2), and a bad value affects its own field only, named with its row.

What ingest found wrong with the bytes (``checks["findings"]``: damage, a format that is not
what its name says, times that contradict the media, a faulty device) is never cleared by a
description: a completed item with findings is ``attention``, not ``archived``.
"""

from __future__ import annotations

from pathlib import Path

from archive.catalog.base import Query
from archive.domain.errors import CustodyError
from archive.domain.model import Description, Item, iso
from archive.domain.titles import retitled
from archive.ledger.chain import Actor
from archive.people import people_names
from archive.service import Archive
from config.settings import Settings
from i18n import Text
from ingest.manifest import COMPLETION_FIELDS, normalise, parse_fields, read_records
from retention.rules import routine_retain_until
from scanners.problems import problem

_TEXT = ("unit", "device_id", "party", "cause", "case_id", "activity_id", "activity_type",
         "confidential", "note")


def _find(archive: Archive, pending: list[Item], row: dict) -> Item | None:
    if row.get("item_id"):
        return archive.catalog.get_item(row["item_id"])
    if row.get("sha256"):
        found = archive.catalog.items_of_object(row["sha256"].lower())
        return found[0] if len(found) == 1 else None
    name = normalise(row.get("file", ""))
    matches = [i for i in pending if i.description.source.get("original_name") == name]
    return matches[0] if len(matches) == 1 else None


def merged(item: Item, row: dict, settings: Settings) -> tuple[Description, list[dict]]:
    """The item's description with the row's good fields over it, and the row's bad fields
    (each named, left out)."""
    d = item.description.to_dict()
    fields, bad = parse_fields(row, units=settings.units, zone_of=settings.unit_zone,
                               unit_default=d.get("unit"),
                               max_hours=settings.section("ingest").get("max_recording_hours"))
    for key in _TEXT:
        if key in fields:
            d[key] = fields[key]
    if "officers" in fields:
        d["officers"], d["assisting"] = fields["officers"], fields.get("assisting", [])
    elif "assisting" in fields:
        d["assisting"] = fields["assisting"]
    for key in ("recorded_start", "recorded_end"):
        if key in fields:
            d[key] = iso(fields[key])
    extra = dict(d["extra"])
    extra |= {key: fields[key] for key in ("document_type", "segment") if key in fields}
    extra |= {key: iso(fields[key]) for key in ("returned_at", "document_date")
              if key in fields}
    d["extra"] = extra
    if "important" in fields:
        d["important"] = fields["important"]
    if "title" in fields:  # a title a person gives stays; a composed one follows the fields
        d["title"], d["title_composed"] = fields["title"], False
    return Description.from_dict(d), bad


def complete(archive: Archive, settings: Settings, actor: Actor, path: Path) -> dict:
    """`custody pending complete`: a new signed version for each item a row names; the rows
    that name none, and every bad field, are listed as problems (with their line)."""
    records = read_records(path, COMPLETION_FIELDS)
    pending = archive.catalog.search(Query(status="pending-metadata"), limit=10_000).items
    result: dict = {"completed": [], "problems": []}
    for rec in records:
        line, row = rec.line, rec.values
        if rec.unknown:
            result["problems"].append(problem("unknown-column", Text(
                "unknown field(s) {fields} ignored", fields=", ".join(rec.unknown)), line=line))
        item = _find(archive, pending, row)
        if item is None:
            result["problems"].append(problem("no-item", Text(
                "names no single item (give item_id, sha256 or the original file name)"),
                line=line))
            continue
        try:
            desc, bad = merged(item, row, settings)
            desc = retitled(desc, settings.unit_zone(desc.unit),
                            people_names(archive.catalog, desc.officers))
            for p in bad:
                result["problems"].append({"code": p["code"], "message": p["message"],
                                           "text": p.get("text", p["message"]), "line": line,
                                           "item": item.id, "field": p["field"]})
            unit_rules = settings.units.get(desc.unit or "")
            until = None
            if unit_rules:
                until = routine_retain_until(unit_rules, desc.recorded_end, item.ingested_at,
                                             settings.unit_zone(desc.unit))
            updated = archive.correct(item.id, desc, actor, "metadata completed", until)
        except CustodyError as exc:
            result["problems"].append(problem(exc.code, exc.text, line=line, item=item.id))
            continue
        result["completed"].append({"item": updated.id, "version": updated.version,
                                    "status": updated.status,
                                    "findings": updated.checks.get("findings", [])})
    return result
