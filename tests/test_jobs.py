"""Background jobs: the records in working state, the detached runner (``custody jobs run``),
one job of a kind per scope, interrupted runners shown and resumed, cancellation, and the
export job whose package is the command line's (verified offline) and fetched for a while."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

import bootstrap
from archive.access.export import verify_export
from archive.integrity.signing import fingerprint
from config import settings
from tests.support.cli import run, run_json
from tests.support.jobs import act, approved_extract, office, wait_until
from working import exports
from working import jobs as jobs_mod
from working.jobs import JobRefused, Jobs, Kind

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def home(tmp_path, monkeypatch):
    ids = office(tmp_path, monkeypatch)
    monkeypatch.ids = ids
    monkeypatch.home = tmp_path / "data"
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _jobs(home) -> Jobs:
    return Jobs.of_home(home.home)


def _register(kind: str) -> list[dict]:
    archive = bootstrap.open_archive(settings.load())
    try:
        return [r for r in archive.catalog.list_records("access_register")
                if r["kind"] == kind]
    finally:
        archive.catalog.close()


def _queue(home, person: str, request: str) -> dict:
    """An export job queued through the service, with no runner started."""
    archive = bootstrap.open_archive(settings.load())
    try:
        job, created = exports.submit(_jobs(home), home.home, archive.catalog, person, request)
    finally:
        archive.catalog.close()
    assert created
    return job


def _child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def _claim_code(home, job_id: str, then: str = "") -> str:
    return (f"from pathlib import Path; from working.jobs import Jobs; "
            f"assert Jobs.of_home(Path({str(home.home)!r})).claim({job_id!r}); {then}")


def test_an_export_job_makes_the_command_lines_package(home):
    req = approved_extract(home, [home.ids["a"], home.ids["b"]])
    act(home, "O1")
    job = run_json("jobs", "export", req, "--pdf", "--wait")
    assert job["created"] and job["status"] == "done", job
    assert (job["kind"], job["scope"], job["started_by"], job["via"]) == (
        "export", req, "O1", "cli")
    assert job["done"] == job["total"] == 120_000 and job["runs"] == 1
    assert "sign_in" not in job["params"] and "home" not in job["params"]
    r = job["result"]
    assert r["items"] == 2 and not r["redelivered"] and r["uses"]["left"] == 0
    bag = Path(r["bag"])
    assert bag == exports.bag_path(home.home, job["id"]) and bag.is_dir()
    archive = bootstrap.open_archive(settings.load())
    fp = fingerprint(archive.key.key_id)
    archive.catalog.close()
    report = verify_export(bag, fp=fp)
    assert report.ok, report.problems
    assert report.record["extractor"]["id"] == "O1" and report.record["request"]["id"] == req
    # the signed 提取说明 as custody export --pdf issues it, kept in the store and beside
    statement = Path(r["statement"]["path"])
    assert statement.read_bytes().startswith(b"%PDF") and r["statement"]["number"]
    assert run_json("print", "export-statement", r["export"], "--out",
                    str(statement.with_name("again.pdf")))["number"] == r["statement"]["number"]
    (entry,) = _register("view") + [e for e in _register("export")]
    assert (entry["outcome"], entry["export"]) == ("exported", r["export"])
    # the runner ran apart from this process, and the ledger was checkpointed at its end
    assert Path(jobs_mod.job_dir(home.home, job["id"]) / "runner.log").exists()
    # asked again within the re-delivery time: the same signed package, not counted
    again = run_json("jobs", "export", req, "--wait")
    assert again["id"] != job["id"] and again["result"]["redelivered"]
    assert again["result"]["export"] == r["export"]
    # a further package needs a use the approval does not have: refused, recorded, failed
    out = run_json("jobs", "export", req, "--new", "--wait", code=1)
    assert out["status"] == "failed" and out["error"]["code"] == "access-refused"
    assert "all used" in out["error"]["message"] and out["error"]["text"]
    refusals = _register("refusal")
    assert [(x["person"], x["action"]) for x in refusals] == [("O1", "export")]
    listed = run_json("jobs", "list")["jobs"]
    assert [j["id"] for j in listed] == [out["id"], again["id"], job["id"]]
    assert [j["status"] for j in listed] == ["failed", "done", "done"]
    shown = run("jobs", "show", job["id"]).stdout
    assert job["id"] in shown and str(bag) in shown


def test_the_package_is_its_makers_and_only_for_a_while(home):
    req = approved_extract(home, [home.ids["a"]])
    act(home, "O1")
    job = run_json("jobs", "export", req, "--wait")
    jobs = _jobs(home)
    got = exports.package(jobs, home.home, job["id"], "O1", 24)
    assert got["bag"].is_dir() and got["iso"] is None and got["export"] == job["result"]["export"]
    # the ZIP made while it is sent unzips to the very bag
    data = b"".join(exports.zipped(got["bag"], chunk=4096))
    out = home.home.parent / "unzipped"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        zf.extractall(out)
    archive = bootstrap.open_archive(settings.load())
    fp = fingerprint(archive.key.key_id)
    archive.catalog.close()
    assert verify_export(out / got["name"], fp=fp).ok
    with pytest.raises(JobRefused, match="is for O1, not B1"):
        exports.package(jobs, home.home, job["id"], "B1", 24)
    later = got["until"] + timedelta(seconds=1)
    with pytest.raises(JobRefused, match="could be fetched until"):
        exports.package(jobs, home.home, job["id"], "O1", 24, now=later)
    assert not got["bag"].exists()  # removed once its window passed
    with pytest.raises(JobRefused, match="could be fetched until"):
        exports.package(jobs, home.home, job["id"], "O1", 24)


def test_expired_packages_are_removed(home):
    req = approved_extract(home, [home.ids["a"]])
    act(home, "O1")
    job = run_json("jobs", "export", req, "--wait")
    bag = Path(job["result"]["bag"])
    jobs = _jobs(home)
    assert exports.expire(jobs, home.home, 24) == [] and bag.exists()
    ended = jobs.get(job["id"])["ended"]
    from archive.domain.model import parse_iso

    assert exports.expire(jobs, home.home, 1, now=parse_iso(ended) + timedelta(hours=1)) == [
        job["id"]]
    assert not bag.exists()


def test_one_job_of_a_kind_per_scope(home):
    req = approved_extract(home, [home.ids["a"]])
    job = _queue(home, "O1", req)
    archive = bootstrap.open_archive(settings.load())
    try:
        same, created = exports.submit(_jobs(home), home.home, archive.catalog, "O1", req,
                                       iso_image=True)
        assert not created and same["id"] == job["id"]  # the one under way, given back
        with pytest.raises(JobRefused, match="already queued, started by O1"):
            exports.submit(_jobs(home), home.home, archive.catalog, "B1", req)
        with pytest.raises(Exception, match="no access request"):
            exports.submit(_jobs(home), home.home, archive.catalog, "O1", "no-such-request")
    finally:
        archive.catalog.close()
    # the database decides, not a read-then-write: racing inserts leave one active job
    jobs = _jobs(home)
    jobs.cancel(job["id"], "O1")
    results, errors = [], []

    def submit() -> None:
        try:
            results.append(Jobs.of_home(home.home).submit("export", {"request": req}, "O1",
                                                          "cli"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({j["id"] for j, _ in results}) == 1 and sum(c for _, c in results) == 1


def test_a_dead_runner_shows_interrupted_and_the_job_resumes(home):
    req = approved_extract(home, [home.ids["a"]])
    job = _queue(home, "O1", req)
    # a runner takes the job and dies without a word
    assert _child(_claim_code(home, job["id"], "import os; os._exit(0)")).wait() == 0
    act(home, "O1")
    shown = run_json("jobs", "show", job["id"])
    assert shown["status"] == "interrupted"
    assert shown["note"] == "its runner ended without finishing it"
    assert run_json("jobs", "list")["jobs"][0]["status"] == "interrupted"
    # nobody else may resume it; its owner may, and a new runner finishes it
    act(home, "B1")
    assert run_json("jobs", "resume", job["id"], code=2)["error"] == "job-refused"
    act(home, "O1")
    assert run_json("jobs", "resume", job["id"])["status"] in ("queued", "running", "done")
    done = wait_until(lambda: (j := _jobs(home).get(job["id"]))["status"] not in
                      jobs_mod.ACTIVE and j)
    assert done["status"] == "done" and done["runs"] == 2, done
    assert run_json("jobs", "resume", job["id"], code=2)["error"] == "job-refused"


def test_a_silent_runner_is_taken_for_dead(home, monkeypatch):
    req = approved_extract(home, [home.ids["a"]])
    job = _queue(home, "O1", req)
    child = _child(_claim_code(home, job["id"], "import time; time.sleep(60)"))
    try:
        jobs = _jobs(home)
        wait_until(lambda: jobs.get(job["id"])["status"] == "running")
        monkeypatch.setattr(jobs_mod, "STALE_S", 0.3)
        assert jobs.get(job["id"])["status"] == "running"  # alive and beat lately
        time.sleep(0.5)
        got = jobs.get(job["id"])
        assert (got["status"], got["note"]) == ("interrupted", "its runner stopped reporting")
        # its scope is free again: a new export may be queued
        assert _queue(home, "O1", req)["id"] != job["id"]
    finally:
        child.kill()
        child.wait()


def test_a_job_no_runner_took_is_interrupted(home, monkeypatch):
    req = approved_extract(home, [home.ids["a"]])
    job = _queue(home, "O1", req)
    monkeypatch.setattr(jobs_mod, "START_S", 0.2)
    assert _jobs(home).get(job["id"])["status"] == "queued"
    time.sleep(0.3)
    assert _jobs(home).get(job["id"])["note"] == "no runner took it up"


def test_cancelling(home):
    req = approved_extract(home, [home.ids["a"]])
    job = _queue(home, "O1", req)
    act(home, "B1")
    out = run_json("jobs", "cancel", job["id"], code=2)
    assert out["error"] == "job-refused" and "started by O1" in out["message"]
    act(home, "O1")
    assert run_json("jobs", "cancel", job["id"])["status"] == "cancelled"
    assert run_json("jobs", "cancel", job["id"], code=2)["error"] == "job-refused"
    # a cancelled job is not run by a runner started late
    assert run_json("jobs", "run", job["id"], code=2)["error"] == "job-refused"


def test_a_running_job_stops_at_its_next_safe_report(home, monkeypatch):
    seen = []

    def count(archive, actor, job, progress, services):
        steps = job["params"]["steps"]
        progress.total(steps)
        for _ in range(steps):
            progress(1)
            seen.append(1)
            time.sleep(0.002)
        return {"counted": len(seen)}

    monkeypatch.setitem(jobs_mod.KINDS, "count", Kind("count", count, lambda p: p["n"]))
    monkeypatch.setattr(jobs_mod, "HEARTBEAT_S", 0.05)
    jobs = _jobs(home)
    job, _ = jobs.submit("count", {"n": "1", "steps": 10_000}, "O1", "cli")
    archive = bootstrap.open_archive(settings.load())
    result = {}
    t = threading.Thread(target=lambda: result.update(jobs_mod.run(
        Jobs.of_home(home.home), job["id"], lambda: archive, lambda a, j: None)))
    t.start()
    wait_until(lambda: len(seen) > 20)
    assert jobs.cancel(job["id"], "O1")["cancel_requested"]
    t.join(timeout=30)
    assert result["status"] == "cancelled" and len(seen) < 10_000
    # a kind that may not be stopped midway is left to finish
    monkeypatch.setitem(jobs_mod.KINDS, "count", Kind("count", count, lambda p: p["n"],
                                                       cancel_safe=False))
    seen.clear()
    job2, _ = jobs.submit("count", {"n": "2", "steps": 1000}, "O1", "cli")
    archive = bootstrap.open_archive(settings.load())
    t = threading.Thread(target=lambda: result.update(jobs_mod.run(
        Jobs.of_home(home.home), job2["id"], lambda: archive, lambda a, j: None)))
    t.start()
    wait_until(lambda: len(seen) > 5)
    with pytest.raises(JobRefused, match="cannot be stopped safely"):
        jobs.cancel(job2["id"], "O1")
    t.join(timeout=60)
    assert result["status"] == "done" and result["result"] == {"counted": 1000}
    assert result["done"] == result["total"] == 1000


def test_the_runner_acts_only_as_the_person_who_started_the_job(home):
    req = approved_extract(home, [home.ids["a"]])
    job = _queue(home, "O1", req)
    act(home, "B1")
    out = run_json("jobs", "run", job["id"], code=1)
    assert out["status"] == "failed" and out["error"]["code"] == "identity-refused"
    assert "started by O1" in out["error"]["message"]
    assert _register("export") == []


def test_failures_keep_their_message_for_each_language(home):
    job = {"error": {"code": "x", "message": "refused: no", "template": "refused: {reason}",
                     "params": {"reason": {"template": "request {request} expired at {until}",
                                           "params": {"request": "R1", "until": "T"}}}}}
    text = jobs_mod.error_text(job)
    assert str(text) == "refused: request R1 expired at T"
    assert jobs_mod.error_text({"error": None}) is None
    assert json.loads(json.dumps(job))  # what is stored is plain JSON


def test_the_runner_is_started_with_the_submitters_home_and_policy(tmp_path):
    argv = jobs_mod.runner_argv("J1", tmp_path, ("config/default.toml",))
    assert argv[1:] == ["-m", "cli", "--home", str(tmp_path), "jobs", "run", "J1"]
    argv = jobs_mod.runner_argv("J1", tmp_path, ("config/default.toml", "/etc/custody.toml"))
    assert argv[-5:] == ["--config", "/etc/custody.toml", "jobs", "run", "J1"]
    assert argv[0] == sys.executable


def test_only_registered_people_read_the_jobs(home):
    act(home, "X9")
    assert run_json("jobs", "list", code=2)["error"] == "identity-refused"
    act(home, "O1")
    assert run_json("jobs", "list")["jobs"] == []
    assert run_json("jobs", "show", "no-such-job", code=2)["error"] == "not-found"
