"""Flags: the reasons the regulations give for keeping a record permanently.

A flag holds its items at once (a legal hold, which can be released) and can be withdrawn
while unconfirmed. The COMPLIANCE lock of the permanent tier can never be undone, so it is
applied only when a second person with the unit's confirming role confirms the flag. A flag
on one item covers every item of its activity: the whole recording of an incident.
"""

from __future__ import annotations

from archive import people
from archive.catalog.base import Query
from archive.domain.errors import IdentityError, InputError, NotFound
from archive.domain.ids import uuid7
from archive.domain.model import iso
from archive.domain.names import ROLE_ZH
from archive.ledger.chain import Actor
from archive.people import require_role
from i18n import N_, Text
from retention.engine import (
    RetentionEngine,
    add_reference,
    sign_statement,
    verify_person_signature,
)
from retention.rules import FLAG_REASONS
from retention.wording import Named

FLAG_ROLES = ("officer", "assisting", "archivist", "legal", "approver")
FLAG_STATE_ZH = {"unconfirmed": "待确认", "confirmed": "已确认", "withdrawn": "已撤销"}


def _flag(engine: RetentionEngine, flag_id: str) -> dict:
    doc = engine.catalog.get_record("flags", flag_id)
    if doc is None:
        raise NotFound(N_("no flag {flag!r}"), subject=flag_id, flag=flag_id)
    return doc


def scope(engine: RetentionEngine, item_id: str) -> tuple[str | None, list[str]]:
    item = engine.archive.item(item_id)
    activity = item.description.activity_id
    ids = [item_id]
    if activity:
        ids += [i.id for i in engine.catalog.iter_items(Query(activity_id=activity))
                if i.status != "disposed"]
    return activity, list(dict.fromkeys(ids))


@people.records_refusals("flag")
def raise_flag(engine: RetentionEngine, actor: Actor, item_id: str, reason: str,
               note: str | None = None, case_id: str | None = None,
               flag_id: str | None = None) -> dict:
    """``flag_id``: the new flag's id when it was chosen before (the console signs the
    ledger entry's subject before the flag is written)."""
    require_role(engine.catalog, actor, FLAG_ROLES, Text("flag a record"))
    return flag_for_rule(engine, actor, item_id, reason, note, case_id, flag_id=flag_id)


@people.records_refusals("flag")
def check_flag(engine: RetentionEngine, actor: Actor, item_id: str, reason: str,
               note: str | None = None) -> dict:
    """Whether ``actor`` may raise this flag now (``raise_flag`` refuses the same), nothing
    written: ``{"activity_id", "items"}``, what the flag would cover."""
    require_role(engine.catalog, actor, FLAG_ROLES, Text("flag a record"))
    _may_flag(engine, item_id, reason, note)
    activity, items = scope(engine, item_id)
    return {"activity_id": activity, "items": items}


def _may_flag(engine: RetentionEngine, item_id: str, reason: str, note: str | None) -> None:
    if reason not in FLAG_REASONS:
        raise InputError(N_("unknown flag reason {reason!r}; choose one of {choices}"),
                         subject=item_id, reason=reason, choices=", ".join(FLAG_REASONS))
    if reason == "other" and not (note or "").strip():
        raise InputError(N_("a flag for another reason needs a written reason (--note)"),
                         subject=item_id)
    item = engine.archive.item(item_id)
    if item.status == "disposed":
        raise InputError(N_("item {item} was disposed of"), subject=item_id, item=item_id)
    unit, rules = engine.unit_rules(item.description.unit)
    if reason == "evidence" and rules.get("evidence") != "permanent":
        raise InputError(N_("reason 'evidence' is for units whose evidence is kept "
                            "permanently; {unit} keeps evidence by rule {rule!r}"),
                         subject=item_id, unit=unit, rule=rules.get("evidence"))


def flag_for_rule(engine: RetentionEngine, actor: Actor, item_id: str, reason: str,
                  note: str | None = None, case_id: str | None = None,
                  raised_by_rule: str | None = None, flag_id: str | None = None) -> dict:
    """Raise a flag without asking the actor's role: for a flag the rules themselves require
    (``raised_by_rule`` says which), raised by whoever runs them and signed by them. It still
    holds only until a second person with the confirming role confirms or withdraws it."""
    _may_flag(engine, item_id, reason, note)
    item = engine.archive.item(item_id)
    activity, items = scope(engine, item_id)
    if flag_id is not None and engine.catalog.get_record("flags", flag_id) is not None:
        raise InputError(N_("flag {flag} was already raised"), subject=flag_id, flag=flag_id)
    flag_id = flag_id or uuid7()
    statement = {"action": "flag", "flag": flag_id, "item": item_id, "reason": reason,
                 "note": note, "activity_id": activity, "at": iso(engine.clock())}
    doc = {"id": flag_id, "item": item_id, "activity_id": activity, "items": items,
           "unit": item.description.unit, "reason": reason,
           "reason_zh": FLAG_REASONS[reason], "note": note, "case_id": case_id,
           "state": "unconfirmed", "raised_by": actor.person_id, "raised_at": statement["at"],
           "raised": sign_statement(actor, statement) | {"statement": statement}}
    if raised_by_rule:
        doc["raised_by_rule"] = raised_by_rule
    engine.catalog.put_record("flags", flag_id, doc)
    engine.archive.ledger.append(actor, "flag", flag_id,
                                 {"item": item_id, "reason": reason, "note": note,
                                  "items": items, "activity_id": activity}
                                 | ({"rule": raised_by_rule} if raised_by_rule else {}))
    for i in items:
        add_reference(engine.catalog, i, "flags", flag_id)
    engine.forget()
    changes = engine.apply_all(items, actor, f"flag {flag_id} ({reason})")
    return doc | {"retention_changes": changes}


