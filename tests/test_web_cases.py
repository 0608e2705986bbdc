"""Cases and flags at the console (web/views/cases.py) through the Flask test client with
software passkeys: the case register uploaded, checked and signed; items linked, a case
closed; a flag raised and confirmed by a second person; each decision refused to the wrong
role, to the same person twice, without a session and without a CSRF token; and every
decision verifies offline (``verify_ledger``), an edited one does not."""

from __future__ import annotations

import io
import os
from datetime import date, datetime, timedelta, timezone

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.passkeys import service as passkeys
from tests.support.access import access_team, add_person
from tests.support.authenticator import Authenticator
from tests.support.console import (
    ORIGIN,
    console_app,
    enroll,
    post_json,
    sign,
    sign_in,
    token_of,
)
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests

HEADER = "id,type,unit,opened,closed,filing_year,activities\n"


class Office:
    """The access team's archive (market-001 items a, b, secret, state) behind a console,
    with archivists A1 and A2, a second approver B2, a person holding both the archivist's
    and the approver's roles (AB), and one item of resources-001 (evidence kept
    permanently)."""

    def __init__(self, tmp_path):
        self.s = access_team(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"))
        self.archive = passkeys.attach(self.s.archive, tmp_path / "home")
        for pid, roles in (("A1", ["archivist"]), ("A2", ["archivist"]),
                           ("AB", ["archivist", "approver"])):
            add_person(self.s, pid, roles)
        start = datetime.now(timezone.utc) - timedelta(days=3)
        d = Description(kind="video", unit="resources-001", device_id="D9", officers=["O1"],
                        recorded_start=start, recorded_end=start + timedelta(minutes=5),
                        party="孙八", cause="串通投标")
        self.evidence_item = self.archive.archive_stream(
            [os.urandom(20_000)], d, self.s.actor,
            datetime.now(timezone.utc) + timedelta(days=30)).item.id
        self.app = console_app(tmp_path / "home", self.archive)
        self.clients, self.keys = {}, {}

    def person(self, pid: str):
        client = self.app.test_client()
        self.keys[pid] = Authenticator()
        enroll(client, self.archive, self.s.actor, pid, self.keys[pid])
        r = sign_in(client, self.keys[pid])
        assert r.status_code == 200, r.get_json()
        self.clients[pid] = client
        return client

    def upload(self, client, text: str, name: str = "register.csv"):
        token = token_of(client, "/archivist/cases/import")
        return client.post("/archivist/cases/import", data={
            "csrf_token": token, "register": (io.BytesIO(text.encode()), name)},
            content_type="multipart/form-data")

    def upload_id(self, client) -> str:
        with client.session_transaction() as sess:
            return sess["cases:upload"]["id"]

    def case(self, case_id: str) -> dict | None:
        return self.archive.catalog.get_record("cases", case_id)

    def flag(self, flag_id: str) -> dict | None:
        return self.archive.catalog.get_record("flags", flag_id)

    def entries(self, action: str) -> list:
        return [e for e in self.archive.catalog.ledger_entries() if e.action == action]

    def problems(self) -> set[str]:
        return {p["code"] for p in self.archive.verify_ledger().to_dict()["problems"]}

    def import_cases(self, pid: str, text: str) -> None:
        client = self.clients[pid]
        assert self.upload(client, text).status_code == 200
        _begun, done = sign(client, self.keys[pid], "case-register",
                            {"upload": self.upload_id(client)}, "/archivist/cases")
        assert done is not None and done.status_code == 200, (_begun.get_json(),
                                                               done and done.get_json())

    def raise_flag(self, pid: str, item: str, reason: str = "obstruction",
                   note: str = "") -> str:
        begun, done = sign(self.clients[pid], self.keys[pid], "flag",
                           {"item": item, "reason": reason, "note": note},
                           f"/archivist/flags/new?item={item}")
        assert done is not None and done.status_code == 200, (begun.get_json(),
                                                              done and done.get_json())
        return done.get_json()["next"].rsplit("/", 1)[1]


@pytest.fixture
def office(tmp_path):
    o = Office(tmp_path)
    yield o
    o.app.extensions["custody"].close()
    release_all_for_tests(tmp_path)


def _html(r) -> str:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:2000])
    return r.get_data(as_text=True)


