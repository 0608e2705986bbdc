"""Search by every catalog key, paged, masked by the viewer's clearance (the service the
command line's ``custody search`` calls)."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from archive.access import lookup
from archive.access.codes import item_by_code
from archive.access.recorded import record_search
from archive.catalog.base import Query
from archive.domain.errors import CustodyError
from archive.domain.model import ACTIVITY_TYPES
from archive.domain.names import KIND_ZH, STATUS_ZH, TIER_ZH
from web.auth import signed_in
from web.common import local_input, settings, view_of

bp = Blueprint("search", __name__)
PAGE = 25
# the form's fields and the Query's names (every catalog key a person searches by)
FIELDS = {"unit": "unit", "device": "device_id", "officer": "officer", "party": "party",
          "cause": "cause", "case": "case_id", "tier": "tier", "kind": "kind",
          "activity_type": "activity_type", "activity": "activity_id", "status": "status"}
# the same filters as an access request's query text (archive.catalog.base.QUERY_KEYS)
QUERY_TEXT_KEYS = {"unit": "unit", "device": "device", "officer": "officer", "party": "party",
                   "cause": "cause", "case": "case", "tier": "tier", "kind": "kind",
                   "activity_type": "activity_type", "activity": "activity",
                   "status": "status", "from": "from", "to": "to"}


@bp.get("/")
@signed_in
def index():
    return redirect(url_for("search.search"))


def _query(args) -> Query:
    given = {name: args[field].strip() for field, name in FIELDS.items()
             if args.get(field, "").strip()}
    unit = given.get("unit")
    start = local_input(args.get("from"), unit, "from")
    end = local_input(args.get("to"), unit, "to")
    return Query(start=start, end=end, **given)


def query_text(args) -> str:
    """The filters as "KEY=VALUE ..." for an access request by query (times as typed: the
    request reads them in the unit's zone, as here)."""
    parts = []
    for field, key in QUERY_TEXT_KEYS.items():
        value = (args.get(field) or "").strip()
        if value and " " not in value:
            parts.append(f"{key}={value}")
    return " ".join(parts)


@bp.get("/search")
@signed_in
def search():
    args = request.args
    searched = any((args.get(k) or "").strip() for k in (*FIELDS, "from", "to", "code"))
    page, error, code_item = None, None, None
    if searched:
        try:
            code = (args.get("code") or "").strip()
            if code:  # a 档号 names one item
                code_item = item_by_code(g.archive, code)
                return redirect(url_for("items.item", item_id=code_item))
            query = _query(args)
            page = lookup.search_items(g.archive, g.clearances, query, PAGE,
                                       args.get("cursor") or None, view_of())
            record_search(g.archive, g.actor, query, len(page["items"]))
        except CustodyError as exc:
            error = exc
    s = settings()
    return render_template(
        "search.html", args=args, page=page, error=error, searched=searched,
        units=[(u, r.get("name") or u) for u, r in s.units.items()],
        kinds=KIND_ZH, tiers=TIER_ZH, statuses={k: v for k, v in STATUS_ZH.items()
                                                if k in ("archived", "pending-metadata",
                                                         "attention")},
        activity_types=ACTIVITY_TYPES, query_text=query_text(args),
        next_args=({**args.to_dict(), "cursor": page["next_cursor"]}
                   if page and page["next_cursor"] else None))
