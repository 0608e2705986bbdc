"""The access register (调阅登记): views, exports and refusals, in time order."""

from __future__ import annotations

from datetime import datetime

from archive.catalog.base import Catalog
from archive.domain.errors import CustodyError
from archive.domain.model import parse_iso
from archive.ledger.chain import Actor
from archive.service import Archive
from i18n import localize, localize_in

# --- the register ---------------------------------------------------------------------------
REGISTER_COLUMNS = ("时间", "调阅人", "调阅事由", "审批人", "申请编号", "条目", "方式", "结果")
OUTCOME_ZH = {"completed": "已调阅", "started": "调阅中", "stopped": "中止",
              "digest-mismatch": "校验不符", "exported": "已提取",
              "redelivered": "重新交付（不另计次）"}


# refusals that are access events: someone tried to view or extract a record (other refusals,
# of a flag or a disposal, belong to the ledger, not the 调阅登记)
ACCESS_ACTIONS = ("view", "extract", "export", "inspect")


def register_rows(catalog: Catalog, start: datetime | None, end: datetime | None,
                  access_only: bool = False) -> list[dict]:
    """The access register in time order: views, exports and refusals; ``access_only``: the
    调阅登记 as filed, only access events (views, exports, refused views and exports)."""
    rows = []
    names = {d["id"]: d["name"] for d in catalog.list_records("people")}
    for doc in catalog.list_records("access_register"):
        at = parse_iso(doc["at"])
        if (start and at < start) or (end and at >= end):
            continue
        person = doc["person"]
        if access_only and doc["kind"] == "refusal" and doc.get("action") not in ACCESS_ACTIONS:
            continue
        if doc["kind"] == "refusal":
            # ``reason`` stays the stored English; ``reason_text`` is what a person reads: the
            # refusal as its person read it, else (refused before texts were kept) the English
            # through the catalog
            row = {"at": doc["at"], "person": person, "name": names.get(person, person),
                   "reason": doc["reason"],
                   "reason_text": doc.get("text") or localize(doc["reason"]),
                   "reason_zh": doc.get("text_zh") or localize_in("zh_CN", doc["reason"]),
                   "approved_by": "-", "request":
                   doc["details"].get("request", "-"), "item": doc["subject"],
                   "how": doc["action"], "outcome": "拒绝"}
        else:
            row = {"at": doc["at"], "person": person, "name": names.get(person, person),
                   "reason": doc["reason"], "approved_by": doc["approved_by"],
                   "request": doc.get("request"), "item": doc["item"], "how": doc["how"],
                   "outcome": OUTCOME_ZH.get(doc["outcome"], doc["outcome"])}
            if doc.get("inspection"):  # an auditor's playback: the inspection, no request
                row["inspection"] = doc["inspection"]
            if doc.get("export"):
                row["export"] = doc["export"]
        row["kind"] = doc["kind"]
        rows.append(row)
    rows.sort(key=lambda r: r["at"])
    return rows


def read_register(archive: Archive, actor: Actor, start: datetime | None,
                  end: datetime | None) -> list[dict]:
    """The access register from ``start`` up to ``end`` for an identified person: it names
    people and reasons, so registered people only (a face passes the ``Actor`` it identified;
    nobody unidentified gets here). Each row also carries what a person reads for ids: the
    approver's name and the item's 题名, masked as this person's clearances require."""
    from archive.access.lookup import item_title
    from archive.access.masking import clearances_of
    from archive.people import people_names

    rows = register_rows(archive.catalog, start, end)
    names = people_names(archive.catalog, {r["approved_by"] for r in rows})
    clearances = clearances_of(archive.catalog, actor.person_id)
    titles: dict[str, str | None] = {}
    for r in rows:
        r["approver_name"] = names.get(r["approved_by"])
        item = r["item"]
        if item and item != "-" and item not in titles:
            try:
                titles[item] = item_title(archive, clearances, item)
            except CustodyError:
                titles[item] = None
        r["item_title"] = titles.get(item)
    return rows


def row_cells(r: dict, zone) -> list[str]:
    at = parse_iso(r["at"])
    when = at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if zone else r["at"]
    how = {"player": "播放器", "browser": "浏览器播放", "link": "本机链接", "export": "提取拷贝",
           "view": "查看",
           "extract": "提取", "approve": "批准", "deny": "驳回",
           "inspect": "回放检查记录"}.get(r["how"], r["how"])
    basis = r["request"] or (f"检查 {r['inspection']}" if r.get("inspection") else "-")
    reason = r.get("reason_text") or r["reason"]
    approver = r["approved_by"]
    if r.get("approver_name"):
        approver = f"{r['approver_name']}（{approver}）"
    item = f"{r['item_title']}（{r['item']}）" if r.get("item_title") else r["item"]
    return [when, f"{r['name']}（{r['person']}）", reason, approver, basis, item, how,
            r["outcome"]]