def _today() -> str:
    return datetime.now(timezone(timedelta(hours=8))).date().isoformat()


# --- the case register --------------------------------------------------------------------
def test_the_register_is_checked_shown_and_imported_with_one_signature(chinese, office):
    a1 = office.person("A1")
    form = _html(a1.get("/archivist/cases/import"))
    assert "1 MiB" in form and 'enctype="multipart/form-data"' in form
    assert 'name="csrf_token"' in form
    text = HEADER + ("SJ-1,general,market-001,2026-01-05,,,调查取证\n"
                     "SJ-2,major,market-001,2026-02-01,,,\n")
    page = _html(office.upload(a1, text))
    assert "SJ-1" in page and "SJ-2" in page and "市场监督管理局执法大队" in page
    assert 'data-decision="case-register"' in page and "新增" in page
    assert office.case("SJ-1") is None  # checked, nothing written
    begun, done = sign(a1, office.keys["A1"], "case-register",
                       {"upload": office.upload_id(a1)}, "/archivist/cases")
    assert done.status_code == 200, done.get_json()
    signed = begun.get_json()["decision"]
    assert set(signed["details"]["entries"]) == {"SJ-1", "SJ-2"}
    assert "consequences" not in signed["details"]  # market-001 keeps evidence by case
    assert office.case("SJ-1")["activities"] == ["调查取证"]
    assert office.case("SJ-2")["type"] == "major"
    assert [e.subject for e in office.entries("case-register")] == ["SJ-1", "SJ-2"]
    assert all(e.actor == "A1" for e in office.entries("case-register"))
    listed = _html(a1.get(done.get_json()["next"]))
    assert "SJ-1" in listed and "SJ-2" in listed and "2 个案件已导入" in listed
    assert office.problems() == set()
    # the same file again: nothing new to sign
    _html(office.upload(a1, text))
    again, _ = sign(a1, office.keys["A1"], "case-register",
                    {"upload": office.upload_id(a1)}, "/archivist/cases")
    assert again.status_code == 400 and "均已按原样登记" in again.get_json()["text"]


def test_every_bad_row_is_shown_with_its_line_and_nothing_can_be_signed(chinese, office):
    a1 = office.person("A1")
    text = HEADER + ("SJ-1,general,market-001,2026-01-05,,,\n"
                     "SJ-9,general,nowhere-001,2026-01-05,,,\n"
                     "SJ-1,general,market-001,2026-01-05,,,\n"
                     f"SJ-3,general,market-001,2026-01-05,{date.today() + timedelta(days=9)},,\n")
    page = _html(office.upload(a1, text))
    assert 'id="register-problems"' in page
    for line in ("<td>3</td>", "<td>4</td>", "<td>5</td>"):
        assert line in page
    assert "nowhere-001" in page and "重复列出" in page and "晚于今天" in page
    assert 'data-decision="case-register"' not in page
    begun, done = sign(a1, office.keys["A1"], "case-register",
                       {"upload": office.upload_id(a1)}, "/archivist/cases")
    assert begun.status_code == 400 and done is None
    assert begun.get_json()["error"] == "register-problems"
    assert office.case("SJ-1") is None and not office.entries("case-register")


def test_uploads_too_large_too_many_rows_not_utf8_or_of_another_upload_are_refused(office):
    a1 = office.person("A1")
    big = office.upload(a1, HEADER + "x" * (1 << 20))
    assert big.status_code == 413 and "1 MiB" in big.get_data(as_text=True)
    many = HEADER + "".join(f"SJ-{n},general,market-001,2026-01-05,,,\n" for n in range(101))
    r = office.upload(a1, many)
    assert r.status_code == 400 and "at most 100" in r.get_data(as_text=True)
    token = token_of(a1, "/archivist/cases/import")
    r = a1.post("/archivist/cases/import", data={
        "csrf_token": token, "register": (io.BytesIO((HEADER + "SJ-1,一般").encode("gbk")),
                                          "gbk.csv")}, content_type="multipart/form-data")
    assert r.status_code == 400 and "UTF-8" in r.get_data(as_text=True)
    # a signature names the upload it was shown: another id is refused
    _html(office.upload(a1, HEADER + "SJ-1,general,market-001,2026-01-05,,,\n"))
    begun, _ = sign(a1, office.keys["A1"], "case-register", {"upload": "other"},
                    "/archivist/cases")
    assert begun.status_code == 400 and office.case("SJ-1") is None


