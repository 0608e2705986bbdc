"""The auditor's sampled verification at the console, through the Flask test client with a
software passkey: the GB/T 2828.1 plan shown before anything runs, the background job (run
here in this process, as the runner would), the result with each item's checks and what to
do, the draft report, the report signed with the inspector's passkey into the 检查台帐, the
signed PDF, and every refusal (wrong role, another inspector's draft, twice, no session, no
CSRF token)."""

from __future__ import annotations

import re

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.sampling import draw
from archive.passkeys import service as passkeys
from archive.passkeys.evidence import EVIDENCE
from archive.worm.local import set_immutable
from tests.support.access import access_team, add_person
from tests.support.authenticator import Authenticator
from tests.support.console import (
    JSON,
    console_app,
    enroll,
    post_json,
    sign,
    sign_in,
    token_of,
)
from tests.support.language import chinese  # noqa: F401
from tests.support.worm import release_all_for_tests
from working import jobs as jobs_mod
from working import sampling as sampling_jobs
from working.jobs import Jobs, Progress

HIDDEN = ("李四", "某单位")  # the parties of the confidential items: masked for the auditor
LOT = "unit=market-001"


class Office:
    """The access team's archive (four recordings of market-001, two confidential) with two
    auditors, behind a console; each person with their own client and passkey."""

    def __init__(self, tmp_path, monkeypatch):
        self.s = access_team(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"))
        self.archive = passkeys.attach(self.s.archive, tmp_path / "home")
        add_person(self.s, "A1", ["auditor"])
        add_person(self.s, "A2", ["auditor"])
        self.app = console_app(tmp_path / "home", self.archive)
        self.console = self.app.extensions["custody"]
        self.keys: dict = {}
        self.spawned: list = []
        # the runner is this test (run_job), not a detached process
        monkeypatch.setattr(jobs_mod, "spawn", lambda argv, log: self.spawned.append(argv))

    def person(self, pid: str):
        client = self.app.test_client()
        self.keys[pid] = Authenticator()
        enroll(client, self.archive, self.s.actor, pid, self.keys[pid])
        r = sign_in(client, self.keys[pid])
        assert r.status_code == 200, r.get_json()
        return client

    def jobs(self) -> Jobs:
        return Jobs(self.console.state)

    def run_job(self, job_id: str) -> dict:
        """What ``custody jobs run`` does for a console job: the kind's function, acting as
        the console for the person who started it."""
        jobs = self.jobs()
        job = jobs.claim(job_id)
        actor = passkeys.console_actor(self.archive, job["started_by"],
                                       job["params"]["sign_in"])
        kind = jobs_mod.KINDS[job["kind"]]
        progress = Progress(jobs, job_id)
        result = kind.run(self.archive, actor, job, progress,
                          {"settings": self.console.settings})
        jobs.report(job_id, progress.done, progress.amount, progress.text)  # the last count
        return jobs.end(job_id, "done", result=result)

    def damage(self, item_id: str) -> None:
        item = self.archive.item(item_id)
        obj = item.storage["object"]
        path = self.archive.store._version_path(obj["key"], obj["version_id"])
        set_immutable(path, False)
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.fixture
def office(tmp_path, monkeypatch):
    o = Office(tmp_path, monkeypatch)
    yield o
    o.app.extensions["custody"].close()
    release_all_for_tests(tmp_path)


def _html(r) -> str:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:2000])
    return r.get_data(as_text=True)


def _cell(html: str, cell_id: str) -> str:
    m = re.search(rf'id="{cell_id}">(.*?)</td>', html, re.S)
    assert m, cell_id
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()


def _start(client, **form) -> str:
    token = token_of(client, "/audit/sampling")
    r = client.post("/audit/sampling/start", data={"csrf_token": token} | form)
    assert r.status_code == 303, r.get_data(as_text=True)[:2000]
    assert r.headers["Location"].startswith("/jobs/")
    return r.headers["Location"].rsplit("/", 1)[1]


def _with_failure(office, client) -> tuple[str, str]:
    """A run over the four recordings with the first sampled item's stored bytes damaged:
    (job id, damaged item id)."""
    job_id = _start(client, unit="market-001", level="II")
    job = office.jobs().get(job_id)
    lot = sorted(office.s.items.values())
    drawn = draw(lot, 2, job["params"]["seed"])  # N = 4: code letter A, n = 2
    office.damage(drawn[0])
    office.run_job(job_id)
    return job_id, drawn[0]


