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
    assert "changed after it was approved" in access.usable_problem(s.catalog, forged, None,
                                                                    "view")
    forged = json.loads(json.dumps(done))
    forged["decision"]["decision"]["until"] = "2099-01-01T00:00:00Z"
    assert "do not verify" in access.usable_problem(s.catalog, forged, None, "view")


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
    assert "expired" in access.usable_problem(s.catalog, s.catalog.get_record(
        "requests", req["id"]), s.items["a"], "view", now=later)


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