# --- link and close -----------------------------------------------------------------------
def test_items_found_by_title_words_linked_and_the_case_closed(chinese, office):
    a1 = office.person("A1")
    office.import_cases("A1", HEADER + "SJ-1,general,market-001,2026-01-05,,,\n")
    page = _html(a1.get("/archivist/cases/SJ-1?q=王五"))
    item = office.s.items["a"]
    assert item in page and 'data-decision="case-link"' in page
    assert office.s.items["secret"] not in page  # a masked item is not found by its party
    begun, done = sign(a1, office.keys["A1"], "case-link", {"case": "SJ-1", "items": [item]},
                       "/archivist/cases/SJ-1")
    assert done.status_code == 200, done.get_json()
    assert item in office.case("SJ-1")["items"]
    page = _html(a1.get("/archivist/cases/SJ-1"))
    assert "王五" in page and "已关联" in page
    begun, done = sign(a1, office.keys["A1"], "case-close",
                       {"case": "SJ-1", "closed": _today()}, "/archivist/cases/SJ-1")
    assert done.status_code == 200, done.get_json()
    assert office.case("SJ-1")["closed"] == _today()
    assert office.case("SJ-1")["closed_by"] == "A1"
    page = _html(a1.get("/archivist/cases/SJ-1"))
    assert 'data-decision="case-close"' not in page and "名A1（A1）" in page
    assert office.problems() == set()
    # closed once: a second close is refused before the passkey
    again, done = sign(a1, office.keys["A1"], "case-close",
                       {"case": "SJ-1", "closed": _today()}, "/archivist/cases/SJ-1")
    assert again.status_code == 400 and done is None and "已于" in again.get_json()["text"]


def test_a_link_where_evidence_is_permanent_signs_its_evidence_flag_too(office):
    a1 = office.person("A1")
    office.import_cases("A1", HEADER + "ZY-1,general,resources-001,2026-01-05,,,\n")
    begun, done = sign(a1, office.keys["A1"], "case-link",
                       {"case": "ZY-1", "items": [office.evidence_item]},
                       "/archivist/cases/ZY-1")
    assert done.status_code == 200, done.get_json()
    assert begun.get_json()["decision"]["details"]["consequences"] == ["flag"]
    raised = office.entries("flag")
    assert len(raised) == 1 and raised[0].details["items"] == [office.evidence_item]
    assert office.problems() == set()


def test_closing_a_case_kept_permanently_signs_the_flags_it_raises(office, chinese):
    a1 = office.person("A1")
    office.import_cases("A1", HEADER + "SJ-P,permanent,market-001,2026-01-05,,,\n")
    _, done = sign(a1, office.keys["A1"], "case-link",
                   {"case": "SJ-P", "items": [office.s.items["a"]]}, "/archivist/cases/SJ-P")
    assert done.status_code == 200, done.get_json()
    begun, done = sign(a1, office.keys["A1"], "case-close",
                       {"case": "SJ-P", "closed": _today()}, "/archivist/cases/SJ-P")
    assert done.status_code == 200, done.get_json()
    assert begun.get_json()["decision"]["details"]["consequences"] == ["flag"]
    raised = office.entries("flag")
    assert [e.details["items"] for e in raised] == [[office.s.items["a"]]]
    assert office.problems() == set()
    listed = _html(a1.get("/archivist/flags"))
    assert "待确认" in listed and "其他" in listed


