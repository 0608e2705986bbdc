"""People and their passkeys, for administrators: who is registered, which passkeys wait for
confirmation, and a one-time invite link made here as ``custody people invite`` makes it
(confirming a passkey stays at the command line, where the administrator checks it with the
person)."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from archive.domain.errors import CustodyError, InputError
from archive.domain.names import CONFIDENTIAL_ZH, ROLE_ZH
from archive.passkeys import service as passkeys
from archive.people import list_people
from i18n import N_
from web.auth import ADMINISTRATORS, role_required
from web.common import view_of

bp = Blueprint("people", __name__)
PASSKEY_STATE = {"pending": "待确认", "confirmed": "已确认", "revoked": "已撤销"}  # as the CLI


def _page(invited: dict | None = None, error: CustodyError | None = None, status: int = 200):
    people = list_people(g.archive.catalog)
    keys: dict[str, list[dict]] = {}
    for cred in passkeys.credentials(g.archive):
        keys.setdefault(cred["person"], []).append(cred)
    return render_template("people.html", people=people, keys=keys, invited=invited,
                           error=error, roles=ROLE_ZH, clearances=CONFIDENTIAL_ZH,
                           states=PASSKEY_STATE, view=view_of()), status


@bp.get("/people")
@role_required(*ADMINISTRATORS)
def index():
    return _page()


@bp.post("/people/<person_id>/invite")
@role_required(*ADMINISTRATORS)
def invite(person_id: str):
    """A one-time link, shown once: only its hash is kept."""
    try:
        hours = int(request.form.get("hours") or 72)
        out = passkeys.invite(g.archive, g.actor, person_id, hours)
    except ValueError:
        return _page(error=InputError(N_("the hours must be a whole number")), status=400)
    except CustodyError as exc:
        return _page(error=exc, status=403 if exc.code == "identity-refused" else 400)
    link = g.console.origin + url_for("signin.invite", token=out["token"])
    return _page({"person": person_id, "link": link, "expires": out["expires"]})
