"""The console served safely: closed to anyone without a session, CSRF on every state change,
strict cookies and security headers, server-side sessions with timeouts and revocation,
sign-in failures limited in aggregate, and the [web] settings refused where unsafe."""

from __future__ import annotations

import re

import pytest

from archive.domain.errors import ConfigError
from config import settings as settings_mod
from tests.support.console import console_app, csrf_of, web_settings
from working.db import WorkingState
from working.sessions import Sessions


class _NoArchive:
    """Stands where the archive is never reached: a refusal before any service runs."""

    def __getattr__(self, name):
        raise AssertionError(f"the archive was reached ({name}) by a request that should "
                             "have been refused first")


@pytest.fixture
def app(tmp_path):
    app = console_app(tmp_path / "home", _NoArchive())
    yield app
    app.extensions["custody"].close()


CLOSED_GETS = ["/", "/search", "/search?party=王五", "/items/0190abc", "/access",
               "/access/todo", "/access/new", "/access/0190abc", "/register",
               "/documents/access-register/x", "/documents/access-register/x.pdf",
               "/no-such-page"]
CLOSED_POSTS = ["/access/new", "/sign/access-decide/begin", "/sign/access-decide/finish",
                "/sign/no-such-decision/begin", "/register/print", "/signout"]


@pytest.mark.parametrize("path", CLOSED_GETS)
def test_every_page_without_a_session_goes_to_sign_in(app, path):
    r = app.test_client().get(path)
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/signin")
    r = app.test_client().get(path, headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.get_json()["error"] == "not-signed-in"


@pytest.mark.parametrize("path", CLOSED_POSTS)
def test_every_action_without_a_session_is_refused(app, path):
    client = app.test_client()
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    r = client.post(path, json={}, headers={"X-CSRFToken": token})
    assert r.status_code == 401


@pytest.mark.parametrize("path", ["/signin/begin", "/signin/finish", "/invite/abc/begin",
                                  "/invite/abc/finish", "/access/new", "/signout"])
def test_state_changes_without_a_csrf_token_are_refused(app, path):
    client = app.test_client()
    client.get("/signin")  # a session with a token exists; the request just lacks it
    r = client.post(path, json={}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    r = client.post(path, json={}, headers={"X-CSRFToken": "forged",
                                            "Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"


def test_a_token_from_another_session_is_refused(app):
    mine, theirs = app.test_client(), app.test_client()
    csrf_of(mine.get("/signin").get_data(as_text=True))
    other = csrf_of(theirs.get("/signin").get_data(as_text=True))
    r = mine.post("/signin/finish", json={}, headers={"X-CSRFToken": other,
                                                       "Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"


def test_security_headers_on_pages_and_refusals(app):
    client = app.test_client()
    for r in (client.get("/signin"), client.get("/search"), client.get("/static/webauthn.js")):
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp and "http" not in csp
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/signin").headers["Cache-Control"] == "no-store"


def test_no_inline_script_or_style_in_the_pages(app):
    html = app.test_client().get("/signin").get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/webauthn.js">',
                                                  '<script src="/static/sign.js">']
    assert "style=" not in html and "<style" not in html and "onclick" not in html.lower()
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/"), f"{src} is not served by custody"


def test_the_session_cookie_is_strict_and_http_only(app):
    r = app.test_client().get("/signin")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # testing on http://localhost


def test_over_https_the_cookie_is_secure_and_host_bound(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    app = console_app(tmp_path / "home", _NoArchive(), rp_id="custody.example",
                      origin="https://custody.example:8443", cert=str(cert), key=str(key))
    r = app.test_client().get("/signin", base_url="https://custody.example:8443")
    app.extensions["custody"].close()
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-custody=") and "Secure" in cookie
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_cookie_holds_a_random_id_and_the_data_stays_on_the_server(tmp_path, app):
    client = app.test_client()
    html = client.get("/signin").get_data(as_text=True)
    cookie = client.get_cookie("custody")
    assert cookie is not None and len(cookie.value) >= 40
    token = csrf_of(html)
    stored = WorkingState.of_home(tmp_path / "home").connect().execute(
        "SELECT key, data FROM web_sessions").fetchall()
    assert len(stored) == 1
    assert stored[0]["key"] != cookie.value  # kept hashed
    assert "csrf_token" in stored[0]["data"] and cookie.value not in stored[0]["data"]
    assert token  # the page's token is bound to that server-side session


def test_a_passer_by_leaves_no_session(tmp_path, app):
    app.test_client().get("/static/console.css")
    app.test_client().get("/search")
    sessions = Sessions(WorkingState.of_home(tmp_path / "home"), 60, 60)
    assert sessions._conn().execute("SELECT COUNT(*) FROM web_sessions").fetchone()[0] == 0


# --- sessions in working state --------------------------------------------------------------
def test_sessions_time_out_idle_and_absolute_and_can_be_revoked(tmp_path):
    s = Sessions(WorkingState(tmp_path / "w.db"), idle_s=60, absolute_s=300)
    a = s.create("P1", {"x": 1}, now=1000)
    assert s.get(a.id, now=1050).person == "P1"
    assert s.get(a.id, now=1105).data == {"x": 1}  # seen at 1050: still within idle
    assert s.get(a.id, now=1166) is None  # 61 s idle
    assert s.get(a.id, now=1167) is None  # and it stays ended
    b = s.create("P1", now=2000)
    for t in range(2050, 2300, 50):
        assert s.get(b.id, now=t) is not None
    assert s.get(b.id, now=2301) is None  # absolute limit, however busy
    c, d = s.create("P1", now=3000), s.create("P2", now=3000)
    assert s.revoke_person("P1", now=3001) == 1
    assert s.get(c.id, now=3002) is None and s.get(d.id, now=3002) is not None
    s.revoke(d.id, now=3003)
    assert s.get(d.id, now=3004) is None
    assert s.get("not-an-id") is None and s.get(None) is None


# --- the [web] settings ---------------------------------------------------------------------
@pytest.mark.parametrize("rp_id", ["127.0.0.1", "10.0.0.5", "::1", "[fe80::1]"])
def test_an_ip_address_is_refused_as_rp_id(tmp_path, rp_id):
    with pytest.raises(ConfigError, match="web.rp_id"):
        web_settings(tmp_path, rp_id=rp_id)


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "custody.example"])
def test_binding_beyond_loopback_needs_cert_and_key(tmp_path, bind):
    with pytest.raises(ConfigError, match="web.bind"):
        web_settings(tmp_path, bind=bind)
    with pytest.raises(ConfigError, match="web.key"):
        web_settings(tmp_path, bind=bind, cert="/etc/c.pem")
    ok = web_settings(tmp_path, bind=bind, cert="/etc/c.pem", key="/etc/k.pem",
                      rp_id="custody.example", origin="https://custody.example:8443")
    assert ok.section("web")["bind"] == bind


@pytest.mark.parametrize("origin", ["https://evil.example", "http://custody.example",
                                    "ftp://custody.example", "https://custody.example/x"])
def test_an_origin_off_the_rp_id_or_plain_http_is_refused(tmp_path, origin):
    with pytest.raises(ConfigError, match="web.origin"):
        web_settings(tmp_path, rp_id="custody.example", origin=origin, cert="c", key="k")


def test_the_default_is_loopback_on_localhost(tmp_path):
    cfg = settings_mod.load(None, tmp_path).section("web")
    assert cfg["bind"] == "127.0.0.1" and cfg["rp_id"] == "localhost" and not cfg["cert"]


def test_a_config_file_with_an_ip_rp_id_is_refused_by_name(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[web]\nrp_id = "192.168.1.10"\n')
    with pytest.raises(ConfigError) as refused:
        settings_mod.load(path, tmp_path)
    assert "web.rp_id" in str(refused.value) and str(path) in str(refused.value)


def test_custody_web_refuses_a_public_bind_without_https(tmp_path, monkeypatch):
    from tests.support.cli import run

    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    result = run("web", "--bind", "0.0.0.0", code=2)
    assert "web.bind" in result.output


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"},
                                     {"Origin": "http://localhost:9"}])
def test_a_state_change_from_another_site_is_refused_even_with_a_token(app, headers):
    client = app.test_client()
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    r = client.post("/signin/begin", json={}, headers={"X-CSRFToken": token,
                                                        "Accept": "application/json"}
                    | headers)
    assert r.status_code == 403 and r.get_json()["error"] == "cross-site"


def _self_signed(folder):
    """A certificate for localhost and its key, as the bureau's CA would issue one."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "console.crt", folder / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_custody_web_serves_https_with_the_certificate_and_strict_cookies(tmp_path):
    import os
    import ssl
    import urllib.request

    from tests.support.browser import console_on_free_port
    from tests.support.cli import run

    cert, key = _self_signed(tmp_path)
    config = tmp_path / "custody.toml"
    env = os.environ | {"HOME": str(tmp_path / "user"), "CUSTODY_HOME": str(tmp_path / "data"),
                        "CUSTODY_CONFIG": str(config)}

    def prepare(port: int) -> dict:
        config.write_text(f'[web]\nport = {port}\norigin = "https://localhost:{port}"\n'
                          f'cert = "{cert}"\nkey = "{key}"\n')
        return env

    prepare(8443)
    with pytest.MonkeyPatch.context() as mp:
        for k in ("HOME", "CUSTODY_HOME", "CUSTODY_CONFIG"):
            mp.setenv(k, env[k])
        run("init")
    with console_on_free_port(prepare, tmp_path / "server.log", "https", cert) as served:
        port = int(served.base.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(served.base + "/signin", context=context) as r:
            assert r.status == 200
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")
            cookie = r.headers["Set-Cookie"]
            assert cookie.startswith("__Host-custody=") and "Secure" in cookie
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        with pytest.raises(OSError):  # plain http on the same port is not served
            urllib.request.urlopen(f"http://localhost:{port}/signin", timeout=5).read()
        assert served.stop() == 0


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
                    reason="the refusal is of root")
def test_custody_web_refuses_to_serve_beyond_loopback_as_root(tmp_path, monkeypatch):
    from tests.support.cli import run

    cert, key = _self_signed(tmp_path)
    config = tmp_path / "custody.toml"
    config.write_text('[web]\nrp_id = "custody.example"\norigin = "https://custody.example"\n'
                      f'cert = "{cert}"\nkey = "{key}"\n')
    monkeypatch.setenv("CUSTODY_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CUSTODY_CONFIG", str(config))
    result = run("web", "--bind", "0.0.0.0", code=2)
    assert "root" in result.output and "0.0.0.0" in result.output