def test_the_plan_is_shown_before_anything_runs(office):
    auditor = office.person("A1")
    page = _html(auditor.get("/audit/sampling"))
    assert 'id="lot-form"' in page and 'id="plan"' not in page
    page = _html(auditor.get("/audit/sampling?preview=1&unit=market-001&level=II"))
    assert _cell(page, "plan-lot-size") == "4"
    assert _cell(page, "plan-letter") == "A" and _cell(page, "plan-sample-size") == "2"
    assert _cell(page, "plan-ac-re") == "0 / 1"
    # the lot in words, as the report prints it, not the KEY=VALUE the command line takes
    assert _cell(page, "plan-lot").startswith("单位 ") and "=" not in _cell(page, "plan-lot")
    # level III of the same lot: code letter B, 3 items; an AQL of 4.0 is on its 0/1 row
    page = _html(auditor.get("/audit/sampling?preview=1&unit=market-001&level=III&aql=4"))
    assert _cell(page, "plan-letter") == "B" and _cell(page, "plan-sample-size") == "3"
    assert _cell(page, "plan-aql") == "4.0" and _cell(page, "plan-ac-re") == "0 / 1"
    # the year and unit together (the query custody verify --query takes) read as both
    page = _html(auditor.get("/audit/sampling?preview=1&year=2026&unit=market-001"))
    assert _cell(page, "plan-lot-size") == "4"
    assert _cell(page, "plan-lot").endswith("；2026 年度")
    # nothing was started by looking
    assert office.jobs().list(kind=sampling_jobs.KIND) == [] and office.spawned == []


def test_a_lot_the_plan_cannot_be_made_for_is_refused_on_the_page(office):
    auditor = office.person("A1")
    for query, says in (("year=1999", "the lot is empty"), ("unit=market-001&aql=3", "AQL 3"),
                        ("unit=market-001&query=unit%3Dx", "give the unit once"),
                        ("year=abc", "the year must be a number"), ("", "choose the lot"),
                        ("query=colour%3Dred", "is not KEY=VALUE")):
        page = _html(auditor.get(f"/audit/sampling?preview=1&{query}"))
        assert 'id="sampling-error"' in page and says in page, (query, page[-3000:])
        assert 'id="plan"' not in page
    token = token_of(auditor, "/audit/sampling")
    r = auditor.post("/audit/sampling/start", data={"csrf_token": token, "year": "1999"})
    assert r.status_code == 400 and "the lot is empty" in r.get_data(as_text=True)
    assert office.jobs().list(kind=sampling_jobs.KIND) == [] and office.spawned == []


