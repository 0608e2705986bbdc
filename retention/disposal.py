"""Disposal (鉴定销毁): never automatic.

A proposal lists expired, unheld items (``propose``; with ``as_of`` a rehearsal that lists what
would be proposed at that date and changes nothing); items with an open inspection finding or
a failed verification are held from it, each named with its reason. ``show`` is the list as
the appraisers read it. An appraisal group of other people appraises it, each signing: an
approval may reject single items, each with a reason (``approve``), or the whole list is
rejected (``reject``); the proposer may take items out (``take_out``). Witnesses (监销) sign
that they attend; the execution deletes exactly the store versions that are, by the real clock
at that moment, expired, unheld, not rejected or taken out, free of open findings and needed by
no other item, keeps a tombstone with the digests, and writes a signed destruction register
(销毁清册) with the appraisal opinion (鉴定意见) to the WORM store; each destroyed item records
what the register says of it. Anything on the list that no longer qualifies is reported and
left alone.

Each decision has a ``check_*`` beside it (``check_propose``, ``check_approve``, ``check_reject``,
``check_take_out``, ``check_witness``, ``check_execute``) that refuses, and records, exactly as
the decision would, and changes nothing: the console asks it before a passkey signs. A witness
whose presence is still valid does not sign again (a second signature is no second witness).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta

from archive import people
from archive.access import masking
from archive.access.lookup import codes_by_item
from archive.catalog.base import sort_time
from archive.domain.canonical import canonical
from archive.domain.errors import IdentityError, InputError, NotFound
from archive.domain.ids import uuid7
from archive.domain.model import TIERS, Item, iso, parse_iso
from archive.domain.names import joined, person_label
from archive.domain.titles import masked_title, title_of
from archive.ledger.chain import Actor
from archive.people import require_role
from archive.worm.base import now_utc
from i18n import N_, Text, localize, use
from i18n import language as current_language
from retention.engine import (
    RetentionEngine,
    person_doc,
    sign_statement,
    verify_person_signature,
)
from retention.rules import add_years

PROPOSE_ROLES = ("archivist",)
EXECUTE_ROLES = ("archivist",)
WITNESS_ROLES = ("archivist", "legal", "approver", "auditor", "administrator")
REGISTER_PREFIX = "registers/destruction/"
FINDING_TYPES = ("conduct-check", "spot-check")  # inspection records that carry a finding
# what a person reads beside the stable codes (both faces show these)
DECISION_ZH = {"to-destroy": "拟销毁", "taken-out": "已撤出", "rejected": "不同意销毁",
               "destroyed": "已销毁"}
LIST_STATE_ZH = {"proposed": "待鉴定", "approved": "已鉴定同意销毁",
                 "rejected": "不同意销毁（无可销毁条目）", "executed": "已执行销毁"}


def _appraiser_role(engine: RetentionEngine) -> str:
    return engine.settings.section("disposal").get("appraiser_role", "approver")


def _reader_roles(engine: RetentionEngine) -> tuple[str, ...]:
    """Who may read a list or rehearse one: whoever takes part in a disposal."""
    return tuple(dict.fromkeys(WITNESS_ROLES + (_appraiser_role(engine),)))


def mask(text: str | None) -> str | None:
    """A tombstone keeps the first character of a party or cause, nothing identifying."""
    if not text:
        return text
    return text[0] + "*" * (len(text) - 1)


def _entry(item: Item, rule: str) -> dict:
    d = item.description
    return {"item": item.id, "sha256": item.sha256, "sm3": item.current.digests.sm3,
            "size": item.current.digests.size, "kind": d.kind, "unit": d.unit,
            "device_id": d.device_id, "recorded_start": iso(d.recorded_start),
            "retain_until": iso(item.retain_until), "tier": item.tier, "rule": rule}


def _items_hash(entries: list[dict]) -> str:
    return hashlib.sha256(canonical(entries)).hexdigest()


def due(engine: RetentionEngine, item: Item, now: datetime) -> Text | None:
    """Why the item may not be destroyed at ``now`` (None: it may)."""
    if item.status == "disposed":
        return Text("already destroyed")
    req = engine.requirement_of(item)
    if req.holds:
        return Text("held: {holds}", holds="; ".join(req.holds))
    if item.legal_hold:
        return Text("under legal hold")
    if req.until is None:
        return Text("kept permanently ({rule})", rule=req.rule)
    if req.until > now:
        return Text("retained until {until} ({rule})", until=iso(req.until), rule=req.rule)
    if item.retain_until is None or item.retain_until > now:
        return Text("locked until {until}", until=iso(item.retain_until))
    return None


def open_findings(engine: RetentionEngine) -> dict[str, list[Text]]:
    """item id -> each open inspection finding on it (a spot check's finding nobody has
    resolved yet): evidence under review is not destroyed."""
    out: dict[str, list[Text]] = {}
    for doc in engine.catalog.list_records("inspections"):
        if doc.get("type") not in FINDING_TYPES or not doc.get("finding"):
            continue
        if doc.get("resolution") or doc.get("resolved_at"):
            continue
        what = Text("open inspection finding {inspection} ({finding}, {person} {at})",
                    inspection=doc["id"], finding=doc.get("finding_zh") or doc["finding"],
                    person=doc.get("by"), at=doc.get("at"))
        for item_id in doc.get("items", []):
            out.setdefault(item_id, []).append(what)
    return out


def findings_hold(item: Item, findings: dict[str, list[Text]]) -> Text | None:
    """Why an item is held from disposal by what inspections found (None: nothing)."""
    reasons: list[Text] = list(findings.get(item.id, []))
    for key, what in (("verification", N_("failed verification at {at} ({problems})")),
                      ("verification_replica",
                       N_("failed verification of the second copy at {at} ({problems})"))):
        v = (item.checks or {}).get(key) or {}
        if v.get("ok") is False:
            reasons.append(Text(what, at=v.get("at"),
                                problems=", ".join(v.get("problems") or []) or "failed"))
    if not reasons:
        return None
    return Text("held: {reasons}", reasons=joined(reasons))


def reason(text: Text | str) -> dict:
    """A reason as stored and emitted: ``reason`` in English (stable, signed into registers),
    ``text`` in the language of the person who acted."""
    return {"reason": str(text), "text": localize(text)}


def reason_shown(record: dict) -> str:
    """A stored reason as a person reads it: its ``text``, else its English through the
    catalog."""
    return record.get("text") or localize(record.get("reason"))


def in_chinese(text: Text | str) -> str:
    """``text`` in Chinese whatever the reader's language: the 销毁清册 is a Chinese document."""
    before = current_language()
    use(None)
    try:
        return localize(text)
    finally:
        use(before)


