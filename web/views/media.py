"""Viewing in the page: the player (video and audio elements, photos and PDFs inline) with an
overlay naming the viewer and the time, and the byte-range endpoint it reads from.

Opening a playback is a POST (with its CSRF token) from the item's viewing page: it is the
one registered view (``archive.access.streaming.open_playback``: the command line's rules,
refusals recorded, the whole object checked against its digest first). The player page and
its range requests then name that playback; they register nothing more. Every byte comes
from the WORM store through checked blocks; nothing is written to disk or cached.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

import i18n
from archive.access import streaming
from archive.domain.errors import ProblemFound
from web.auth import signed_in
from web.common import settings

bp = Blueprint("media", __name__)


def _playbacks() -> streaming.Playbacks:
    return streaming.Playbacks(g.console.state)


def _when(dt: datetime, unit: str | None) -> str:
    zone = settings().unit_zone(unit)
    return f"{dt.astimezone(zone) if zone else dt:%Y-%m-%d %H:%M:%S}"


def _title(item) -> str:
    """The item's 题名 where the viewer may see it (a confidential item's for those with its
    clearance only: the rest see the mask, as everywhere)."""
    from archive.access.lookup import item_title
    from archive.domain.names import View

    return item_title(g.archive, g.clearances, item.id,
                      View(zone_of=settings().unit_zone)) or item.id


@bp.get("/media/<item_id>")
@signed_in
def start(item_id: str):
    """What the item is and how it can be viewed here: a button that opens one playback (a
    registered view), or why it cannot be shown in the browser and the export path."""
    item = g.archive.item(item_id)
    shown = streaming.showing(item)
    return render_template("media/start.html", item=item, title=_title(item), shown=shown,
                           why=i18n.localize(shown.why) if shown.why else "",
                           request_id=request.args.get("request", ""),
                           inspection_id=request.args.get("inspection", ""))


@bp.post("/media/<item_id>/open")
@signed_in
def open_view(item_id: str):
    request_id = request.form.get("request") or None
    inspection_id = request.form.get("inspection") or None
    try:
        pb = streaming.open_playback(g.archive, g.actor, _playbacks(), item_id, request_id,
                                     inspection_id)
    except ProblemFound as exc:
        return render_template("refused.html", text=i18n.localize(exc),
                               code="digest-mismatch"), 409
    return redirect(url_for("media.player", playback_id=pb["id"]), code=303)


@bp.get("/media/playback/<playback_id>")
@signed_in
def player(playback_id: str):
    pb = streaming.playback_for(g.archive, g.actor, _playbacks(), playback_id)
    item = g.archive.item(pb["item"])
    unit = item.description.unit
    return render_template(
        "media/player.html", pb=pb, item=item, title=_title(item),
        src=url_for("media.content", playback_id=playback_id),
        opened=_when(datetime.fromisoformat(pb["created"].replace("Z", "+00:00")), unit),
        now=_when(datetime.now(timezone.utc), unit),
        until=_when(datetime.fromisoformat(pb["expires"].replace("Z", "+00:00")), unit),
        zone=getattr(settings().unit_zone(unit), "key", ""))


@bp.get("/media/playback/<playback_id>/content")
@signed_in
def content(playback_id: str):
    """The bytes: ``206 Partial Content`` for a range, ``200`` for the whole, ``416`` for a
    range that cannot be satisfied; never stored by the browser or a proxy."""
    playbacks = _playbacks()
    pb = streaming.playback_for(g.archive, g.actor, playbacks, playback_id)
    size = pb["size"]
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store",
               "Content-Type": pb["mime"], "Content-Disposition": "inline"}
    if pb["shown_as"] == "pdf":  # the page shows it in a frame of its own origin
        headers["X-Frame-Options"] = "SAMEORIGIN"
        headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    try:
        wanted = streaming.parse_range(request.headers.get("Range"), size)
    except streaming.BadRange:
        return Response(status=416, headers=headers | {"Content-Range": f"bytes */{size}"})
    first, last = wanted if wanted is not None else (0, size - 1)
    try:
        body = streaming.read_range(g.archive, g.actor, playbacks, pb, first, last)
    except ProblemFound as exc:
        return render_template("refused.html", text=i18n.localize(exc),
                               code="digest-mismatch"), 409
    headers["Content-Length"] = str(last - first + 1)
    if wanted is None:
        return Response(body, status=200, headers=headers, direct_passthrough=True)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(body, status=206, headers=headers, direct_passthrough=True)
