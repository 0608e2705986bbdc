"""Disposal (鉴定销毁): never automatic.

A proposal lists expired, unheld items; an appraisal group of other people approves it, each
signing; witnesses (监销) sign that they attend; the execution deletes exactly the store
versions that are, by the real clock at that moment, expired and unheld and needed by no other
item, keeps a tombstone with the digests, and writes a signed destruction register (销毁清册)
to the WORM store. Anything on the list that no longer qualifies is reported and left alone.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from archive import people
from archive.domain.canonical import canonical
from archive.domain.errors import IdentityError, InputError, NotFound
from archive.domain.ids import uuid7
from archive.domain.model import Item, iso, parse_iso
from archive.ledger.chain import Actor
from archive.people import require_role
from archive.worm.base import now_utc
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


def due(engine: RetentionEngine, item: Item, now: datetime) -> str | None:
    """Why the item may not be destroyed at ``now`` (None: it may)."""
    if item.status == "disposed":
        return "already destroyed"
    req = engine.requirement_of(item)
    if req.holds:
        return "held: " + "; ".join(req.holds)
    if item.legal_hold:
        return "under legal hold"
    if req.until is None:
        return f"kept permanently ({req.rule})"
    if req.until > now:
        return f"retained until {iso(req.until)} ({req.rule})"
    if item.retain_until is None or item.retain_until > now:
        return f"locked until {iso(item.retain_until)}"
    return None


@people.records_refusals("dispose propose")
def propose(engine: RetentionEngine, actor: Actor) -> dict:
    require_role(engine.catalog, actor, PROPOSE_ROLES, "propose a disposal list")
    now = now_utc()
    entries = []
    for item in engine.items():
        if due(engine, item, now) is None:
            entries.append(_entry(item, engine.requirement_of(item).rule))
    if not entries:
        raise InputError("nothing is due for disposal: no item is expired and unheld")
    list_id = "D" + uuid7()
    statement = {"action": "dispose-propose", "list": list_id, "items": _items_hash(entries),
                 "at": iso(now)}
    doc = {"id": list_id, "state": "proposed", "proposed_by": actor.person_id,
           "proposed_at": iso(now), "items": entries, "items_hash": statement["items"],
           "proposed": sign_statement(actor, statement) | {"statement": statement},
           "approvals": [], "witnesses": [], "executions": []}
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-propose", list_id,
                                 {"items": [e["item"] for e in entries],
                                  "items_hash": doc["items_hash"]})
    return doc


def _list(engine: RetentionEngine, list_id: str) -> dict:
    doc = engine.catalog.get_record("disposals", list_id)
    if doc is None:
        raise NotFound(f"no disposal list {list_id!r}", subject=list_id)
    if _items_hash(doc["items"]) != doc["items_hash"]:
        raise IdentityError(f"disposal list {list_id} was altered after it was proposed",
                            subject=list_id)
    return doc


@people.records_refusals("dispose approve")
def approve(engine: RetentionEngine, actor: Actor, list_id: str, note: str | None) -> dict:
    doc = _list(engine, list_id)
    if actor.person_id == doc["proposed_by"]:
        raise IdentityError(f"{actor.person_id} proposed list {list_id}: the appraisal group "
                            "is other people", subject=list_id)
    role = engine.settings.section("disposal").get("appraiser_role", "approver")
    require_role(engine.catalog, actor, (role,), "appraise a disposal list")
    if any(a["by"] == actor.person_id for a in doc["approvals"]):
        raise InputError(f"{actor.person_id} already approved list {list_id}", subject=list_id)
    if doc["state"] == "executed":
        raise InputError(f"list {list_id} was executed", subject=list_id)
    statement = {"action": "dispose-approve", "list": list_id, "items": doc["items_hash"],
                 "note": note, "at": iso(now_utc())}
    doc["approvals"].append(sign_statement(actor, statement) | {"statement": statement})
    need = int(engine.settings.section("disposal").get("appraisers", 2))
    if len(_valid_approvals(engine, doc)) >= need:
        doc["state"] = "approved"
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-approve", list_id,
                                 {"items_hash": doc["items_hash"], "note": note})
    return doc


@people.records_refusals("dispose witness")
def witness(engine: RetentionEngine, actor: Actor, list_id: str) -> dict:
    doc = _list(engine, list_id)
    require_role(engine.catalog, actor, WITNESS_ROLES, "witness a destruction")
    if actor.person_id == doc["proposed_by"]:
        raise IdentityError(f"{actor.person_id} proposed list {list_id} and cannot witness it",
                            subject=list_id)
    statement = {"action": "dispose-witness", "list": list_id, "items": doc["items_hash"],
                 "at": iso(now_utc())}
    doc["witnesses"].append(sign_statement(actor, statement) | {"statement": statement})
    engine.catalog.put_record("disposals", list_id, doc)
    engine.archive.ledger.append(actor, "dispose-witness", list_id,
                                 {"items_hash": doc["items_hash"]})
    return doc


def _valid_approvals(engine: RetentionEngine, doc: dict) -> list[str]:
    role = engine.settings.section("disposal").get("appraiser_role", "approver")
    good = []
    for a in doc["approvals"]:
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
        raise IdentityError(f"{executor} executes the destruction and cannot witness it",
                            subject=doc["id"])
    if len(named) < need:
        raise IdentityError(f"destruction needs {need} witnesses (监销); named: "
                            f"{', '.join(named) or 'none'}", subject=doc["id"])
    for person in named:
        person_doc(engine.catalog, person)
        signed = [w for w in doc["witnesses"] if w["by"] == person
                  and w["statement"].get("items") == doc["items_hash"]
                  and now - parse_iso(w["statement"]["at"]) <= timedelta(hours=hours)
                  and verify_person_signature(engine.catalog, person, w["statement"], w)]
        if not signed:
            raise IdentityError(f"witness {person} has not signed their presence for list "
                                f"{doc['id']} within {hours} hours (custody dispose witness)",
                                subject=person)
    return named


@people.records_refusals("dispose execute")
def execute(engine: RetentionEngine, actor: Actor, list_id: str, witnesses: list[str]) -> dict:
    """Destroy what still qualifies by the real clock; report and keep everything else."""
    doc = _list(engine, list_id)
    require_role(engine.catalog, actor, EXECUTE_ROLES, "execute a destruction")
    need = int(engine.settings.section("disposal").get("appraisers", 2))
    approvals = _valid_approvals(engine, doc)
    if len(approvals) < need:
        raise IdentityError(f"list {list_id} has {len(approvals)} valid appraisal approvals "
                            f"of {need} needed", subject=list_id)
    now = now_utc()  # never a supplied date: the store judges by the same clock
    present = _present_witnesses(engine, doc, witnesses, actor.person_id, now)
    engine.forget()
    destroy: dict[str, Item] = {}
    left: list[dict] = []
    for entry in doc["items"]:
        item = engine.catalog.get_item(entry["item"])
        why = "not in the catalog" if item is None else due(engine, item, now)
        if item is not None and why is None and item.sha256 != entry["sha256"]:
            why = "its object changed since the proposal"
        if why is None:
            why = _store_refuses(engine, item, now, set(e["item"] for e in doc["items"]))
        if why is None:
            destroy[item.id] = item
        else:
            left.append({"item": entry["item"], "reason": why})
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
                   listed: set[str]) -> str | None:
    keys = [(m["key"], m["version_id"]) for m in item.storage.get("manifests", [])]
    if not _needed_by(engine, item, listed):  # an object still needed is kept, not judged
        keys.append((item.storage["object"]["key"], item.storage["object"]["version_id"]))
    for key, vid in keys:
        if vid not in engine.store.versions(key):
            continue  # gone already: a resumed execution
        lock = engine.store.lock(key, vid)
        if lock.legal_hold:
            return f"{key} is under legal hold in the store"
        if lock.retain_until is not None and lock.retain_until > now:
            return f"{key} is locked in the store until {iso(lock.retain_until)}"
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
    if execution["left"]:
        lines += ["", "未销毁（保留）:"] + [f"{x['item']}\t{x['reason']}"
                                         for x in execution["left"]]
    body = {"type": "destruction-register", "list": doc["id"], "text_zh": "\n".join(lines),
            "destroyed": destroyed, "left": execution["left"],
            "approvals": execution["approvals"], "witnesses": execution["witnesses"],
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


def list_disposals(engine: RetentionEngine) -> list[dict]:
    """Disposal lists and their state."""
    return engine.archive.catalog.list_records("disposals")
