"""调阅登记 (the access register as filed): who viewed or extracted which record, why, when,
approved by whom; refused views and extractions too; nothing else (other refusals belong to
the ledger). Issued anew for a period each time (``fresh``), and printed again by its id."""

from __future__ import annotations

from datetime import datetime, timezone

from archive.access.register import register_rows
from archive.domain.errors import InputError
from archive.domain.model import iso, parse_iso
from documents.kinds import Kind, Source, register
from i18n import N_


def build(src: Source, subject: str, params: dict) -> dict:
    """``params``: ``from``/``to`` (ISO times, either may be missing). The period ends at the
    time of issue at the latest: the register is complete up to then."""
    now = datetime.now(timezone.utc)
    start = parse_iso(params["from"]) if params.get("from") else None
    end = parse_iso(params["to"]) if params.get("to") else None
    if start and end and end <= start:
        raise InputError(N_("the period ends before it starts"))
    until = min(end, now) if end else now
    rows = []
    for r in register_rows(src.archive.catalog, start, until, access_only=True):
        rows.append({
            "at": r["at"], "person": src.person(r["person"]) or {"id": r["person"],
                                                                  "name": r["name"]},
            # a refusal's reason as the document's reader reads it: in Chinese
            "reason": r.get("reason_zh") or r["reason"],
            "approved_by": src.person(r["approved_by"]),
            "request": r.get("request") if r.get("request") not in (None, "-") else None,
            "inspection": r.get("inspection"), "export": r.get("export"),
            "item": src.item(r["item"]) if r["kind"] != "refusal" or
            r["how"] in ("view", "extract", "inspect") else {"id": r["item"], "archive_code": None,
                                                   "title": None},
            "how": r["how"], "outcome": r["outcome"], "refusal": r["kind"] == "refusal"})
    return {"from": iso(start) if start else None, "to": iso(until), "rows": rows,
            "counts": {"entries": len(rows),
                       "refusals": sum(1 for r in rows if r["refusal"]),
                       "people": len({r["person"]["id"] for r in rows})}}


KIND = register(Kind(code="access-register", title="调阅登记", template="access_register.html",
                     build=build, abbr="DY", word="阅", landscape=True, fresh=True,
                     roles=("archivist", "auditor", "legal", "administrator")))
