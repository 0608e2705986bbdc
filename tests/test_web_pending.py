"""The archivist's pending-metadata and quarantine pages through the Flask test client: the
queue, the form checked by the manifest's reader, the completion signed with the archivist's
passkey (a new signed version, the same service as ``custody pending complete``, audited as
passkey-signed), the quarantined and rejected files of a real batch (real clamd), and every
refusal: wrong role, no session, no CSRF token, a bad field, an item not pending, twice."""

from __future__ import annotations

import re

import pytest

from tests.support.archivist_desk import PARTY, Desk, ingest_folder, item, title_of
from tests.support.clamd import EICAR
from tests.support.console import JSON, post_json, sign, token_of
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests

COMPLETE = {"officer_id": "O1", "activity_type": "调查取证"}


@pytest.fixture
def desk(tmp_path):
    d = Desk(tmp_path)
    yield d
    d.close()
    release_all_for_tests(tmp_path)


def _html(r, status: int = 200) -> str:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[-2000:])
    return r.get_data(as_text=True)


def _words(html: str) -> str:
    """What a person reads in a page's main part (tags and attributes left out)."""
    return re.sub(r"<[^>]+>", " ", html.split("<main>", 1)[1])


def _form(client, item_id: str, values: dict, status: int = 200) -> str:
    page = f"/archivist/pending/{item_id}"
    return _html(client.post(page, data={"csrf_token": token_of(client, page)} | values),
                 status)


def _entries(desk, action: str) -> list:
    return [e for e in desk.archive.catalog.ledger_entries(1) if e.action == action]


def test_the_queue_lists_what_each_pending_item_lacks(desk):
    a1 = desk.person("A1")
    page = _html(a1.get("/archivist/pending"))
    assert desk.pending.id in page and desk.stored.id not in page
    row = re.search(f'<tr data-item="{desk.pending.id}">.*?</tr>', page, re.S).group(0)
    assert "Officers" in row and "DSJ-0001/clip1.mp4" in row
    assert title_of(desk, desk.pending.id) in row  # by its 题名
    assert "1 item pending metadata" in page


def test_check_shows_what_the_completion_writes_and_signing_writes_a_version(desk):
    a1 = desk.person("A1")
    form = _html(a1.get(f"/archivist/pending/{desk.pending.id}"))
    assert title_of(desk, desk.pending.id) in form and PARTY in form  # the current values beside
    preview = _form(a1, desk.pending.id, COMPLETE)
    changes = re.search(r'id="changes".*?</table>\s*<table class="rows">(.*?)</table>',
                        preview, re.S).group(1)
    assert 'data-field="officers"' in changes and "名O1（O1）" in changes
    assert 'data-field="activity_type"' in changes and "调查取证" in changes
    assert 'data-status="archived"' in preview  # nothing missing once the officer is named
    assert 'data-decision="metadata-complete"' in preview
    page = f"/archivist/pending/{desk.pending.id}"
    begun, done = sign(a1, desk.keys["A1"], "metadata-complete",
                       {"item": desk.pending.id} | COMPLETE, page)
    assert begun.status_code == 200, begun.get_json()
    signed = begun.get_json()["decision"]
    assert signed["action"] == "metadata-version" and signed["subject"] == desk.pending.id
    assert signed["details"]["fields"] == COMPLETE
    assert signed["details"]["status"] == "archived"
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["next"] == f"/archivist/pending?done={desk.pending.id}"
    now = desk.archive.item(desk.pending.id)
    assert now.version == 2 and now.status == "archived"
    assert now.description.officers == ["O1"] and now.description.activity_type == "调查取证"
    assert now.description.party == PARTY  # an empty field keeps its value
    entry = _entries(desk, "metadata-version")[-1]
    assert entry.actor == "A1" and entry.subject == desk.pending.id
    assert entry.details["console"]["decision"]["details"]["fields"] == COMPLETE
    report = desk.archive.verify_ledger().to_dict()
    assert report["ok"], report["problems"]
    assert report["attested"]["passkey_signed"] >= 1
    assert desk.pending.id not in _html(a1.get("/archivist/pending"))
    # and the same item cannot be completed twice: it no longer waits
    again, finished = sign(a1, desk.keys["A1"], "metadata-complete",
                           {"item": desk.pending.id, "note": "再补"}, "/archivist/pending")
    assert again.status_code == 400 and finished is None
    assert "not waiting for metadata" in again.get_json()["message"]
    assert _html(a1.get(f"/archivist/pending/{desk.pending.id}"), 400)
    assert len(_entries(desk, "metadata-version")) == 1


def test_a_field_the_manifest_would_refuse_is_refused_before_the_passkey(desk):
    a1 = desk.person("A1")
    page = _form(a1, desk.pending.id, COMPLETE | {"recorded_start": "去年春天"}, 400)
    assert 'id="problems"' in page and "去年春天" in page
    assert 'data-decision="metadata-complete"' not in page  # nothing to sign
    page = _form(a1, desk.pending.id, {"unit": "no-such-unit"}, 400)
    assert "no-such-unit" in page
    assert "fill in at least one field" in _form(a1, desk.pending.id, {}, 400)
    # the decision itself refuses the same field, before any passkey is asked
    csrf = token_of(a1, f"/archivist/pending/{desk.pending.id}")
    r = post_json(a1, "/sign/metadata-complete/begin",
                  {"item": desk.pending.id} | COMPLETE | {"recorded_end": "明天"}, csrf)
    assert r.status_code == 400 and "recorded_end" in r.get_json()["message"]
    r = post_json(a1, "/sign/metadata-complete/begin", {"item": desk.pending.id}, csrf)
    assert r.status_code == 400
    assert desk.archive.item(desk.pending.id).version == 1
    assert _entries(desk, "metadata-version") == []


