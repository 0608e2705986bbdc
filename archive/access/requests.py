"""Access: requests, signed approvals, refusals, views, the access register (调阅登记) and the
masking of confidential metadata.

"Not without approval; only copies; register who, why and when." Every request, approval,
refusal and view is a record in the catalog (collections ``requests`` and ``access_register``)
and a ledger entry signed by the acting person.

Who approves: a unit's ``approver_role`` in config names a position (法制股, 分管领导, 主管领导,
局领导). A person may approve a request when they hold the role ``approver`` or ``legal``, hold
that position for every unit the request touches (people's ``positions``; a person with
``units`` listed approves only for those units), hold the clearance of every confidential item in
it, and did not make the request. Items without a configured unit need 局领导.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from archive import people
from archive.catalog.base import Catalog, Query
from archive.domain.canonical import canonical
from archive.domain.errors import CustodyError, IdentityError, InputError, NotFound
from archive.domain.ids import uuid7
from archive.domain.model import Item, Person, iso, parse_iso
from archive.domain.names import joined, role_choice
from archive.ledger.chain import Actor
from archive.people import person_of
from archive.service import Archive
from i18n import N_, Text, localize, localize_in

PURPOSES = ("view", "extract")
DEFAULT_DAYS = 30  # an approval without --until is good for this many days
MAX_QUERY_ITEMS = 5000
APPROVING_ROLES = ("approver", "legal")
FALLBACK_POSITION = "局领导"  # items of no configured unit
PURPOSE_ZH = {"view": "查看", "extract": "提取"}
DEFAULT_EXPORTS = 1  # an extract approval without --exports allows one export
MAX_EXPORTS = 20
# An approval signed before approvals named their number of exports allows this many, the
# exports already made under it counted (the signed decision cannot be amended afterwards,
# and an unsigned number beside it would be a number anyone with the database could raise).
LEGACY_EXPORTS = 1


class AccessRefused(CustodyError):
    """An access the rules do not allow; recorded before it is raised. Exit 2."""

    exit_code = 2
    code = "access-refused"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _hash(doc: object) -> str:
    return hashlib.sha256(canonical(doc)).hexdigest()


# --- requests -------------------------------------------------------------------------------
@dataclass
class AccessContext:
    """What the access service needs besides the archive: who approves for which unit."""

    approver_position: Callable[[str | None], str]  # unit -> 法制股 / 分管领导 / ...
    zone_of: Callable[[str | None], object] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> AccessContext:
        """From the loaded settings (``config.settings.Settings``): each configured unit's
        ``approver_role``; items of no configured unit need the fallback position."""
        units = settings.units

        def approver_position(unit: str | None) -> str:
            return units[unit]["approver_role"] if unit in units else FALLBACK_POSITION

        return cls(approver_position=approver_position, zone_of=settings.unit_zone)


def _record_refusal(archive: Archive, actor: Actor, action: str, subject: str,
                    why: str | Text, details: dict | None = None) -> AccessRefused:
    """File a refusal (register + ledger) and return the error to raise.

    The access rules' own refusals: the ledger entry is an ``access-refused`` naming the
    request involved, which the register shows. A refusal of who is acting (IdentityError) is
    ``people.record_refusal``'s, through the ``people.records_refusals`` decorator on the entry
    points. The error returned is marked recorded, so that mechanism never files it again.
    The register and the ledger keep the reason in English; the error shows it in the
    reader's language.
    """
    reason = str(why)
    rid = uuid7()
    doc = {"id": rid, "kind": "refusal", "at": iso(_now()), "person": actor.person_id,
           "action": action, "subject": subject, "reason": reason, "text": localize(why),
           "text_zh": localize_in("zh_CN", why),
           "details": details or {}}
    entry = archive.ledger.append(actor, "access-refused", subject,
                                  {"attempted": action, "reason": reason} | (details or {}))
    doc["ledger_seq"] = entry.seq
    archive.catalog.put_record("access_register", rid, doc)
    refused = AccessRefused(N_("refused: {reason}"), subject=subject, reason=why)
    refused.recorded = True  # people.record_refusal skips it
    return refused


def request_body(doc: dict) -> dict:
    """The part of a request its maker signs and its approver's decision refers to."""
    return {k: doc[k] for k in ("id", "requester", "at", "reason", "purpose", "until", "items",
                                "query", "named")}