def _signed_by(office, pid: str, action: str, subject: str, details: dict):
    """A decision of ``pid`` signed with their passkey: the Actor a console would write
    with (to write what a compromised console might)."""
    rp = office.app.extensions["custody"].relying_party()
    begun = passkeys.begin_decision(office.archive, rp, pid, action, subject, details)
    answer = office.keys[pid].get(begun["options"], ORIGIN)
    return passkeys.finish_decision(office.archive, rp, begun["state"], answer)


def test_entries_beyond_what_one_decision_names_are_caught(office):
    office.person("A1")
    ledger = office.archive.ledger
    entries = {"SJ-1": {"type": "general"}, "SJ-2": {"type": "major"}}
    actor = _signed_by(office, "A1", "case-register", "r.csv", {"entries": entries})
    ledger.append(actor, "case-register", "SJ-1", {"type": "general"})
    ledger.append(actor, "case-register", "SJ-2", {"type": "major"})
    assert office.problems() == set()
    ledger.append(actor, "case-register", "SJ-3", {"type": "general"})  # not signed
    assert office.problems() == {"decision-mismatch"}
    actor = _signed_by(office, "A1", "case-register", "r.csv", {"entries": entries})
    ledger.append(actor, "case-register", "SJ-1", {"type": "permanent"})  # not as signed
    ledger.append(actor, "case-register", "SJ-2", {"type": "major"})
    ledger.append(actor, "case-register", "SJ-2", {"type": "major"})  # twice
    ledger.append(actor, "flag", "f-1", {})  # a flag the decision does not name
    found = [p for p in office.archive.verify_ledger().to_dict()["problems"]]
    assert sorted(p["code"] for p in found) == ["decision-mismatch", "decision-mismatch",
                                                "decision-mismatch", "decision-replayed"]


def test_close_in_the_future_or_of_an_unknown_case_is_refused(office):
    a1 = office.person("A1")
    office.import_cases("A1", HEADER + "SJ-1,general,market-001,2026-01-05,,,\n")
    later = (date.today() + timedelta(days=5)).isoformat()
    r, done = sign(a1, office.keys["A1"], "case-close", {"case": "SJ-1", "closed": later},
                   "/archivist/cases/SJ-1")
    assert r.status_code == 400 and done is None and "future" in r.get_json()["message"]
    r, _ = sign(a1, office.keys["A1"], "case-link",
                {"case": "NOPE", "items": [office.s.items["a"]]}, "/archivist/cases")
    assert r.status_code == 404
    r, _ = sign(a1, office.keys["A1"], "case-link", {"case": "SJ-1", "items": []},
                "/archivist/cases")
    assert r.status_code == 400
    assert a1.get("/archivist/cases/NOPE").status_code == 404
    assert office.case("SJ-1").get("closed") is None and not office.entries("case-link")


# --- flags --------------------------------------------------------------------------------
def test_a_flag_raised_by_one_and_confirmed_by_a_second_person(chinese, office):
    a1 = office.person("A1")
    b1 = office.person("B1")  # the unit's confirming role: approver
    item = office.s.items["b"]
    form = _html(a1.get(f"/archivist/flags/new?item={item}"))
    assert "赵六" in form and "阻碍执法" in form
    flag_id = office.raise_flag("A1", item, "obstruction", "当事人阻挠取证")
    assert office.flag(flag_id)["state"] == "unconfirmed"
    assert [e.subject for e in office.entries("flag")] == [flag_id]
    listed = _html(b1.get("/archivist/flags"))
    assert "阻碍执法" in listed and "待确认" in listed and "名A1（A1）" in listed
    page = _html(b1.get(f"/archivist/flags/{flag_id}"))
    assert "永远不能撤销" in page and "我已知晓" in page and "COMPLIANCE" in page
    assert "赵六" in page and "当事人阻挠取证" in page and "名A1（A1）" in page
    assert 'data-decision="flag-confirm"' in page and 'required' in page
    # without the tick box: refused before the passkey
    r, done = sign(b1, office.keys["B1"], "flag-confirm", {"flag": flag_id},
                   f"/archivist/flags/{flag_id}")
    assert r.status_code == 400 and done is None
    begun, done = sign(b1, office.keys["B1"], "flag-confirm",
                       {"flag": flag_id, "understood": "1"}, f"/archivist/flags/{flag_id}")
    assert done.status_code == 200, done.get_json()
    assert begun.get_json()["decision"]["details"]["items"] == [item]
    doc = office.flag(flag_id)
    assert doc["state"] == "confirmed" and doc["confirmed_by"] == "B1"
    assert office.archive.item(item).tier == "permanent"
    page = _html(b1.get(f"/archivist/flags/{flag_id}"))
    assert "已确认" in page and "永远不能撤销" in page
    assert 'data-decision="flag-confirm"' not in page
    assert 'data-decision="flag-withdraw"' not in page
    assert office.problems() == set()
    # a confirmed flag is never withdrawn
    r, _ = sign(b1, office.keys["B1"], "flag-withdraw", {"flag": flag_id},
                f"/archivist/flags/{flag_id}")
    assert r.status_code == 400 and office.flag(flag_id)["state"] == "confirmed"


