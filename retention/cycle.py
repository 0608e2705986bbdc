"""The annual cycle of year N: where it stands (``status``) and its last step (``finalize``).

Phases: ``collecting`` (year N is not over in the archive's zone), ``handover-due`` (no
accepted transfer yet), ``transferred`` (accepted, never finalized), ``archiving`` (finalized
once, but something is still open: withheld or late items, items without a code, a manifest
older than the codes), ``finalized``. Deadlines are each unit's: handed over before
``cycle.handover_by`` of N+1 and archived by the end of ``cycle.archiving_by``, in the unit's
zone. The date of the report (``as_of``) is an argument; nothing here changes anything.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from archive import people
from archive.domain.canonical import canonical
from archive.domain.errors import InputError
from archive.domain.model import Item, iso
from archive.domain.names import TIER_ZH
from archive.ledger.chain import Actor
from archive.service import Archive
from i18n import N_, Text, _, language, ngettext
from retention import codes as codes_mod
from retention.policy import CyclePolicy, items_of_year
from retention.transfer import ROLES, accepted_items, transfers_of
from retention.wording import Named

if TYPE_CHECKING:
    from retention.engine import RetentionEngine

# a transfer's status as the refusals name it (the codes stay in the records)
TRANSFER_STATUS_ZH = {"prepared": "已准备（待接收）", "accepted": "已接收",
                      "superseded": "已被新的移交取代"}
PHASE_ZH = {"collecting": "收集中", "handover-due": "待移交", "transferred": "已移交待归档",
            "archiving": "归档中", "finalized": "归档完成"}
BLOCKER_ZH = {"pending-metadata": "元数据不全", "attention": "需关注（移交时重新检测）",
              "no-transfer": "尚未准备移交", "transfer-not-accepted": "移交尚未接收",
              "withheld": "暂缓移交的条目", "not-transferred": "未在已接收移交中的条目",
              "uncoded": "尚未编档号", "not-finalized": "尚未执行归档",
              "manifest-stale": "年度归档清单需重新生成"}


def _ids(items: list[Item]) -> list[str]:
    return [i.id for i in items]


def status(archive: Archive, policy: CyclePolicy, year: int, as_of: datetime) -> dict:
    catalog = archive.catalog
    items = items_of_year(catalog, policy, year)
    by_id = {i.id: i for i in items}
    transfers = transfers_of(archive, year)
    accepted = accepted_items(archive, year)
    code_docs = codes_mod.codes_of_year(catalog, year)
    coded = {d["item"] for d in code_docs}
    last_run = codes_mod.last_manifest(catalog, year)

    pending_meta = [i for i in items if i.status == "pending-metadata"]
    attention = [i for i in items if i.status == "attention"]
    not_transferred = [i for i in items if i.id not in accepted]
    latest = transfers[-1] if transfers else None
    withheld = [w for w in (latest["withheld"] if latest else []) if w["item"] not in accepted]
    uncoded = [i for i in items if i.id in accepted and i.id not in coded]
    stale = False
    if last_run is not None:
        body = codes_mod.manifest_body(archive, year, policy.fonds, code_docs, by_id,
                                       _accepted_ids(transfers))
        stale = codes_mod._digest(canonical(body)) != last_run["body_sha256"]

    year_over = as_of >= datetime(year + 1, 1, 1, tzinfo=policy.zone)
    if not year_over:
        phase = "collecting"
    elif not accepted:
        phase = "handover-due"
    elif last_run is None:
        phase = "transferred"
    elif not_transferred or uncoded or stale:
        phase = "archiving"
    else:
        phase = "finalized"

    blockers: list[dict] = []

    def block(code: str, ids: list[str] | None = None, **more) -> None:
        blockers.append({"code": code, "zh": BLOCKER_ZH[code], "count": len(ids or []),
                         "items": ids or []} | more)

    if pending_meta:
        block("pending-metadata", _ids(pending_meta))
    if attention and phase in ("collecting", "handover-due"):
        block("attention", _ids(attention))
    if year_over and not transfers:
        block("no-transfer")
    if latest and latest["status"] == "prepared":
        block("transfer-not-accepted", transfer=latest["id"])
    if withheld:
        block("withheld", [w["item"] for w in withheld],
              reasons={w["item"]: w["reasons"] for w in withheld})
    if accepted and not_transferred:
        block("not-transferred", _ids(not_transferred))
    if uncoded:
        block("uncoded", _ids(uncoded))
    if accepted and last_run is None:
        block("not-finalized")
    if stale:
        block("manifest-stale")

    units: dict[str, dict] = {}
    for i in items:
        u = i.description.unit or "-"
        row = units.setdefault(u, {"unit": u, "items": 0, "tiers": Counter(),
                                   "transferred": 0, "coded": 0})
        row["items"] += 1
        row["tiers"][i.tier] += 1
        row["transferred"] += i.id in accepted
        row["coded"] += i.id in coded
    overdue = []
    for u, row in sorted(units.items()):
        row["tiers"] = dict(row["tiers"])
        hand = policy.handover_deadline(year, u)
        done = policy.archiving_deadline(year, u)
        row["handover_by"] = iso(hand)
        row["archiving_by"] = iso(done)
        late_hand = [i.id for i in not_transferred if (i.description.unit or "-") == u]
        late_arch = [i.id for i in items if (i.description.unit or "-") == u
                     and i.id not in coded]
        if as_of >= hand and late_hand:
            overdue.append({"unit": u, "deadline": "handover", "due": iso(hand),
                            "due_local": _local(hand), "items": late_hand})
        if as_of >= done and late_arch:
            overdue.append({"unit": u, "deadline": "archiving", "due": iso(done),
                            "due_local": _local(done), "items": late_arch})
    return {"year": year, "as_of": iso(as_of),
            "as_of_local": _local(as_of.astimezone(policy.zone)), "phase": phase,
            "phase_zh": PHASE_ZH[phase],
            "items": len(items), "by_tier": dict(Counter(i.tier for i in items)),
            "units": [units[u] for u in sorted(units)],
            "transfers": [{"id": t["id"], "status": t["status"], "items": len(t["items"]),
                           "withheld": len(t["withheld"])} for t in transfers],
            "codes": len(code_docs), "manifests": (last_run or {}).get("number", 0),
            "blockers": blockers, "overdue": overdue}


def _local(dt: datetime) -> str:
    """A time as people read it: in its own zone (the caller gives it one)."""
    return dt.strftime("%Y-%m-%d %H:%M %Z")


def _accepted_ids(transfers: list[dict]) -> list[str]:
    return [t["id"] for t in transfers if t["status"] == "accepted"]


@people.records_refusals("archive finalize")
def check_finalize(archive: Archive, actor: Actor, year: int) -> None:
    """Whether ``actor`` may finalize year N now (a page asks before the passkey); refused
    and recorded otherwise, nothing written."""
    _may_finalize(archive, actor, year)


def _may_finalize(archive: Archive, actor: Actor, year: int) -> None:
    people.require_role(archive.catalog, actor, ROLES, Text("finalize a year"))
    codes_mod.check_year(year)
    if not accepted_items(archive, year):
        transfers = transfers_of(archive, year)
        state = (Named(transfers[-1]["status"], TRANSFER_STATUS_ZH) if transfers
                 else Text("none prepared"))
        raise InputError(N_("year {year}: no accepted transfer (latest: {state}); custody "
                            "transfer accept comes first"), year=year, state=state)


@people.records_refusals("archive finalize")
def finalize(archive: Archive, actor: Actor, policy: CyclePolicy, year: int, work_dir: Path,
             now: datetime) -> dict:
    """Codes for every item in an accepted transfer that has none, notes for promotions, and
    a new signed yearly manifest when anything changed. Refused before any acceptance."""
    _may_finalize(archive, actor, year)
    transfers = transfers_of(archive, year)
    accepted = accepted_items(archive, year)
    items = items_of_year(archive.catalog, policy, year)
    by_id = {i.id: i for i in items}
    wanted = [codes_mod.Wanted(i, codes_mod.item_period(i, policy.units))
              for i in codes_mod.ordered(i for i in items if i.id in accepted)]
    new = codes_mod.assign_codes(archive, actor, wanted, policy.fonds, year, policy.digits,
                                 now)
    noted = codes_mod.note_promotions(archive.catalog, by_id, policy.units, iso(now))
    docs = codes_mod.codes_of_year(archive.catalog, year)
    for d in docs:  # items coded in this year but read from elsewhere (none normally)
        if d["item"] not in by_id:
            by_id[d["item"]] = archive.item(d["item"])
    body = codes_mod.manifest_body(archive, year, policy.fonds, docs, by_id,
                                   _accepted_ids(transfers))
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    run = codes_mod.write_manifest(archive, actor, body, year, Path(work_dir), now,
                                   lambda b: render_catalogue_zh(b, policy))
    if new or noted or run:
        archive.ledger.append(actor, "year-finalized", f"{policy.fonds}-{year}",
                              {"year": year, "new_codes": len(new), "notes": len(noted),
                               "manifest": run["prefix"] if run else None})
    not_transferred = [i.id for i in items if i.id not in accepted]
    return {"year": year, "new_codes": new, "notes": [d["code"] for d in noted],
            "codes": len(docs), "manifest": run, "unchanged": run is None and not new,
            "not_transferred": not_transferred}


def render_catalogue_zh(body: dict, policy: CyclePolicy) -> str:
    lines = [f"{body['year']}年度归档目录（第{body['number']}版）  全宗号 {body['fonds']}",
             f"归档人 {body['by']}  时间 {body['at']}",
             f"已接收移交批次 {', '.join(body['transfers'])}  共 {len(body['items'])} 件", "",
             "档号  条目  保管期限  SHA-256  备注"]
    for r in body["items"]:
        notes = [n["text"] for n in r["notes"]]
        if r.get("destroyed"):
            notes.append(f"已销毁（{r['destroyed']['at']}，销毁清单 {r['destroyed']['list']}），"
                         "档号不再使用")
        note = "；".join(notes) or "-"
        lines.append(f"{r['code']}  {r['item_id']}  {codes_mod.period_zh(r['period'])}  "
                     f"{r['sha256']}  {note}")
    return "\n".join(lines) + "\n"


def render_status(st: dict) -> str:
    """The year's state as `custody cycle status` prints it, in the reader's language (the
    codes stay in --json)."""
    lines = [_("Year {year}  phase {phase} ({code})  as of {as_of}").format(
                 year=st["year"], phase=_named(st["phase_zh"], st["phase"]), code=st["phase"],
                 as_of=st["as_of_local"]),
             _("Items {count}").format(count=st["items"]) + "  " + "  ".join(
                 f"{_named(TIER_ZH.get(k, k), k)} {v}" for k, v in sorted(st["by_tier"].items())),
             _("Transfers {transfers}  archive codes {codes}  yearly manifest versions "
               "{manifests}").format(transfers=len(st["transfers"]), codes=st["codes"],
                                     manifests=st["manifests"]),
             "", "  ".join([f"{_('Unit'):<15}", _("Items"), _named("常规", "routine"),
                            _named("案件", "case"), _named("永久", "permanent"),
                            _("Transferred"), _("Coded")])]
    for u in st["units"]:
        t = u["tiers"]
        lines.append(f"{u['unit']:<15} {u['items']:>5}  {t.get('routine', 0):>7}  "
                     f"{t.get('case', 0):>4}  {t.get('permanent', 0):>9}  "
                     f"{u['transferred']:>11}  {u['coded']:>5}")
    if st["blockers"]:
        lines += ["", _("Blocking the next step:")]
        for b in st["blockers"]:
            shown = ", ".join(b["items"][:5]) + (" …" if len(b["items"]) > 5 else "")
            lines.append(f"  {b['code']} ({b['zh']})" + (f": {b['count']} {shown}"
                                                        if b["items"] else "")
                         + (f" {b['transfer']}" if "transfer" in b else ""))
    if st["overdue"]:
        lines += ["", _("Overdue:")]
        for o in st["overdue"]:
            lines.append("  " + ngettext(
                "{unit}: {deadline} due before {due}, {count} item",
                "{unit}: {deadline} due before {due}, {count} items", len(o["items"])).format(
                    unit=o["unit"], deadline=_named(DEADLINE_ZH.get(o["deadline"], o["deadline"]),
                                                    o["deadline"]),
                    due=o["due_local"], count=len(o["items"])))
    return "\n".join(lines)


# the two deadlines of the year, as the status names them
DEADLINE_ZH = {"handover": "移交", "archiving": "归档"}


def _named(zh: str, code: str) -> str:
    """A code's Chinese name for a Chinese reader, the code itself for a reader of English."""
    return code if language() == "en" else zh