@people.records_refusals("access request")
def create_request(archive: Archive, actor: Actor, reason: str, purpose: str,
                   items: list[str] | None = None, query: Query | None = None,
                   query_text: str | None = None, until: datetime | None = None) -> dict:
    """A request for the named items, or for what a query finds (confidential items are only
    ever included when named). Signed by its maker."""
    if purpose not in PURPOSES:
        raise InputError(N_("purpose {purpose!r} is not one of {choices}"), purpose=purpose,
                         choices=", ".join(PURPOSES))
    if not reason or not reason.strip():
        raise InputError(N_("a request needs a reason (--reason)"))
    if bool(items) == (query is not None):
        raise InputError(N_("name the items (--items) or give a query (--query), one of them"))
    if until is not None and until <= _now():
        raise InputError(N_("--until {until} is not in the future"), until=iso(until))
    named = list(dict.fromkeys(items or []))
    chosen: list[Item] = []
    if named:
        for item_id in named:
            chosen.append(archive.item(item_id))
    else:
        left_out = 0
        for item in archive.catalog.iter_items(query):
            if item.description.confidential:
                left_out += 1
                continue
            chosen.append(item)
            if len(chosen) > MAX_QUERY_ITEMS:
                raise InputError(N_("the query finds more than {limit} items; narrow it"),
                                 limit=MAX_QUERY_ITEMS)
        if not chosen:
            if left_out:
                raise InputError(N_("the query finds no items ({count} confidential items are "
                                    "included only when named)"), count=left_out)
            raise InputError(N_("the query finds no items"))
    doc = {"id": uuid7(), "requester": actor.person_id, "at": iso(_now()),
           "reason": reason.strip(), "purpose": purpose, "until": iso(until),
           "items": [i.id for i in chosen], "query": query_text, "named": bool(named)}
    doc["units"] = sorted({i.description.unit or "" for i in chosen})
    doc["confidential"] = {i.id: i.description.confidential for i in chosen
                           if i.description.confidential}
    doc["signature"] = {"key_id": actor.key.key_id, "signature": actor.key.sign(
        request_body(doc))}
    doc["status"] = "pending"
    doc["decision"] = None
    archive.catalog.put_record("requests", doc["id"], doc)
    entry = archive.ledger.append(actor, "access-request", doc["id"], {
        "purpose": purpose, "reason": doc["reason"], "items": len(doc["items"]),
        "request_hash": _hash(request_body(doc)), "until": doc["until"],
        "confidential": sorted(set(doc["confidential"].values()))})
    doc["ledger_seq"] = entry.seq
    archive.catalog.put_record("requests", doc["id"], doc)
    return doc


REQUEST_STATUSES = ("pending", "approved", "denied")
# the statuses as a reader meets them inside a reason (the stored codes stay as above)
REQUEST_STATUS_NAMES = {"pending": N_("pending"), "approved": N_("approved"),
                        "denied": N_("denied")}


def list_requests(archive: Archive, status: str | None = None,
                  requester: str | None = None) -> list[dict]:
    """Access requests (optionally of one status, or one requester's) in the order they were
    made, as rows: who asked, why, for how many items, who decided, until when."""
    if status is not None and status not in REQUEST_STATUSES:
        raise InputError(N_("status {status!r} is not one of {choices}"), status=status,
                         choices=", ".join(REQUEST_STATUSES))
    equal = {"status": status} if status else {}
    if requester is not None:
        equal["requester"] = requester
    docs = sorted(archive.catalog.list_records("requests", **equal), key=lambda r: r["at"])
    return [{"id": r["id"], "status": r["status"], "requester": r["requester"],
             "purpose": r["purpose"], "reason": r["reason"], "items": len(r["items"]),
             "at": r["at"], "units": r["units"],
             "decided_by": (r.get("decision") or {}).get("decision", {}).get("by"),
             "until": r.get("valid_until") or r["until"],
             "exports_allowed": allowed_exports(r) if r["purpose"] == "extract" else None}
            for r in docs]


def get_request(catalog: Catalog, request_id: str) -> dict:
    doc = catalog.get_record("requests", request_id)
    if doc is None:
        raise NotFound(N_("no access request {request!r}"), subject=request_id, request=request_id)
    return doc


