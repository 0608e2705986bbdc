"""The console's pages for signed-in people, through the Flask test client with a software
passkey authenticator: search and item pages masked exactly as the command line masks,
requests, decisions signed with a passkey, and every refusal (another person's session, no
CSRF token, the requester approving, a replayed assertion, a revoked passkey)."""

from __future__ import annotations

import re

import pytest

from archive.access import requests as access
from archive.catalog.sqlite import SQLiteCatalog
from archive.passkeys import service as passkeys
from tests.support.access import access_team, add_person
from tests.support.authenticator import Authenticator
from tests.support.console import (
    ORIGIN,
    console_app,
    decide,
    enroll,
    post_json,
    sign_in,
    token_of,
)
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests

HIDDEN = ("李四", "某单位", "secret%1.mp4", "state%1.mp4")


class Office:
    """The access team's archive behind a console, each person with their own browser
    (client) and passkey (authenticator)."""

    def __init__(self, tmp_path):
        self.s = access_team(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"))
        self.archive = passkeys.attach(self.s.archive, tmp_path / "home")
        self.o2 = add_person(self.s, "O2", ["officer"])
        self.app = console_app(tmp_path / "home", self.archive)
        self.clients, self.keys, self.creds = {}, {}, {}

    def person(self, pid: str, signed: bool = True):
        client = self.app.test_client()
        self.keys[pid] = Authenticator()
        self.creds[pid] = enroll(client, self.archive, self.s.actor, pid, self.keys[pid])
        if signed:
            r = sign_in(client, self.keys[pid])
            assert r.status_code == 200, r.get_json()
        self.clients[pid] = client
        return client

    def request(self, client, **form) -> str:
        token = token_of(client, "/access/new")
        r = client.post("/access/new", data={"csrf_token": token, "purpose": "view",
                                             "reason": "复核执法过程"} | form)
        assert r.status_code == 302, r.get_data(as_text=True)
        return r.headers["Location"].rsplit("/", 1)[1]


@pytest.fixture
def office(tmp_path):
    o = Office(tmp_path)
    yield o
    o.app.extensions["custody"].close()
    release_all_for_tests(tmp_path)


def _html(r) -> str:
    assert r.status_code == 200, r.status_code
    return r.get_data(as_text=True)


def test_sign_in_gives_a_new_session_id_and_sign_out_ends_it(office):
    client = office.app.test_client()
    office.keys["O1"] = Authenticator()
    enroll(client, office.archive, office.s.actor, "O1", office.keys["O1"])
    before = client.get_cookie("custody").value
    r = sign_in(client, office.keys["O1"])
    assert r.status_code == 200 and r.get_json()["next"] == "/search"
    after = client.get_cookie("custody").value
    assert after != before
    page = _html(client.get("/search"))
    assert "名O1" in page  # the header names the person
    # the id seen before sign-in opens nothing
    stale = office.app.test_client()
    stale.set_cookie("custody", before)
    assert stale.get("/search").status_code == 302
    token = token_of(client, "/search")
    assert client.post("/signout", data={"csrf_token": token}).status_code == 302
    thief = office.app.test_client()
    thief.set_cookie("custody", after)
    assert thief.get("/search").status_code == 302


def test_a_pending_passkey_does_not_sign_in_and_failures_are_counted(office):
    client = office.app.test_client()
    key = Authenticator()
    enroll(client, office.archive, office.s.actor, "O1", key, confirm=False)
    r = sign_in(client, key)
    assert r.status_code == 401 and "confirm" in r.get_json()["message"]
    assert passkeys.failures(office.archive, 60).get("sign-in", 0) >= 1
    assert client.get("/search").status_code == 302


def test_sign_in_waits_when_everyone_failed_too_often(office):
    from working import challenges

    console = office.app.extensions["custody"]
    client = office.app.test_client()
    for _ in range(console.failure_limit - 1):
        challenges.count_failure(office.archive.working, "sign-in")
    assert post_json(client, "/signin/begin", token=token_of(client)).status_code == 200
    challenges.count_failure(office.archive.working, "sign-in")
    r = post_json(client, "/signin/begin", token=token_of(client))
    assert r.status_code == 429 and r.get_json()["error"] == "too-many"
    # enrolling is counted apart: an invite link still opens
    assert not console.blocked("invite", "enroll")


def test_search_and_item_pages_mask_what_the_viewer_may_not_see(office):
    officer = office.person("O1")
    page = _html(officer.get("/search?unit=market-001"))
    for item in ("a", "b", "secret", "state"):
        assert office.s.items[item] in page  # every item listed ...
    assert "王五" in page and "赵六" in page
    for value in HIDDEN:
        assert value not in page  # ... but nothing masked, anywhere in the HTML
    for item in ("secret", "state"):
        html = _html(officer.get(f"/items/{office.s.items[item]}"))
        assert "***" in html
        for value in HIDDEN:
            assert value not in html
    # a search by a masked value does not reveal that a hidden item matches it
    assert office.s.items["secret"] not in _html(officer.get("/search?party=李四"))
    # the legal officer holds personal-privacy, not state-secret
    legal = office.person("L1")
    html = _html(legal.get(f"/items/{office.s.items['secret']}"))
    assert "李四" in html
    html = _html(legal.get("/search?unit=market-001"))
    assert "李四" in html and "某单位" not in html and "state%1.mp4" not in html


def test_search_by_every_key_and_local_times(office):
    officer = office.person("O1")
    for query in ("officer=O1", "device=D1", "kind=video", "tier=routine", "cause=无照经营",
                  "party=王五", "status=archived", "from=2026-03-01T00:00&to=2027-12-31T00:00"):
        html = _html(officer.get("/search?" + query))
        assert office.s.items["a"] in html, query
    html = _html(officer.get("/search?party=王"))  # one character is refused, and said so
    assert 'id="search-error"' in html
    html = _html(officer.get("/search?from=2020-01-01T00:00&to=2020-01-02T00:00"))
    assert 'id="no-results"' in html


def test_search_pages_with_a_cursor(office):
    import web.views.search as search

    officer = office.person("O1")
    saved, search.PAGE = search.PAGE, 3
    try:
        first = _html(officer.get("/search?unit=market-001"))
        assert 'id="next-page"' in first
        link = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
        second = _html(officer.get(link))
        shown = [i for i in office.s.items.values() if i in first]
        rest = [i for i in office.s.items.values() if i in second]
        assert len(shown) == 3 and len(rest) == 1 and not set(shown) & set(rest)
    finally:
        search.PAGE = saved


def test_a_request_is_approved_with_the_approvers_passkey(office):
    officer, legal = office.person("O1"), office.person("L1")
    rid = office.request(officer, items=office.s.items["a"])
    assert "待审批" in _html(officer.get(f"/access/{rid}")) or "pending" in _html(
        officer.get(f"/access/{rid}"))
    todo = _html(legal.get("/access/todo"))
    assert rid in todo
    assert 'id="waiting-count">1<' in todo
    begun, done = decide(legal, office.keys["L1"], rid, approve=True, note="同意")
    assert done is not None and done.status_code == 200, (begun.get_json(), done.get_json())
    assert done.status_code == 200 and done.get_json()["next"] == f"/access/{rid}"
    doc = access.get_request(office.archive.catalog, rid)
    assert doc["status"] == "approved" and doc["decision"]["decision"]["by"] == "L1"
    # the ledger entry carries the decision record and the passkey's evidence
    entry = next(iter(office.archive.catalog.ledger_entries(doc["decision_ledger_seq"])))
    assert entry.action == "access-approved" and entry.actor == "L1"
    signed = entry.details["console"]
    assert signed["decision"]["details"]["request"] == rid
    assert signed["decision"]["details"]["note"] == "同意"
    assert signed["webauthn"]["credential_id"] == office.creds["L1"]
    html = _html(officer.get(f"/access/{rid}"))
    assert 'data-status="approved"' in html and "名L1" in html
    assert 'id="waiting-count">0<' in _html(legal.get("/search"))


def test_the_requester_may_not_approve_their_own_request(office):
    legal = office.person("L1")
    rid = office.request(legal, items=office.s.items["a"])
    assert rid not in _html(legal.get("/access/todo"))
    assert 'id="approve-button"' not in _html(legal.get(f"/access/{rid}"))
    begun, done = decide(legal, office.keys["L1"], rid, approve=True)
    assert begun.status_code == 403 and done is None
    assert "own request" in begun.get_json()["message"]
    refusals = [d for d in office.archive.catalog.list_records("access_register")
                if d["kind"] == "refusal" and d["subject"] == rid]
    assert refusals and refusals[0]["person"] == "L1"
    assert access.get_request(office.archive.catalog, rid)["status"] == "pending"


def test_another_persons_session_sees_and_decides_nothing_of_theirs(office):
    officer, other = office.person("O1"), office.person("O2")
    rid = office.request(officer, items=office.s.items["a"])
    assert other.get(f"/access/{rid}").status_code == 404
    assert rid not in _html(other.get("/access"))
    assert other.get("/access/todo").status_code == 403
    begun, done = decide(other, office.keys["O2"], rid, approve=True, page="/access")
    assert begun.status_code == 403 and done is None
    assert access.get_request(office.archive.catalog, rid)["status"] == "pending"


def test_no_csrf_token_while_signed_in_changes_nothing(office):
    officer = office.person("O1")
    before = len(office.archive.catalog.list_records("requests"))
    r = officer.post("/access/new", data={"items": office.s.items["a"], "purpose": "view",
                                          "reason": "x"})
    assert r.status_code == 400
    r = post_json(officer, "/sign/access-decide/begin", {"request": "x", "approve": "1"})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    assert len(office.archive.catalog.list_records("requests")) == before


def test_a_replayed_decision_assertion_is_refused(office):
    officer, legal = office.person("O1"), office.person("L1")
    first = office.request(officer, items=office.s.items["a"])
    second = office.request(officer, items=office.s.items["b"])
    csrf = token_of(legal, f"/access/{first}")
    begun = post_json(legal, "/sign/access-decide/begin", {"request": first, "approve": "1"},
                      csrf)
    answer = office.keys["L1"].get(begun.get_json()["options"], ORIGIN)
    assert post_json(legal, "/sign/access-decide/finish", {"credential": answer},
                     csrf).status_code == 200
    # the same assertion for the next decision: another challenge, refused
    post_json(legal, "/sign/access-decide/begin", {"request": second, "approve": "1"}, csrf)
    r = post_json(legal, "/sign/access-decide/finish", {"credential": answer}, csrf)
    assert r.status_code == 403
    assert access.get_request(office.archive.catalog, second)["status"] == "pending"
    # and the finish cannot be sent twice for the first one either
    r = post_json(legal, "/sign/access-decide/finish", {"credential": answer}, csrf)
    assert r.status_code == 400


def test_a_revoked_passkey_ends_the_session(office):
    legal = office.person("L1")
    assert legal.get("/search").status_code == 200
    passkeys.revoke_credential(office.archive, office.s.actor, "L1", office.creds["L1"])
    assert legal.get("/search").status_code == 302
    assert sign_in(legal, office.keys["L1"]).status_code == 401


def test_a_disabled_person_is_signed_out(office):
    from archive import people

    officer = office.person("O1")
    people.disable_person(office.archive, office.s.actor, "O1")
    assert officer.get("/search").status_code == 302


def test_the_register_page_shows_refusals_and_filters(office):
    legal = office.person("L1")
    rid = office.request(legal, items=office.s.items["a"])
    decide(legal, office.keys["L1"], rid, approve=True)
    html = _html(legal.get("/register"))
    assert "拒绝" in html and rid in html
    html = _html(legal.get("/register?outcome=done"))
    assert rid not in html
    html = _html(legal.get("/register?person=nobody"))
    assert rid not in html


def test_a_request_by_the_query_of_a_search_leaves_confidential_items_out(office):
    officer = office.person("O1")
    html = _html(officer.get("/search?unit=market-001&kind=video"))
    link = re.search(r'id="request-query" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    form = _html(officer.get(link))
    query = re.search(r'id="f-query" value="([^"]+)"', form).group(1)
    assert query == "unit=market-001 kind=video"
    rid = office.request(officer, query=query)
    doc = access.get_request(office.archive.catalog, rid)
    assert sorted(doc["items"]) == sorted([office.s.items["a"], office.s.items["b"]])
    assert doc["query"] == query and doc["requester"] == "O1"
    # the refusals of the service are shown on the form, nothing is made
    r = officer.post("/access/new", data={"csrf_token": token_of(officer, "/access/new"),
                                          "purpose": "view", "reason": " ",
                                          "items": office.s.items["a"]})
    assert r.status_code == 400 and 'id="request-error"' in r.get_data(as_text=True)
    r = officer.post("/access/new", data={"csrf_token": token_of(officer, "/access/new"),
                                          "purpose": "copy", "reason": "x",
                                          "items": office.s.items["a"]})
    assert r.status_code == 400
    assert len(office.archive.catalog.list_records("requests")) == 1


def test_the_item_page_reads_the_lock_on_request_and_finds_by_archive_code(office):
    officer = office.person("O1")
    item = office.s.items["a"]
    html = _html(officer.get(f"/items/{item}"))
    assert 'id="lock-in-store"' not in html and 'id="signature" class="ok"' in html
    html = _html(officer.get(f"/items/{item}?lock=1"))
    lock = re.search(r'id="lock-in-store">([^<]+)<', html).group(1)
    assert "LOCAL-WORM" in lock
    assert officer.get("/items/no-such-item").status_code == 404
    # as retention.codes keeps it: the record's id is the code
    office.archive.catalog.put_record("archive_codes", "J001-2026-DZ-00001",
                                      {"item": item, "code": "J001-2026-DZ-00001"})
    r = officer.get("/search?code=J001-2026-DZ-00001")
    assert r.status_code == 302 and r.headers["Location"] == f"/items/{item}"
    html = _html(officer.get("/search?code=J001-2026-XX-9"))
    assert 'id="search-error"' in html and "J001-2026-XX-9" in html


def test_the_printable_register_is_the_signed_document_with_only_its_own_styles(office):
    legal = office.person("L1")
    officer = office.person("O1")
    # an officer may not issue the 调阅登记 (the documents service refuses)
    r = officer.post("/register/print", data={"csrf_token": token_of(officer, "/register")})
    assert r.status_code == 403
    r = legal.post("/register/print", data={"csrf_token": token_of(legal, "/register")})
    assert r.status_code == 302
    page = legal.get(r.headers["Location"])
    html = _html(page)
    assert "调阅登记" in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'none'" in csp and "'sha256-" in csp and "'unsafe-inline'" not in csp
    pdf = legal.get(r.headers["Location"] + ".pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", text)


def test_the_pages_read_in_chinese(chinese, office):
    officer = office.person("O1")
    legal = office.person("L1")
    rid = office.request(officer, items=office.s.items["a"])
    pages = {"search": officer.get("/search?unit=market-001"),
             "item": officer.get(f"/items/{office.s.items['a']}?lock=1"),
             "new": officer.get("/access/new"), "mine": officer.get("/access"),
             "request": legal.get(f"/access/{rid}"), "todo": legal.get("/access/todo"),
             "register": legal.get("/register"),
             "signin": office.app.test_client().get("/signin")}
    for name, r in pages.items():
        html = _html(r)
        # nothing inline that the CSP would block, nothing loaded from elsewhere
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/webauthn.js">',
                                                      '<script src="/static/sign.js">']
        assert " style=" not in html and "<style" not in html, name
        assert re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I) is None, name  # no onclick=
        assert all(u.startswith(("/", "#")) for u in re.findall(r'(?:src|href|action)="([^"]*)"',
                                                                 html)), name
        text = _visible_text(html)
        left = english_phrases(text, allowed=("LOCAL-WORM", "SHA-256", "KEY", "ID"))
        assert not left, (name, left)
    refused = post_json(legal, "/sign/access-decide/begin", {"request": rid, "approve": "1"})
    assert refused.status_code == 400 and "表单" in refused.get_json()["text"]


