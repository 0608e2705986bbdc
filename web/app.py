"""The console's Flask application: ``create_app`` wires it once from the settings.

Every request is by a signed-in person except the endpoints marked ``web.auth.public`` (the
sign-in and invite pages) and the static files; every state change carries a CSRF token
(Flask-WTF, from a form field or the ``X-CSRFToken`` header); sessions live server-side in
working state (``web.sessions``); every response carries the security headers below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

import i18n
from archive.domain.errors import CustodyError
from config import settings as settings_mod
from web import auth
from web.console import Console
from web.sessions import ServerSessions
from web.views import BLUEPRINTS

if TYPE_CHECKING:
    from archive.service import Archive
    from config.settings import Settings

# no inline script or style, nothing from elsewhere, never framed, no referrer leaves
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), "
                          "publickey-credentials-get=(self), "
                          "publickey-credentials-create=(self)",
}
STATUS = {"bad-input": 400, "access-refused": 403, "identity-refused": 403, "not-found": 404}


def _language(settings: Settings) -> str:
    """CUSTODY_LANG, else [archive] language, else Chinese (as the command line)."""
    import os

    for wanted in (os.environ.get("CUSTODY_LANG"), settings.section("archive").get("language")):
        if wanted:
            try:
                return i18n.normalize(wanted)
            except i18n.UnknownLanguage:
                continue
    return i18n.DEFAULT


def create_app(settings: Settings | None = None, *,
               archive_factory: Callable[[], Archive] | None = None,
               testing: bool = False) -> Flask:
    """The console over ``settings`` (default: the configured ones). ``archive_factory``
    opens the archive, once, on the first request that needs it: ``bootstrap.console_app``
    passes the configured one (the wiring stays in bootstrap); ``testing`` lets the session
    cookie go without ``Secure`` on http."""
    settings = settings or settings_mod.load()
    if archive_factory is None:
        raise ValueError("create_app needs an archive_factory (bootstrap.console_app wires "
                         "the configured archive)")
    console = Console(settings, archive_factory)
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.testing = testing
    secure = console.origin.startswith("https://")
    app.config.update(
        SECRET_KEY=console.secret(),
        WTF_CSRF_TIME_LIMIT=None,  # the token dies with its session (idle and absolute limits)
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        # Flask-WTF's strict check wants a Referer, which Referrer-Policy no-referrer never
        # sends; the gate checks Origin and Sec-Fetch-Site instead
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=1 << 20,
        SESSION_COOKIE_NAME="__Host-custody" if secure else "custody",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/",
    )
    app.extensions["custody"] = console
    app.session_interface = ServerSessions(console.sessions)
    CSRFProtect(app)
    language = _language(settings)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda m: i18n._(m), lambda s, p, n: i18n.ngettext(s, p, n), newstyle=True)
    app.jinja_env.globals["localize"] = i18n.localize
    app.jinja_env.filters["pair"] = lambda v: (v, v)
    app.jinja_env.filters["dict_get"] = lambda k, table: table.get(k, k)
    app.jinja_env.filters["reject_key"] = lambda d, k: {a: b for a, b in d.items() if a != k}

    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    # the navigation names each page by endpoint; a link whose page this build lacks is left out
    app.jinja_env.globals["has_page"] = lambda endpoint: endpoint in app.view_functions

    @app.context_processor
    def header() -> dict:
        from web.common import waiting_count

        person = getattr(g, "person", None)
        return {"me": person, "waiting": waiting_count() if person is not None else 0,
                "lang": i18n.language()}

    @app.before_request
    def gate():
        i18n.use(language)
        g.console = console
        if request.method not in ("GET", "HEAD", "OPTIONS") and _cross_site(console.origin):
            return _refusal(403, "cross-site", i18n.Text(
                "a request from another site was refused"))
        if request.endpoint == "static" or auth.is_public(app, request.endpoint):
            return None
        return auth.load_person()

    @app.after_request
    def headers(response):
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.teardown_request
    def flush(_exc):
        console.maybe_flush()

    @app.errorhandler(CSRFError)
    def csrf_refused(exc):
        return _refusal(400, "csrf", i18n.Text("the form is out of date or was not sent "
                                               "from this console; reload the page and "
                                               "try again"))

    @app.errorhandler(CustodyError)
    def custody_refused(exc: CustodyError):
        return _refusal(STATUS.get(exc.code, exc_status(exc)), exc.code, exc)

    @app.errorhandler(404)
    def not_found(_exc):
        return _refusal(404, "not-found", i18n.Text("no such page"))

    @app.errorhandler(405)
    def not_allowed(_exc):
        return _refusal(405, "method", i18n.Text("not allowed here"))

    return app


def exc_status(exc: CustodyError) -> int:
    """A custody error's HTTP status: refusals 403, missing things 404, the rest of bad
    input 400, an unavailable service 503."""
    name = type(exc).__name__
    if "Refused" in name or "Identity" in name:
        return 403
    if "NotFound" in name:
        return 404
    return 503 if getattr(exc, "exit_code", 2) == 3 else 400


def _cross_site(origin: str) -> bool:
    """A state change sent by another site: its Origin names another origin (``null`` is
    what a same-origin post carries under Referrer-Policy no-referrer), or the browser says
    so in Sec-Fetch-Site."""
    sent = request.headers.get("Origin")
    if sent not in (None, "null", origin):
        return True
    return request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site")


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _refusal(status: int, code: str, message: object):
    text = i18n.localize(message)
    if wants_json():
        return jsonify({"error": code, "message": str(message), "text": text}), status
    return render_template("refused.html", text=text, code=code), status
