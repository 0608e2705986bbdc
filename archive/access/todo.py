"""What waits for an approver, and one request as its reader sees it (the web console's to-do
list and request page; the command line can show the same)."""

from __future__ import annotations

from archive.access.lookup import present_row
from archive.access.masking import mask_summary
from archive.access.requests import (
    AccessContext,
    _approval_problem,
    _record_refusal,
    allowed_exports,
    get_request,
    list_requests,
)
from archive.domain.errors import IdentityError, NotFound
from archive.domain.model import item_summary, parse_iso
from archive.domain.names import View
from archive.ledger.chain import Actor
from archive.people import people_names, person_of
from archive.service import Archive
from i18n import N_

SHOWN_ITEMS = 200  # a request's page lists this many of its items


def waiting_for(archive: Archive, person_id: str, ctx: AccessContext) -> list[dict]:
    """Pending requests this person may decide (the rules of ``requests.decide``: not their
    own, their position for every unit, the clearance of every confidential item)."""
    person = person_of(archive.catalog, person_id)
    if person is None or not person.enabled:
        return []
    rows = []
    for row in list_requests(archive, "pending"):
        req = get_request(archive.catalog, row["id"])
        if _approval_problem(archive.catalog, req, person, ctx) is None:
            rows.append(row)
    return rows


def request_page(archive: Archive, clearances: frozenset[str], request_id: str,
                 view: View | None = None) -> dict:
    """One request with its decision and its items as search rows, masked for the reader."""
    req = get_request(archive.catalog, request_id)
    view = view or View()
    decision = (req.get("decision") or {}).get("decision") or {}
    names = people_names(archive.catalog, {req["requester"], *(
        [decision["by"]] if decision.get("by") else [])})
    codes = archive.catalog.archive_codes_of(req["items"][:SHOWN_ITEMS])
    found = []
    for item_id in req["items"][:SHOWN_ITEMS]:
        try:
            found.append(archive.item(item_id))
        except NotFound:
            found.append(item_id)
    view = view.with_people(people_names(archive.catalog, {
        p for i in found if not isinstance(i, str)
        for p in (*i.description.officers, *i.description.assisting)}) | dict(view.people))
    rows = [{"id": i, "missing": True} if isinstance(i, str) else
            present_row(mask_summary(item_summary(i), i, clearances), i, codes.get(i.id), view)
            for i in found]
    return {"id": req["id"], "status": req["status"], "requester": req["requester"],
            "requester_name": names.get(req["requester"], req["requester"]),
            "at": req["at"], "reason": req["reason"], "purpose": req["purpose"],
            "until": req.get("valid_until") or req["until"], "units": req["units"],
            "query": req.get("query"), "named": req.get("named"),
            "item_count": len(req["items"]), "items": rows,
            "confidential": sorted(set(req["confidential"].values())),
            "decision": decision or None,
            "decided_by_name": names.get(decision.get("by", ""), decision.get("by")),
            "exports_allowed": allowed_exports(req) if req["purpose"] == "extract" else None}


def check_decision(archive: Archive, actor: Actor, request_id: str, approve: bool,
                   ctx: AccessContext) -> dict:
    """Before a passkey is asked to sign a decision: the refusals ``requests.decide`` would
    give (their own request, no position or clearance, no longer pending, expired), recorded
    as ``decide`` records them. Returns the request when the person may decide it."""
    from datetime import datetime, timezone

    req = get_request(archive.catalog, request_id)
    person = person_of(archive.catalog, actor.person_id)
    if person is None or not person.enabled:
        raise IdentityError(N_("{person} is not a registered, enabled person"),
                            subject=actor.person_id, person=actor.person_id)
    problem = _approval_problem(archive.catalog, req, person, ctx)
    if problem is None and req["status"] != "pending":
        problem = f"request {request_id} is already {req['status']}"
    if problem is None and req["until"] and parse_iso(req["until"]) <= datetime.now(
            timezone.utc):
        problem = f"request {request_id} expired at {req['until']}"
    if problem is not None:
        raise _record_refusal(archive, actor, "approve" if approve else "deny", request_id,
                              problem)
    return req


def may_read(archive: Archive, person_id: str, request_id: str) -> bool:
    """Who may read a request's page: its maker, whoever decided it, people with an
    approving role, archivists, auditors and administrators."""
    req = get_request(archive.catalog, request_id)
    person = person_of(archive.catalog, person_id)
    if person is None or not person.enabled:
        return False
    decision = (req.get("decision") or {}).get("decision") or {}
    return (person_id in (req["requester"], decision.get("by")) or bool(
        set(person.roles) & {"approver", "legal", "archivist", "auditor", "administrator"}))
