"""Appraisal and disposal at the console, through the Flask test client with software passkeys:
what is due and a rehearsal that changes nothing, a proposal, appraisers who approve with a
per-item rejection, witnesses, the execution with its tick box, the 鉴定意见 and 销毁清册 shown
and as PDF, and every refusal (wrong role, the proposer appraising or witnessing, the same
appraiser or witness twice, executing before the approvals and witnesses, no session, no CSRF
token). Items expire for real: recorded in January 2025 (routine: long over), their store
locks run out a few seconds after they are archived."""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from archive.catalog.base import Query
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.passkeys import service as passkeys
from archive.worm.local import LocalWormStore
from tests.support.access import add_person
from tests.support.archives import make_archive
from tests.support.authenticator import Authenticator
from tests.support.console import console_app, enroll, post_json, sign, sign_in, token_of
from tests.support.worm import release_all_for_tests

OLD = datetime(2025, 1, 2, 1, 0, tzinfo=timezone.utc)
LOCK_S = 6
TEAM = {"AR1": ["archivist"], "AR2": ["archivist"], "AP1": ["approver"], "AP2": ["approver"],
        "AU1": ["auditor"], "AU2": ["auditor"], "OF1": ["officer"]}


class Office:
    def __init__(self, tmp_path):
        store = LocalWormStore(tmp_path / "worm", immutable=False)
        self.s = make_archive(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"), store)
        for pid, roles in TEAM.items():
            add_person(self.s, pid, roles)
        until = datetime.now(timezone.utc) + timedelta(seconds=LOCK_S)
        self.items = [self._old(n, party, until)
                      for n, party in enumerate(("王五", "赵六", "钱七"))]
        self.fresh = self.s.archive.archive_stream(
            [os.urandom(900)], Description(kind="video", unit="market-001", device_id="DSJ-1",
                                           officers=["OF1"], recorded_start=datetime.now(
                                               timezone.utc) - timedelta(hours=1),
                                           party="孙八"),
            self.s.actor, datetime.now(timezone.utc) + timedelta(days=200)).item.id
        self.archive = passkeys.attach(self.s.archive, tmp_path / "home")
        self.app = console_app(tmp_path / "home", self.archive)
        self.clients, self.keys = {}, {}
        self.ready = time.monotonic() + LOCK_S + 0.5

    def _old(self, n: int, party: str, until: datetime) -> str:
        start = OLD + timedelta(minutes=n)
        d = Description(kind="video", unit="market-001", device_id="DSJ-1", officers=["OF1"],
                        recorded_start=start, recorded_end=start + timedelta(minutes=5),
                        party=party, cause="无照经营")
        item = self.s.archive.archive_stream([os.urandom(1500)], d, self.s.actor, until).item
        item.ingested_at = OLD + timedelta(days=1)
        self.s.archive.catalog.save_state(item)
        return item.id

    def person(self, pid: str):
        client = self.app.test_client()
        self.keys[pid] = Authenticator()
        enroll(client, self.archive, self.s.actor, pid, self.keys[pid])
        assert sign_in(client, self.keys[pid]).status_code == 200
        self.clients[pid] = client
        return client

    def sign(self, pid: str, name: str, fields: dict, page: str):
        return sign(self.clients[pid], self.keys[pid], name, fields, page)

    def expired(self) -> None:
        time.sleep(max(0.0, self.ready - time.monotonic()))

    def ledger(self) -> list:
        return list(self.archive.catalog.ledger_entries(1))


@pytest.fixture
def office(tmp_path):
    o = Office(tmp_path)
    for pid in TEAM:
        o.person(pid)
    o.expired()
    yield o
    o.app.extensions["custody"].close()
    release_all_for_tests(tmp_path)


def _html(r) -> str:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:2000])
    return r.get_data(as_text=True)


def _refused(begun, status: int, text: str) -> None:
    begin, finish = begun
    assert finish is None and begin.status_code == status, (begin.status_code,
                                                            begin.get_json())
    assert text in begin.get_json()["message"], begin.get_json()


def _done(begun) -> str:
    begin, finish = begun
    assert begin.status_code == 200, begin.get_json()
    assert finish.status_code == 200, finish.get_json()
    return finish.get_json()["next"]


def _list_of(next_url: str) -> str:
    m = re.match(r"^/archivist/disposal/(D[0-9a-f-]+)", next_url)
    assert m, next_url
    return m.group(1)


