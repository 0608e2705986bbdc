"""The handover and disposal papers and the disc label, as official documents: 移交清单 and
电子档案移交与接收登记表 (of a transfer), 销毁清册 with its 鉴定意见 (of an executed disposal
list; re-printable, unlike the text printed once before), 光盘标签 (of a disc).

Each builder reads the signed records custody already keeps (the transfer's archive-signed
manifest and the receiver's signed receipt, the disposal list and its signed registers, the
disc inventory) and returns plain data; 题名 are masked for a confidential item (``Source.item``)
since these papers are read by archivists who may not hold its clearance."""

from __future__ import annotations

import json

from archive.domain.errors import InputError
from documents.kinds import Kind, Source, register
from i18n import N_

PROPERTIES = ("authenticity", "integrity", "usability", "security")
ROLES = ("archivist", "auditor", "administrator")


def _transfer(src: Source, transfer_id: str) -> tuple[dict, dict]:
    t = src.archive.catalog.get_record("transfers", transfer_id)
    if t is None:
        raise InputError(N_("no transfer {transfer} (custody transfer list)"),
                         transfer=transfer_id, subject=transfer_id)
    ref = t["manifest"]
    signed = json.loads(src.archive.store.read_bytes(ref["key"], ref["version_id"]))
    return t, signed["manifest"]


def _unit_of(rows: list[dict]) -> str | None:
    units = {r.get("unit") for r in rows if r.get("unit")}
    return units.pop() if len(units) == 1 else None


def build_handover_list(src: Source, subject: str, params: dict) -> dict:
    """移交清单: every record handed over (档号, 题名, file, size, digests), the records handed
    over with findings, and those withheld."""
    t, m = _transfer(src, subject)
    items = []
    for n, r in enumerate(m["items"], 1):
        ref = src.item(r["item_id"])
        items.append({"n": n, "id": r["item_id"],
                      "archive_code": r.get("archive_code") or ref["archive_code"],
                      "title": ref["title"], "file": r.get("file"), "kind": r["kind"],
                      "unit": src.unit(r.get("unit")), "size": r["size"],
                      "sha256": r["sha256"], "sm3": r["sm3"],
                      "findings": r.get("findings") or []})
    withheld = [{"item": src.item(w["item"]), "reasons": w["reasons"]}
                for w in m.get("withheld", [])]
    return {"unit": _unit_of(m["items"]), "transfer": t["id"], "year": t["year"],
            "number": t["number"], "fonds": m["fonds"], "prepared_at": m["prepared_at"],
            "prepared_by": src.person(m["prepared_by"]), "items": items,
            "withheld": withheld, "bytes": sum(i["size"] for i in items),
            "manifest_sha256": t["manifest"]["sha256"]}


def build_handover_form(src: Source, subject: str, params: dict) -> dict:
    """电子档案移交与接收登记表: counts and volume, the four-property results of the sender's
    check and of the receiver's (the signed receipt), carrier, digest algorithm and value,
    handed over by / received by."""
    t, m = _transfer(src, subject)
    sender = {p: sum(1 for r in m["items"]
                     if (r.get("properties") or {}).get(p) == "fail") for p in PROPERTIES}
    receipt = (t.get("receipt") or {}).get("receipt") or {}
    check = receipt.get("package_check") or {}
    received = {p: v.get("failed_items", 0) for p, v in (check.get("properties") or {}).items()}
    kinds: dict[str, int] = {}
    for r in m["items"]:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    return {"unit": _unit_of(m["items"]), "transfer": t["id"], "year": t["year"],
            "fonds": m["fonds"], "items": len(m["items"]), "kinds": kinds,
            "bytes": sum(r["size"] for r in m["items"]),
            "coded": sum(1 for r in m["items"] if r.get("archive_code")),
            "withheld": len(m.get("withheld", [])),
            "with_findings": sum(1 for r in m["items"] if r.get("findings")),
            "sender": sender, "receiver": received if check else None,
            "receiver_ok": check.get("ok"),
            "carrier": "在线移交（BagIt 数据包，参照 DA/T 93-2022 编排）",
            "digest_algorithm": "SHA-256", "manifest_sha256": t["manifest"]["sha256"],
            "prepared_by": src.person(m["prepared_by"]), "prepared_at": m["prepared_at"],
            "accepted_by": src.person(receipt.get("accepted_by")),
            "accepted_at": receipt.get("accepted_at"), "status": t["status"]}