@people.records_refusals("flag withdraw")
def withdraw(engine: RetentionEngine, actor: Actor, flag_id: str, note: str | None) -> dict:
    """Remove an unconfirmed flag (the person who raised it, or one who may confirm it);
    the hold goes only where no other reason is left."""
    doc = _may_withdraw(engine, actor, flag_id)
    statement = {"action": "flag-withdraw", "flag": flag_id, "note": note,
                 "at": iso(engine.clock())}
    doc.update(state="withdrawn", withdrawn_by=actor.person_id,
               withdrawn=sign_statement(actor, statement) | {"statement": statement})
    engine.catalog.put_record("flags", flag_id, doc)
    engine.archive.ledger.append(actor, "flag-withdraw", flag_id, {"note": note})
    engine.forget()
    items = [i for i in doc["items"] if engine.archive.item(i).status != "disposed"]
    return doc | {"retention_changes": engine.apply_all(items, actor,
                                                        f"flag {flag_id} withdrawn")}


@people.records_refusals("flag withdraw")
def check_withdraw(engine: RetentionEngine, actor: Actor, flag_id: str) -> dict:
    """Whether ``actor`` may withdraw the flag now (``withdraw`` refuses the same): the flag."""
    return _may_withdraw(engine, actor, flag_id)


def _may_withdraw(engine: RetentionEngine, actor: Actor, flag_id: str) -> dict:
    doc = _flag(engine, flag_id)
    if doc["state"] == "confirmed":
        raise InputError(N_("flag {flag} was confirmed by {person}: the permanent tier "
                            "cannot be withdrawn"), subject=flag_id, flag=flag_id,
                         person=doc.get("confirmed_by"))
    if doc["state"] == "withdrawn":
        raise InputError(N_("flag {flag} was already withdrawn"), subject=flag_id,
                         flag=flag_id)
    # a flag the rules raised is not the runner's own decision: only a confirmer withdraws it
    if actor.person_id != doc["raised_by"] or doc.get("raised_by_rule"):
        _, rules = engine.unit_rules(doc.get("unit"))
        require_role(engine.catalog, actor, (rules.get("confirm_role", "approver"),),
                     Text("withdraw a flag raised by {person} for a rule",
                          person=doc["raised_by"]) if doc.get("raised_by_rule")
                     else Text("withdraw a flag raised by {person}", person=doc["raised_by"]))
    return doc


@people.records_refusals("flag confirm")
def confirm(engine: RetentionEngine, actor: Actor, flag_id: str) -> dict:
    """The second person: applies the permanent tier's lock, which can never be undone."""
    doc = _may_confirm(engine, actor, flag_id)
    statement = {"action": "flag-confirm", "flag": flag_id, "at": iso(engine.clock())}
    doc.update(state="confirmed", confirmed_by=actor.person_id,
               confirmed=sign_statement(actor, statement) | {"statement": statement})
    engine.catalog.put_record("flags", flag_id, doc)
    engine.archive.ledger.append(actor, "flag-confirm", flag_id, {"items": doc["items"]})
    engine.forget()
    items = [i for i in doc["items"] if engine.archive.item(i).status != "disposed"]
    return doc | {"retention_changes": engine.apply_all(items, actor,
                                                        f"flag {flag_id} confirmed")}


@people.records_refusals("flag confirm")
def check_confirm(engine: RetentionEngine, actor: Actor, flag_id: str) -> dict:
    """Whether ``actor`` may confirm the flag now (``confirm`` refuses the same): the flag."""
    return _may_confirm(engine, actor, flag_id)


def confirm_roles(engine: RetentionEngine) -> tuple[str, ...]:
    """Every role that confirms flags in some unit (who the confirming page is for)."""
    return tuple(sorted({r.get("confirm_role", "approver")
                         for r in engine.settings.units.values()}))


def _may_confirm(engine: RetentionEngine, actor: Actor, flag_id: str) -> dict:
    doc = _flag(engine, flag_id)
    if doc["state"] != "unconfirmed":
        raise InputError(N_("flag {flag} is {state}"), subject=flag_id, flag=flag_id,
                         state=Named(doc["state"], FLAG_STATE_ZH))
    _, rules = engine.unit_rules(doc.get("unit"))
    role = rules.get("confirm_role", "approver")
    require_role(engine.catalog, actor, (role,), Text("confirm a permanent flag"))
    if actor.person_id == doc["raised_by"]:
        raise IdentityError(N_("flag {flag} was raised by {person}: a second person with the "
                               "role {role} confirms it"), subject=flag_id, flag=flag_id,
                            person=actor.person_id, role=Named(role, ROLE_ZH))
    raised = doc["raised"]
    if not verify_person_signature(engine.catalog, doc["raised_by"], raised["statement"],
                                   raised):
        raise IdentityError(N_("flag {flag}: the signature of {person} does not verify "
                               "against their registered key"), subject=flag_id,
                            flag=flag_id, person=doc["raised_by"])
    return doc


def get_flag(engine: RetentionEngine, flag_id: str) -> dict | None:
    """One flag with its state, or None."""
    return engine.catalog.get_record("flags", flag_id)


def list_flags(engine: RetentionEngine) -> list[dict]:
    """Every flag with its state."""
    return engine.archive.catalog.list_records("flags")