def _candidates(engine: RetentionEngine, when: datetime) -> tuple[list[Item], list[dict]]:
    """(due, held): items due at ``when``, and those due but held by a finding or failure.
    Only an item whose lock has ended can be due (``due``), so the due-date index gives every
    candidate without reading the rest of the archive; they are taken in search order."""
    findings = open_findings(engine)
    due_items, held = [], []
    expired = [i for tier in TIERS for i in engine.catalog.iter_due_items(tier, when)]
    for item in sorted(expired, key=lambda i: (sort_time(i), i.id)):
        if due(engine, item, when) is not None:
            continue
        why = findings_hold(item, findings)
        if why is None:
            due_items.append(item)
        else:
            held.append({"item": item.id} | reason(why))
    return due_items, held


_LIST_ID = re.compile(r"^D[0-9a-f-]{36}$")


def new_list_id() -> str:
    return "D" + uuid7()


def _due_now(engine: RetentionEngine, actor: Actor, now: datetime) -> tuple[list[Item],
                                                                              list[dict]]:
    require_role(engine.catalog, actor, PROPOSE_ROLES, N_("propose a disposal list"))
    items, held = _candidates(engine, now)
    if not items:
        if held:
            raise InputError(N_("nothing is due for disposal: no item is expired and unheld; "
                                "{n} expired items are held by inspection findings or failed "
                                "verifications: {items}"), n=len(held),
                             items=", ".join(h["item"] for h in held))
        raise InputError(N_("nothing is due for disposal: no item is expired and unheld"))
    return items, held


@people.records_refusals("dispose propose")
def check_propose(engine: RetentionEngine, actor: Actor) -> list[str]:
    """Before a passkey signs a proposal: refused as ``propose`` would refuse (role, nothing
    due); the ids of the items that are due now."""
    return [i.id for i in _due_now(engine, actor, now_utc())[0]]


@people.records_refusals("dispose propose")
def propose(engine: RetentionEngine, actor: Actor, as_of: datetime | None = None,
            list_id: str | None = None) -> dict:
    """Propose a list of every item due now, or (``as_of``) rehearse one: what would be proposed
    at that date, as the appraisers would read it, with nothing recorded or changed.
    ``list_id`` (from :func:`new_list_id`) names the list beforehand: a passkey signs the
    subject of its decision before the list exists."""
    if as_of is not None:
        require_role(engine.catalog, actor, _reader_roles(engine), N_("rehearse a disposal"))
        items, held = _candidates(engine, as_of)
        entries = [_entry(i, engine.requirement_of(i).rule) for i in items]
        return {"rehearsal": True, "as_of": iso(as_of), "items": entries, "held": held,
                "rows": _rows(engine, actor, {"items": entries})}
    now = now_utc()
    items, held = _due_now(engine, actor, now)
    entries = [_entry(i, engine.requirement_of(i).rule) for i in items]
    if list_id is None:
        list_id = new_list_id()
    elif not _LIST_ID.match(list_id) or engine.catalog.get_record("disposals", list_id):
        raise InputError(N_("{list} is not a new disposal list id"), list=list_id,
                         subject=list_id)
    statement = {"action": "dispose-propose", "list": list_id, "items": _items_hash(entries),
                 "at": iso(now)}
    doc = {"id": list_id, "state": "proposed", "proposed_by": actor.person_id,
           "proposed_at": iso(now), "items": entries, "items_hash": statement["items"],
           "proposed": sign_statement(actor, statement) | {"statement": statement},
           "approvals": [], "witnesses": [], "executions": [], "taken_out": [],
           "held": held}
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-propose", list_id,
                                 {"items": [e["item"] for e in entries],
                                  "items_hash": doc["items_hash"],
                                  "held": [h["item"] for h in held]})
    return doc | {"rows": _rows(engine, actor, doc)}