def build_disposal_register(src: Source, subject: str, params: dict) -> dict:
    """销毁清册 with its 鉴定意见: what was appraised and by whom, the decision per item, the
    witnesses, who destroyed what and when, from the signed registers of the list."""
    from retention.disposal import appraisal_opinion

    doc = src.archive.catalog.get_record("disposals", subject)
    if doc is None:
        raise InputError(N_("no disposal list {list} (custody dispose list)"), list=subject,
                         subject=subject)
    registers = []
    for e in doc.get("executions", []):
        ref = e.get("register") or {}
        if not ref.get("key"):
            continue
        body = json.loads(src.archive.store.read_bytes(ref["key"], ref["version_id"]))["register"]
        registers.append(body | {"key": ref["key"]})
    if not registers:
        raise InputError(N_("disposal list {list} has not been executed: no destruction "
                            "register yet"), list=subject, subject=subject)
    destroyed, n = [], 0
    for body in registers:
        for t in body["destroyed"]:
            n += 1
            ref = src.item(t["id"])
            destroyed.append({"n": n, "id": t["id"], "archive_code": ref["archive_code"],
                              "title": ref["title"], "kind": t.get("kind"),
                              "unit": src.unit(t.get("unit")), "size": t.get("size"),
                              "sha256": t.get("sha256"), "sm3": t.get("sm3"),
                              "decision": "destroyed", "at": body["at"]})
    opinion = appraisal_opinion(doc)
    decided = {r["item"]: r for r in opinion["rejected"] + opinion["taken_out"]}
    kept = [{"item": src.item(i), "reason": r["reason"], "by": src.person(r["by"])}
            for i, r in decided.items()]
    kept += [{"item": src.item(x["item"]), "reason": x.get("zh") or x["reason"], "by": None}
             for body in registers for x in body.get("left", [])]
    return {"unit": _unit_of([{"unit": d["unit"]["id"] if d["unit"] else None}
                              for d in destroyed]),
            "list": doc["id"], "proposed_by": src.person(doc["proposed_by"]),
            "proposed_at": doc["proposed_at"],
            "appraisals": [{"by": src.person(a["by"]), "decision": a["decision"],
                            "note": a.get("note") or a.get("reason"),
                            "rejected": len(a.get("rejected", []))}
                           for a in opinion["appraisals"]],
            "witnesses": src.people(sorted({w for b in registers for w in b["witnesses"]})),
            "executed_by": src.people(sorted({b["executed_by"] for b in registers})),
            "destroyed_at": [b["at"] for b in registers], "items": destroyed, "kept": kept,
            "registers": [b["key"] for b in registers]}


def build_appraisal_opinion(src: Source, subject: str, params: dict) -> dict:
    """鉴定意见 of a disposal list once its appraisal is concluded (approved by the group, or
    nothing left to destroy): what was appraised (each item with 档号, 题名, tier and
    retain-until), by whom (each appraiser's decision and note, signed), and the decision
    and reason per item; a signature line for each appraiser by name."""
    doc = src.archive.catalog.get_record("disposals", subject)
    if doc is None:
        raise InputError(N_("no disposal list {list} (custody dispose list)"), list=subject,
                         subject=subject)
    need = int(src.settings.section("disposal").get("appraisers", 2))
    if doc["state"] == "proposed":
        raise InputError(N_("the appraisal of disposal list {list} is not concluded "
                            "({given} of {needed} approvals): no appraisal opinion yet"),
                         list=subject, given=len(doc["approvals"]), needed=need,
                         subject=subject)
    appraisals, decided = [], {}
    for a in doc["approvals"]:
        st = a["statement"]
        whole = st.get("action") == "dispose-reject"
        appraisals.append({"by": src.person(a["by"]), "at": st.get("at"),
                           "decision": "reject" if whole else "approve",
                           "note": st.get("reason") if whole else st.get("note"),
                           "rejected": len(st.get("rejected", []))})
        for e in doc["items"] if whole else st.get("rejected", []):
            decided.setdefault(e["item"], {"decision": "rejected", "by": a["by"],
                                           "reason": st["reason"] if whole else e["reason"]})
    for t in doc.get("taken_out", []):
        for i in t["statement"]["items"]:
            decided.setdefault(i, {"decision": "taken-out", "by": t["by"],
                                   "reason": t["statement"]["reason"]})
    items = []
    for n, e in enumerate(doc["items"], 1):
        ref = src.item(e["item"])
        d = decided.get(e["item"])
        items.append({"n": n, "id": e["item"], "archive_code": ref["archive_code"],
                      "title": ref["title"], "kind": e.get("kind"),
                      "unit": src.unit(e.get("unit")), "tier": e.get("tier"),
                      "retain_until": e.get("retain_until"),
                      "decision": d["decision"] if d else "destroy",
                      "reason": d["reason"] if d else None,
                      "by": src.person(d["by"]) if d else None})
    return {"unit": _unit_of([{"unit": e.get("unit")} for e in doc["items"]]),
            "list": doc["id"], "state": doc["state"],
            "proposed_by": src.person(doc["proposed_by"]), "proposed_at": doc["proposed_at"],
            "appraisers_needed": need, "appraisals": appraisals, "items": items,
            "to_destroy": sum(1 for i in items if i["decision"] == "destroy"),
            "kept": sum(1 for i in items if i["decision"] != "destroy"),
            "items_hash": doc["items_hash"]}


