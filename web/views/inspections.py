"""Playback inspection (回放检查) findings and the inspection ledger (检查台帐).

Pages under /audit/playback, /audit/ledger.

- **/audit/playback** (auditors, archivists: ``verification.INSPECTORS``): the recordings to
  watch. By default the sample of the person's newest sampled verification still within its
  playback window (``archive.access.viewing.PLAYBACK_DAYS``): the recordings (video, audio)
  it drew, each with a link to the one player (``media.start`` with the inspection named:
  the auditor's own right, registered as a view like any other) and a finding form. Another
  recent sample can be chosen; with none, or on request, a query form lists recordings by
  the search keys (playing them then needs an approved request, as for everyone).
  Confidential recordings show the masked 题名 and offer neither play nor finding to a
  person without the clearance (the services refuse them anyway).
- Recording a finding (``inspection``) and resolving one (``inspection-resolved``) are
  decisions signed with the passkey (``web.signing``): ``prepare`` asks
  ``verification.check_finding`` / ``check_resolution`` (refused, and recorded, before the
  passkey), ``perform`` calls ``record_finding`` / ``resolve_finding`` as ``custody
  inspect`` / ``custody inspections resolve`` do. A finding's record id is drawn when it is
  prepared, so the signed decision names the ledger subject the service writes.
- **/audit/ledger** (also 法制股 and administrators read it): every inspection filtered by
  period, unit, officer, finding and open/resolved; the unit and officer filters keep only
  playback findings (a sampled run's lot belongs to no one unit or officer). Open findings
  carry the resolve form. The printable 检查台帐 is the official document kind
  ``inspection-ledger`` issued for the chosen period (all inspections of it: the filters
  narrow the screen, not the official ledger); it is shown and fetched as PDF through the
  document pages of ``web.views.register``.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, redirect, render_template, request, url_for

import bootstrap
from archive import verification
from archive.access import lookup
from archive.access.recorded import record_search
from archive.access.viewing import PLAYBACK_DAYS, watch_problem
from archive.catalog.base import Query
from archive.domain.errors import CustodyError, InputError
from archive.domain.ids import uuid7
from archive.domain.model import ACTIVITY_TYPES, iso
from archive.domain.names import KIND_ZH, View
from archive.people import people_names
from documents import issue
from i18n import N_
from web.auth import role_required
from web.common import local_input, settings, view_of
from web.signing import Decision, Prepared, decision

bp = Blueprint("inspections", __name__)

INSPECTORS = verification.INSPECTORS
LEDGER_READERS = (*INSPECTORS, "legal", "administrator")
RECORDINGS = ("video", "audio")
QUERY_LIMIT = 50
NOTE_MAX = 2000
FINDINGS = verification.FINDINGS
TYPE_ZH = {"sampled-verification": "抽样机读检验", "conduct-check": "回放检查"}


# --- what the pages show ----------------------------------------------------------------------
def _recording_row(item, inspection_id: str | None, findings: dict[str, list[dict]],
                   codes: dict[str, str], view) -> dict:
    d = item.description
    conf = d.confidential
    cleared = not conf or conf in g.clearances
    # the media page checks the right again; this only keeps a refusal from being offered
    may_watch = cleared and watch_problem(g.archive, g.actor, item) is None
    return {"id": item.id, "title": lookup.item_title(g.archive, g.clearances, item.id, view)
            or item.id, "code": codes.get(item.id), "kind": KIND_ZH.get(d.kind, d.kind),
            "unit": view.unit(d.unit), "officers": [view.person(p) for p in d.officers],
            "start": view.time(d.recorded_start, d.unit), "cleared": cleared,
            "may_watch": may_watch,
            "play": url_for("media.start", item_id=item.id,
                            **({"inspection": inspection_id} if inspection_id else {})),
            "findings": [{"id": f["id"], "finding": FINDINGS.get(f["finding"], f["finding"]),
                          "open": not f.get("resolution"), "at": view.time(f["at"], d.unit)}
                         for f in sorted(findings.get(item.id, []), key=lambda f: f["at"])]}


def _view_with(ids) -> View:
    """Units and times as the console shows them, and these people by name."""
    return view_of().with_people(people_names(g.archive.catalog, set(ids)))


@bp.get("/audit/playback")
@role_required(*INSPECTORS)
def playback():
    args = request.args
    samples = verification.playable_samples(g.archive.catalog, g.person.id)
    chosen = None
    if samples and args.get("mode") != "query":
        wanted = args.get("inspection")
        chosen = next((s for s in samples if s["id"] == wanted), samples[0])
    rows, error, others, searched = [], None, 0, False
    findings = verification.findings_by_item(g.archive.catalog)
    codes = g.archive.catalog.archive_codes_of(
        chosen["items"] if chosen else [])
    if chosen is not None:
        items = [g.archive.catalog.get_item(i) for i in chosen["items"]]
        items = [i for i in items if i is not None and i.status != "disposed"]
        recordings = [i for i in items if i.description.kind in RECORDINGS]
        others = len(items) - len(recordings)
        view = _view_with(p for i in recordings for p in i.description.officers)
        rows = [_recording_row(i, chosen["id"], findings, codes, view) for i in recordings]
    else:
        searched = any((args.get(k) or "").strip()
                       for k in ("unit", "officer", "device", "activity_type", "from", "to"))
        if searched:
            try:
                rows = _query_rows(args, findings)
            except CustodyError as exc:
                error = exc
    s = settings()
    return render_template(
        "inspections/playback.html", samples=samples, chosen=chosen, rows=rows,
        others=others, error=error, args=args, searched=searched, findings=FINDINGS,
        days=PLAYBACK_DAYS, view=view_of(), activity_types=ACTIVITY_TYPES,
        units=[(u, r.get("name") or u) for u, r in s.units.items()])


def _query_rows(args, findings: dict[str, list[dict]]) -> list[dict]:
    """The first page of recordings the query form selects (the search's service: masked,
    and recorded as a console search)."""
    given = {k: args[f].strip() for f, k in (("unit", "unit"), ("officer", "officer"),
                                              ("device", "device_id"),
                                              ("activity_type", "activity_type"))
             if (args.get(f) or "").strip()}
    unit = given.get("unit")
    kind = args.get("kind") if args.get("kind") in RECORDINGS else "video"
    query = Query(start=local_input(args.get("from"), unit, "from"),
                  end=local_input(args.get("to"), unit, "to", end_of_day=True),
                  kind=kind, **given)
    page = lookup.search_items(g.archive, g.clearances, query, QUERY_LIMIT, None, view_of())
    record_search(g.archive, g.actor, query, len(page["items"]))
    items = [g.archive.catalog.get_item(r["id"]) for r in page["items"]]
    items = [i for i in items if i is not None]
    codes = g.archive.catalog.archive_codes_of(i.id for i in items)
    view = _view_with(p for i in items for p in i.description.officers)
    return [_recording_row(i, None, findings, codes, view) for i in items]


# --- a finding, signed ------------------------------------------------------------------------
def _note(fields: dict) -> str:
    return str(fields.get("note") or "").strip()[:NOTE_MAX]


def _prepare_finding(fields: dict) -> Prepared:
    """What the inspector signs: this finding on this recording, with its note; refused
    first (and recorded) by the rules ``custody inspect`` applies."""
    item_id = str(fields.get("item") or "").strip()
    finding = str(fields.get("finding") or "").strip()
    if not item_id:
        raise InputError(N_("choose the recording the finding is about"))
    verification.check_finding(g.archive, g.actor, item_id, finding)
    note = _note(fields)
    record_id = uuid7()
    title = lookup.item_title(g.archive, g.clearances, item_id, view_of()) or item_id
    return Prepared(
        action="inspection", subject=record_id,
        details={"inspection": record_id, "item": item_id, "title": title,
                 "finding": finding, "finding_zh": FINDINGS[finding], "note": note},
        kept={"record": record_id, "item": item_id, "finding": finding, "note": note,
              "back": _back(fields)})


def _perform_finding(actor, kept: dict) -> str:
    verification.record_finding(g.archive, actor, kept["item"], kept["finding"], kept["note"],
                                record_id=kept["record"])
    return kept["back"] or url_for("inspections.ledger", recorded=kept["record"])


def _back(fields: dict) -> str | None:
    """The playback page to return to (a path of this console only)."""
    back = str(fields.get("back") or "")
    return back if back.startswith("/audit/playback") and "//" not in back else None


decision(Decision("inspection-finding", _prepare_finding, _perform_finding,
                  roles=INSPECTORS))


# --- resolving a finding, signed --------------------------------------------------------------
def _prepare_resolution(fields: dict) -> Prepared:
    inspection_id = str(fields.get("inspection") or "").strip()
    note = _note(fields)
    if not inspection_id:
        raise InputError(N_("choose the finding to resolve"))
    doc = verification.check_resolution(g.archive, g.actor, inspection_id, note)
    title = lookup.item_title(g.archive, g.clearances, doc["items"][0], view_of())
    return Prepared(
        action="inspection-resolved", subject=inspection_id,
        details={"inspection": inspection_id, "title": title or doc["items"][0],
                 "finding": doc["finding"], "finding_zh": doc.get("finding_zh"),
                 "note": note},
        kept={"inspection": inspection_id, "note": note})


def _perform_resolution(actor, kept: dict) -> str:
    verification.resolve_finding(g.archive, actor, kept["inspection"], kept["note"])
    return url_for("inspections.ledger", recorded=kept["inspection"])


decision(Decision("inspection-resolve", _prepare_resolution, _perform_resolution,
                  roles=INSPECTORS))


# --- the ledger -------------------------------------------------------------------------------
def _period(args) -> tuple[datetime | None, datetime | None]:
    return (local_input(args.get("from"), None, "from"),
            local_input(args.get("to"), None, "to", end_of_day=True))


def _present(d: dict, view, codes: dict[str, str]) -> dict:
    row = {"id": d["id"], "type": d["type"], "type_zh": TYPE_ZH.get(d["type"], d["type"]),
           "at": view.time(d["at"], d.get("unit")), "by": view.person(d["by"])}
    if d["type"] == "conduct-check":
        item_id = d["items"][0]
        res = d.get("resolution")
        row |= {"item": item_id, "code": codes.get(item_id),
                "title": lookup.item_title(g.archive, g.clearances, item_id, view) or item_id,
                "unit": view.unit(d.get("unit")),
                "officers": [view.person(p) for p in d.get("officers") or []],
                "finding": FINDINGS.get(d["finding"], d["finding"]), "note": d.get("note"),
                "resolution": {"by": view.person(res["by"]), "at": view.time(res["at"]),
                               "note": res["note"]} if res else None}
    else:
        verdict = d.get("verdict") or {}
        lot = d.get("lot") or {}
        row |= {"lot": (f"{lot['year']} 年度" if "year" in lot
                        else f"检索条件 {lot.get('query', '')}"),
                "lot_size": lot.get("size"), "sample": len(d.get("items") or []),
                "failed": len((d.get("summary") or {}).get("failed") or []),
                "verdict": verdict.get("zh")}
    return row


@bp.get("/audit/ledger")
@role_required(*LEDGER_READERS)
def ledger():
    args = request.args
    rows, error = [], None
    try:
        start, end = _period(args)
        docs = verification.inspection_records(
            g.archive.catalog, start=start, end=end,
            **{k: (args.get(k) or "").strip() or None
               for k in ("unit", "officer", "finding", "state")})
        ids = {p for d in docs for p in [d["by"], *(d.get("officers") or []),
                                          (d.get("resolution") or {}).get("by", "")] if p}
        view = _view_with(ids)
        codes = g.archive.catalog.archive_codes_of(
            d["items"][0] for d in docs if d["type"] == "conduct-check")
        rows = [_present(d, view, codes) for d in docs]
    except CustodyError as exc:
        error = exc
    s = settings()
    officers = sorted({p for found in verification.findings_by_item(g.archive.catalog).values()
                       for d in found for p in d.get("officers") or []})
    names = people_names(g.archive.catalog, set(officers))
    issued = (request.args.get("issued") or "").strip()
    return render_template(
        "inspections/ledger.html", rows=rows, error=error, args=args, findings=FINDINGS,
        units=[(u, r.get("name") or u) for u, r in s.units.items()],
        officers=[(p, view_of().with_people(names).person(p)) for p in officers],
        may_resolve=bool(set(g.person.roles) & set(INSPECTORS)),
        may_print=bool(set(g.person.roles) & {"auditor", "archivist", "administrator"}),
        issued=issued if issued and all(c.isalnum() or c in "-_." for c in issued) else "",
        recorded=(request.args.get("recorded") or "").strip())


@bp.post("/audit/ledger/print")
@role_required(*LEDGER_READERS)
def print_ledger():
    """Issue the 检查台帐 of the period (signed, kept in the store; ``custody inspections
    list --pdf`` issues the same kind) and show the ledger with links to it."""
    start, end = _period(request.form)
    params = {"from": iso(start) if start else None, "to": iso(end) if end else None}
    doc = issue.issue(g.archive, g.actor, settings(), "inspection-ledger", None,
                      keys_dir=bootstrap.keys_dir(settings()),
                      params={k: v for k, v in params.items() if v})
    keep = {k: request.form.get(k) for k in ("from", "to") if request.form.get(k)}
    return redirect(url_for("inspections.ledger", issued=doc["subject"], **keep), code=303)