def _title(item: Item, zone, names: dict[str, str] | None = None,
           hidden: bool = False) -> str:
    """The item's 题名 (stored, or composed for an item stored before titles); for a viewer
    without its clearance, with its party and cause masked (a title a person wrote: whole)."""
    d = item.description.to_dict()
    title = title_of(d, zone, names)
    if not hidden:
        return title
    return masked_title(d | {"title": title,
                             "title_composed": d.get("title_composed", not d.get("title")
                                                     and not d["extra"].get("title"))})


def _rows(engine: RetentionEngine, actor: Actor, doc: dict) -> list[dict]:
    """Each item of a list as appraisers read it: 档号, 题名, unit, tier, retain-until, rule,
    party and cause (masked for a viewer without the item's clearance), and its decision."""
    clearances = masking.clearances_of(engine.catalog, actor.person_id)
    codes = codes_by_item(engine.catalog, (e["item"] for e in doc["items"]))
    names = {p["id"]: p.get("name") for p in engine.catalog.list_records("people")
             if p.get("name")}
    out_of = _excluded(doc, names)
    rows = []
    for n, entry in enumerate(doc["items"], 1):
        item = engine.catalog.get_item(entry["item"])
        row = {"n": n, "item": entry["item"], "code": codes.get(entry["item"]),
               "unit": entry["unit"], "kind": entry["kind"], "tier": entry["tier"],
               "retain_until": entry["retain_until"], "rule": entry["rule"]}
        if item is not None:
            d = item.description
            hidden = masking.hidden(d.confidential, clearances)
            row |= {"title": _title(item, engine.zone(d.unit), names, hidden),
                    "party": d.party, "cause": d.cause, "case_id": d.case_id,
                    "status": item.status}
            if hidden:
                row |= {"party": masking.MASK if d.party else None,
                        "cause": masking.MASK if d.cause else None,
                        "case_id": masking.MASK if d.case_id else None,
                        "rule": masking.MASK, "masked": True}
        decision = out_of.get(entry["item"])
        destroyed = item is not None and item.status == "disposed"
        row["decision"] = ("destroyed" if destroyed else decision["decision"] if decision
                           else "to-destroy")
        if decision and not destroyed:
            row |= reason(decision["reason"])
        rows.append(row)
    return rows


def _list(engine: RetentionEngine, list_id: str) -> dict:
    doc = engine.catalog.get_record("disposals", list_id)
    if doc is None:
        raise NotFound(N_("no disposal list {list}"), list=list_id, subject=list_id)
    if _items_hash(doc["items"]) != doc["items_hash"]:
        raise IdentityError(N_("disposal list {list} was altered after it was proposed"),
                            list=list_id, subject=list_id)
    return doc


def get_list(engine: RetentionEngine, list_id: str) -> dict:
    """The disposal list as proposed and decided so far (refused when missing or altered)."""
    return _list(engine, list_id)


def _appraiser(engine: RetentionEngine, actor: Actor, doc: dict) -> None:
    list_id = doc["id"]
    if actor.person_id == doc["proposed_by"]:
        raise IdentityError(N_("{person} proposed list {list}: the appraisal group is other "
                               "people"), person=actor.person_id, list=list_id,
                            subject=list_id)
    require_role(engine.catalog, actor, (_appraiser_role(engine),), N_("appraise a disposal list"))
    if any(a["by"] == actor.person_id for a in doc["approvals"]):
        raise InputError(N_("{person} already appraised list {list}"),
                         person=actor.person_id, list=list_id, subject=list_id)
    if doc["state"] == "executed":
        raise InputError(N_("list {list} was executed"), list=list_id, subject=list_id)


def _on_list(doc: dict, item_id: str) -> None:
    if item_id not in {e["item"] for e in doc["items"]}:
        raise InputError(N_("item {item} is not on list {list}"), item=item_id,
                         list=doc["id"], subject=item_id)


def _excluded(doc: dict, names: dict[str, str] | None = None) -> dict[str, dict]:
    """item id -> why it is not to be destroyed: taken out by the proposer, or rejected by an
    appraiser (any appraisal record: a rejection is never overridden). The people who
    decided read by name with their id where ``names`` knows them."""
    def who(person_id: str) -> str:
        return person_label(person_id, (names or {}).get(person_id))

    out: dict[str, dict] = {}
    for t in doc.get("taken_out", []):
        for item_id in t["statement"]["items"]:
            out.setdefault(item_id, {"decision": "taken-out", "by": t["by"],
                                     "reason": Text("taken out by {person}: {reason}",
                                                    person=who(t["by"]),
                                                    reason=t["statement"]["reason"])})
    for a in doc.get("approvals", []):
        st = a["statement"]
        if st.get("action") == "dispose-reject":
            for e in doc["items"]:
                out.setdefault(e["item"], {"decision": "rejected", "by": a["by"],
                                           "reason": _rejected_by(who(a["by"]), st["reason"])})
        for r in st.get("rejected", []):
            out.setdefault(r["item"], {"decision": "rejected", "by": a["by"],
                                       "reason": _rejected_by(who(a["by"]), r["reason"])})
    return out