def _approval_problem(catalog: Catalog, req: dict, approver: Person,
                      ctx: AccessContext) -> Text | None:
    if approver.id == req["requester"]:
        return Text("{person} may not decide their own request {request}", person=approver.id,
                    request=req["id"])
    if not set(approver.roles) & set(APPROVING_ROLES):
        return Text("{person} may not decide access requests: it takes the role {roles}",
                    person=approver.id, roles=role_choice(APPROVING_ROLES))
    for unit in req["units"]:
        position = ctx.approver_position(unit or None) if unit else FALLBACK_POSITION
        if position not in approver.positions:
            if not unit:
                return Text("{person} does not hold the position {position} that approves "
                            "access for items of no unit", person=approver.id,
                            position=position)
            return Text("{person} does not hold the position {position} that approves access "
                        "for unit {unit}", person=approver.id, position=position, unit=unit)
        if unit and approver.units and unit not in approver.units:
            return Text("{person} approves for {units}, not {unit}", person=approver.id,
                        units=", ".join(approver.units), unit=unit)
    missing = sorted(set(req["confidential"].values()) - set(approver.clearances))
    if missing:
        return Text("{person} lacks the clearance {clearances} that items of request "
                    "{request} need", person=approver.id, clearances=", ".join(missing),
                    request=req["id"])
    return None


def allowed_exports(req: dict) -> int:
    """How many exports (signed packages) an approved request allows: the number its signed
    decision names; none for a view request or one not approved."""
    decision = (req.get("decision") or {}).get("decision") or {}
    if req.get("purpose") != "extract" or decision.get("decision") != "approved":
        return 0
    n = decision.get("exports")
    return LEGACY_EXPORTS if n is None else int(n)


@people.records_refusals("access decide")
def decide(archive: Archive, actor: Actor, request_id: str, approve: bool, note: str,
           ctx: AccessContext, exports: int | None = None) -> dict:
    """Approve or deny a pending request, signed with the approver's own key. An extract
    approval names how many exports it allows (``exports``, default one): each export is
    one signed package (archive.access.export)."""
    catalog = archive.catalog
    req = get_request(catalog, request_id)
    if exports is not None:
        if not approve:
            raise InputError(N_("--exports is for an approval; a denial allows nothing"))
        if req["purpose"] != "extract":
            raise InputError(N_("request {request} asks to view; --exports is for extract "
                                "requests"), subject=request_id, request=request_id)
        if not 1 <= exports <= MAX_EXPORTS:
            raise InputError(N_("--exports {exports}: give 1 to {limit}"), subject=request_id,
                             exports=exports, limit=MAX_EXPORTS)
    approver = person_of(catalog, actor.person_id)
    if approver is None:  # identified, then removed (a race): fail closed, and recorded
        raise IdentityError(N_("{person} is not a registered person"), subject=actor.person_id,
                            person=actor.person_id)
    return record_decision(archive, actor, req, approver, approve, note, ctx, exports=exports)


def refusal(archive: Archive, actor: Actor, action: str, subject: str,
            why: str | Text) -> AccessRefused:
    """A refusal under the access rules, filed (register and ledger): the error to raise."""
    return _record_refusal(archive, actor, action, subject, why)


def record_decision(archive: Archive, actor: Actor, req: dict, approver: Person,
                    approve: bool, note: str, ctx: AccessContext, *,
                    exports: int | None = None, basis: dict | None = None) -> dict:
    """``approver``'s decision on ``req``, after the approval rules, signed by ``actor`` —
    the approver themselves, or the keeper recording a paper decision (``basis`` names the
    scan and the keeper: archive.access.paper)."""
    catalog = archive.catalog
    request_id = req["id"]
    action = "approve" if approve else "deny"
    problem = _approval_problem(catalog, req, approver, ctx)
    if problem is None and req["status"] != "pending":
        problem = Text("request {request} is already {status}", request=request_id,
                       status=Text(REQUEST_STATUS_NAMES.get(req["status"], req["status"])))
    if problem is None and req["until"] and parse_iso(req["until"]) <= _now():
        problem = Text("request {request} expired at {until}", request=request_id,
                       until=req["until"])
    if problem is not None:
        raise _record_refusal(archive, actor, action, request_id, problem)
    at = _now()
    until = req["until"] or iso(at + timedelta(days=DEFAULT_DAYS))
    decision = {"type": "custody.access-decision", "request": request_id,
                "request_hash": _hash(request_body(req)),
                "decision": "approved" if approve else "denied", "by": approver.id,
                "at": iso(at),
                "note": note or "", "until": until if approve else None,
                "position": sorted(set(approver.positions))} | (basis or {})
    if approve and req["purpose"] == "extract":
        decision["exports"] = exports or DEFAULT_EXPORTS
    signed = {"decision": decision, "key_id": actor.key.key_id,
              "signature": actor.key.sign(decision)}
    if not verify_decision(catalog, signed):
        raise AccessRefused(N_("{person}: the signature does not verify with the key "
                               "registered for them"), person=actor.person_id)
    req["decision"] = signed
    req["status"] = decision["decision"]
    if approve:
        req["valid_until"] = until
    details = {"request_hash": decision["request_hash"], "note": decision["note"],
               "until": decision["until"], "signature": signed["signature"]}
    if "exports" in decision:
        details["exports"] = decision["exports"]
    if basis:
        details |= {"basis": basis["basis"], "approver": approver.id,
                    "scan": {k: basis["scan"][k] for k in ("key", "version_id", "sha256")}}
    entry = archive.ledger.append(actor, f"access-{decision['decision']}", request_id, details)
    req["decision_ledger_seq"] = entry.seq
    catalog.put_record("requests", request_id, req)
    return req