def glance(archive: Archive, engine: RetentionEngine, policy: CyclePolicy, year: int,
           now: datetime) -> dict:
    """The year's state (``status``) with what else holds up its archiving: open cases
    (without a closing date, holding items of the year), unconfirmed flags over items of
    the year, and permanent items not yet on a disc (what ``custody disc build --year N``
    would write). Each blocker keeps its item ids."""
    from retention import cases, discs, flags

    st = status(archive, policy, year, now)
    year_ids = {i.id for i in items_of_year(archive.catalog, policy, year)}
    blockers = list(st["blockers"])
    open_cases = [c for c in cases.list_cases(engine)
                  if not c.get("closed") and year_ids.intersection(c["items"])]
    if open_cases:
        ids = sorted({i for c in open_cases for i in c["items"] if i in year_ids})
        blockers.append({"code": "open-cases", "count": len(ids), "items": ids,
                         "cases": [c["id"] for c in open_cases]})
    waiting = [f for f in flags.list_flags(engine) if f.get("state") == "unconfirmed"
               and year_ids.intersection(f.get("items") or [f["item"]])]
    if waiting:
        ids = sorted({i for f in waiting for i in (f.get("items") or [f["item"]])
                      if i in year_ids})
        blockers.append({"code": "unconfirmed-flags", "count": len(ids), "items": ids,
                         "flags": [f["id"] for f in waiting]})
    off_disc = discs.candidates(archive, policy, "permanent", year)
    if off_disc:
        blockers.append({"code": "not-on-disc", "count": len(off_disc),
                         "items": [i.id for i in off_disc]})
    return st | {"blockers": blockers}
