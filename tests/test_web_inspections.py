"""Playback inspection (回放检查) and the inspection ledger (检查台帐) at the console, through the
Flask test client with software passkeys: the auditor's sample with its play links, a finding
signed with the passkey that then holds its item from a disposal proposal until a signed
resolution, the ledger's filters and its printable 检查台帐, and the refusals (wrong role, a
recording the auditor could not watch, no session, no CSRF token, a finding resolved twice)."""

from __future__ import annotations

import re

import pytest

from tests.support.audit_console import AuditConsole, act, sampled_verification
from tests.support.cli import run_json
from tests.support.console import JSON, post_json, sign, token_of


@pytest.fixture
def web(tmp_path, monkeypatch):
    c = AuditConsole(tmp_path, monkeypatch)
    yield c
    c.close()


def _held(web) -> set[str]:
    """What a disposal proposal two years on holds back because of a finding (a rehearsal at
    the command line, by the archivist)."""
    act(web.mp, "AR1")
    try:
        doc = run_json("dispose", "propose", "--as-of", "2029-01-01")
    finally:
        act(web.mp, None)
    return {h["item"] for h in doc["held"]}


def _finding(web, client, item: str, finding: str, note: str = ""):
    return sign(client, web.keys["A1"], "inspection-finding",
                {"item": item, "finding": finding, "note": note,
                 "back": "/audit/playback?inspection=x"}, "/audit/playback")


def test_a_playback_finding_holds_the_item_from_a_disposal_proposal(web):
    ids = web.ids
    sample = sampled_verification(web.mp)
    a1 = web.browser("A1")
    page = a1.get("/audit/playback")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script>" not in html and " style=" not in html  # CSP: nothing inline
    # the sample's recordings, each with the one player under the auditor's inspection
    for name in ("a", "b", "d"):
        assert (f'id="play-{ids[name]}" href="/media/{ids[name]}?inspection={sample["id"]}"'
                in html)
        assert f'id="finding-{ids[name]}"' in html
    # the confidential one: masked title, no play, no finding (A1 holds no clearance)
    row_c = re.search(rf'<tr id="rec-{ids["c"]}">(.*?)</tr>', html, re.S).group(1)
    assert "钱七" not in row_c and "play-" not in row_c and "finding-" not in row_c
    assert "王五" in html  # the others' titles read in full
    # the play link opens the media page, which offers the registered view
    start = a1.get(f"/media/{ids['a']}?inspection={sample['id']}").get_data(as_text=True)
    assert 'id="open-view"' in start and f'value="{sample["id"]}"' in start

    assert _held(web) == set()
    begun, done = _finding(web, a1, ids["a"], "no-notice", "未告知当事人正在录像")
    assert begun.status_code == 200, begun.get_json()
    signed = begun.get_json()["decision"]
    assert signed["action"] == "inspection"
    assert signed["details"]["finding_zh"] == "未事先告知当事人"
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["next"] == "/audit/playback?inspection=x"
    (record,) = web.archive.catalog.list_records("inspections", type="conduct-check")
    assert (record["id"], record["items"], record["by"], record["note"]) == (
        signed["subject"], [ids["a"]], "A1", "未告知当事人正在录像")
    entry = web.ledger("inspection")[-1]
    assert entry.subject == record["id"] and entry.details["console"]["decision"] == signed
    # the sample page now shows the finding open
    assert "未事先告知当事人（not resolved）" in a1.get("/audit/playback").get_data(as_text=True)

    # the open finding holds the item from disposal; the others are not held
    assert _held(web) == {ids["a"]}

    ledger = a1.get("/audit/ledger").get_data(as_text=True)
    row = re.search(rf'<tr id="row-{record["id"]}"[^>]*>(.*?)</tr>', ledger, re.S).group(1)
    assert "王五" in row and "执法员甲（O1）" in row and "审计员甲（A1）" in row
    assert 'data-decision="inspection-resolve"' in row

    # another auditor resolves it, signed; then nothing holds the item
    a2 = web.browser("A2")
    begun, done = sign(a2, web.keys["A2"], "inspection-resolve",
                       {"inspection": record["id"], "note": "已约谈执法人员"}, "/audit/ledger")
    assert begun.status_code == 200 and done.status_code == 200, begun.get_json()
    assert _held(web) == set()
    resolved = web.archive.catalog.get_record("inspections", record["id"])["resolution"]
    assert (resolved["by"], resolved["note"]) == ("A2", "已约谈执法人员")
    # resolving again is refused before the passkey
    again, nothing = sign(a2, web.keys["A2"], "inspection-resolve",
                          {"inspection": record["id"], "note": "again"}, "/audit/ledger")
    assert again.status_code == 400 and nothing is None
    assert "resolved already" in again.get_json()["message"]
    # both decisions verify offline as passkey-signed
    audit = run_json("audit", "verify", code=0)
    assert audit["ok"] is True, audit