def test_the_console_checkpoints_the_ledger_at_most_once_a_minute(office):
    officer = office.person("O1")
    console = office.app.extensions["custody"]
    console.flush()
    _html(officer.get("/search?unit=market-001"))  # a search is recorded ...
    _html(officer.get("/search?kind=video"))
    assert office.archive.ledger.appended == 2  # ... and not yet checkpointed
    console._flushed -= 61  # a minute later, the next request writes segment and checkpoint
    _html(officer.get("/access"))
    assert office.archive.ledger.appended == 0
    head = office.archive.catalog.ledger_head()
    searches = [e for e in office.archive.catalog.ledger_entries(1)
                if e.action == "console-search"]
    assert len(searches) == 2 and searches[-1].seq <= head.seq
    assert searches[0].details["console"]["session"]["credential_id"] == office.creds["O1"]


def test_a_denial_is_signed_too_and_the_requester_sees_it(office):
    officer, legal = office.person("O1"), office.person("L1")
    rid = office.request(officer, items=office.s.items["b"])
    begun, done = decide(legal, office.keys["L1"], rid, approve=False, note="理由不充分")
    assert done.status_code == 200 and done.get_json()["next"] == f"/access/{rid}"
    assert access.get_request(office.archive.catalog, rid)["status"] == "denied"
    html = _html(officer.get(f"/access/{rid}"))
    assert 'data-status="denied"' in html and "理由不充分" in html
    # decided: no second decision, and the attempt is refused
    begun, done = decide(legal, office.keys["L1"], rid, approve=True)
    assert begun.status_code == 403 and "already denied" in begun.get_json()["message"]