def test_a_run_with_a_damaged_item_its_result_report_and_signature(office):
    auditor = office.person("A1")
    job_id, damaged = _with_failure(office, auditor)
    assert len(office.spawned) == 1 and office.spawned[0][-1] == job_id
    # the job page links the result
    state = auditor.get(f"/jobs/{job_id}/state").get_json()
    assert state["status"] == "done" and state["result_page"] == f"/audit/sampling/{job_id}"
    assert state["total"] == 2 and state["done"] == 2
    page = _html(auditor.get(f"/audit/sampling/{job_id}"))
    assert 'data-verdict="reject"' in page and "批不合格" in page
    assert f'data-item="{damaged}" data-ok="0"' in page
    assert 'data-problem="digest-mismatch"' in page
    assert "restore from the second copy, keep the failed version as evidence" in page
    assert "custody verify --query" in page  # the full check a rejected lot calls for
    for value in HIDDEN:
        assert value not in page
    # nothing is filed yet: a draft, shown as its report will read
    job = office.jobs().get(job_id)
    draft = job["result"]["draft"]
    assert office.archive.catalog.get_record("inspections", draft["id"]) is None
    assert 'id="sign-form"' in page and 'data-decision="sampling-file"' in page
    report = _html(auditor.get(f"/audit/sampling/{job_id}/report"))
    assert "抽样检验报告" in report and "草稿" in report and "批不合格" in report
    assert "script-src 'none'" in auditor.get(f"/audit/sampling/{job_id}/report").headers[
        "Content-Security-Policy"]

    begun, done = sign(auditor, office.keys["A1"], "sampling-file", {"job": job_id},
                       f"/audit/sampling/{job_id}")
    assert begun.status_code == 200, begun.get_json()
    shown = begun.get_json()["decision"]
    assert shown["action"] == "inspection" and shown["subject"] == draft["id"]
    assert shown["details"]["判定"] == "批不合格" and shown["details"]["不合格品数"] == 1
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["next"] == f"/audit/sampling/{job_id}"
    record = office.archive.catalog.get_record("inspections", draft["id"])
    assert record["by"] == "A1" and record["summary"]["failed"] == [damaged]
    assert record["verdict"]["result"] == "reject"
    entries = list(office.archive.catalog.ledger_entries(1))
    filed = [e for e in entries if e.action == "inspection"]
    assert [e.subject for e in filed] == [draft["id"]] and filed[0].actor == "A1"
    assert "decision" in filed[0].details[EVIDENCE]  # signed by A1's passkey
    assert any(e.action == "document-issued" and e.subject == f"sampling-report/{record['id']}"
               for e in entries)
    # the page now shows it filed, with the signed report and its PDF
    page = _html(auditor.get(f"/audit/sampling/{job_id}"))
    assert 'id="filed"' in page and 'id="sign-form"' not in page
    r = auditor.get(f"/audit/sampling/report/{record['id']}")
    assert r.status_code == 302
    assert r.headers["Location"] == f"/documents/sampling-report/{record['id']}"
    official = _html(auditor.get(r.headers["Location"]))
    assert "抽样检验报告" in official and "草稿" not in official
    pdf = auditor.get(f"/documents/sampling-report/{record['id']}.pdf")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-"
    # in the 检查台帐 on the index page
    index = _html(auditor.get("/audit/sampling"))
    assert f'data-inspection="{record["id"]}"' in index
    # the ledger is sound: the decision carries A1's passkey signature
    audit = office.archive.audit()
    assert audit["ledger_ok"], audit["problems"]
    assert audit["attested"]["passkey_signed"] >= 1

    # signed once: a second signature is refused before the passkey
    begun, done = sign(auditor, office.keys["A1"], "sampling-file", {"job": job_id},
                       f"/audit/sampling/{job_id}")
    assert begun.status_code == 400 and done is None
    assert "in the 检查台帐 already" in begun.get_json()["message"]
    assert len([e for e in office.archive.catalog.ledger_entries(1)
                if e.action == "inspection"]) == 1


def test_the_result_reads_in_chinese(chinese, office):  # noqa: F811
    auditor = office.person("A1")
    job_id, _ = _with_failure(office, auditor)
    page = _html(auditor.get(f"/audit/sampling/{job_id}"))
    assert "摘要值不符" in page and "处理措施" in page and "批不合格" in page
    assert "restore from the second copy" not in page  # the action in the reader's language
    index = _html(auditor.get("/audit/sampling?preview=1&unit=market-001"))
    assert "样本量" in index and "Sample size" not in index


def test_another_inspector_follows_but_may_not_sign(office):
    a1 = office.person("A1")
    job_id, _ = _with_failure(office, a1)
    a2 = office.person("A2")
    page = _html(a2.get(f"/audit/sampling/{job_id}"))  # an auditor follows a colleague's run
    assert 'id="not-signed"' in page and 'id="sign-form"' not in page
    before = len(list(office.archive.catalog.ledger_entries(1)))
    begun, done = sign(a2, office.keys["A2"], "sampling-file", {"job": job_id},
                       f"/audit/sampling/{job_id}")
    assert begun.status_code == 403 and done is None, begun.get_json()
    assert "only they sign its report" in begun.get_json()["message"]
    after = list(office.archive.catalog.ledger_entries(1))[before:]
    assert [e.action for e in after] == ["refused"] and after[0].actor == "A2"
    draft = office.jobs().get(job_id)["result"]["draft"]
    assert office.archive.catalog.get_record("inspections", draft["id"]) is None
    # the same lot cannot be started twice at a time by someone else
    token = token_of(a2, "/audit/sampling")
    job2 = _start(a1, unit="market-001", level="III")
    r = a2.post("/audit/sampling/start", data={"csrf_token": token, "unit": "market-001"})
    assert r.status_code == 400 and "one at a time" in r.get_data(as_text=True)
    assert office.jobs().get(job2)["status"] == "queued"


