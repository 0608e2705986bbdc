"""Access: a request (items or a query, reason, purpose, limits), the approvers' to-do list,
approve or deny signed with the approver's passkey, the requester's view of the outcome.
Every rule is the access service's (archive/access/requests.py); the pages only ask."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

import i18n
from archive.access import requests as access
from archive.access import todo
from archive.catalog.base import parse_query_text
from archive.domain.errors import CustodyError, InputError
from archive.people import people_names
from web.auth import approver, signed_in
from web.common import access_context, local_input, settings, view_of
from web.signing import Decision, Prepared, decision

bp = Blueprint("access", __name__)
STATUS_TEXT = {"pending": "待审批", "approved": "已批准", "denied": "已驳回"}


def _shown(rows: list[dict]) -> list[dict]:
    """Request rows with people by name and times in local time."""
    view = view_of()
    names = people_names(g.archive.catalog, {p for r in rows
                                             for p in (r["requester"], r["decided_by"]) if p})
    return [r | {"requester": view.with_people(names).person(r["requester"]),
                 "decided_by": view.with_people(names).person(r["decided_by"])
                 if r["decided_by"] else None,
                 "at": view.time(r["at"]), "until": view.time(r["until"]) if r["until"]
                 else None} for r in rows]


@bp.get("/access")
@signed_in
def mine():
    rows = access.list_requests(g.archive, None, g.person.id)
    return render_template("access_list.html", rows=_shown(list(reversed(rows))),
                           status_text=STATUS_TEXT, purposes=access.PURPOSE_ZH,
                           heading="mine")


@bp.get("/access/todo")
@approver
def waiting():
    rows = todo.waiting_for(g.archive, g.person.id, access_context())
    return render_template("access_list.html", rows=_shown(rows), status_text=STATUS_TEXT,
                           purposes=access.PURPOSE_ZH, heading="todo")


@bp.get("/access/new")
@signed_in
def new():
    return render_template("access_new.html", items=request.args.get("items", ""),
                           query=request.args.get("query", ""), form={},
                           purposes=access.PURPOSE_ZH, error=None)


@bp.post("/access/new")
@signed_in
def create():
    form = request.form
    ids = [i for i in form.get("items", "").replace(",", " ").split() if i]
    query_text = form.get("query", "").strip() or None
    try:
        query = (parse_query_text(query_text, settings().unit_zone)
                 if query_text else None)
        purpose = form.get("purpose", "")
        if purpose not in access.PURPOSES:
            raise InputError(i18n.N_("choose a purpose: view or extract"))
        until = local_input(form.get("until"), None, "until", end_of_day=True)
        doc = access.create_request(g.archive, g.actor, form.get("reason", ""), purpose,
                                    ids or None, query, query_text, until)
    except CustodyError as exc:
        return render_template("access_new.html", items=form.get("items", ""),
                               query=form.get("query", ""), form=form,
                               purposes=access.PURPOSE_ZH, error=exc), 400
    return redirect(url_for("access.show", request_id=doc["id"]))


@bp.get("/access/<request_id>")
@signed_in
def show(request_id: str):
    if not todo.may_read(g.archive, g.person.id, request_id):
        abort(404)  # neither its maker nor one who decides: not even that it exists
    page = todo.request_page(g.archive, g.clearances, request_id, view_of())
    may_decide = (page["status"] == "pending" and page["requester"] != g.person.id and any(
        r["id"] == request_id
        for r in todo.waiting_for(g.archive, g.person.id, access_context())))
    return render_template("request.html", r=page, may_decide=may_decide,
                           status_text=STATUS_TEXT, purposes=access.PURPOSE_ZH,
                           view=view_of(), max_exports=access.MAX_EXPORTS)


def _prepare_decision(fields: dict) -> Prepared:
    """What the approver is about to sign: the request, approve or deny, the note and the
    exports allowed; refused first by the rules ``requests.decide`` applies."""
    request_id = str(fields.get("request") or "")
    approve = fields.get("approve") in (True, "1")
    note = str(fields.get("note") or "")[:2000]
    exports = fields.get("exports")
    if exports in ("", None) or not approve:
        exports = None
    else:
        try:
            exports = int(exports)
        except (TypeError, ValueError) as exc:
            raise InputError(i18n.N_("the number of exports must be a whole number")) from exc
    req = todo.check_decision(g.archive, g.actor, request_id, approve, access_context())
    if exports is not None and req["purpose"] != "extract":
        exports = None
    return Prepared(
        action="access-approved" if approve else "access-denied", subject=request_id,
        details={"request": request_id, "decision": "approved" if approve else "denied",
                 "note": note, "exports": exports, "purpose": req["purpose"],
                 "items": len(req["items"]), "requester": req["requester"]},
        kept={"request": request_id, "approve": approve, "note": note, "exports": exports})


def _perform_decision(actor, kept: dict) -> str:
    access.decide(g.archive, actor, kept["request"], kept["approve"], kept["note"],
                  access_context(), kept["exports"])
    return url_for("access.show", request_id=kept["request"])


# approve or deny, signed with the approver's passkey (web/signing.py)
decision(Decision("access-decide", _prepare_decision, _perform_decision))