def test_the_raiser_confirming_their_own_flag_is_refused_and_recorded(chinese, office):
    ab = office.person("AB")
    flag_id = office.raise_flag("AB", office.s.items["a"], "insult")
    page = _html(ab.get(f"/archivist/flags/{flag_id}"))
    assert 'id="own-flag"' in page
    r, done = sign(ab, office.keys["AB"], "flag-confirm",
                   {"flag": flag_id, "understood": "1"}, f"/archivist/flags/{flag_id}")
    assert r.status_code == 403 and done is None
    assert "另一名" in r.get_json()["text"]
    assert office.flag(flag_id)["state"] == "unconfirmed"
    refusals = [e for e in office.archive.catalog.ledger_entries() if e.action == "refused"]
    assert refusals and refusals[-1].actor == "AB"
    assert refusals[-1].details.get("attempted") == "flag confirm"


def test_the_raiser_withdraws_an_unconfirmed_flag(office):
    office.person("A1")
    flag_id = office.raise_flag("A1", office.s.items["a"], "complaint")
    _, done = sign(office.clients["A1"], office.keys["A1"], "flag-withdraw",
                   {"flag": flag_id, "note": "误报"}, f"/archivist/flags/{flag_id}")
    assert done.status_code == 200, done.get_json()
    doc = office.flag(flag_id)
    assert doc["state"] == "withdrawn" and doc["withdrawn_by"] == "A1"
    assert office.problems() == set()


def test_a_flag_for_another_reason_needs_a_note_and_an_unknown_item_is_refused(office):
    a1 = office.person("A1")
    r, done = sign(a1, office.keys["A1"], "flag",
                   {"item": office.s.items["a"], "reason": "other", "note": ""},
                   "/archivist/flags")
    assert r.status_code == 400 and done is None
    r, _ = sign(a1, office.keys["A1"], "flag",
                {"item": office.s.items["a"], "reason": "bored"}, "/archivist/flags")
    assert r.status_code == 400
    r, _ = sign(a1, office.keys["A1"], "flag", {"item": "no-such", "reason": "complaint"},
                "/archivist/flags")
    assert r.status_code == 404
    assert a1.get("/archivist/flags/new?item=no-such").status_code == 400
    assert not office.entries("flag")


