"""抽样检验报告 (the report of one sampled machine-read verification: the lot, the GB/T 2828.1
plan with its Ac/Re, the defects found, the lot verdict the service signed, every failed item
with what restores it) and 检查台帐 (the inspection ledger over a period). Their data are the
signed inspection records (archive/verification.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from archive.domain.errors import InputError
from archive.domain.model import iso, parse_iso
from documents import names
from documents.kinds import Kind, Source, register
from i18n import N_

ROLES = ("auditor", "archivist", "administrator")


def _inspection(src: Source, inspection_id: str) -> dict:
    doc = src.archive.catalog.get_record("inspections", inspection_id)
    if doc is None:
        raise InputError(N_("no inspection {inspection}"), inspection=inspection_id,
                         subject=inspection_id)
    return doc


def _problems(codes: list[str]) -> list[dict]:
    return [{"code": c, "name": names.zh("problem", c), "action": names.zh("action", c)}
            for c in codes]


def build_report(src: Source, subject: str, params: dict) -> dict:
    rec = _inspection(src, subject)
    if rec["type"] != "sampled-verification":
        raise InputError(N_("inspection {inspection} is a {type}, not a sampled verification: "
                            "print its inspection ledger (inspection-ledger) instead"),
                         inspection=subject, type=rec["type"], subject=subject)
    return report_data(src, rec)


def report_data(src: Source, rec: dict) -> dict:
    """The report's data from a sampled-verification record (filed, or a draft not yet
    signed: the console shows the draft before the inspector signs it)."""
    rows, failed = [], []
    for n, r in enumerate(rec["results"], 1):
        row = {"n": n, "item": src.item(r["item"]), "ok": r["ok"],
               "not_replicated": bool(r.get("not_replicated")),
               "problems": _problems([p["code"] for p in r["problems"]])}
        rows.append(row)
        if not r["ok"]:
            failed.append(row)
    plan = rec["plan"]
    return {"inspection": rec["id"], "at": rec["at"], "by": src.person(rec["by"]),
            "lot": src.lot(rec["lot"]), "plan": plan, "seed": str(rec["seed"]),
            "copy": rec.get("copy", "primary"), "summary": rec["summary"],
            "verdict": rec.get("verdict"), "rows": rows, "failed": failed}


def draft_html(src: Source, draft: dict) -> str:
    """A sampled verification not yet filed, as its 抽样检验报告 will read: the same
    template, with no document number (none is given before it is filed and issued) and
    nothing signed or kept."""
    from documents import render

    record = {"type": "draft", "id": "—", "kind": REPORT.code, "title": REPORT.title,
              "subject": draft["id"], "number": "（草稿，签名后编号）",
              "issued_at": iso(datetime.now(timezone.utc)),
              "issued_by": src.person(src.actor.person_id), "zone": src.zone_name(None),
              "unit_name": src.unit_name(None), "landscape": REPORT.landscape,
              "template": REPORT.template, "data": report_data(src, draft)}
    return render.render_html(record, REPORT.template)


def build_ledger(src: Source, subject: str, params: dict) -> dict:
    """The inspections from ``from`` up to ``to`` (ISO, either missing; at most now)."""
    now = datetime.now(timezone.utc)
    start = parse_iso(params["from"]) if params.get("from") else None
    end = min(parse_iso(params["to"]), now) if params.get("to") else now
    rows = []
    for d in sorted(src.archive.catalog.list_records("inspections"), key=lambda d: d["at"]):
        at = parse_iso(d["at"])
        if (start and at < start) or at >= end:
            continue
        row = {"id": d["id"], "type": d["type"], "at": d["at"], "by": src.person(d["by"]),
               "count": len(d["items"])}
        if d["type"] == "conduct-check":
            res = d.get("resolution")
            row |= {"item": src.item(d["items"][0]), "finding": d["finding"],
                    "note": d.get("note") or None,
                    "officers": src.people(d.get("officers")),
                    "resolution": {"by": src.person(res["by"]), "at": res["at"],
                                   "note": res["note"]} if res else None}
        else:
            row |= {"lot": src.lot(d["lot"]), "plan": d["plan"], "verdict": d.get("verdict"),
                    "failed": len(d.get("summary", {}).get("failed", [])),
                    "copy": d.get("copy", "primary")}
        rows.append(row)
    return {"from": iso(start) if start else None, "to": iso(end), "rows": rows}


REPORT = register(Kind(code="sampling-report", title="抽样检验报告",
                       template="sampling_report.html", build=build_report, abbr="CJ", word="检",
                       roles=ROLES))
LEDGER = register(Kind(code="inspection-ledger", title="检查台帐",
                       template="inspection_ledger.html", build=build_ledger, abbr="JC", word="查",
                       landscape=True, fresh=True, roles=ROLES))
