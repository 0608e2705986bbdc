"""The year's cycle at a glance through the Flask test client: the phase, each unit's
deadlines with the days left, every blocker with its count, its items (by 题名, masked) and
the page that clears it -- pending metadata, an open case, an unconfirmed flag, a permanent
item not on a disc -- the count dropping once the pending item is completed with the passkey,
the replication job started from the page and run (the same service as ``custody
replicate``), and the refusals: wrong role, no session, no CSRF token, another archivist's
replication already queued."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest

import bootstrap
from retention import cases, flags
from tests.support.access import add_person
from tests.support.archivist_desk import SH, Desk, item, title_of
from tests.support.console import JSON, sign, token_of
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests
from working import jobs as jobs_mod
from working.jobs import Jobs

YEAR = 2025


@pytest.fixture
def desk(tmp_path):
    d = Desk(tmp_path, replica=tmp_path / "replica")
    yield d
    d.close()
    release_all_for_tests(tmp_path)


def _html(r, status: int = 200) -> str:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[-2000:])
    return r.get_data(as_text=True)


def _blockers(page: str) -> dict[str, int]:
    return {code: int(n) for code, n in re.findall(
        r'<tr data-blocker="([^"]+)">.*?data-count="(\d+)"', page, re.S)}


def _row(page: str, code: str) -> str:
    return re.search(rf'<tr data-blocker="{code}">.*?</tr>', page, re.S).group(0)


def _held_up(desk) -> dict:
    """An open case with an item of the year, an unconfirmed flag on another, a third item
    flagged and confirmed (permanent, on no disc yet)."""
    engine = bootstrap.retention_engine(desk.archive, desk.settings)
    a1, b1 = desk.actors["A1"], add_person(desk.s, "B1", ["approver"])
    register = desk.s.key_dir.parent / "cases.csv"
    register.write_text("id,type,unit,opened\nC-2025-1,general,market-001,2025-04-01\n",
                        encoding="utf-8")
    cases.import_register(engine, a1, register)
    in_case = item(desk.s, 3, case_id="C-2025-1")
    flagged = item(desk.s, 4, activity_id="ACT-4")
    flags.raise_flag(engine, a1, flagged.id, "complaint")
    permanent = item(desk.s, 5, activity_id="ACT-5")
    doc = flags.raise_flag(engine, a1, permanent.id, "litigation")
    flags.confirm(engine, b1, doc["id"])
    assert desk.archive.item(permanent.id).tier == "permanent"
    return {"case": in_case.id, "flag": flagged.id, "permanent": permanent.id}


def test_the_year_at_a_glance_with_its_blockers_and_deadlines(desk):
    ids = _held_up(desk)
    a1 = desk.person("A1")
    page = _html(a1.get(f"/archivist/cycle?year={YEAR}"))
    assert 'data-phase="handover-due"' in page  # 2025 is over and nothing was handed over
    counts = _blockers(page)
    assert counts["pending-metadata"] == 1 and counts["open-cases"] == 1
    assert counts["unconfirmed-flags"] == 1 and counts["not-on-disc"] == 1
    assert "no-transfer" in counts
    # each blocker links its items and the page that clears it
    assert 'href="/archivist/pending"' in _row(page, "pending-metadata")
    assert 'href="/archivist/cases"' in _row(page, "open-cases")
    assert 'href="/archivist/flags"' in _row(page, "unconfirmed-flags")
    assert 'href="/archivist/discs"' in _row(page, "not-on-disc")
    assert 'href="/archivist/transfer"' in _row(page, "no-transfer")
    for code, item_id in (("pending-metadata", desk.pending.id), ("open-cases", ids["case"]),
                          ("unconfirmed-flags", ids["flag"]),
                          ("not-on-disc", ids["permanent"])):
        assert f'href="/archivist/cycle/{YEAR}/{code}"' in _row(page, code)
        listed = _html(a1.get(f"/archivist/cycle/{YEAR}/{code}"))
        assert re.findall(r'<tr data-item="([^"]+)"', listed) == [item_id]
        assert title_of(desk, item_id) in listed
    # the deadlines of market-001, in its zone, with the whole days left (negative: overdue)
    today = datetime.now(timezone.utc).astimezone(SH).date()
    for kind, last in (("handover", date(YEAR + 1, 3, 1) - timedelta(days=1)),
                       ("archiving", date(YEAR + 1, 6, 30))):
        row = re.search(rf'<tr data-deadline="{kind}" data-unit="market-001">.*?</tr>', page,
                        re.S).group(0)
        assert last.isoformat() in row and "Asia/Shanghai" in row
        assert f'data-days="{(last - today).days}"' in row
    # without a year: the last one over in the archive's zone, whose cycle is under way
    assert f'name="year" min="1900" max="9999" value="{today.year - 1}"' in _html(
        a1.get("/archivist/cycle"))
    # a year still being collected: its deadlines ahead
    ahead = _html(a1.get(f"/archivist/cycle?year={today.year}"))
    assert 'data-phase="collecting"' in ahead
    days = [int(n) for n in re.findall(r'data-days="(-?\d+)"', ahead)]
    assert days and all(n > 0 for n in days)


def test_completing_the_pending_item_drops_its_blocker(desk):
    a1 = desk.person("A1")
    before = _blockers(_html(a1.get(f"/archivist/cycle?year={YEAR}")))
    assert before["pending-metadata"] == 1
    _, done = sign(a1, desk.keys["A1"], "metadata-complete",
                   {"item": desk.pending.id, "officer_id": "O1"},
                   f"/archivist/pending/{desk.pending.id}")
    assert done is not None and done.status_code == 200, done.get_json()
    after = _blockers(_html(a1.get(f"/archivist/cycle?year={YEAR}")))
    assert "pending-metadata" not in after
    assert _html(a1.get(f"/archivist/cycle/{YEAR}/pending-metadata")).count("data-item=") == 0


def test_a_confidential_item_is_listed_masked(desk):
    secret = item(desk.s, 9, officers=[], party="吴十", confidential="state-secret")
    a1 = desk.person("A1")
    listed = _html(a1.get(f"/archivist/cycle/{YEAR}/pending-metadata"))
    assert secret.id in listed and "吴十" not in listed and "***" in listed


def test_replicate_now_runs_the_replication_job(desk, monkeypatch):
    spawned = []
    monkeypatch.setattr(jobs_mod, "spawn", lambda argv, log: spawned.append(argv))
    a1 = desk.person("A1")
    page = _html(a1.get(f"/archivist/cycle?year={YEAR}"))
    assert 'id="replicate-button"' in page
    r = a1.post("/archivist/cycle/replicate", data={"csrf_token": token_of(a1, "/archivist/cycle")})
    assert r.status_code == 303
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    assert len(spawned) == 1 and job_id in spawned[0]
    jobs = Jobs(desk.app.extensions["custody"].state)
    job = jobs.get(job_id)
    assert (job["kind"], job["scope"], job["status"]) == ("replicate", "replica", "queued")
    # pressing again gives back the same job; another archivist is refused while it waits
    again = a1.post("/archivist/cycle/replicate",
                    data={"csrf_token": token_of(a1, "/archivist/cycle")})
    assert again.headers["Location"].endswith(job_id) and len(spawned) == 1
    a2 = desk.person("A2")
    refused = a2.post("/archivist/cycle/replicate",
                      data={"csrf_token": token_of(a2, "/archivist/cycle")}, headers=JSON)
    assert refused.status_code == 403 and refused.get_json()["error"] == "job-refused"
    # the runner: the same service as `custody replicate`, acting as A1
    ran = jobs_mod.run(jobs, job_id, lambda: desk.archive, lambda archive, job: desk.actors["A1"],
                       {"settings": desk.settings})
    assert ran["status"] == "done", (ran["error"], ran["note"])
    result = ran["result"]
    assert result["items_copied"] == 2 and result["versions"]["failed"] == 0
    assert ran["done"] > 0 and ran["total"] >= ran["done"]
    assert any(p.is_file() for p in (desk.s.key_dir.parent / "replica").rglob("*"))
    entries = [e for e in desk.archive.catalog.ledger_entries(1) if e.actor == "A1"]
    assert entries, "the replication is recorded as A1's"
    shown = _html(a1.get(f"/jobs/{job_id}"))
    assert "Replication" in shown and 'href="/archivist/cycle"' in shown  # its result page
    last = re.search(r'<p id="last-replication" data-status="done">.*?</p>',
                     _html(a1.get("/archivist/cycle")), re.S).group(0)
    assert "名A1（A1）" in last and "2 items" in last and "0 failed" in last
    assert _html(a2.get(f"/jobs/{job_id}"))  # archivists follow it (the kind's viewers)


def test_refusals_wrong_role_no_session_no_csrf_bad_year(desk, monkeypatch):
    monkeypatch.setattr(jobs_mod, "spawn", lambda argv, log: None)
    officer = desk.person("O1")
    assert officer.get(f"/archivist/cycle?year={YEAR}").status_code == 403
    assert officer.get(f"/archivist/cycle/{YEAR}/pending-metadata").status_code == 403
    r = officer.post("/archivist/cycle/replicate",
                     data={"csrf_token": token_of(officer, "/search")})
    assert r.status_code == 403
    stranger = desk.app.test_client()
    r = stranger.get("/archivist/cycle")
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
    r = stranger.post("/archivist/cycle/replicate", data={"csrf_token": token_of(stranger)})
    assert r.status_code == 401
    a1 = desk.person("A1")
    assert a1.post("/archivist/cycle/replicate").status_code == 400  # no CSRF token
    assert _html(a1.get("/archivist/cycle?year=twenty"), 400)
    assert _html(a1.get(f"/archivist/cycle/{YEAR}/no-such-blocker"), 400)
    assert Jobs(desk.app.extensions["custody"].state).list(limit=10) == []


def test_the_page_reads_chinese(chinese, desk):  # noqa: F811
    a1 = desk.person("A1")
    for path in (f"/archivist/cycle?year={YEAR}", f"/archivist/cycle/{YEAR}/pending-metadata"):
        words = re.sub(r"<[^>]+>", " ", _html(a1.get(path)).split("<main>", 1)[1])
        assert english_phrases(words) == [], (path, english_phrases(words))
