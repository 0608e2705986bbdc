"""提取说明 (the extraction statement of an export): who made the records, who extracted them
and when, who approved, and each record with its 档号, 题名, recording times and digests —
the paper that goes with a copy to a court or a reviewing body. Its data is the export's own
signed extraction record (archive/access/export.py), read from the catalog."""

from __future__ import annotations

from archive.domain.errors import InputError
from documents.kinds import Kind, Source, register
from i18n import N_


def _export(src: Source, export_id: str) -> dict:
    doc = src.archive.catalog.get_record("exports", export_id)
    if doc is None or not doc.get("record"):
        raise InputError(N_("no export {export} (made by custody export)"), export=export_id,
                         subject=export_id)
    return doc


def build(src: Source, subject: str, params: dict) -> dict:
    record = _export(src, subject)["record"]
    req = record["request"]
    items = []
    for n, e in enumerate(record["items"], 1):
        # the extractor was approved for these very records: the 题名 is shown in full
        ref = src.item(e["item_id"], reveal=True)
        items.append({
            "n": n, "id": e["item_id"], "archive_code": ref["archive_code"],
            "title": ref["title"], "kind": e.get("kind"), "unit": src.unit(e.get("unit")),
            "device_id": e.get("device_id"), "makers": src.people(e.get("officers")),
            "recorded_start": e.get("recorded_start"), "recorded_end": e.get("recorded_end"),
            "party": e.get("party"), "cause": e.get("cause"), "case_id": e.get("case_id"),
            "size": e["size"], "sha256": e["sha256"], "sm3": e["sm3"], "path": e["path"],
            "metadata_version": e.get("metadata_version")})
    units = {e.get("unit") for e in record["items"] if e.get("unit")}
    makers = {p["id"]: p for it in items for p in it["makers"]}
    return {
        "unit": units.pop() if len(units) == 1 else None,
        "export_id": record["export_id"], "extracted_at": record["extracted_at"],
        "extractor": src.person(record["extractor"]["id"]),
        "request": {"id": req["id"], "requester": src.person(req["requester"]),
                    "reason": req["reason"], "purpose": req["purpose"],
                    "approved_by": src.person(req["approved_by"]),
                    "approved_at": req["approved_at"]},
        "makers": list(makers.values()),
        "archive_key": record["archive_key"]["fingerprint"],
        "total_size": sum(it["size"] for it in items), "items": items}


def readers(src: Source, subject: str) -> list[str]:
    """The extractor and the requester may print the statement of their own export."""
    doc = src.archive.catalog.get_record("exports", subject) or {}
    record = doc.get("record") or {}
    return [p for p in ((record.get("extractor") or {}).get("id"),
                        (record.get("request") or {}).get("requester")) if p]


KIND = register(Kind(code="export-statement", title="提取说明", template="export_statement.html",
                     build=build, abbr="TQ", word="取", readers=readers,
                     roles=("archivist", "auditor", "legal", "administrator")))