def build_disc_label(src: Source, subject: str, params: dict) -> dict:
    """光盘标签: disc number, 档号 range, counts, written time, image digest, where kept."""
    disc = src.archive.catalog.get_record("discs", subject)
    if disc is None:
        raise InputError(N_("no disc {disc} (custody disc list)"), disc=subject,
                         subject=subject)
    label = disc.get("label") or {}
    return {"disc": disc["id"], "tier": disc["tier"], "year": disc.get("year"),
            "first_code": label.get("first_code"), "last_code": label.get("last_code"),
            "items": len(disc["items"]), "uncoded": label.get("uncoded", 0),
            "kinds": label.get("kinds", {}), "bytes": disc["size"],
            "written_at": disc["created_at"], "written_by": src.person(disc["created_by"]),
            "image_sha256": disc["image_sha256"], "image_sm3": disc.get("image_sm3"),
            "location": disc.get("location")}


register(Kind(code="handover-list", title="电子档案移交清单", template="handover_list.html",
              build=build_handover_list, abbr="YJ", word="移", landscape=True, roles=ROLES))
register(Kind(code="handover-form", title="电子档案移交与接收登记表",
              template="handover_form.html", build=build_handover_form, abbr="DJ", word="登",
              roles=ROLES))
register(Kind(code="disposal-register", title="电子档案销毁清册",
              template="disposal_register.html", build=build_disposal_register, abbr="XH",
              word="销", landscape=True, roles=ROLES))
def _disposal_people(src: Source, subject: str) -> list[str]:
    """Who took part in a disposal list (its proposer, appraisers, witnesses): they read its
    鉴定意见 whatever their role (the appraiser role is per bureau)."""
    doc = src.archive.catalog.get_record("disposals", subject) or {}
    return ([doc.get("proposed_by")] + [a["by"] for a in doc.get("approvals", [])]
            + [w["by"] for w in doc.get("witnesses", [])])


def build_disc_readme(src: Source, subject: str, params: dict) -> dict:
    """盘内说明: what a disc holds, so that a person can find, check and play its records
    without custody: 档号 range, counts, written time, the layout, and every file with its
    size and digests. Made while the disc is written (``params``: the label's data and the
    rows), else from the disc inventory."""
    label, rows = params.get("label"), params.get("rows")
    disc = None
    if label is None or rows is None:
        disc = src.archive.catalog.get_record("discs", subject)
        if disc is None:
            raise InputError(N_("no disc {disc} (custody disc list)"), disc=subject,
                             subject=subject)
        label, rows = disc.get("label") or {}, disc["items"]
    files = [{"n": n, "id": r["item"], "archive_code": r.get("archive_code"),
              "file": r["file"], "kind": r.get("kind"), "size": r["size"],
              "sha256": r["sha256"], "sm3": r.get("sm3")} for n, r in enumerate(rows, 1)]
    return {"disc": subject, "tier": label.get("tier") or (disc or {}).get("tier"),
            "year": label.get("year"), "first_code": label.get("first_code"),
            "last_code": label.get("last_code"), "items": len(files),
            "uncoded": label.get("uncoded", 0), "kinds": label.get("kinds", {}),
            "bytes": sum(f["size"] for f in files),
            "written_at": label.get("written_at") or (disc or {}).get("created_at"),
            "written_by": src.person(src.actor.person_id if disc is None
                                     else disc.get("created_by")),
            "files": files}


register(Kind(code="appraisal-opinion", title="电子档案鉴定意见",
              template="appraisal_opinion.html", build=build_appraisal_opinion, abbr="JD",
              word="鉴", landscape=True, roles=ROLES + ("approver", "legal"),
              readers=_disposal_people))
register(Kind(code="disc-readme", title="盘内说明", template="disc_readme.html",
              build=build_disc_readme, abbr="PN", word="盘", landscape=True, roles=ROLES))
register(Kind(code="disc-label", title="光盘标签", template="disc_label.html",
              build=build_disc_label, abbr="GP", word="盘", roles=ROLES))