def _rejected_by(person: str, why: str) -> Text:
    return Text("rejected by {person}: {reason}", person=person, reason=why)


def _settle(engine: RetentionEngine, doc: dict) -> None:
    """The list's state after an appraisal or a take-out."""
    if doc["state"] == "executed":
        return
    if len(_excluded(doc)) >= len(doc["items"]):
        doc["state"] = "rejected"  # nothing left on it to destroy
        return
    need = int(engine.settings.section("disposal").get("appraisers", 2))
    doc["state"] = "approved" if len(_valid_approvals(engine, doc)) >= need else "proposed"


def _rejections(doc: dict, rejected: list[tuple[str, str]] | None) -> list[dict]:
    out: list[dict] = []
    for item_id, why in rejected or []:
        _on_list(doc, item_id)
        if not (why or "").strip():
            raise InputError(N_("rejecting item {item} needs a reason"), item=item_id,
                             subject=item_id)
        if any(r["item"] == item_id for r in out):
            raise InputError(N_("item {item} is rejected twice"), item=item_id,
                             subject=item_id)
        out.append({"item": item_id, "reason": why.strip()})
    return out


@people.records_refusals("dispose approve")
def check_approve(engine: RetentionEngine, actor: Actor, list_id: str,
                  rejected: list[tuple[str, str]] | None = None) -> list[dict]:
    """Before a passkey signs an appraisal: refused as ``approve`` would refuse (the proposer,
    another role, a second appraisal of the same person, an executed list, an item not on the
    list or rejected without a reason); the rejections as ``approve`` records them."""
    doc = _list(engine, list_id)
    _appraiser(engine, actor, doc)
    return _rejections(doc, rejected)


@people.records_refusals("dispose approve")
def approve(engine: RetentionEngine, actor: Actor, list_id: str, note: str | None,
            rejected: list[tuple[str, str]] | None = None) -> dict:
    """A member of the appraisal group approves the list, except the items ``rejected`` (item,
    reason), which are kept: signed, one appraisal per person."""
    doc = _list(engine, list_id)
    _appraiser(engine, actor, doc)
    rejections = _rejections(doc, rejected)
    statement = {"action": "dispose-approve", "list": list_id, "items": doc["items_hash"],
                 "note": note, "at": iso(now_utc())}
    if rejections:
        statement["rejected"] = rejections
    seen = sorted(i for t in doc.get("taken_out", []) for i in t["statement"]["items"])
    if seen:
        statement["taken_out"] = seen  # what the appraiser saw taken out already
    doc["approvals"].append(sign_statement(actor, statement) | {"statement": statement})
    _settle(engine, doc)
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-approve", list_id,
                                 {"items_hash": doc["items_hash"], "note": note,
                                  "rejected": rejections})
    return doc | {"rows": _rows(engine, actor, doc)}


@people.records_refusals("dispose reject")
def check_reject(engine: RetentionEngine, actor: Actor, list_id: str, reason: str) -> dict:
    """Before a passkey signs the rejection of a whole list: ``reject``'s refusals."""
    if not (reason or "").strip():
        raise InputError(N_("rejecting a disposal list needs a reason (--reason)"),
                         subject=list_id)
    doc = _list(engine, list_id)
    _appraiser(engine, actor, doc)
    return doc


@people.records_refusals("dispose reject")
def reject(engine: RetentionEngine, actor: Actor, list_id: str, reason: str) -> dict:
    """A member of the appraisal group rejects the whole list (不同意销毁), with a reason:
    nothing on it is destroyed."""
    doc = check_reject(engine, actor, list_id, reason)
    statement = {"action": "dispose-reject", "list": list_id, "items": doc["items_hash"],
                 "reason": reason.strip(), "at": iso(now_utc())}
    doc["approvals"].append(sign_statement(actor, statement) | {"statement": statement})
    _settle(engine, doc)
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-reject", list_id,
                                 {"items_hash": doc["items_hash"], "reason": reason.strip()})
    return doc | {"rows": _rows(engine, actor, doc)}


@people.records_refusals("dispose take-out")
def check_take_out(engine: RetentionEngine, actor: Actor, list_id: str, item_ids: list[str],
                   reason: str) -> dict:
    """Before a passkey signs a take-out: ``take_out``'s refusals (only the proposer, before
    the execution, items on the list, a reason)."""
    doc = _list(engine, list_id)
    require_role(engine.catalog, actor, PROPOSE_ROLES, N_("take items out of a disposal list"))
    if actor.person_id != doc["proposed_by"]:
        raise IdentityError(N_("list {list} was proposed by {person}: only they take items "
                               "out of it (an appraiser rejects items instead)"),
                            list=list_id, person=doc["proposed_by"], subject=list_id)
    if doc["state"] == "executed":
        raise InputError(N_("list {list} was executed"), list=list_id, subject=list_id)
    if not item_ids:
        raise InputError(N_("name the items to take out"), subject=list_id)
    if not (reason or "").strip():
        raise InputError(N_("taking items out needs a reason (--reason)"), subject=list_id)
    for item_id in item_ids:
        _on_list(doc, item_id)
    return doc


