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
from i18n import N_

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
# the receiver's check of a handover package (retention/handover.py verify_package): its
# per-record problem codes -> the check that finds them; 2x at handover
HANDOVER_CHECKS = {
    "ZS-21": ("authenticity", "元数据版本签名有效（档案库公钥）",
              ("metadata-missing", "metadata-unreadable", "metadata-signature-invalid")),
    "ZS-22": ("authenticity", "元数据与签名移交清单一致", ("metadata-mismatch",)),
    "ZS-23": ("authenticity", "文件目录著录（档号、题名、路径、摘要）与签名移交清单一致",
              ("catalog-mismatch",)),
    "WZ-21": ("integrity", "电子档案文件齐全", ("record-missing",)),
    "WZ-22": ("integrity", "摘要值复核（SHA-256、SM3）与文件大小", ("digest-mismatch",)),
    "KY-21": ("usability", "文件非空", ("empty",)),
    "KY-22": ("usability", "文件格式可识别、未损坏、符合该类别",
              ("unreadable", "damaged", "format-not-allowed", "extension-mismatch")),
}
# what the sender's full check found and handed over with the record (附问题移交)
SENDER_FINDING = {"authenticity": "ZS-29", "integrity": "WZ-29", "usability": "KY-29",
                  "security": "AQ-29"}
# the package's own checks: its problem codes -> (code, Chinese name); records-<property>
# (some record failed it) is read from the per-record table instead
PACKAGE_CHECKS = {
    "bag": ("WZ-20", "integrity", "BagIt 数据包完整（清单、校验值、无缺失文件）"),
    "bag-unsafe": ("AQ-20", "security", "数据包内无未登记文件、无越界路径"),
    "manifest": ("ZS-20", "authenticity", "移交清单经档案库密钥签名有效"),
    "signed-files": ("ZS-24", "authenticity", "文件目录、说明文件为签名清单所列"),
    "catalog": ("KY-20", "usability", "文件目录（XML）可读、条目数与清单一致"),
}
_PACKAGE_PROBLEM = {"no-manifest": "manifest", "manifest-signature-invalid": "manifest",
                    "file-not-signed": "signed-files", "no-catalog": "catalog",
                    "catalog-unreadable": "catalog", "catalog-count": "catalog",
                    "undeclared-file": "bag-unsafe", "bag-unlisted": "bag-unsafe",
                    "bag-tag-unlisted": "bag-unsafe", "bag-unsafe-path": "bag-unsafe"}
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
        raise InputError(N_("no batch {batch}"), batch=subject, subject=subject)
    items, units, not_stored = [], set(), []
    for f in batch["files"]:
        entries = (f.get("checks") or {}).get("four_property") or []
        if not entries:  # quarantined or rejected: never an item, listed with its reasons
            not_stored.append({"file": f["file"], "state": f.get("state"),
                               "state_zh": f.get("state_zh") or f.get("state"),
                               "reasons": [_reason_zh(r) for r in f.get("reasons") or []]})
            continue
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
    return report("ingest", scope, items, units.pop() if len(units) == 1 else None) | {
        "not_stored": not_stored}


def _reason_zh(reason: dict) -> str:
    """A reason as the batch stored it: the wording made for the person who ran the ingest
    when it is Chinese (the default), else the English message."""
    text = reason.get("text")
    if isinstance(text, str) and any("\u4e00" <= c <= "\u9fff" for c in text):
        return text
    return str(reason.get("message") or reason.get("code") or "")


def build_preservation(src: Source, subject: str, params: dict) -> dict:
    rec = src.archive.catalog.get_record("inspections", subject)
    if rec is None or rec.get("type") != "sampled-verification":
        raise InputError(N_("no sampled verification {inspection}"), inspection=subject,
                         subject=subject)
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
             "lot": src.lot(rec["lot"]), "plan": rec["plan"],
             "copy": rec.get("copy", "primary")}
    return report("preservation", scope, items)


