"""Signing in and out with a passkey, and enrolling one from an invite link (the only pages
open without a session)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, session, url_for

import i18n
from archive.domain.errors import CustodyError
from archive.passkeys import service as passkeys
from web.auth import public, safe_next, signed_in

bp = Blueprint("signin", __name__)
SIGN_IN, INVITE = ("sign-in",), ("invite", "enroll")  # the passkey service's failure kinds


def _json_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _refused(status: int, code: str, message: Any):
    return jsonify({"error": code, "message": str(message),
                    "text": i18n.localize(message)}), status


def _waiting(kinds: tuple[str, ...]):
    """Too many failures from anyone in the last minute: everyone waits a little."""
    if g.console.blocked(*kinds):
        return _refused(429, "too-many", i18n.Text(
            "too many failed attempts in the last minute; wait a minute and try again"))
    return None


@bp.get("/signin")
@public
def page():
    if getattr(session, "person", None):
        return redirect(url_for("search.index"))
    return render_template("signin.html", next=safe_next(request.args.get("next")))


@bp.post("/signin/begin")
@public
def begin():
    waiting = _waiting(SIGN_IN)
    if waiting is not None:
        return waiting
    answer = passkeys.begin_sign_in(g.console.archive, g.console.relying_party())
    session["sign_in_state"] = answer["state"]
    return jsonify({"options": answer["options"]})


@bp.post("/signin/finish")
@public
def finish():
    waiting = _waiting(SIGN_IN)
    if waiting is not None:
        return waiting
    state = session.pop("sign_in_state", None)
    credential = _json_body().get("credential")
    if not state or not isinstance(credential, dict):
        return _refused(400, "bad-input", i18n.Text("start the sign-in again"))
    try:
        done = passkeys.finish_sign_in(g.console.archive, g.console.relying_party(), state,
                                       credential)
    except CustodyError as exc:
        return _refused(401, exc.code, exc)
    session.sign_in(done.person_id, {"sign_in": {
        "person_id": done.person_id, "credential_id": done.credential_id,
        "assertion": done.assertion}})
    return jsonify({"next": safe_next(_json_body().get("next")) or url_for("search.search")})


@bp.post("/signout")
@signed_in
def signout():
    session.end()
    return redirect(url_for("signin.page"))


@bp.get("/invite/<token>")
@public
def invite(token: str):
    """The page of an invite link: who it is for; the browser makes the passkey."""
    waiting = _waiting(INVITE)
    if waiting is not None:
        return render_template("refused.html", text=i18n.localize(i18n.Text(
            "too many failed attempts in the last minute; wait a minute and try again")),
            code="too-many"), 429
    try:
        answer = passkeys.begin_enrollment(g.console.archive, g.console.relying_party(),
                                           token)
    except CustodyError as exc:
        return render_template("refused.html", text=i18n.localize(exc), code=exc.code), 403
    return render_template("enroll.html", person=answer["person"], token=token)


@bp.post("/invite/<token>/begin")
@public
def enroll_begin(token: str):
    waiting = _waiting(INVITE)
    if waiting is not None:
        return waiting
    try:
        answer = passkeys.begin_enrollment(g.console.archive, g.console.relying_party(),
                                           token)
    except CustodyError as exc:
        return _refused(403, exc.code, exc)
    return jsonify({"options": answer["options"]})


@bp.post("/invite/<token>/finish")
@public
def enroll_finish(token: str):
    waiting = _waiting(INVITE)
    if waiting is not None:
        return waiting
    credential = _json_body().get("credential")
    if not isinstance(credential, dict):
        return _refused(400, "bad-input", i18n.Text("no passkey was sent"))
    try:
        done = passkeys.finish_enrollment(g.console.archive, g.console.relying_party(), token,
                                          credential)
    except CustodyError as exc:
        return _refused(403, exc.code, exc)
    return jsonify({"status": done["status"], "next": url_for("signin.enrolled")})


@bp.get("/favicon.ico")
@public
def favicon():
    return "", 204


@bp.get("/enrolled")
@public
def enrolled():
    return render_template("enrolled.html")