def test_finding_refusals(web):
    ids = web.ids
    sampled_verification(web.mp)
    o1, l1, a1 = web.browser("O1"), web.browser("L1"), web.browser("A1")
    # wrong role: an officer gets neither the page nor the decision; 法制股 reads the ledger
    # but records and resolves nothing
    assert o1.get("/audit/playback").status_code == 403
    assert o1.get("/audit/ledger").status_code == 403
    assert l1.get("/audit/playback").status_code == 403
    ledger = l1.get("/audit/ledger")
    assert ledger.status_code == 200
    assert 'id="print-ledger"' not in ledger.get_data(as_text=True)
    for client in (o1, l1):
        token = token_of(client, "/search")
        r = post_json(client, "/sign/inspection-finding/begin",
                      {"item": ids["a"], "finding": "other"}, token)
        assert r.status_code == 403 and r.get_json()["error"] == "role"
    # no session: sent to sign in, or refused
    anonymous = web.app.test_client()
    r = anonymous.get("/audit/playback")
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
    r = anonymous.get("/audit/ledger", headers=JSON)
    assert r.status_code == 401
    # no CSRF token: refused before anything is prepared
    r = a1.post("/sign/inspection-finding/begin", json={"item": ids["a"], "finding": "other"},
                headers=JSON)
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    r = a1.post("/audit/ledger/print", data={"from": "2026-01-01"})
    assert r.status_code == 400
    # a finding code the ledger does not know
    begun, done = _finding(web, a1, ids["a"], "bad-manners")
    assert begun.status_code == 400 and done is None
    # a recording outside the auditor's sample: refused before the passkey, and recorded
    refusals = len(web.ledger("access-refused"))
    other = _outside_sample(web)
    begun, done = _finding(web, a1, other, "late-start")
    assert begun.status_code == 403 and done is None, begun.get_json()
    assert "could not watch" in begun.get_json()["message"]
    assert len(web.ledger("access-refused")) == refusals + 1
    # the confidential one in the sample: A1 lacks its clearance
    begun, _ = _finding(web, a1, ids["c"], "late-start")
    assert begun.status_code == 403 and "clearance" in begun.get_json()["message"]
    # nothing was filed by any of it
    assert web.archive.catalog.list_records("inspections", type="conduct-check") == []
    assert web.ledger("inspection-resolved") == []


def _outside_sample(web) -> str:
    """A recording archived after the auditor's sample was drawn."""
    import os
    from datetime import timedelta

    from archive import people
    from archive.domain.model import Description
    from tests.support.audit_console import T0

    d = Description(kind="video", unit="market-001", device_id="D3", officers=["O2"],
                    recorded_start=T0, recorded_end=T0 + timedelta(minutes=5))
    actor = people.acting_person(web.archive.catalog)
    item = web.archive.archive_stream([os.urandom(5000)], d, actor,
                                      web.archive.item(web.ids["a"]).retain_until).item.id
    web.archive.finish_command()
    return item


def test_ledger_filters_and_the_printed_ledger(web):
    ids = web.ids
    sampled_verification(web.mp)
    a1 = web.browser("A1")
    _, done = _finding(web, a1, ids["a"], "late-start", "开始时间晚于现场到达")
    assert done.status_code == 200, done.get_json()
    # a page to return to on another site is not followed: the ledger is shown instead
    _, done = sign(a1, web.keys["A1"], "inspection-finding",
                   {"item": ids["d"], "finding": "no-notice", "back": "//evil.example/x"},
                   "/audit/playback")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["next"].startswith("/audit/ledger?recorded=")
    findings = {r["items"][0]: r["id"] for r in
                web.archive.catalog.list_records("inspections", type="conduct-check")}
    sampled = web.archive.catalog.list_records("inspections", type="sampled-verification")

    def shown(query: str = "") -> set[str]:
        page = a1.get("/audit/ledger" + query)
        assert page.status_code == 200
        return set(re.findall(r'<tr id="row-([^"]+)"', page.get_data(as_text=True)))

    everything = set(findings.values()) | {s["id"] for s in sampled}
    assert shown() == everything
    assert shown("?officer=O1") == {findings[ids["a"]]}
    assert shown("?finding=no-notice") == {findings[ids["d"]]}
    assert shown("?unit=market-001&state=open") == set(findings.values())
    assert shown("?state=resolved") == set()
    assert shown("?unit=urban-001") == set()
    assert shown("?from=2020-01-01&to=2020-12-31") == set()
    bad = a1.get("/audit/ledger?from=yesterday")
    assert bad.status_code == 200 and 'class="error"' in bad.get_data(as_text=True)

    # the printable 检查台帐 of the period: issued, shown, and its signed PDF
    token = token_of(a1, "/audit/ledger")
    r = a1.post("/audit/ledger/print", data={"csrf_token": token})
    assert r.status_code == 303, r.get_data(as_text=True)
    subject = re.search(r"issued=([^&]+)", r.headers["Location"]).group(1)
    page = a1.get(r.headers["Location"]).get_data(as_text=True)
    assert f'href="/documents/inspection-ledger/{subject}.pdf"' in page
    document = a1.get(f"/documents/inspection-ledger/{subject}")
    text = document.get_data(as_text=True)
    assert document.status_code == 200 and "检查台帐" in text
    assert "开始时间晚于现场到达" in text and "未处理" in text
    pdf = a1.get(f"/documents/inspection-ledger/{subject}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    issued = [e for e in web.archive.catalog.ledger_entries() if e.action == "document-issued"]
    assert issued[-1].subject == f"inspection-ledger/{subject}"


def test_without_a_sample_the_page_offers_a_query(web):
    a1 = web.browser("A1")
    html = a1.get("/audit/playback").get_data(as_text=True)
    assert 'id="no-sample"' in html and 'id="playback-query"' in html
    html = a1.get("/audit/playback?mode=query&officer=O1").get_data(as_text=True)
    # found by the query, but A1 has neither a sample nor an approved request: no play
    assert f'id="rec-{web.ids["a"]}"' in html and f'id="rec-{web.ids["d"]}"' not in html
    assert "play-" not in html and "/access/new" in html
