"""One item: 题名, 档号, metadata and its versions, signature status, retention reasons and
holds, events, and the lock read from the store when asked; masked by the viewer's clearance
exactly as ``custody show`` masks it (the same service)."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from archive.access import lookup
from archive.access.masking import MASK
from web.auth import signed_in
from web.common import EVENT_ZH, OUTCOME_ZH, view_of

bp = Blueprint("items", __name__)


@bp.get("/items/<item_id>")
@signed_in
def item(item_id: str):
    read_lock = request.args.get("lock") == "1"
    view = view_of()
    out = lookup.show_item(g.archive, g.clearances, item_id, read_lock, view)
    unit = out["description"].get("unit")
    versions = [{"version": v["manifest"]["version"],
                 "at": view.time(v["manifest"].get("created_at"), unit),
                 "by": v["manifest"].get("created_by"),
                 "reason": MASK if out.get("masked") else v["manifest"].get("reason"),
                 "description": v["manifest"]["description"]}
                for v in out.get("versions", [])]
    events = [{"type": EVENT_ZH.get(e.get("type") or "", e.get("type")),
               "at": view.time(e.get("at"), unit), "agent": e.get("agent"),
               "outcome": OUTCOME_ZH.get(e.get("outcome") or "", e.get("outcome"))}
              for e in out.get("events", [])]
    lock = out.get("lock_in_store") or None
    lock_until = view.time(lock.get("retain_until"), unit) if lock else None
    return render_template("item.html", item=out, d=out["description"], z=out["zh"],
                           versions=versions, events=events, read_lock=read_lock,
                           lock_until=lock_until)
