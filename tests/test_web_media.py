"""Viewing and exporting in the console, through the Flask test client with software passkeys:
the player page and its byte ranges (206, seek, 416, no-store), one registered view per
playback, the refusals (no approval, another person's approval or playback, expired, a
damaged store), formats the browser cannot play, and the export job from submit to the
downloaded package that verifies offline."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import bootstrap
from archive import people
from archive.access import streaming
from archive.access.export import verify_export
from archive.integrity.signing import fingerprint
from archive.passkeys import service as passkeys
from config import settings
from tests.support.authenticator import Authenticator
from tests.support.cli import run_json
from tests.support.console import console_app, enroll, sign_in, token_of
from tests.support.damage import damage
from tests.support.jobs import act, approved_extract, office, wait_until
from tests.support.media import archive_file, make_playable_mp4

BLOCK = 16 * 1024  # the ~300 kB test video spans about twenty blocks


class Console:
    """A data home made at the command line (so that a job's runner opens the same archive),
    its console, and a signed-in browser (test client) per person."""

    def __init__(self, tmp_path: Path, monkeypatch) -> None:
        self.mp = monkeypatch
        self.ids = office(tmp_path, monkeypatch)
        self.home = tmp_path / "data"
        self.archive = passkeys.attach(bootstrap.open_archive(settings.load()), self.home)
        self.admin = people.acting_person(self.archive.catalog)
        self.clip = make_playable_mp4(tmp_path / "DSJ_0001.mp4")
        self.data = self.clip.read_bytes()
        self.video = archive_file(self.archive, self.admin, self.clip)
        self.avi = archive_file(self.archive, self.admin, tmp_path / "old.avi", fmt=".avi",
                                data=b"RIFF" + bytes(4000))
        self.archive.finish_command()
        self.app = console_app(self.home, self.archive)
        self.clients: dict[str, object] = {}

    def browser(self, pid: str):
        if pid not in self.clients:
            client = self.app.test_client()
            key = Authenticator()
            enroll(client, self.archive, self.admin, pid, key)
            assert sign_in(client, key).status_code == 200
            self.clients[pid] = client
        return self.clients[pid]

    def approve_view(self, item: str, until: str | None = None) -> str:
        act(self.mp, "O1")
        args = ["access", "request", "--items", item, "--reason", "复核执法过程",
                "--purpose", "view"] + (["--until", until] if until else [])
        req = run_json(*args)["id"]
        act(self.mp, "L1")
        run_json("access", "approve", req)
        act(self.mp, None)
        return req

    def register(self, kind: str = "view") -> list[dict]:
        return [r for r in self.archive.catalog.list_records("access_register")
                if r["kind"] == kind]


@pytest.fixture
def web(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "BLOCK", BLOCK)
    c = Console(tmp_path, monkeypatch)
    yield c
    c.app.extensions["custody"].close()
    c.archive.catalog.close()
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _open(client, item: str, request_id: str = ""):
    token = token_of(client, f"/media/{item}")
    return client.post(f"/media/{item}/open", data={"csrf_token": token,
                                                    "request": request_id})


def _playback(client, item: str, request_id: str = "") -> str:
    r = _open(client, item, request_id)
    assert r.status_code == 303, r.get_data(as_text=True)
    return r.headers["Location"].rsplit("/", 1)[1]


def test_the_player_streams_ranges_of_the_archived_bytes(web):
    req = web.approve_view(web.video)
    o1 = web.browser("O1")
    item_page = o1.get(f"/items/{web.video}").get_data(as_text=True)
    assert f'id="view-item" href="/media/{web.video}"' in item_page
    start = o1.get(f"/media/{web.video}").get_data(as_text=True)
    assert 'id="open-view"' in start
    pid = _playback(o1, web.video)
    page = o1.get(f"/media/playback/{pid}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    src = f"/media/playback/{pid}/content"
    assert f'<video id="player" controls preload="metadata" controlslist="nodownload" ' \
           f'src="{src}">' in html
    assert 'id="overlay-viewer"' in html and "执法员甲（O1）" in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style
    size = len(web.data)
    r = o1.get(src, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.data == web.data[:100]
    assert (r.headers["Accept-Ranges"], r.headers["Content-Range"], r.headers["Cache-Control"],
            r.headers["Content-Type"], r.headers["Content-Length"]) == (
        "bytes", f"bytes 0-99/{size}", "no-store", "video/mp4", "100")
    # a seek: from the middle, across blocks, to the end
    mid = size // 2 + 123
    r = o1.get(src, headers={"Range": f"bytes={mid}-"})
    assert r.status_code == 206 and r.data == web.data[mid:]
    assert r.headers["Content-Range"] == f"bytes {mid}-{size - 1}/{size}"
    r = o1.get(src, headers={"Range": "bytes=-1000"})
    assert r.status_code == 206 and r.data == web.data[-1000:]
    whole = o1.get(src)
    assert whole.status_code == 200 and whole.data == web.data
    bad = o1.get(src, headers={"Range": f"bytes={size}-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{size}"
    assert o1.get(src, headers={"Range": "bytes=0-1,5-6"}).status_code == 416
    # five range requests and a reload: one view, registered once
    assert o1.get(f"/media/playback/{pid}").status_code == 200
    (entry,) = web.register()
    assert (entry["person"], entry["request"], entry["how"], entry["outcome"]) == (
        "O1", req, "browser", "completed")
    views = [e for e in web.archive.catalog.ledger_entries() if e.action == "access-view"]
    assert len(views) == 1 and views[0].actor == "O1"


def test_viewing_refusals(web):
    o1, b1 = web.browser("O1"), web.browser("B1")
    # no approval: refused, and recorded
    r = _open(o1, web.video)
    assert r.status_code == 403 and "no approved request" in r.get_data(as_text=True)
    req = web.approve_view(web.video)
    # another person's approval, named or not
    assert _open(b1, web.video, req).status_code == 403
    assert _open(b1, web.video).status_code == 403
    # another person's playback: neither its page nor its bytes
    pid = _playback(o1, web.video)
    assert b1.get(f"/media/playback/{pid}").status_code == 403
    assert b1.get(f"/media/playback/{pid}/content",
                  headers={"Range": "bytes=0-9"}).status_code == 403
    refusals = web.register("refusal")
    assert [r["person"] for r in refusals] == ["O1", "B1", "B1", "B1", "B1"]
    # without a session, nothing; without the CSRF token, no view is opened
    stranger = web.app.test_client()
    assert stranger.get(f"/media/playback/{pid}/content").status_code in (302, 401)
    assert o1.post(f"/media/{web.video}/open", data={}).status_code == 400
    assert len(web.register()) == 1


def test_an_expired_approval_is_refused(web):
    until = datetime.now(timezone.utc) + timedelta(seconds=3)
    web.approve_view(web.video, until=until.isoformat())
    o1 = web.browser("O1")
    pid = _playback(o1, web.video)
    time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    r = _open(o1, web.video)
    assert r.status_code == 403 and "expired" in r.get_data(as_text=True)
    # the open playback ends with its approval
    assert o1.get(f"/media/playback/{pid}/content").status_code == 403


def test_a_damaged_store_refuses_before_any_byte(web):
    web.approve_view(web.video)
    o1 = web.browser("O1")
    obj = web.archive.item(web.video).storage["object"]
    damage(web.archive.store, obj["key"], obj["version_id"])
    r = _open(o1, web.video)
    assert r.status_code == 409 and 'data-code="digest-mismatch"' in r.get_data(as_text=True)
    (entry,) = web.register()
    assert entry["outcome"] == "digest-mismatch"
    assert [e.action for e in web.archive.catalog.ledger_entries()][-1] == "fixity-failure"


def test_damage_after_opening_stops_the_bytes(web):
    web.approve_view(web.video)
    o1 = web.browser("O1")
    pid = _playback(o1, web.video)
    obj = web.archive.item(web.video).storage["object"]
    damage(web.archive.store, obj["key"], obj["version_id"])  # its first byte
    r = o1.get(f"/media/playback/{pid}/content", headers={"Range": "bytes=0-99"})
    assert r.status_code == 409 and web.data[:100] not in r.data
    (entry,) = web.register()
    assert entry["outcome"] == "digest-mismatch"


def test_formats_the_browser_cannot_play_offer_the_export(web):
    web.approve_view(web.avi)
    o1 = web.browser("O1")
    html = o1.get(f"/media/{web.avi}").get_data(as_text=True)
    assert 'id="not-viewable"' in html and 'id="ask-extract"' in html
    assert 'id="open-view"' not in html
    assert _open(o1, web.avi).status_code == 400
    assert web.register() == []


def test_an_export_job_from_the_console(web):
    req = approved_extract(web.mp, [web.ids["a"], web.ids["b"]])
    o1, b1 = web.browser("O1"), web.browser("B1")
    assert f'href="/jobs/export/{req}"' in o1.get(f"/access/{req}").get_data(as_text=True)
    assert 'id="export-request"' not in b1.get(f"/access/{req}").get_data(as_text=True)
    form = o1.get(f"/jobs/export/{req}").get_data(as_text=True)
    assert 'id="start-export"' in form and 'id="exports-left">1<' in form
    token = token_of(o1, f"/jobs/export/{req}")
    r = o1.post("/jobs/export", data={"csrf_token": token, "request": req, "pdf": "1"})
    assert r.status_code == 303
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    page = o1.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'id="job-progress"' in page and "jobs.js" in page and "<script>" not in page
    state = wait_until(lambda: (s := o1.get(f"/jobs/{job_id}/state").get_json())["ended"]
                       and s, timeout=60)
    log = web.home / "jobs" / job_id / "runner.log"
    assert state["status"] == "done", (state, log.read_text() if log.exists() else "")
    assert state["items"] == 2 and state["download"] == f"/jobs/{job_id}/package.zip"
    # another person sees neither the job nor its package
    assert b1.get(f"/jobs/{job_id}").status_code == 403
    assert b1.get(f"/jobs/{job_id}/package.zip").status_code == 403
    got = o1.get(state["download"])
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
    assert got.headers["Cache-Control"] == "no-store"
    out = web.home.parent / "downloaded"
    with zipfile.ZipFile(io.BytesIO(got.data)) as zf:
        zf.extractall(out)
    (bag,) = list(out.iterdir())
    report = verify_export(bag, fp=fingerprint(web.archive.key.key_id))
    assert report.ok, report.problems
    assert report.record["extractor"]["id"] == "O1" and report.record["request"]["id"] == req
    pdf = o1.get(state["download_statement"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert b1.get(state["download_statement"]).status_code == 403
    # fetched again: the same package, not another use
    assert o1.get(state["download"]).data == got.data
    downloads = [e for e in web.archive.catalog.ledger_entries()
                 if e.action == "export-downloaded"]
    assert [e.actor for e in downloads] == ["O1", "O1", "O1"]
    assert [e.details["form"] for e in downloads] == ["zip", "statement", "zip"]
    exported = web.register("export")
    assert len(exported) == 1 and exported[0]["outcome"] == "exported"
    left = o1.get(f"/jobs/export/{req}").get_data(as_text=True)
    assert 'id="exports-left">0<' in left
    # a further package needs a use the approval no longer has: the job fails, recorded
    token = token_of(o1, f"/jobs/export/{req}")
    r = o1.post("/jobs/export", data={"csrf_token": token, "request": req, "new": "1"})
    again = r.headers["Location"].rsplit("/", 1)[1]
    state = wait_until(lambda: (s := o1.get(f"/jobs/{again}/state").get_json())["ended"]
                       and s, timeout=60)
    assert state["status"] == "failed" and "all used" in state["error"]
    assert [x["person"] for x in web.register("refusal")] == ["O1"]
    listed = o1.get("/jobs").get_data(as_text=True)
    assert job_id in listed
    assert job_id not in b1.get("/jobs").get_data(as_text=True)


def _export_job(client, req: str, **form) -> dict:
    token = token_of(client, f"/jobs/export/{req}")
    r = client.post("/jobs/export", data={"csrf_token": token, "request": req} | form)
    assert r.status_code == 303
    job_id = r.headers["Location"].rsplit("/", 1)[1]
    return wait_until(lambda: (s := client.get(f"/jobs/{job_id}/state").get_json())["ended"]
                      and s, timeout=60)


def test_a_console_package_is_delivered_again_not_counted(web):
    """The console signs the extraction record for the person with its registered key; asked
    again within the re-delivery time, the same package is made again from the store, its
    record verified with that key, and no use is counted."""
    req = approved_extract(web.mp, [web.ids["a"]])
    o1 = web.browser("O1")
    first = _export_job(o1, req)
    again = _export_job(o1, req, iso="1")
    assert first["status"] == again["status"] == "done", again
    assert again["redelivered"] and again["export"] == first["export"]
    assert again["download_iso"] and o1.get(again["download_iso"]).status_code == 200
    assert web.register("refusal") == []
    assert [x["outcome"] for x in web.register("export")] == ["exported", "redelivered"]
    # a record whose console signature no longer verifies is not handed out again
    doc = web.archive.catalog.get_record("exports", first["export"])
    doc["signatures"]["extractor"]["signature"] = "00" * 64
    web.archive.catalog.put_record("exports", first["export"], doc)
    refused = _export_job(o1, req)
    assert refused["status"] == "failed" and "does not verify" in refused["error"]


def test_photos_and_pdfs_are_shown_inline(web, tmp_path):
    jpg = archive_file(web.archive, web.admin, tmp_path / "scene.jpg",
                       data=b"\xff\xd8\xff\xe0" + bytes(3000) + b"\xff\xd9")
    pdf = archive_file(web.archive, web.admin, tmp_path / "record.pdf",
                       data=b"%PDF-1.4\n" + bytes(2000) + b"\n%%EOF\n")
    o1 = web.browser("O1")
    for item, tag, mime in ((jpg, "<img id=\"player\"", "image/jpeg"),
                            (pdf, "<iframe id=\"player\"", "application/pdf")):
        web.approve_view(item)
        pid = _playback(o1, item)
        assert tag in o1.get(f"/media/playback/{pid}").get_data(as_text=True)
        r = o1.get(f"/media/playback/{pid}/content")
        assert r.status_code == 200 and r.headers["Content-Type"] == mime
        assert r.headers["Content-Disposition"] == "inline"
    # a PDF may be framed by the console's own page, and by nothing else
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