def handover_data(check: dict, formats_checked: bool, by: str) -> dict:
    """The report's data for a handover package (``check``: what retention.handover
    verify_package returned), checked by ``by`` ("receiver" or "sender")."""
    from retention.transfer import REASON_ZH

    items = []
    for r in check["items"]:
        problems = {p: set(v["problems"]) for p, v in r["properties"].items()}
        checks = []
        for code, (prop, name, found) in HANDOVER_CHECKS.items():
            hit = [c for c in found if c in problems.get(prop, ())]
            result = "fail" if hit else "pass"
            if code == "KY-22" and not formats_checked:
                result = "not-checkable"
            checks.append({"code": code, "name": name, "property": prop, "result": result,
                           "observed": "、".join(names.zh("problem", c) for c in hit) or None})
        for prop, code in SENDER_FINDING.items():
            hit = "sender-finding" in problems.get(prop, ())
            findings = r.get("findings") or []
            checks.append({"code": code, "name": "移交方检测发现的问题（附问题移交）",
                           "property": prop, "result": "fail" if hit else "pass",
                           "observed": "、".join(REASON_ZH.get(f, f) for f in findings)
                           if hit and findings else None})
        items.append({"item": {"id": r["item"], "archive_code": r.get("archive_code"),
                               "title": r.get("title")},
                      "checks": checks, "label": r.get("file")})
    f = check["form"]
    scope = {"transfer": f.get("transfer"), "year": f.get("year"), "fonds": f.get("fonds"),
             "path": check.get("path"), "by": by, "trusted_key": check.get("trusted_key"),
             "manifest_sha256": f.get("manifest_sha256"), "bytes": f.get("bytes"),
             "withheld": f.get("withheld"), "prepared_by": f.get("prepared_by"),
             "prepared_by_name": f.get("prepared_by_name"),
             "prepared_at": f.get("prepared_at")}
    return report("handover", scope, items) | {"package_checks": _package_checks(check),
                                               "package_ok": check["ok"]}


def _package_checks(check: dict) -> list[dict]:
    """The package's checks, each pass or fail with what failed it."""
    failed: dict[str, list[str]] = {}
    for p in check["problems"]:
        code = p["code"]
        key = _PACKAGE_PROBLEM.get(code) or ("bag" if code.startswith("bag-") else None)
        if key is None:
            key = {"authenticity": "manifest", "integrity": "bag", "usability": "catalog",
                   "security": "bag-unsafe"}[p["property"]]
        failed.setdefault(key, []).append(f"{code}：{p.get('path') or ''}")
    return [{"code": code, "property": prop, "name": name,
             "result": "fail" if key in failed else "pass",
             "observed": "；".join(failed.get(key, [])[:5]) or None}
            for key, (code, prop, name) in PACKAGE_CHECKS.items()]


def build_handover(src: Source, subject: str, params: dict) -> dict:
    """四性检测报告 of a handover package, from the check just run on it (custody transfer
    verify PACKAGE --pdf, or transfer accept --pdf): the report's data travels in
    ``params``, and the issued record keeps it."""
    if not params.get("report"):
        raise InputError(N_("a handover check report is made from a check of the package: "
                            "custody transfer verify PACKAGE --pdf OUT"))
    return handover_data(params["report"], bool(params.get("formats_checked")),
                         params.get("by") or "receiver")


ROLES = ("archivist", "auditor", "administrator")
INGEST = register(Kind(code="ingest-check-report", title="四性检测报告",
                       template="four_property.html", build=build_ingest, abbr="SX", word="测",
                       landscape=True, roles=ROLES))
PRESERVATION = register(Kind(code="preservation-check-report", title="四性检测报告",
                             template="four_property.html", build=build_preservation,
                             abbr="SXBC", word="测", landscape=True, roles=ROLES))
HANDOVER = register(Kind(code="handover-check-report", title="四性检测报告",
                         template="four_property.html", build=build_handover, abbr="SXYJ",
                         word="测", landscape=True, fresh=True, roles=ROLES))
