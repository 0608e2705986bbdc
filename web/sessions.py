"""Flask's session, kept server-side in working state (``working.sessions``): the cookie
holds only a random id; the data (CSRF token, the WebAuthn state of a sign-in in progress,
the sign-in that opened the session) stays on the server and ends when the session is
revoked or times out."""

from __future__ import annotations

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from working.sessions import Session, Sessions


class ConsoleSession(CallbackDict, SessionMixin):
    """The session of one request; ``person`` is who signed in (None before)."""

    def __init__(self, stored: Session | None = None) -> None:
        def changed(_self) -> None:
            self.modified = True

        super().__init__(dict(stored.data) if stored else {}, changed)
        self.stored = stored
        self.person: str | None = stored.person if stored else None
        self.modified = False
        self.renew_as: str | None = None  # a person signed in: a new id for them
        self.ended = False

    def sign_in(self, person: str, data: dict) -> None:
        """Replace this session by a new one of ``person`` (a new id: one seen before the
        sign-in opens nothing afterwards)."""
        self.clear()
        self.update(data)
        self.renew_as = person
        self.person = person

    def end(self) -> None:
        self.clear()
        self.ended = True


class ServerSessions(SessionInterface):
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def open_session(self, app, request) -> ConsoleSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        return ConsoleSession(self.sessions.get(sid))

    def save_session(self, app, session: ConsoleSession, response) -> None:  # type: ignore[override]
        name, domain, path = (self.get_cookie_name(app), self.get_cookie_domain(app),
                              self.get_cookie_path(app))
        stored = session.stored
        if session.ended or session.renew_as is not None:
            if stored is not None:
                self.sessions.revoke(stored.id)
            stored = None
            if session.ended:
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self.get_cookie_secure(app),
                                       httponly=True, samesite="Strict")
                return
        if stored is None:
            if not session and session.renew_as is None:
                return  # nothing to keep: no row for a passer-by
            stored = self.sessions.create(session.renew_as, dict(session))
        elif session.modified:
            stored.data = dict(session)
            self.sessions.save(stored)
        else:
            return  # the cookie already holds this id; no Set-Cookie on every response
        response.headers.add("Vary", "Cookie")
        response.set_cookie(name, stored.id, domain=domain, path=path,
                            secure=self.get_cookie_secure(app), httponly=True,
                            samesite="Strict")