@people.records_refusals("dispose take-out")
def take_out(engine: RetentionEngine, actor: Actor, list_id: str, item_ids: list[str],
             reason: str) -> dict:
    """The proposer takes items out of a list before it is executed, with a reason: they are
    kept, and the appraisals of the rest stand (they approved more than is now destroyed)."""
    doc = check_take_out(engine, actor, list_id, item_ids, reason)
    statement = {"action": "dispose-take-out", "list": list_id,
                 "items": list(dict.fromkeys(item_ids)), "reason": reason.strip(),
                 "at": iso(now_utc())}
    doc.setdefault("taken_out", []).append(sign_statement(actor, statement)
                                           | {"statement": statement})
    _settle(engine, doc)
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-take-out", list_id,
                                 {"items": statement["items"], "reason": statement["reason"]})
    return doc | {"rows": _rows(engine, actor, doc)}


@people.records_refusals("dispose show")
def show(engine: RetentionEngine, actor: Actor, list_id: str) -> dict:
    """A disposal list as the appraisers read it: every item with its 档号, 题名, unit, tier,
    retain-until and rule (masked for this viewer as elsewhere), each item's decision, the
    appraisals, take-outs and executions."""
    require_role(engine.catalog, actor, _reader_roles(engine), N_("read a disposal list"))
    doc = _list(engine, list_id)
    appraisals = [{"by": a["by"], "at": a["statement"].get("at"),
                   "decision": ("reject" if a["statement"].get("action") == "dispose-reject"
                                else "approve"),
                   "note": a["statement"].get("note") or a["statement"].get("reason"),
                   "rejected": a["statement"].get("rejected", [])} for a in doc["approvals"]]
    taken = [{"by": t["by"], "at": t["statement"]["at"], "items": t["statement"]["items"],
              "reason": t["statement"]["reason"]} for t in doc.get("taken_out", [])]
    need = int(engine.settings.section("disposal").get("appraisers", 2))
    return {"id": doc["id"], "state": doc["state"], "proposed_by": doc["proposed_by"],
            "proposed_at": doc["proposed_at"], "items_hash": doc["items_hash"],
            "rows": _rows(engine, actor, doc), "held": doc.get("held", []),
            "appraisals": appraisals, "valid_approvals": _valid_approvals(engine, doc),
            "approvals_needed": need, "taken_out": taken,
            "witnesses": [w["by"] for w in doc["witnesses"]],
            "executions": [{k: e.get(k) for k in ("at", "by", "destroyed", "left")}
                           | {"register": (e.get("register") or {}).get("key")}
                           for e in doc.get("executions", [])]}


@people.records_refusals("dispose witness")
def check_witness(engine: RetentionEngine, actor: Actor, list_id: str) -> dict:
    """Before a passkey signs a presence: ``witness``'s refusals. A person whose presence for
    this list is still valid does not sign again: a second signature would not make a second
    witness."""
    doc = _list(engine, list_id)
    require_role(engine.catalog, actor, WITNESS_ROLES, N_("witness a destruction"))
    if actor.person_id == doc["proposed_by"]:
        raise IdentityError(N_("{person} proposed list {list} and cannot witness it"),
                            person=actor.person_id, list=list_id, subject=list_id)
    if doc["state"] in ("executed", "rejected"):
        raise InputError(N_("list {list} is {state}: nothing is left to witness"),
                         list=list_id, state=doc["state"], subject=list_id)
    hours = int(engine.settings.section("disposal").get("witness_valid_hours", 24))
    now = now_utc()
    if any(w["by"] == actor.person_id and w["statement"].get("items") == doc["items_hash"]
           and now - parse_iso(w["statement"]["at"]) <= timedelta(hours=hours)
           for w in doc["witnesses"]):
        raise IdentityError(N_("{person} already signed their presence for list {list}"),
                            person=actor.person_id, list=list_id, subject=list_id)
    return doc


@people.records_refusals("dispose witness")
def witness(engine: RetentionEngine, actor: Actor, list_id: str) -> dict:
    """A witness (监销) signs their presence at the destruction of a list."""
    doc = check_witness(engine, actor, list_id)
    statement = {"action": "dispose-witness", "list": list_id, "items": doc["items_hash"],
                 "at": iso(now_utc())}
    doc["witnesses"].append(sign_statement(actor, statement) | {"statement": statement})
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-witness", list_id,
                                 {"items_hash": doc["items_hash"]})
    return doc


def _valid_approvals(engine: RetentionEngine, doc: dict) -> list[str]:
    role = _appraiser_role(engine)
    good = []
    for a in doc["approvals"]:
        if a["statement"].get("action", "dispose-approve") != "dispose-approve":
            continue
        person = engine.catalog.get_record("people", a["by"]) or {}
        if (a["by"] != doc["proposed_by"] and a["by"] not in good
                and role in person.get("roles", []) and person.get("enabled", True)
                and a["statement"].get("items") == doc["items_hash"]
                and verify_person_signature(engine.catalog, a["by"], a["statement"], a)):
            good.append(a["by"])
    return good