def test_an_approver_without_the_clearance_cannot_approve_a_confidential_item(office):
    officer = office.person("O1")
    office.person("L1")
    # L1 holds 法制股 and personal-privacy, not the state-secret this item needs
    rid = office.request(officer, items=office.s.items["state"])
    legal = office.clients["L1"]
    assert rid not in _html(legal.get("/access/todo"))
    html = _html(legal.get(f"/access/{rid}"))
    assert "某单位" not in html and "state%1.mp4" not in html and 'id="approve-button"' \
        not in html
    begun, done = decide(legal, office.keys["L1"], rid, approve=True)
    assert begun.status_code == 403 and "clearance" in begun.get_json()["message"]
    assert access.get_request(office.archive.catalog, rid)["status"] == "pending"


def test_a_request_good_until_a_date_lasts_that_whole_local_day(office):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    officer = office.person("O1")
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=3)).date()
    rid = office.request(officer, items=office.s.items["a"], until=day.isoformat())
    until = access.get_request(office.archive.catalog, rid)["until"]
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(),
                           ZoneInfo("Asia/Shanghai"))
    assert datetime.fromisoformat(until.replace("Z", "+00:00")) == end
    token = token_of(officer, "/access/new")
    r = officer.post("/access/new", data={"csrf_token": token, "purpose": "view",
                                          "reason": "x", "items": office.s.items["a"],
                                          "until": "2020-01-01"})
    assert r.status_code == 400 and "not in the future" in r.get_data(as_text=True)