def test_an_item_already_stored_is_not_offered(desk):
    a1 = desk.person("A1")
    assert "not waiting for metadata" in _html(a1.get(f"/archivist/pending/{desk.stored.id}"),
                                               400)
    r, _ = sign(a1, desk.keys["A1"], "metadata-complete",
                {"item": desk.stored.id, "note": "改"}, "/archivist/pending")
    assert r.status_code == 400
    assert _html(a1.get("/archivist/pending/no-such-item"), 404)


def test_refusals_wrong_role_no_session_no_csrf(desk):
    officer = desk.person("O1")
    for path in ("/archivist/pending", f"/archivist/pending/{desk.pending.id}",
                 "/archivist/quarantine"):
        assert officer.get(path).status_code == 403
    r = officer.post(f"/archivist/pending/{desk.pending.id}",
                     data={"csrf_token": token_of(officer, "/search")} | COMPLETE)
    assert r.status_code == 403
    r = post_json(officer, "/sign/metadata-complete/begin", {"item": desk.pending.id} | COMPLETE,
                  token_of(officer, "/search"))
    assert r.status_code == 403 and r.get_json()["error"] == "role"
    # no session: a page goes to the sign-in, a post is refused
    stranger = desk.app.test_client()
    r = stranger.get("/archivist/pending")
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
    assert stranger.get("/archivist/quarantine", headers=JSON).status_code == 401
    r = post_json(stranger, "/sign/metadata-complete/begin", {"item": desk.pending.id},
                  token_of(stranger))
    assert r.status_code == 401
    # an archivist without a CSRF token
    a1 = desk.person("A1")
    assert a1.post(f"/archivist/pending/{desk.pending.id}", data=COMPLETE).status_code == 400
    r = post_json(a1, "/sign/metadata-complete/begin", {"item": desk.pending.id} | COMPLETE)
    assert r.status_code == 400 and r.get_json()["error"] == "csrf"
    assert desk.archive.item(desk.pending.id).version == 1


def test_another_archivist_cannot_finish_what_one_began(desk):
    """A decision begun in one person's session finishes there only: another archivist's
    passkey on it is refused, and nothing is written."""
    a1, a2 = desk.person("A1"), desk.person("A2")
    page = f"/archivist/pending/{desk.pending.id}"
    csrf = token_of(a1, page)
    begun = post_json(a1, "/sign/metadata-complete/begin", {"item": desk.pending.id} | COMPLETE,
                      csrf)
    assert begun.status_code == 200
    answer = desk.keys["A2"].get(begun.get_json()["options"], "http://localhost:8443")
    r = post_json(a1, "/sign/metadata-complete/finish", {"credential": answer}, csrf)
    assert r.status_code in (400, 403)
    r = post_json(a2, "/sign/metadata-complete/finish", {"credential": answer},
                  token_of(a2, page))
    assert r.status_code == 400  # nothing begun in A2's session
    assert desk.archive.item(desk.pending.id).version == 1


def test_a_confidential_items_hidden_values_stay_hidden_in_the_form(desk):
    a1 = desk.person("A1")
    secret = item(desk.s, 7, officers=[], party="周九", confidential="personal-privacy")
    page = _html(a1.get(f"/archivist/pending/{secret.id}"))
    assert "周九" not in page and "***" in page
    assert "周九" not in _html(a1.get("/archivist/pending"))


def test_quarantined_and_rejected_files_with_their_reports(desk, clamd_scanner, tmp_path):
    root = tmp_path / "offload"
    root.mkdir()
    (root / "bad.com").write_bytes(EICAR)
    (root / "notes.exe").write_bytes(b"MZ" + bytes(5000))
    report = ingest_folder(desk, root, clamd_scanner)
    assert {f.file: f.state for f in report.files} == {"bad.com": "quarantined",
                                                        "notes.exe": "rejected"}
    a1 = desk.person("A1")
    page = _html(a1.get("/archivist/quarantine"))
    quarantined = re.search(r'id="quarantined".*?</table>', page, re.S).group(0)
    assert "bad.com" in quarantined and "EICAR" in quarantined
    rejected = re.search(r'id="rejected".*?</table>', page, re.S).group(0)
    assert "notes.exe" in rejected and "is not a format custody archives" in rejected
    assert f"/archivist/batches/{report.batch_id}" in rejected
    # the batch's report: every file's state and reasons, the four-property checks
    batch = _html(a1.get(f"/archivist/batches/{report.batch_id}"))
    states = dict(re.findall(r'<tr data-state="([^"]+)"><td>([^<]+)</td>', batch))
    assert states == {"quarantined": "bad.com", "rejected": "notes.exe"}
    assert "文件 notes.exe：已拒收" in batch  # the report as `custody batch show` prints it
    assert _html(a1.get("/archivist/batches/no-such-batch"), 400)
    link = re.search(r'href="(/archivist/quarantine/[^"]+)"', quarantined).group(1)
    entry = _html(a1.get(link))
    assert "EICAR" in entry and "ClamAV" in entry and report.batch_id in entry
    assert _html(a1.get("/archivist/quarantine/no:such"), 400)


def test_the_pages_read_chinese(chinese, desk):  # noqa: F811
    a1 = desk.person("A1")
    for path in ("/archivist/pending", f"/archivist/pending/{desk.pending.id}",
                 "/archivist/quarantine"):
        main = _words(_html(a1.get(path)))
        assert english_phrases(main) == [], (path, english_phrases(main))
    preview = _words(_form(a1, desk.pending.id, COMPLETE))
    assert "签名确认" in preview and english_phrases(preview) == []