def _present_witnesses(engine: RetentionEngine, doc: dict, named: list[str],
                       executor: str, now: datetime) -> list[str]:
    hours = int(engine.settings.section("disposal").get("witness_valid_hours", 24))
    need = int(engine.settings.section("disposal").get("witnesses", 2))
    named = list(dict.fromkeys(named))
    if executor in named:
        raise IdentityError(N_("{person} executes the destruction and cannot witness it"),
                            person=executor, subject=doc["id"])
    if len(named) < need:
        raise IdentityError(N_("destruction needs {need} witnesses; named: {named}"),
                            need=need, named=", ".join(named) or Text("none"),
                            subject=doc["id"])
    for person in named:
        person_doc(engine.catalog, person)
        signed = [w for w in doc["witnesses"] if w["by"] == person
                  and w["statement"].get("items") == doc["items_hash"]
                  and now - parse_iso(w["statement"]["at"]) <= timedelta(hours=hours)
                  and verify_person_signature(engine.catalog, person, w["statement"], w)]
        if not signed:
            raise IdentityError(N_("witness {person} has not signed their presence for list "
                                   "{list} within {hours} hours (custody dispose witness)"),
                                person=person, list=doc["id"], hours=hours, subject=person)
    return named


def _may_execute(engine: RetentionEngine, actor: Actor, list_id: str, witnesses: list[str],
                 now: datetime) -> tuple[dict, list[str], list[str]]:
    doc = _list(engine, list_id)
    require_role(engine.catalog, actor, EXECUTE_ROLES, N_("execute a destruction"))
    # an executed list may be executed again: that run destroys nothing more and registers
    # what a run that died before its register destroyed
    if doc["state"] == "rejected" or len(_excluded(doc)) >= len(doc["items"]):
        raise InputError(N_("list {list} was rejected or every item on it was taken out: "
                            "nothing on it is destroyed (custody dispose show)"), list=list_id,
                         subject=list_id)
    need = int(engine.settings.section("disposal").get("appraisers", 2))
    approvals = _valid_approvals(engine, doc)
    if len(approvals) < need:
        raise IdentityError(N_("list {list} has {valid} valid appraisal approvals of {need} "
                               "needed"), list=list_id, valid=len(approvals), need=need,
                            subject=list_id)
    return doc, approvals, _present_witnesses(engine, doc, witnesses, actor.person_id, now)


@people.records_refusals("dispose execute")
def check_execute(engine: RetentionEngine, actor: Actor, list_id: str,
                  witnesses: list[str]) -> list[str]:
    """Before a passkey signs a destruction: ``execute``'s refusals (role, a rejected list,
    too few valid approvals, too few witnesses present); the witnesses as it records them."""
    return _may_execute(engine, actor, list_id, witnesses, now_utc())[2]


def witnesses_present(engine: RetentionEngine, list_id: str) -> list[str]:
    """Who signed their presence for the list within the validity (what an execution may
    name), in the order they signed."""
    doc = _list(engine, list_id)
    hours = int(engine.settings.section("disposal").get("witness_valid_hours", 24))
    now = now_utc()
    return list(dict.fromkeys(
        w["by"] for w in doc["witnesses"] if w["statement"].get("items") == doc["items_hash"]
        and now - parse_iso(w["statement"]["at"]) <= timedelta(hours=hours)
        and verify_person_signature(engine.catalog, w["by"], w["statement"], w)))


@people.records_refusals("dispose execute")
def execute(engine: RetentionEngine, actor: Actor, list_id: str, witnesses: list[str]) -> dict:
    """Destroy what still qualifies by the real clock; report and keep everything else."""
    now = now_utc()  # never a supplied date: the store judges by the same clock
    doc, approvals, present = _may_execute(engine, actor, list_id, witnesses, now)
    excluded = _excluded(doc)
    engine.forget()
    findings = open_findings(engine)
    destroy: dict[str, Item] = {}
    left: list[dict] = []
    listed = {e["item"] for e in doc["items"]} - set(excluded)
    for entry in doc["items"]:
        item = engine.catalog.get_item(entry["item"])
        why = excluded.get(entry["item"], {}).get("reason")
        if why is None:
            why = Text("not in the catalog") if item is None else due(engine, item, now)
        if item is not None and why is None:
            why = findings_hold(item, findings)
        if item is not None and why is None and item.sha256 != entry["sha256"]:
            why = Text("its object changed since the proposal")
        if why is None:
            why = _store_refuses(engine, item, now, listed)
        if why is None:
            destroy[item.id] = item
        else:
            # English in the signed register, the actor's language beside it, Chinese in
            # the register's own text
            left.append({"item": entry["item"]} | reason(why) | {"zh": in_chinese(why)})
    destroyed = []
    for item in destroy.values():
        destroyed.append(_destroy(engine, actor, item, doc, destroy, now))
    # an execution that died after destroying and before its register: those items are
    # registered now, by the run that finds them
    registered = {i for e in doc.get("executions", []) for i in e["destroyed"]}
    done = {t["id"] for t in destroyed}
    for entry in doc["items"]:
        tomb = engine.catalog.get_record("tombstones", entry["item"])
        if (tomb and tomb.get("list") == doc["id"] and tomb["state"] == "destroyed"
                and tomb["id"] not in registered | done):
            destroyed.append(tomb)
            left = [x for x in left if x["item"] != tomb["id"]]
    execution = {"at": iso(now), "by": actor.person_id, "witnesses": present,
                 "approvals": approvals, "destroyed": [d["id"] for d in destroyed],
                 "left": left}
    register = _register(engine, actor, doc, execution, destroyed)
    execution["register"] = register
    for n, tomb in enumerate(destroyed, 1):
        _record_on_item(engine, doc, execution, register, n, tomb)
    doc = engine.catalog.get_record("disposals", list_id) or doc
    doc["executions"].append(execution)
    doc["state"] = "executed"
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-execute", list_id,
                                 {"destroyed": execution["destroyed"], "left": left,
                                  "witnesses": present, "register": register["key"]})
    return {"list": list_id, "destroyed": destroyed, "left": left, "register": register,
            "witnesses": present}