def test_an_administrator_invites_from_the_console_and_nobody_else_may(office):
    from archive.people import register as register_person

    officer = office.person("O1")
    assert officer.get("/people").status_code == 403
    r = officer.post("/people/O2/invite", data={"csrf_token": token_of(officer, "/search")})
    assert r.status_code == 403
    # the administrator, a console-only person with a passkey
    register_person(office.archive.catalog, "A1", "名A1", None, ["administrator"], None)
    admin = office.person("A1")
    html = _html(admin.get("/people"))
    assert "O1" in html and "已确认" in html and 'id="invite-O2"' in html
    r = admin.post("/people/O2/invite", data={"csrf_token": token_of(admin, "/people")})
    link = re.search(r'id="invite-link" value="([^"]+)"', _html(r)).group(1)
    assert link.startswith(ORIGIN + "/invite/")
    # the link opens the enrollment for O2
    newcomer = office.app.test_client()
    assert "O2" in _html(newcomer.get(link[len(ORIGIN):]))
    entry = [e for e in office.archive.catalog.ledger_entries(1)
             if e.action == "passkey-invited" and e.subject == "O2"][-1]
    assert entry.actor == "A1" and "console" in entry.details
    r = admin.post("/people/nobody/invite", data={"csrf_token": token_of(admin, "/people")})
    assert r.status_code in (400, 404) and 'id="people-error"' in r.get_data(as_text=True)