def test_rehearsal_then_a_disposal_with_appraisal_a_rejected_item_and_witnesses(office):
    o = office
    ar1 = o.clients["AR1"]
    page = _html(ar1.get("/archivist/disposal"))
    assert "3 items are expired and unheld" in page or "3 件" in page
    for item in o.items:
        assert f'data-item="{item}"' in page
    assert f'data-item="{o.fresh}"' not in page

    # a rehearsal a year on: the fresh item too, and nothing recorded or changed
    before = (len(o.ledger()), o.archive.catalog.list_records("disposals"))
    later = (datetime.now(timezone.utc) + timedelta(days=400)).date().isoformat()
    page = _html(ar1.get(f"/archivist/disposal?as_of={later}"))
    assert 'id="rehearsal-notice"' in page and "4 items would be proposed" in page
    assert f'data-item="{o.fresh}"' in page
    assert (len(o.ledger()), o.archive.catalog.list_records("disposals")) == before

    list_id = _list_of(_done(o.sign("AR1", "dispose-propose", {}, "/archivist/disposal")))
    page_url = f"/archivist/disposal/{list_id}"
    page = _html(ar1.get(page_url))
    assert "待鉴定" in page and 'id="take-out-form"' in page and 'id="approve-form"' not in page

    # the first appraiser keeps one item, with a reason
    kept = o.items[1]
    assert 'id="approve-form"' in _html(o.clients["AP1"].get(page_url))
    _done(o.sign("AP1", "dispose-approve",
                 {"list": list_id, "reject": [kept], f"reason-{kept}": "仍有保存价值",
                  "note": "其余同意"}, page_url))
    page = _html(o.clients["AP1"].get(page_url))
    assert 'id="approve-form"' not in page and "仍有保存价值" in page
    _done(o.sign("AP2", "dispose-approve", {"list": list_id}, page_url))
    assert "已鉴定同意销毁" in _html(ar1.get(page_url))

    for pid in ("AU1", "AU2"):
        assert 'id="witness-form"' in _html(o.clients[pid].get(page_url))
        _done(o.sign(pid, "dispose-witness", {"list": list_id}, page_url))

    # the execution page says it plainly and lists every item to be destroyed
    page = _html(o.clients["AR2"].get(f"{page_url}/execute"))
    assert "forever" in page or "永久" in page
    assert 'name="confirm"' in page and page.count('name="witnesses"') == 2
    for item in (o.items[0], o.items[2]):
        assert f'data-item="{item}"' in page
    nxt = _done(o.sign("AR2", "dispose-execute",
                       {"list": list_id, "witnesses": ["AU1", "AU2"], "confirm": "yes"},
                       f"{page_url}/execute"))
    assert nxt.startswith(page_url)
    states = {i.id: i.status for i in o.archive.catalog.iter_items(Query())}
    assert states[o.items[0]] == states[o.items[2]] == "disposed"
    assert states[kept] == "archived" and states[o.fresh] != "disposed"

    page = _html(ar1.get(page_url))
    assert "已执行销毁" in page and 'id="register-link"' in page
    register = _html(ar1.get(f"/documents/disposal-register/{list_id}"))
    assert "销毁清册" in register and "仍有保存价值" in register
    pdf = ar1.get(f"/documents/disposal-register/{list_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    # the appraisal opinion: issued from the page, shown, and its PDF
    r = o.clients["AP1"].post(f"{page_url}/documents/appraisal-opinion",
                              data={"csrf_token": token_of(o.clients["AP1"], page_url)})
    assert r.status_code == 302 and r.headers["Location"].endswith(
        f"/documents/appraisal-opinion/{list_id}")
    opinion = _html(o.clients["AP1"].get(f"/documents/appraisal-opinion/{list_id}"))
    assert "鉴定意见" in opinion and "仍有保存价值" in opinion
    pdf = o.clients["AP1"].get(f"/documents/appraisal-opinion/{list_id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    report = o.archive.verify_ledger().to_dict()
    assert report["ok"], report["problems"]
    assert report["attested"]["passkey_signed"] >= 6
    signed = {e.action for e in o.ledger() if e.action.startswith("dispose-")}
    assert signed == {"dispose-propose", "dispose-approve", "dispose-witness",
                      "dispose-execute"}


def test_every_decision_is_refused_to_the_wrong_person_without_session_or_csrf(office):
    o = office
    # nothing but the reader roles opens the pages
    r = o.clients["OF1"].get("/archivist/disposal")
    assert r.status_code == 403 and "role" in r.get_data(as_text=True)
    assert o.clients["OF1"].get("/archivist/disposal/D0").status_code == 403
    _refused(o.sign("AP1", "dispose-propose", {}, "/search"), 403, "role")
    _refused(o.sign("OF1", "dispose-propose", {}, "/search"), 403, "role")

    list_id = _list_of(_done(o.sign("AR1", "dispose-propose", {}, "/archivist/disposal")))
    page = f"/archivist/disposal/{list_id}"
    one = o.items[0]
    # nothing to execute yet: the page offers no form
    early = _html(o.clients["AR2"].get(f"{page}/execute"))
    assert 'id="execute-form"' not in early and 'id="not-approved"' in early
    # the proposer does not appraise, another role does not, an archivist not either
    _refused(o.sign("AR1", "dispose-approve", {"list": list_id}, page), 403, "other people")
    _refused(o.sign("AU1", "dispose-approve", {"list": list_id}, page), 403, "approver")
    _refused(o.sign("AR2", "dispose-reject", {"list": list_id, "reason": "x"}, page), 403,
             "approver")
    # a rejection needs its reason; an item not on the list is refused
    _refused(o.sign("AP1", "dispose-approve", {"list": list_id, "reject": [one]}, page), 400,
             "needs a reason")
    _refused(o.sign("AP1", "dispose-approve",
                    {"list": list_id, "reject": [o.fresh], f"reason-{o.fresh}": "x"}, page),
             400, "not on list")
    _refused(o.sign("AP1", "dispose-reject", {"list": list_id, "reason": " "}, page), 400,
             "needs a reason")
    # only the proposer takes items out
    _refused(o.sign("AR2", "dispose-take-out",
                    {"list": list_id, "items": [one], "reason": "x"}, page), 403, "only they")
    # the same appraiser twice
    _done(o.sign("AP1", "dispose-approve", {"list": list_id}, page))
    _refused(o.sign("AP1", "dispose-approve", {"list": list_id}, page), 400,
             "already appraised")
    # executing before the approvals, then before the witnesses
    fields = {"list": list_id, "witnesses": ["AU1", "AU2"], "confirm": "yes"}
    _refused(o.sign("AR2", "dispose-execute", fields, page), 403,
             "1 valid appraisal approvals of 2")
    _done(o.sign("AP2", "dispose-approve", {"list": list_id}, page))
    _refused(o.sign("AR2", "dispose-execute", fields, page), 403, "has not signed")
    # the proposer does not witness; a witness signs once
    _refused(o.sign("AR1", "dispose-witness", {"list": list_id}, page), 403, "cannot witness")
    _refused(o.sign("OF1", "dispose-witness", {"list": list_id}, page), 403, "role")
    _done(o.sign("AU1", "dispose-witness", {"list": list_id}, page))
    _refused(o.sign("AU1", "dispose-witness", {"list": list_id}, page), 403, "already signed")
    # one witness named twice is one witness
    _refused(o.sign("AR2", "dispose-execute", fields | {"witnesses": ["AU1", "AU1"]}, page),
             403, "needs 2 witnesses")
    _done(o.sign("AU2", "dispose-witness", {"list": list_id}, page))
    # the executor is no witness; the tick box is needed; an officer does not execute
    _refused(o.sign("AR2", "dispose-execute", fields | {"witnesses": ["AR2", "AU1"]}, page),
             403, "cannot witness")
    _refused(o.sign("AR2", "dispose-execute", fields | {"confirm": ""}, page), 400, "tick")
    _refused(o.sign("OF1", "dispose-execute", fields, page), 403, "role")
    assert o.clients["OF1"].get(f"{page}/execute").status_code == 403

    # no session: refused before anything, nothing signed
    stranger = o.app.test_client()
    r = post_json(stranger, "/sign/dispose-execute/begin", fields, token_of(stranger))
    assert r.status_code == 401
    assert stranger.get(page).status_code == 302
    # no CSRF token: refused, for a decision and for a document print
    ar2 = o.clients["AR2"]
    r = post_json(ar2, "/sign/dispose-execute/begin", fields)
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    r = ar2.post(f"{page}/documents/appraisal-opinion", data={})
    assert r.status_code == 400 and 'data-code="csrf"' in r.get_data(as_text=True)
    assert all(i.status != "disposed" for i in o.archive.catalog.iter_items(Query()))

    # the refusals of who is acting are recorded, and the ledger verifies
    refused = [e for e in o.ledger() if e.action == "refused"]
    assert len(refused) >= 8
    report = o.archive.verify_ledger().to_dict()
    assert report["ok"], report["problems"]
    # after all that, the execution goes through
    _done(o.sign("AR2", "dispose-execute", fields, page))
    assert {i.status for i in o.archive.catalog.iter_items(Query())
            if i.id in o.items} == {"disposed"}