# --- who may: the wrong role, no session, no CSRF token -----------------------------------
def test_each_decision_is_refused_to_the_wrong_role(office):
    office.person("A1")
    officer = office.person("O1")
    a2 = office.person("A2")  # an archivist, not the approver who confirms
    office.import_cases("A1", HEADER + "SJ-1,general,market-001,2026-01-05,,,\n")
    flag_id = office.raise_flag("A1", office.s.items["a"])
    for path in ("/archivist/cases", "/archivist/cases/import", "/archivist/cases/SJ-1",
                 "/archivist/flags", f"/archivist/flags/{flag_id}"):
        assert officer.get(path).status_code == 403, path
    key = office.keys["O1"]
    for name, fields in (("case-register", {"upload": "x"}),
                         ("case-link", {"case": "SJ-1", "items": [office.s.items["a"]]}),
                         ("case-close", {"case": "SJ-1", "closed": _today()}),
                         ("flag", {"item": office.s.items["a"], "reason": "complaint"})):
        r, done = sign(officer, key, name, fields, "/search")
        assert r.status_code == 403 and done is None, name
        assert r.get_json()["error"] == "role"
    # confirm and withdraw: the service refuses whoever lacks the unit's confirming role
    for name in ("flag-confirm", "flag-withdraw"):
        r, done = sign(a2, office.keys["A2"], name, {"flag": flag_id, "understood": "1"},
                       "/archivist/flags")
        assert r.status_code == 403 and done is None, name
    page = _html(a2.get(f"/archivist/flags/{flag_id}"))
    assert 'data-decision="flag-confirm"' not in page
    assert office.flag(flag_id)["state"] == "unconfirmed"
    assert office.case("SJ-1").get("closed") is None and not office.entries("case-link")


def test_without_a_session_nothing_opens_and_nothing_is_signed(office):
    office.person("A1")
    flag_id = office.raise_flag("A1", office.s.items["a"])
    stranger = office.app.test_client()
    assert stranger.get("/archivist/cases").status_code == 302
    assert stranger.get(f"/archivist/flags/{flag_id}").status_code == 302
    token = token_of(stranger)
    for name in ("case-register", "case-link", "case-close", "flag", "flag-confirm",
                 "flag-withdraw"):
        r = post_json(stranger, f"/sign/{name}/begin", {"flag": flag_id}, token)
        assert r.status_code == 401, name
    r = stranger.post("/archivist/cases/import", data={
        "csrf_token": token, "register": (io.BytesIO(b"id\n"), "r.csv")},
        content_type="multipart/form-data")
    assert r.status_code == 401
    assert office.flag(flag_id)["state"] == "unconfirmed"


def test_without_a_csrf_token_nothing_is_uploaded_or_signed(office):
    a1 = office.person("A1")
    b1 = office.person("B1")
    flag_id = office.raise_flag("A1", office.s.items["a"])
    r = a1.post("/archivist/cases/import", data={
        "register": (io.BytesIO((HEADER + "SJ-1,general,market-001,,,,\n").encode()),
                     "r.csv")}, content_type="multipart/form-data")
    assert r.status_code == 400
    with a1.session_transaction() as sess:
        assert "cases:upload" not in sess
    r = post_json(b1, "/sign/flag-confirm/begin", {"flag": flag_id, "understood": "1"})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    # a finish posted without the token is refused as well, even with a begun decision
    token = token_of(b1, f"/archivist/flags/{flag_id}")
    begun = post_json(b1, "/sign/flag-confirm/begin", {"flag": flag_id, "understood": "1"},
                      token)
    assert begun.status_code == 200
    answer = office.keys["B1"].get(begun.get_json()["options"], "http://localhost:8443")
    r = post_json(b1, "/sign/flag-confirm/finish", {"credential": answer})
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    assert office.flag(flag_id)["state"] == "unconfirmed"


def test_the_pages_read_in_chinese(chinese, office):
    import re

    a1 = office.person("A1")
    b1 = office.person("B1")
    office.import_cases("A1", HEADER + "SJ-1,general,market-001,2026-01-05,,,\n")
    flag_id = office.raise_flag("A1", office.s.items["a"], "obstruction")
    pages = [a1.get(p) for p in ("/archivist/cases", "/archivist/cases/import",
                                 "/archivist/cases/SJ-1?q=赵六", "/archivist/flags",
                                 f"/archivist/flags/new?item={office.s.items['b']}")]
    pages.append(office.upload(a1, HEADER + "SJ-2,general,nowhere-001,,,,\n"))
    pages.append(b1.get(f"/archivist/flags/{flag_id}"))
    for r in pages:
        html = _html(r)
        text = re.sub(r"<[^>]+>", " ", html.split("<main>", 1)[1])
        assert not english_phrases(text, ("COMPLIANCE", "MiB", "UTF-8", "JSON", "CSV",
                                                "id,type,unit,opened,closed")), \
            english_phrases(text)