def test_the_configured_idle_and_absolute_limits_end_a_session(office):
    officer = office.person("O1")
    legal = office.person("L1")
    conn = office.archive.working.connect()
    cfg = office.app.extensions["custody"].cfg
    assert (cfg["session_idle_minutes"], cfg["session_hours"]) == (30, 10)
    assert officer.get("/search").status_code == 200
    conn.execute("UPDATE web_sessions SET seen = seen - ? WHERE person = 'O1'",
                 (cfg["session_idle_minutes"] * 60 + 5,))
    assert officer.get("/search").status_code == 302  # idle too long
    # busy, but signed in longer ago than the absolute limit
    conn.execute("UPDATE web_sessions SET created = created - ? WHERE person = 'L1'",
                 (cfg["session_hours"] * 3600 + 5,))
    assert legal.get("/search").status_code == 302


def test_the_signing_mechanism_refuses_before_and_after_the_passkey(office):
    """web/signing.py, through the access decision: unknown decisions, a body that is not a
    form, a finish with nothing begun, and another person's passkey answering."""
    officer, legal = office.person("O1"), office.person("L1")
    office.person("B1")
    rid = office.request(officer, items=office.s.items["a"])
    csrf = token_of(legal, f"/access/{rid}")
    assert post_json(legal, "/sign/no-such-decision/begin", {}, csrf).status_code == 404
    r = legal.post("/sign/access-decide/begin", data="[1, 2]", headers={
        "X-CSRFToken": csrf, "Content-Type": "application/json", "Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"] == "bad-input"
    r = post_json(legal, "/sign/access-decide/finish", {"credential": {"id": "x"}}, csrf)
    assert r.status_code == 400 and r.get_json()["error"] == "bad-input"
    # the requester may not decide their own request: refused before any passkey is asked
    own = post_json(officer, "/sign/access-decide/begin", {"request": rid, "approve": "1"},
                    token_of(officer, f"/access/{rid}"))
    assert own.status_code == 403 and "options" not in own.get_json()
    # the leader's passkey answering the legal officer's challenge: not theirs, refused
    begun = post_json(legal, "/sign/access-decide/begin", {"request": rid, "approve": "1"},
                      csrf)
    assert begun.status_code == 200
    stray = office.keys["B1"].get(begun.get_json()["options"], ORIGIN)
    r = post_json(legal, "/sign/access-decide/finish", {"credential": stray}, csrf)
    assert r.status_code == 403
    assert access.get_request(office.archive.catalog, rid)["status"] == "pending"