def test_wrong_role_is_refused_everywhere(office):
    auditor = office.person("A1")
    job_id, _ = _with_failure(office, auditor)
    officer = office.person("O1")
    assert officer.get("/audit/sampling").status_code == 403
    assert officer.get(f"/audit/sampling/{job_id}").status_code == 403
    assert officer.get(f"/audit/sampling/{job_id}/report").status_code == 403
    token = token_of(officer, "/search")
    r = officer.post("/audit/sampling/start", data={"csrf_token": token, "unit": "market-001"})
    assert r.status_code == 403
    r = post_json(officer, "/sign/sampling-file/begin", {"job": job_id}, token)
    assert r.status_code == 403 and r.get_json()["error"] == "role"
    # legal reads the page and follows runs, but neither starts one nor signs
    legal = office.person("L1")
    page = _html(legal.get("/audit/sampling"))
    assert 'id="lot-form"' not in page and job_id in page
    page = _html(legal.get(f"/audit/sampling/{job_id}"))  # follows the result
    assert 'data-verdict="reject"' in page and 'id="sign-form"' not in page
    assert 'id="draft-report"' not in page
    assert legal.get(f"/audit/sampling/{job_id}/report").status_code == 403
    token = token_of(legal, "/audit/sampling")
    r = legal.post("/audit/sampling/start", data={"csrf_token": token, "unit": "market-001"})
    assert r.status_code == 403
    r = post_json(legal, "/sign/sampling-file/begin", {"job": job_id}, token)
    assert r.status_code == 403
    assert len(office.jobs().list(kind=sampling_jobs.KIND)) == 1


def test_no_session_and_no_csrf_are_refused(office):
    auditor = office.person("A1")
    job_id, _ = _with_failure(office, auditor)
    stranger = office.app.test_client()
    assert stranger.get("/audit/sampling").status_code == 302
    assert stranger.get(f"/audit/sampling/{job_id}").status_code == 302
    token = token_of(stranger, "/signin")
    r = stranger.post("/audit/sampling/start", data={"csrf_token": token,
                                                     "unit": "market-001"})
    assert r.status_code in (302, 401)
    r = post_json(stranger, "/sign/sampling-file/begin", {"job": job_id}, token)
    assert r.status_code == 401
    # signed in, but without the CSRF token
    r = auditor.post("/audit/sampling/start", data={"unit": "market-001", "level": "III"})
    assert r.status_code == 400
    r = auditor.post("/sign/sampling-file/begin", json={"job": job_id}, headers=JSON)
    assert r.status_code == 400
    assert len(office.jobs().list(kind=sampling_jobs.KIND)) == 1
    draft = office.jobs().get(job_id)["result"]["draft"]
    assert office.archive.catalog.get_record("inspections", draft["id"]) is None


def test_an_unfinished_run_has_no_result_to_sign(office):
    auditor = office.person("A1")
    job_id = _start(auditor, unit="market-001")
    r = auditor.get(f"/audit/sampling/{job_id}")
    assert r.status_code == 400 and "has not finished its checks" in r.get_data(as_text=True)
    begun, done = sign(auditor, office.keys["A1"], "sampling-file", {"job": job_id},
                       "/audit/sampling")
    assert begun.status_code == 400 and done is None


def test_a_rejected_lot_offers_its_full_check_as_a_job(office):
    """The full check a rejected lot calls for is a button, not a command to copy: a job of
    every item of the same lot, whose result reads every item (the damaged one rejected)."""
    auditor = office.person("A1")
    job_id, damaged = _with_failure(office, auditor)
    page = _html(auditor.get(f"/audit/sampling/{job_id}"))
    assert 'id="full-check-start"' in page and 'name="everything" value="1"' in page
    full_id = _start(auditor, query="unit=market-001", level="II", everything="1")
    full = office.jobs().get(full_id)
    assert full_id != job_id and full["params"]["everything"] is True
    assert full["scope"].endswith(" all")
    office.run_job(full_id)
    page = _html(auditor.get(f"/audit/sampling/{full_id}"))
    assert page.count("data-ok=") == len(office.s.items)  # every item, not a sample
    assert f'data-item="{damaged}" data-ok="0"' in page
    assert 'id="full-check-start"' not in page  # a full check calls for no further one
