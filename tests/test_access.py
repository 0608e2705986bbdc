"""Access service on both catalogs (SQLite and the pymongo path) with the local WORM store:
requests, signed decisions, refusals, views, masking, exports and their verification."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import bagit
import pytest

import archive.access.requests as access
from archive.access import masking, viewing
from archive.access.export import export, verify_export
from archive.catalog.base import Query
from archive.domain.errors import InputError, ProblemFound
from archive.integrity.signing import public_pem
from archive.packaging.bags import check_bag
from tests.support.access import access_team

POSITIONS = {"market-001": "法制股", "urban-001": "分管领导"}
CTX = access.AccessContext(approver_position=lambda u: POSITIONS[u])


@pytest.fixture
def team(tmp_path, catalog):
    yield access_team(tmp_path, catalog)
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _refusals(s):
    return [r for r in s.catalog.list_records("access_register") if r["kind"] == "refusal"]


def test_query_leaves_out_confidential_items(team):
    s = team
    req = access.create_request(s.archive, s.officer, "复核", "view",
                                query=Query(unit="market-001"), query_text="unit=market-001")
    assert set(req["items"]) == {s.items["a"], s.items["b"]}
    named = access.create_request(s.archive, s.officer, "复核", "view",
                                  items=[s.items["secret"]])
    assert named["confidential"] == {s.items["secret"]: "personal-privacy"}
    with pytest.raises(InputError, match="confidential items are included only when named"):
        access.create_request(s.archive, s.officer, "x", "view", query=Query(party="李四"))
    with pytest.raises(InputError, match="one of them"):
        access.create_request(s.archive, s.officer, "x", "view")
    assert access.verify_request(s.catalog, req)


def test_decisions_are_checked_and_refusals_recorded(team):
    s = team
    req = access.create_request(s.archive, s.officer, "行政复议", "extract",
                                items=[s.items["a"], s.items["state"]])
    with pytest.raises(access.AccessRefused, match="own request"):
        access.decide(s.archive, s.officer, req["id"], True, "", CTX)
    with pytest.raises(access.AccessRefused, match="position 法制股"):
        access.decide(s.archive, s.leader, req["id"], True, "", CTX)
    with pytest.raises(access.AccessRefused, match="lacks the clearance state-secret"):
        access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    refusals = _refusals(s)
    assert [r["person"] for r in refusals] == ["O1", "B1", "L1"]
    assert all(r["subject"] == req["id"] and r["action"] == "approve" for r in refusals)
    ledger = [e for e in s.catalog.ledger_entries() if e.action == "access-refused"]
    assert [e.actor for e in ledger] == ["O1", "B1", "L1"]
    ok = access.create_request(s.archive, s.officer, "行政复议", "extract",
                               items=[s.items["a"], s.items["secret"]])
    done = access.decide(s.archive, s.legal, ok["id"], True, "同意", CTX)
    assert done["status"] == "approved" and access.verify_decision(s.catalog, done["decision"])
    assert access.usable_problem(s.catalog, done, s.items["a"], "extract") is None
    with pytest.raises(access.AccessRefused, match="already approved"):
        access.decide(s.archive, s.legal, ok["id"], False, "", CTX)
    # a decision edited in the catalog no longer verifies
    forged = json.loads(json.dumps(done))
    forged["items"].append(s.items["state"])
    assert "changed after it was approved" in str(access.usable_problem(s.catalog, forged,
                                                                        None, "view"))
    forged = json.loads(json.dumps(done))
    forged["decision"]["decision"]["until"] = "2099-01-01T00:00:00Z"
    assert "do not verify" in str(access.usable_problem(s.catalog, forged, None, "view"))


def test_view_streams_verified_bytes_and_registers(team):
    s = team
    with pytest.raises(access.AccessRefused, match="no approved request"):
        viewing.open_view(s.archive, s.officer, s.items["a"], None, "player")
    req = access.create_request(s.archive, s.officer, "核对现场", "view", items=[s.items["a"]])
    with pytest.raises(access.AccessRefused, match="pending, not approved"):
        viewing.open_view(s.archive, s.officer, s.items["a"], None, "player")
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    with pytest.raises(access.AccessRefused, match="does not cover"):
        viewing.open_view(s.archive, s.officer, s.items["b"], req["id"], "player")
    with pytest.raises(access.AccessRefused, match="made by O1"):
        viewing.open_view(s.archive, s.leader, s.items["a"], req["id"], "player")
    entry, chunks = viewing.open_view(s.archive, s.officer, s.items["a"], None, "player")
    data = b"".join(chunks)
    item = s.archive.item(s.items["a"])
    assert len(data) == item.current.digests.size
    reg = s.catalog.get_record("access_register", entry["id"])
    assert reg["outcome"] == "completed" and reg["reason"] == "核对现场"
    assert reg["approved_by"] == "L1" and reg["person"] == "O1"
    assert [e.action for e in s.catalog.ledger_entries()][-1] == "access-view"
    assert len(_refusals(s)) == 4
    # expired: the same request a day after its end
    later = datetime.now(timezone.utc) + timedelta(days=access.DEFAULT_DAYS + 1)
    assert "expired" in str(access.usable_problem(s.catalog, s.catalog.get_record(
        "requests", req["id"]), s.items["a"], "view", now=later))


def test_view_reports_a_digest_mismatch(team, monkeypatch):
    s = team
    req = access.create_request(s.archive, s.officer, "核对", "view", items=[s.items["a"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    monkeypatch.setattr(s.archive.store, "read",
                        lambda key, vid, chunk_size=0: iter([b"not the archived bytes"]))
    entry, chunks = viewing.open_view(s.archive, s.officer, s.items["a"], None, "player")
    with pytest.raises(ProblemFound, match="do not match"):
        b"".join(chunks)
    assert s.catalog.get_record("access_register", entry["id"])["outcome"] == "digest-mismatch"
    assert [e.action for e in s.catalog.ledger_entries()][-1] == "fixity-failure"


def test_one_time_link(team):
    s = team
    req = access.create_request(s.archive, s.officer, "核对", "view", items=[s.items["b"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    entry, chunks = viewing.open_view(s.archive, s.officer, s.items["b"], None, "link")
    size = s.archive.item(s.items["b"]).current.digests.size
    got = {}

    def fetch(url):
        base = url.rsplit("/", 1)[0]
        try:
            urllib.request.urlopen(base + "/wrong-token", timeout=5)
        except urllib.error.HTTPError as exc:
            got["wrong"] = exc.code
        with urllib.request.urlopen(url, timeout=5) as r:
            got["body"] = r.read()

    def ready(url):
        assert url.startswith("http://127.0.0.1:")
        got["url"] = url
        got["thread"] = threading.Thread(target=fetch, args=(url,))
        got["thread"].start()

    assert viewing.serve_once(chunks, ready, size, timeout=20)
    got["thread"].join(10)  # the server is done once it has written; the reader may not be
    assert got["wrong"] == 404 and len(got["body"]) == size
    with pytest.raises(urllib.error.URLError):  # served once: the server is gone
        urllib.request.urlopen(got["url"], timeout=2)
    assert s.catalog.get_record("access_register", entry["id"])["outcome"] == "completed"


def test_masking(team):
    s = team
    secret = s.archive.item(s.items["secret"])
    none, cleared = frozenset(), frozenset({"personal-privacy"})
    masked = masking.mask_item(secret, none)
    assert masked.description.party == "***" and masked.description.cause == "***"
    assert secret.description.party == "李四"  # the original is untouched
    assert masking.mask_item(secret, cleared).description.party == "李四"
    shown = masking.mask_show(s.archive.show(secret.id), none)
    assert "李四" not in json.dumps(shown, ensure_ascii=False)
    assert shown["masked"] and shown["description"]["source"] == {"masked": True}
    assert "李四" in json.dumps(masking.mask_show(s.archive.show(secret.id), cleared),
                               ensure_ascii=False)
    q = Query(party="李四")
    assert not masking.visible(secret, q, none) and masking.visible(secret, Query(), none)
    assert masking.clearances_of(s.catalog, "L1") == cleared
    assert masking.clearances_of(s.catalog, None) == none
    assert masking.clearances_of(s.catalog, "nobody") == none
    rec = {"id": "b:x", "file": "李四.mp4", "declared": secret.description.to_dict()}
    out = masking.mask_record(rec, none)
    assert out["file"] == "***" and "李四" not in json.dumps(out, ensure_ascii=False)


def test_export_and_verify(team, tmp_path):
    s = team
    req = access.create_request(s.archive, s.officer, "移送公安", "extract",
                                items=[s.items["a"], s.items["secret"]])
    with pytest.raises(access.AccessRefused, match="pending"):
        export(s.archive, s.officer, req["id"], tmp_path / "early")
    assert not (tmp_path / "early").exists()
    access.decide(s.archive, s.legal, req["id"], True, "同意提取", CTX)
    moved = []
    doc = export(s.archive, s.officer, req["id"], tmp_path / "out", iso_image=True,
                 progress=moved.append)
    sizes = sum(s.archive.item(i).current.digests.size for i in (s.items["a"],
                                                                  s.items["secret"]))
    assert sum(moved) == sizes
    bagit.Bag(str(tmp_path / "out")).validate()
    names = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out" / "data").rglob("*") if p.is_file())
    assert f"data/{s.items['a']}/a％1.mp4" in names  # '%' in the original name: '％'
    record = json.loads((tmp_path / "out" / "custody" / "extraction-record.json").read_text())
    assert record["extractor"]["id"] == "O1" and record["request"]["approved_by"] == "L1"
    assert record["items"][0]["makers"] == ["名O1"]
    text = (tmp_path / "out" / "custody" / "提取说明.txt").read_text("utf-8")
    assert "提取人：名O1（O1）" in text and "制作人：名O1" in text
    pem = tmp_path / "archive.pem"
    pem.write_text(public_pem(s.archive.key.public))
    assert verify_export(tmp_path / "out", key_file=pem).ok
    assert verify_export(tmp_path / "out.iso", key_file=pem).ok
    assert verify_export(tmp_path / "out", fp=s.archive.key.key_id.split(":")[1][:32]).ok
    assert doc["iso"] and check_bag(tmp_path / "out.iso").ok
    assert s.catalog.get_record("exports", doc["id"])["request"] == req["id"]
    assert [e.action for e in s.catalog.ledger_entries()][-1] == "export"
    # view-only requests and other people's requests do not export
    view = access.create_request(s.archive, s.officer, "看", "view", items=[s.items["b"]])
    access.decide(s.archive, s.legal, view["id"], True, "", CTX)
    with pytest.raises(access.AccessRefused, match="viewing only"):
        export(s.archive, s.officer, view["id"], tmp_path / "v")
    with pytest.raises(access.AccessRefused, match="neither the requester"):
        export(s.archive, s.leader, req["id"], tmp_path / "w")


def test_export_abandoned_when_store_bytes_differ(team, tmp_path, monkeypatch):
    s = team
    req = access.create_request(s.archive, s.officer, "移送", "extract", items=[s.items["a"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    real = s.archive.store.read
    monkeypatch.setattr(s.archive.store, "read", lambda key, vid, chunk_size=1 << 20: iter(
        [b"other bytes"]) if ".meta/" not in key else real(key, vid))
    with pytest.raises(ProblemFound, match="does not match its digests"):
        export(s.archive, s.officer, req["id"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [e.action for e in s.catalog.ledger_entries()][-1] == "export-failed"


def test_show_masks_retention_reasons_and_event_details_of_confidential_items():
    out = {"description": {"confidential": "personal-privacy", "party": "王五", "cause": "x",
                           "case_id": "SJ-1"},
           "versions": [], "retention": {"rule": "case file SJ-1 (general, filed 2026)",
                                         "holds": ["case SJ-1 is open"], "cases": ["SJ-1"],
                                         "tier": "case"},
           "events": [{"type": "duplicate", "at": "t", "agent": "P", "outcome": "ok",
                       "source": {"original_name": "王五.mp4"}}]}
    masked = masking.mask_show(out, frozenset())
    assert "SJ-1" not in json.dumps(masked, ensure_ascii=False)
    assert "王五" not in json.dumps(masked, ensure_ascii=False)
    assert masked["retention"]["tier"] == "case"
    cleared = masking.mask_show(out, frozenset({"personal-privacy"}))
    assert cleared["retention"]["holds"] == ["case SJ-1 is open"]


# --- an approval covers what it says: a number of exports (issue 12) ----------------------
def _record_bytes(path):
    return (path / "custody" / "extraction-record.json").read_bytes()


def test_an_approval_allows_the_exports_it_names(team, tmp_path, monkeypatch):
    import archive.access.export as exporting

    s = team
    req = access.create_request(s.archive, s.officer, "移送公安", "extract",
                                items=[s.items["a"]])
    with pytest.raises(InputError, match="for an approval"):
        access.decide(s.archive, s.legal, req["id"], False, "", CTX, exports=2)
    done = access.decide(s.archive, s.legal, req["id"], True, "同意", CTX, exports=2)
    assert done["decision"]["decision"]["exports"] == 2  # signed by the approver
    first = export(s.archive, s.officer, req["id"], tmp_path / "one")
    assert first["use"] == 1 and not first["redelivered"] and first["uses"]["left"] == 1
    # asked again: the same signed package (same export id), not a second use
    again = export(s.archive, s.officer, req["id"], tmp_path / "again", iso_image=True)
    assert again["id"] == first["id"] and again["redelivered"]
    assert again["uses"]["used"] == [first["id"]] and again["uses"]["left"] == 1
    assert _record_bytes(tmp_path / "again") == _record_bytes(tmp_path / "one")
    pem = tmp_path / "archive.pem"
    pem.write_text(public_pem(s.archive.key.public))
    assert verify_export(tmp_path / "again", key_file=pem).ok
    assert verify_export(tmp_path / "again.iso", key_file=pem).ok
    second = export(s.archive, s.officer, req["id"], tmp_path / "two", new=True)
    assert second["id"] != first["id"] and second["use"] == 2 and second["uses"]["left"] == 0
    with pytest.raises(access.AccessRefused, match="allows 2 exports, all used"):
        export(s.archive, s.officer, req["id"], tmp_path / "three", new=True)
    assert not (tmp_path / "three").exists()
    # the newest package may still be fetched again; a day later it may not
    assert export(s.archive, s.officer, req["id"], tmp_path / "r2")["id"] == second["id"]
    later = datetime.now(timezone.utc) + timedelta(hours=exporting.REDELIVER_HOURS + 1)
    monkeypatch.setattr(exporting, "_now", lambda: later)
    with pytest.raises(access.AccessRefused, match="all used"):
        export(s.archive, s.officer, req["id"], tmp_path / "late")
    monkeypatch.undo()
    register = [(r["kind"], r.get("outcome"), r.get("export"))
                for r in s.catalog.list_records("access_register")
                if r.get("request") == req["id"] or r.get("subject") == req["id"]]
    assert register == [("export", "exported", first["id"]),
                        ("export", "redelivered", first["id"]),
                        ("export", "exported", second["id"]),
                        ("refusal", None, None),
                        ("export", "redelivered", second["id"]),
                        ("refusal", None, None)]
    actions = [e.action for e in s.catalog.ledger_entries() if e.subject == req["id"]]
    assert actions.count("export") == 2 and actions.count("export-redelivered") == 2
    assert actions.count("access-refused") == 2


def test_one_export_by_default_and_a_view_request_allows_none(team, tmp_path):
    s = team
    req = access.create_request(s.archive, s.officer, "移送", "extract", items=[s.items["b"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    assert access.allowed_exports(s.catalog.get_record("requests", req["id"])) == 1
    export(s.archive, s.officer, req["id"], tmp_path / "one")
    with pytest.raises(access.AccessRefused, match="allows 1 export, all used"):
        export(s.archive, s.officer, req["id"], tmp_path / "two", new=True)
    view = access.create_request(s.archive, s.officer, "看", "view", items=[s.items["b"]])
    with pytest.raises(InputError, match="for extract requests"):
        access.decide(s.archive, s.legal, view["id"], True, "", CTX, exports=2)


def test_a_redelivery_is_the_exporters_and_an_altered_record_is_not_handed_out(team,
                                                                               tmp_path):
    from tests.support.access import add_person

    s = team
    archivist = add_person(s, "AR1", ["archivist"])
    req = access.create_request(s.archive, s.officer, "移送", "extract", items=[s.items["a"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX, exports=2)
    mine = export(s.archive, s.officer, req["id"], tmp_path / "o1")
    # another person gets no re-delivery of O1's package: theirs is a use of its own
    theirs = export(s.archive, archivist, req["id"], tmp_path / "ar1")
    assert theirs["id"] != mine["id"] and theirs["use"] == 2
    doc = s.catalog.get_record("exports", mine["id"])
    doc["record"]["request"]["reason"] = "别的事由"
    s.catalog.put_record("exports", mine["id"], doc)
    with pytest.raises(access.AccessRefused, match="does not verify"):
        export(s.archive, s.officer, req["id"], tmp_path / "forged")
    assert not (tmp_path / "forged").exists()


def test_two_exports_at_once_take_one_use(team, tmp_path, monkeypatch):
    """Both find the use free, and both claim it before either counts the claims (held so
    by barriers): exactly one package is made, and the other is refused and recorded."""
    s = team
    req = access.create_request(s.archive, s.officer, "移送", "extract", items=[s.items["a"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    looked, claimed = threading.Barrier(2, timeout=20), threading.Barrier(2, timeout=20)
    first_look = threading.local()
    real_put, real_list = s.catalog.put_record, s.catalog.list_records

    def list_records(collection, **equal):
        docs = real_list(collection, **equal)
        if collection == "exports" and not getattr(first_look, "done", False):
            first_look.done = True
            looked.wait()
        return docs

    def put_record(collection, record_id, doc):
        real_put(collection, record_id, doc)
        if collection == "exports" and doc.get("status") == "claimed":
            claimed.wait()

    monkeypatch.setattr(s.catalog, "list_records", list_records)
    monkeypatch.setattr(s.catalog, "put_record", put_record)
    outcomes: list = []

    def one(n):
        try:
            outcomes.append(export(s.archive, s.officer, req["id"], tmp_path / f"o{n}",
                                   new=True)["id"])
        except access.AccessRefused as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    monkeypatch.undo()
    made = [o for o in outcomes if isinstance(o, str)]
    assert len(made) == 1 and len(outcomes) == 2
    assert "all used" in str(next(o for o in outcomes if not isinstance(o, str)))
    uses = [d for d in s.catalog.list_records("exports", request=req["id"])
            if d["status"] == "exported"]
    assert [d["id"] for d in uses] == made


def test_an_approval_signed_before_export_counts_allows_one(team, tmp_path):
    """An approval made before approvals named their exports (no number in its signed
    decision), with an export made then (no status): it allowed one, and that one is used."""
    s = team
    req = access.create_request(s.archive, s.officer, "移送", "extract", items=[s.items["a"]])
    done = access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    old = dict(done["decision"]["decision"])
    del old["exports"]
    done["decision"] = {"decision": old, "key_id": s.legal.key.key_id,
                        "signature": s.legal.key.sign(old)}
    s.catalog.put_record("requests", req["id"], done)
    assert access.usable_problem(s.catalog, done, None, "extract") is None
    assert access.allowed_exports(done) == access.LEGACY_EXPORTS == 1
    first = export(s.archive, s.officer, req["id"], tmp_path / "one")
    assert first["use"] == 1
    doc = s.catalog.get_record("exports", first["id"])
    for key in ("status", "record", "signatures", "redeliveries", "use", "claimed_at"):
        doc.pop(key)  # as the code before this change wrote it
    s.catalog.put_record("exports", first["id"], doc)
    with pytest.raises(access.AccessRefused, match="allows 1 export, all used"):
        export(s.archive, s.officer, req["id"], tmp_path / "two")


# --- the auditor's playback (回放检查, issue 12) ------------------------------------------
def test_an_auditor_plays_what_their_own_sample_drew(team, monkeypatch):
    from archive import verification
    from archive.access.register import register_rows, row_cells
    from tests.support.access import add_person

    s = team
    auditor = add_person(s, "AU1", ["auditor"])
    other = add_person(s, "AU2", ["auditor"], clearances=["personal-privacy"])
    a, b, secret = s.items["a"], s.items["b"], s.items["secret"]
    with pytest.raises(access.AccessRefused, match="no sampled verification by AU1"):
        viewing.open_view(s.archive, auditor, a, None, "player")
    with pytest.raises(access.AccessRefused, match="could not watch"):
        verification.record_finding(s.archive, auditor, a, "late-start")
    lot = verification.inspect_lot(s.archive, auditor, [a, secret], {"query": "test"},
                                   everything=True)
    entry, chunks = viewing.open_view(s.archive, auditor, a, None, "player")
    assert len(b"".join(chunks)) == s.archive.item(a).current.digests.size
    reg = s.catalog.get_record("access_register", entry["id"])
    assert reg["inspection"] == lot["id"] and reg["request"] is None
    assert reg["outcome"] == "completed" and "回放检查" in reg["reason"]
    view = [e for e in s.catalog.ledger_entries() if e.action == "access-view"][-1]
    assert view.actor == "AU1" and view.details["inspection"] == lot["id"]
    row = [r for r in register_rows(s.catalog, None, None) if r.get("inspection")][0]
    assert f"检查 {lot['id']}" in row_cells(row, None)
    finding = verification.record_finding(s.archive, auditor, a, "late-start", "开始过晚")
    assert finding["finding"] == "late-start"
    # a confidential item of the sample still needs the auditor's clearance
    with pytest.raises(access.AccessRefused, match="lacks the clearance personal-privacy"):
        viewing.open_view(s.archive, auditor, secret, None, "player")
    with pytest.raises(access.AccessRefused, match="could not watch"):
        verification.record_finding(s.archive, auditor, secret, "other", "x")
    # an item the sample did not draw; another auditor; an officer naming the inspection
    with pytest.raises(access.AccessRefused, match="no sampled verification"):
        viewing.open_view(s.archive, auditor, b, None, "player")
    with pytest.raises(access.AccessRefused, match="no sampled verification by AU2"):
        viewing.open_view(s.archive, other, a, None, "player")
    with pytest.raises(access.AccessRefused, match="not an auditor"):
        viewing.open_view(s.archive, s.officer, a, None, "player", lot["id"])
    # a month later the inspection no longer lets its auditor play
    later = datetime.now(timezone.utc) + timedelta(days=viewing.PLAYBACK_DAYS + 1)
    monkeypatch.setattr(viewing, "_now", lambda: later)
    with pytest.raises(access.AccessRefused, match="more than 30 days ago"):
        viewing.open_view(s.archive, auditor, a, None, "player")
    monkeypatch.undo()
    refusals = [(r["person"], r["action"], r["subject"]) for r in _refusals(s)]
    assert refusals == [("AU1", "view", a), ("AU1", "inspect", a), ("AU1", "view", secret),
                        ("AU1", "inspect", secret), ("AU1", "view", b), ("AU2", "view", a),
                        ("O1", "view", a), ("AU1", "view", a)]


def test_an_inspection_written_into_the_catalog_grants_nothing(team):
    from tests.support.access import add_person

    s = team
    auditor = add_person(s, "AU1", ["auditor"])
    forged = {"id": "forged-1", "type": "sampled-verification", "by": "AU1",
              "at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
              "items": [s.items["b"]], "signer_key_id": auditor.key.key_id,
              "signature": "AAAA"}
    s.catalog.put_record("inspections", forged["id"], forged)
    with pytest.raises(access.AccessRefused, match="signature does not verify"):
        viewing.open_view(s.archive, auditor, s.items["b"], None, "player")
    # an auditor with an approved request views under it, as anyone
    req = access.create_request(s.archive, auditor, "核查", "view", items=[s.items["b"]])
    access.decide(s.archive, s.legal, req["id"], True, "", CTX)
    entry, chunks = viewing.open_view(s.archive, auditor, s.items["b"], None, "player")
    b"".join(chunks)
    assert entry["request"] == req["id"] and "inspection" not in entry
