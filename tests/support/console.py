"""The web console as a Flask test client sees it: an app over a test archive in a fresh
data home, and the CSRF token of a page."""

from __future__ import annotations

import re
from pathlib import Path

from config import settings as settings_mod

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def web_settings(home: Path, **web: object) -> settings_mod.Settings:
    """The default settings over ``home`` with ``[web]`` keys replaced (checked as a config
    file would be)."""
    base = settings_mod.load(None, home)
    cfg = dict(base.section("web")) | web
    settings_mod.check_web(cfg, "test")
    return settings_mod.Settings(data=dict(base.data) | {"web": cfg}, home=home,
                                 files=base.files)


def console_app(home: Path, archive, **web: object):
    """The console over ``archive`` (already built), testing mode (cookies without Secure on
    http://localhost)."""
    from web.app import create_app

    return create_app(web_settings(home, **web), archive_factory=lambda: archive,
                      testing=True)


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page carries no CSRF token"
    return m.group(1)


ORIGIN = "http://localhost:8443"  # the default [web] origin: rp_id localhost, port 8443
JSON = {"Accept": "application/json"}


def token_of(client, path: str = "/signin") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))


def post_json(client, path: str, body: dict | None = None, token: str | None = None):
    headers = dict(JSON)
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.post(path, json=body or {}, headers=headers)


def enroll(client, archive, admin, person_id: str, authenticator, confirm: bool = True) -> str:
    """Invite (as the command line does), open the link, make a passkey, confirm it: the
    credential id."""
    from archive.passkeys import service as passkeys
    from tests.support.archives import ledger_knows_administrator

    token = passkeys.invite(archive, admin, person_id)["token"]
    page = client.get(f"/invite/{token}")
    assert page.status_code == 200, page.get_data(as_text=True)
    csrf = csrf_of(page.get_data(as_text=True))
    begun = post_json(client, f"/invite/{token}/begin", token=csrf)
    assert begun.status_code == 200, begun.get_json()
    response = authenticator.create(begun.get_json()["options"], ORIGIN)
    done = post_json(client, f"/invite/{token}/finish", {"credential": response}, csrf)
    assert done.status_code == 200 and done.get_json()["status"] == "pending", done.get_json()
    if confirm:
        ledger_knows_administrator(archive, admin)
        passkeys.confirm_enrollment(archive, admin, person_id, response["id"])
    return response["id"]


def sign_in(client, authenticator, credential_id: str | None = None):
    """The two steps of a passkey sign-in; the finishing response."""
    csrf = token_of(client)
    begun = post_json(client, "/signin/begin", token=csrf)
    assert begun.status_code == 200, begun.get_json()
    answer = authenticator.get(begun.get_json()["options"], ORIGIN,
                               credential_id=credential_id)
    return post_json(client, "/signin/finish", {"credential": answer}, csrf)


def decide(client, authenticator, request_id: str, approve: bool, note: str = "",
           exports: int | None = None, page: str | None = None):
    """Approve or deny on the request's page, signed with the passkey: (begin, finish)."""
    return sign(client, authenticator, "access-decide",
                {"request": request_id, "approve": "1" if approve else "0", "note": note,
                 "exports": exports}, page or f"/access/{request_id}")


def sign(client, authenticator, decision: str, fields: dict, page: str):
    """A decision made on ``page`` through web/signing.py: the form's ``fields`` sent to
    /sign/DECISION/begin, the passkey's answer to /finish. (begin, finish); finish is None
    when begin was refused."""
    csrf = token_of(client, page)
    begun = post_json(client, f"/sign/{decision}/begin", fields, csrf)
    if begun.status_code != 200:
        return begun, None
    answer = authenticator.get(begun.get_json()["options"], ORIGIN)
    return begun, post_json(client, f"/sign/{decision}/finish", {"credential": answer}, csrf)