def _needed_by(engine: RetentionEngine, item: Item, destroying: set[str]) -> list[str]:
    """Other items that still need this item's object (the bytes outlive them all)."""
    return [o.id for o in engine.catalog.items_of_object(item.sha256)
            if o.id != item.id and o.status != "disposed" and o.id not in destroying]


def _store_refuses(engine: RetentionEngine, item: Item, now: datetime,
                   listed: set[str]) -> Text | None:
    keys = [(m["key"], m["version_id"]) for m in item.storage.get("manifests", [])]
    if not _needed_by(engine, item, listed):  # an object still needed is kept, not judged
        keys.append((item.storage["object"]["key"], item.storage["object"]["version_id"]))
    for key, vid in keys:
        if vid not in engine.store.versions(key):
            continue  # gone already: a resumed execution
        lock = engine.store.lock(key, vid)
        if lock.legal_hold:
            return Text("{key} is under legal hold in the store", key=key)
        if lock.retain_until is not None and lock.retain_until > now:
            return Text("{key} is locked in the store until {until}", key=key,
                        until=iso(lock.retain_until))
    return None


def _destroy(engine: RetentionEngine, actor: Actor, item: Item, doc: dict,
             destroying: dict[str, Item], now: datetime) -> dict:
    d = item.description
    obj = item.storage["object"]
    others = _needed_by(engine, item, set(destroying))
    tomb = {"id": item.id, "state": "destroying", "list": doc["id"], "sha256": item.sha256,
            "sm3": item.current.digests.sm3, "size": item.current.digests.size,
            "kind": d.kind, "unit": d.unit, "device_id": d.device_id, "officers": d.officers,
            "recorded_start": iso(d.recorded_start), "recorded_end": iso(d.recorded_end),
            "party": mask(d.party), "cause": mask(d.cause), "case_id": d.case_id,
            "versions": item.version, "retain_until": iso(item.retain_until),
            "object_kept_for": others}
    engine.catalog.put_record("tombstones", item.id, tomb)
    deleted = []
    for m in item.storage.get("manifests", []):
        if m["version_id"] in engine.store.versions(m["key"]):
            engine.store.delete_version(m["key"], m["version_id"])
        deleted.append(m["key"])
    if not others and obj["version_id"] in engine.store.versions(obj["key"]):
        lock = engine.store.lock(obj["key"], obj["version_id"])
        if lock.legal_hold or (lock.retain_until is not None and lock.retain_until > now):
            tomb["object_kept_for"] = [f"store lock until {iso(lock.retain_until)}, legal hold "
                                       f"{lock.legal_hold}"]
        else:
            engine.store.delete_version(obj["key"], obj["version_id"])
            deleted.append(obj["key"])
    elif not others:
        deleted.append(obj["key"])  # gone already: a resumed execution
    fresh = engine.catalog.get_item(item.id) or item
    fresh.status = "disposed"
    fresh.legal_hold = False
    fresh.storage["destroyed"] = {"at": iso(now), "list": doc["id"], "keys": deleted}
    fresh.events.append({"type": "deletion", "at": iso(now), "agent": actor.person_id,
                         "outcome": "success", "list": doc["id"], "keys": deleted})
    engine.catalog.save_state(fresh)
    tomb.update(state="destroyed", destroyed_at=iso(now), keys=deleted)
    engine.catalog.put_record("tombstones", item.id, tomb)
    engine.archive.ledger.append(actor, "deletion", item.id,
                                 {"list": doc["id"], "sha256": item.sha256, "keys": deleted})
    return tomb