def verify_decision(catalog: Catalog, signed: dict | None) -> bool:
    """The decision's signature verifies with a key registered to the person who signed it:
    the approver it names, or for a paper decision the keeper who recorded it."""
    if not signed:
        return False
    decision = signed["decision"]
    signer = decision.get("recorded_by") if decision.get("basis") == "paper" else None
    person = person_of(catalog, signer or decision["by"])
    if person is None:
        return False
    ring = people.signing_ring(catalog, person.id)  # the console's too, for passkey signers
    return ring.verify(signed["decision"], signed["key_id"], signed["signature"])


def verify_request(catalog: Catalog, req: dict) -> bool:
    person = person_of(catalog, req["requester"])
    if person is None:
        return False
    ring = people.signing_ring(catalog, person.id)  # the console's too, for passkey signers
    sig = req.get("signature") or {}
    return ring.verify(request_body(req), sig.get("key_id", ""), sig.get("signature", ""))


def usable_problem(catalog: Catalog, req: dict, item_id: str | None, purpose: str,
                   now: datetime | None = None) -> Text | None:
    """Why this approved request does not allow this use now (None: it does)."""
    now = now or _now()
    rid = req["id"]
    if req["status"] != "approved":
        return Text("request {request} is {status}, not approved", request=rid,
                    status=Text(REQUEST_STATUS_NAMES.get(req["status"], req["status"])))
    if req["decision"]["decision"]["request_hash"] != _hash(request_body(req)):
        return Text("request {request} was changed after it was approved", request=rid)
    if not verify_decision(catalog, req["decision"]) or not verify_request(catalog, req):
        return Text("request {request}: its signatures do not verify (altered in the "
                    "catalog?)", request=rid)
    until = parse_iso(req["decision"]["decision"]["until"])
    if until is not None and until <= now:
        return Text("request {request} expired at {until}", request=rid, until=iso(until))
    if purpose == "extract" and req["purpose"] != "extract":
        return Text("request {request} allows viewing only, not extraction", request=rid)
    if item_id is not None and item_id not in req["items"]:
        return Text("request {request} does not cover item {item}", request=rid, item=item_id)
    return None


def request_for(catalog: Catalog, person_id: str, item_id: str, request_id: str | None,
                purpose: str) -> tuple[dict | None, Text | None]:
    """The person's approved, unexpired request covering the item (``request_id``, or their
    newest that does), and None; or None and why none does. Nothing is recorded here."""
    if request_id is not None:
        req = get_request(catalog, request_id)
        problem = usable_problem(catalog, req, item_id, purpose)
        if problem is None and req["requester"] != person_id:
            problem = Text("request {request} was made by {requester}, not {person}",
                           request=request_id, requester=req["requester"], person=person_id)
        return (req, None) if problem is None else (None, problem)
    mine = catalog.list_records("requests", requester=person_id)
    reasons = []
    for req in sorted(mine, key=lambda r: r["at"], reverse=True):
        if item_id not in req["items"]:
            continue
        problem = usable_problem(catalog, req, item_id, purpose)
        if problem is None:
            return req, None
        reasons.append(problem)
    return None, joined(reasons) if reasons else Text(
        "{person} has no approved request covering item {item}", person=person_id,
        item=item_id)


def find_request_for(archive: Archive, actor: Actor, item_id: str, request_id: str | None,
                     purpose: str) -> dict:
    """The actor's approved, unexpired request covering the item, or a recorded refusal."""
    req, why = request_for(archive.catalog, actor.person_id, item_id, request_id, purpose)
    if req is not None:
        return req
    assert why is not None  # request_for gives a reason whenever it finds no request
    raise _record_refusal(archive, actor, purpose, item_id, why,
                          {"request": request_id} if request_id is not None else None)
