"""四性检测报告 (DA/T 70-2018: authenticity 真实性, integrity 完整性, usability 可用性,
security 安全性), each check under a stable code with its Chinese name, per item and per
batch, at ingest (归档, the ingest batch's checks) and in preservation (保存, a sampled or full
machine-read verification). The handover stage (移交) uses the same template: its builder
returns the same shape (see ``report``).

The codes are custody's own (DA/T 70 gives the items, not codes): ZS 真实性, WZ 完整性,
KY 可用性, AQ 安全性; 0x at ingest, 1x on a re-read. A code never changes meaning."""

from __future__ import annotations

from archive.domain.errors import InputError
from documents import names
from documents.kinds import Kind, Source, register

PROPERTIES = ("authenticity", "integrity", "usability", "security")
# ingest/checks.py four_properties(): its check names -> (code, Chinese name)
INGEST_CHECKS = {
    "digests (SHA-256, SM3)": ("ZS-01", "固化信息（SHA-256、SM3 摘要）"),
    "metadata signed (Ed25519)": ("ZS-02", "元数据数字签名（Ed25519）"),
    "source recorded": ("ZS-03", "来源信息（原始文件名、采集设备）"),
    "time consistency": ("ZS-04", "媒体时间与登记时间一致"),
    "required metadata": ("WZ-01", "必填元数据齐全"),
    "size": ("WZ-02", "文件非空"),
    "not truncated": ("WZ-03", "文件未截断"),
    "device sequence": ("WZ-04", "设备文件序号"),
    "format allowed": ("KY-01", "文件格式符合该类别要求"),
    "readable": ("KY-02", "文件可读、可解析"),
    "not encrypted": ("KY-03", "文件未加密"),
    "virus scan": ("AQ-01", "病毒检测"),
    "WORM lock confirmed": ("AQ-02", "一次写入存储保留锁已确认"),
}
# a re-read (archive/verification.py verify_item): its problem codes -> the check that finds it
REREAD_CHECKS = {
    "WZ-11": ("integrity", "对象读取与摘要复核（SHA-256、SM3）",
              ("object-unreadable", "digest-mismatch")),
    "ZS-11": ("authenticity", "签名元数据复核",
              ("manifest-unreadable", "signature-invalid", "manifest-mismatch")),
    "ZS-12": ("authenticity", "检索索引与签名元数据一致",
              ("search-field-mismatch", "version-mismatch", "index-missing")),
    "KY-11": ("usability", "音视频可解析、时长不变", ("media-unreadable", "duration-changed")),
    "KY-12": ("usability", "入库时发现的问题（原件缺陷）", ("ingest-finding",)),
    "AQ-11": ("security", "保留锁与法律保全", ("lock-missing", "lock-too-short",
                                                "legal-hold-missing")),
}
STAGE_ZH = {"ingest": "归档（入库）环节", "preservation": "保存环节", "handover": "移交环节"}


def report(stage: str, scope: dict, items: list[dict], unit: str | None = None) -> dict:
    """The report's data: ``items`` each {"item": <Source.item>, "checks": [{"code", "name",
    "property", "result", "observed"}]}; per-property results and the batch totals per check
    are derived here, so every stage reads alike."""
    totals: dict[str, dict] = {}
    rows = []
    for n, it in enumerate(items, 1):
        props = {}
        for p in PROPERTIES:
            mine = [c for c in it["checks"] if c["property"] == p]
            failed = [c for c in mine if c["result"] == "fail"]
            props[p] = {"result": "fail" if failed else ("pass" if mine else "not-applicable"),
                        "failed": [{"code": c["code"], "name": c["name"],
                                    "observed": c.get("observed")} for c in failed]}
        for c in it["checks"]:
            t = totals.setdefault(c["code"], {"code": c["code"], "name": c["name"],
                                              "property": c["property"], "pass": 0,
                                              "fail": 0, "other": 0})
            t[c["result"] if c["result"] in ("pass", "fail") else "other"] += 1
        rows.append({"n": n, "item": it["item"], "properties": props,
                     "ok": all(v["result"] != "fail" for v in props.values()),
                     "label": it.get("label")})
    return {"unit": unit, "stage": stage, "stage_zh": STAGE_ZH[stage], "scope": scope,
            "checks": sorted(totals.values(), key=lambda t: (PROPERTIES.index(t["property"]),
                                                             t["code"])),
            "items": rows, "count": len(rows), "failed": sum(1 for r in rows if not r["ok"])}


def _observed(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return "、".join(map(str, value))
    return str(value)


def build_ingest(src: Source, subject: str, params: dict) -> dict:
    batch = src.archive.catalog.get_record("batches", subject)
    if batch is None:
        raise InputError(f"no batch {subject!r}", subject=subject)
    items, units = [], set()
    for f in batch["files"]:
        entries = (f.get("checks") or {}).get("four_property") or []
        if not entries:
            continue  # quarantined or rejected: never an item, named in the batch report
        checks = []
        for e in entries:
            code, name = INGEST_CHECKS.get(e["check"], (e["check"], e["check"]))
            checks.append({"code": code, "name": name, "property": e["property"],
                           "result": e["result"], "observed": _observed(e.get("observed"))})
        ref = src.item(f["item_id"]) if f.get("item_id") else {"id": f["file"]}
        units.add(ref.get("unit"))
        items.append({"item": ref, "checks": checks, "label": f["file"]})
    scope = {"batch": subject, "station": batch.get("station"), "root": batch.get("root"),
             "started_at": batch.get("started_at"), "finished_at": batch.get("finished_at"),
             "files": len(batch["files"]), "states": batch.get("counts") or {}}
    units.discard(None)
    return report("ingest", scope, items, units.pop() if len(units) == 1 else None)


def build_preservation(src: Source, subject: str, params: dict) -> dict:
    rec = src.archive.catalog.get_record("inspections", subject)
    if rec is None or rec.get("type") != "sampled-verification":
        raise InputError(f"no sampled verification {subject!r}", subject=subject)
    items = []
    for r in rec["results"]:
        if r.get("not_replicated"):
            continue
        found = {p["code"]: p for p in r["problems"]}
        checks = []
        for code, (prop, name, problems) in REREAD_CHECKS.items():
            hit = [c for c in problems if c in found]
            checks.append({"code": code, "name": name, "property": prop,
                           "result": "fail" if hit else "pass",
                           "observed": "、".join(names.zh("problem", c) for c in hit) or None})
        items.append({"item": src.item(r["item"]), "checks": checks})
    scope = {"inspection": rec["id"], "at": rec["at"], "by": src.person(rec["by"]),
             "lot": rec["lot"], "plan": rec["plan"], "copy": rec.get("copy", "primary")}
    return report("preservation", scope, items)


ROLES = ("archivist", "auditor", "administrator")
INGEST = register(Kind(code="ingest-check-report", title="四性检测报告",
                       template="four_property.html", build=build_ingest, abbr="SX",
                       landscape=True, roles=ROLES))
PRESERVATION = register(Kind(code="preservation-check-report", title="四性检测报告",
                             template="four_property.html", build=build_preservation,
                             abbr="SXBC", landscape=True, roles=ROLES))
