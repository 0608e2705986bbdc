"""Who is asking: what every console view uses.

- ``@public`` marks the few views anyone may open (the sign-in page and its two WebAuthn
  steps, the invite link and its enrollment steps). Every other endpoint is closed by
  ``create_app``'s gate before the view runs: without a live session the browser is sent to
  the sign-in page (a fetch gets 401 JSON).
- ``@signed_in`` (on a view) makes sure of the same and sets, for the view:

  * ``g.person`` -- the signed-in person's record (``archive.domain.model.Person``), read
    from the catalog on every request: a person disabled (all their sessions), or whose
    passkey of this sign-in was revoked (this session), is signed out at the next request;
  * ``g.actor`` -- the ``Actor`` for entries that are not decisions (a search, a view, a
    request made), from ``archive.passkeys.service.console_actor``: signed by the console's
    key, naming the person and the sign-in that opened the session. Decisions are never made
    with it: they take the ``Actor`` that ``finish_decision`` returns for a fresh passkey
    assertion;
  * ``g.archive`` -- the archive (the console's one, opened once per process);
  * ``g.clearances`` -- the confidential classes the person may see (masking).

- ``@approver`` is ``@signed_in`` plus "holds an approving role": it only keeps a page from
  being offered to the wrong person. The services refuse (and record) whatever a person may
  not do, whatever page sent them: never rely on this check alone.
- ``role_required(*roles)`` is the same check for any roles, as a decorator factory.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, g, jsonify, redirect, render_template, request, session, url_for

import i18n
from archive.access.masking import clearances_of
from archive.domain.errors import IdentityError
from archive.domain.names import role_choice
from archive.people import person_of
from i18n import N_

F = TypeVar("F", bound=Callable[..., Any])
_PUBLIC = "_custody_public"
APPROVING_ROLES = ("approver", "legal")
ADMINISTRATORS = ("administrator",)


def public(view: F) -> F:
    """Open to anyone (sign-in and invite pages only)."""
    setattr(view, _PUBLIC, True)
    return view


def is_public(app: Flask, endpoint: str | None) -> bool:
    view = app.view_functions.get(endpoint or "")
    return bool(view is not None and getattr(view, _PUBLIC, False))


def load_person() -> Any:
    """Fill ``g`` for the session's person; a response (redirect or 401) when there is none.
    A session whose person was disabled or whose passkey was revoked is ended here."""
    if getattr(g, "person", None) is not None:
        return None
    console = g.console
    person_id = getattr(session, "person", None)
    if person_id is None:
        return unauthenticated()
    archive = console.archive
    person = person_of(archive.catalog, person_id)
    from archive.passkeys.service import console_actor

    try:
        if person is None or not person.enabled:
            raise IdentityError(N_("{person} is disabled"), person=person_id)
        # refused once the passkey of the sign-in is revoked or the person disabled
        actor = console_actor(archive, person_id, session.get("sign_in", {}).get("assertion"))
    except IdentityError:
        if person is None or not person.enabled:
            console.sessions.revoke_person(person_id)  # every session of theirs, not only this
        session.end()
        return unauthenticated()
    g.person = person
    g.archive = archive
    g.clearances = clearances_of(archive.catalog, person.id)
    g.actor = actor
    return None


def unauthenticated() -> Any:
    """Not signed in: a page is sent to the sign-in (back here afterwards), a fetch or a
    form post gets 401."""
    if request.method == "GET" and not _wants_json():
        return redirect(url_for("signin.page", next=safe_next(request.full_path)))
    text = i18n.Text("sign in first")
    if _wants_json():
        return jsonify({"error": "not-signed-in", "message": str(text),
                        "text": i18n.localize(text)}), 401
    return render_template("refused.html", text=i18n.localize(text),
                           code="not-signed-in"), 401


def safe_next(target: str | None) -> str | None:
    """A path on this console to return to, never another site (``//host``, ``https:``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target.rstrip("?") or None


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def signed_in(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        refused = load_person()
        if refused is not None:
            return refused
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def has_role(person: Any, roles: tuple[str, ...]) -> bool:
    return bool(set(person.roles) & set(roles))


def refuse_role(roles: tuple[str, ...]) -> Any:
    """The answer to a person without any of ``roles``: 403, as JSON or as a page."""
    text = i18n.Text("this page is for people with the role {roles}",
                     roles=role_choice(roles))
    if _wants_json():
        return jsonify({"error": "role", "message": str(text),
                        "text": i18n.localize(text)}), 403
    return render_template("refused.html", text=i18n.localize(text), code="role"), 403


def role_required(*roles: str) -> Callable[[F], F]:
    """A view for holders of one of ``roles`` (the services check again, and record)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = load_person()
            if refused is not None:
                return refused
            if not has_role(g.person, roles):
                return refuse_role(roles)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


approver = role_required(*APPROVING_ROLES)