def _register(engine: RetentionEngine, actor: Actor, doc: dict, execution: dict,
              destroyed: list[dict]) -> dict:
    """The 销毁清册: Chinese, signed by the archive and by the executing person, kept in the
    WORM store for the checkpoint period."""
    zone = engine.zone(None)

    def local(when: str) -> str:
        return f"{parse_iso(when).astimezone(zone):%Y-%m-%d %H:%M:%S} ({zone})"

    lines = [f"销毁清册  清单号 {doc['id']}", f"提出人 {doc['proposed_by']}  提出时间 "
             f"{local(doc['proposed_at'])}", "鉴定小组 " + "、".join(execution["approvals"]),
             "监销人 " + "、".join(execution["witnesses"]),
             f"执行人 {execution['by']}  执行时间 {local(execution['at'])}",
             f"档案签名密钥 {engine.archive.key.key_id}", "",
             "序号\t条目\t类型\t单位\t设备\t当事人\t案由\t大小(字节)\tSHA-256\tSM3"]
    for n, t in enumerate(destroyed, 1):
        lines.append(f"{n}\t{t['id']}\t{t['kind']}\t{t['unit']}\t{t['device_id']}\t"
                     f"{t['party'] or ''}\t{t['cause'] or ''}\t{t['size']}\t{t['sha256']}\t"
                     f"{t['sm3']}")
    opinion = appraisal_opinion(doc)
    lines += ["", "鉴定意见:"] + [f"  {line}" for line in opinion["lines"]]
    if execution["left"]:
        lines += ["", "未销毁（保留）:"] + [f"{x['item']}\t{x.get('zh') or x['reason']}"
                                         for x in execution["left"]]
    body = {"type": "destruction-register", "list": doc["id"], "text_zh": "\n".join(lines),
            "destroyed": destroyed, "left": execution["left"],
            "approvals": execution["approvals"], "witnesses": execution["witnesses"],
            "appraisals": opinion["appraisals"], "rejected": opinion["rejected"],
            "taken_out": opinion["taken_out"],
            "executed_by": execution["by"], "at": execution["at"]}
    signed = {"register": body,
              "archive_signature": {"key_id": engine.archive.key.key_id,
                                    "signature": engine.archive.key.sign(body)},
              "executor_signature": sign_statement(actor, body)}
    n = len(doc.get("executions", [])) + 1
    key = f"{REGISTER_PREFIX}{doc['id']}-{n:02d}.json"
    years = int(engine.settings.section("ledger").get("checkpoint_retention_years", 100))
    stored = engine.store.put_blob(key, canonical(signed), add_years(now_utc(), years))
    return {"key": key, "version_id": stored.version_id, "text_zh": body["text_zh"]}


def appraisal_opinion(doc: dict) -> dict:
    """The appraisal opinion (鉴定意见) of a list: each appraiser's decision, every item an
    appraiser rejected and every item the proposer took out, each with its reason."""
    appraisals, rejected, lines = [], [], []
    for a in doc["approvals"]:
        st = a["statement"]
        if st.get("action") == "dispose-reject":
            appraisals.append({"by": a["by"], "decision": "reject", "reason": st["reason"]})
            lines.append(f"{a['by']} 不同意销毁本清单：{st['reason']}")
            continue
        items = st.get("rejected", [])
        appraisals.append({"by": a["by"], "decision": "approve", "note": st.get("note"),
                           "rejected": items})
        lines.append(f"{a['by']} 同意销毁" + (f"（{st['note']}）" if st.get("note") else "")
                     + (f"，其中不同意销毁 {len(items)} 件" if items else ""))
        for r in items:
            rejected.append({"item": r["item"], "by": a["by"], "reason": r["reason"]})
            lines.append(f"    不同意销毁 {r['item']}：{r['reason']}")
    taken = [{"item": i, "by": t["by"], "reason": t["statement"]["reason"]}
             for t in doc.get("taken_out", []) for i in t["statement"]["items"]]
    for t in taken:
        lines.append(f"{t['by']}（提出人）撤出 {t['item']}：{t['reason']}")
    return {"appraisals": appraisals, "rejected": rejected, "taken_out": taken,
            "lines": lines or ["-"]}


def _record_on_item(engine: RetentionEngine, doc: dict, execution: dict, register: dict,
                    n: int, tomb: dict) -> None:
    """What the 销毁清册 says of a destroyed item, on the item itself (``show`` prints it)."""
    item = engine.catalog.get_item(tomb["id"])
    if item is None:
        return
    item.retention = {**item.retention, "disposal": {
        "list": doc["id"], "destroyed_at": tomb.get("destroyed_at") or execution["at"],
        "register": {"key": register["key"], "version_id": register["version_id"]},
        "line": n, "proposed_by": doc["proposed_by"], "proposed_at": doc["proposed_at"],
        "appraisers": execution["approvals"], "witnesses": execution["witnesses"],
        "executed_by": execution["by"], "executed_at": execution["at"],
        "decision": "经鉴定小组" + "、".join(execution["approvals"]) + "鉴定同意销毁",
        "entry": {k: tomb.get(k) for k in ("kind", "unit", "device_id", "party", "cause",
                                           "size", "sha256", "sm3")},
        "object_kept_for": tomb.get("object_kept_for") or []}}
    engine.catalog.save_state(item)


def list_disposals(engine: RetentionEngine) -> list[dict]:
    """Disposal lists and their state."""
    return engine.archive.catalog.list_records("disposals")
