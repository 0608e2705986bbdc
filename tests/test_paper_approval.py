"""A paper approval: the keeper records a leader's signed form, kept in WORM, the record
signed by the keeper; every approval rule applies to the leader named, refusals recorded."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

import archive.access.requests as access
from archive import people
from archive.access.paper import record_paper_decision
from archive.domain.errors import IdentityError, InputError
from tests.support.access import access_team, add_person

POSITIONS = {"market-001": "法制股"}
CTX = access.AccessContext(approver_position=lambda u: POSITIONS[u])
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def team(tmp_path, catalog):
    s = access_team(tmp_path, catalog)
    s.keeper = add_person(s, "K1", ["archivist"])
    # a leader with neither OS account nor key: approves on paper only
    people.register(s.catalog, "Z1", "赵局长", None, ["legal"], None, positions=["法制股"])
    s.scan = tmp_path / "审批单.pdf"
    s.scan.write_bytes(PDF)
    yield s
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _now():
    return datetime.now(timezone.utc)


def test_a_keeper_records_a_paper_approval_kept_in_worm_and_signed_by_the_keeper(team):
    s = team
    req = access.create_request(s.archive, s.officer, "行政复议", "extract",
                                items=[s.items["a"]])
    done = record_paper_decision(s.archive, s.keeper, req["id"], "Z1", True, s.scan, _now(),
                                 "同意（见审批单）", CTX)
    decision = done["decision"]["decision"]
    assert done["status"] == "approved" and decision["by"] == "Z1"
    assert decision["basis"] == "paper" and decision["recorded_by"] == "K1"
    scan = decision["scan"]
    assert scan["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert s.archive.store.read_bytes(scan["key"], scan["version_id"]) == PDF
    assert s.archive.store.lock(scan["key"], scan["version_id"]).retain_until > _now()
    assert access.verify_decision(s.catalog, done["decision"])
    assert access.usable_problem(s.catalog, done, s.items["a"], "extract") is None
    entry = [e for e in s.catalog.ledger_entries() if e.action == "access-approved"][-1]
    assert entry.actor == "K1" and entry.details["basis"] == "paper"
    assert entry.details["approver"] == "Z1" and entry.details["scan"]["sha256"] == scan["sha256"]
    # the keeper's signature: a decision claimed in another keeper's name does not verify
    forged = {**done["decision"], "decision": {**decision, "recorded_by": "O1"}}
    assert not access.verify_decision(s.catalog, forged)


def test_the_approval_rules_apply_to_the_leader_named_and_refusals_are_recorded(team):
    s = team
    req = access.create_request(s.archive, s.officer, "复核", "view",
                                items=[s.items["state"]])
    with pytest.raises(access.AccessRefused, match="lacks the clearance state-secret"):
        record_paper_decision(s.archive, s.keeper, req["id"], "Z1", True, s.scan, _now(), "",
                              CTX)
    own = access.create_request(s.archive, s.keeper, "核对", "view", items=[s.items["a"]])
    with pytest.raises(access.AccessRefused, match="may not record a paper decision"):
        record_paper_decision(s.archive, s.keeper, own["id"], "Z1", True, s.scan, _now(), "",
                              CTX)
    with pytest.raises(IdentityError, match="record a paper approval"):
        record_paper_decision(s.archive, s.legal, req["id"], "Z1", True, s.scan, _now(), "",
                              CTX)
    refused = [e for e in s.catalog.ledger_entries() if e.action.endswith("refused")]
    assert [e.actor for e in refused] == ["K1", "K1", "L1"]
    assert access.get_request(s.catalog, req["id"])["status"] == "pending"


def test_bad_scans_and_dates_are_refused_by_name(team, tmp_path):
    s = team
    req = access.create_request(s.archive, s.officer, "复核", "view", items=[s.items["a"]])
    text = tmp_path / "note.txt"
    text.write_text("同意", encoding="utf-8")
    with pytest.raises(InputError, match="note.txt: a text/plain file"):
        record_paper_decision(s.archive, s.keeper, req["id"], "Z1", True, text, _now(), "", CTX)
    with pytest.raises(InputError, match="no such file"):
        record_paper_decision(s.archive, s.keeper, req["id"], "Z1", True, tmp_path / "x.pdf",
                              _now(), "", CTX)
    with pytest.raises(InputError, match="in the future"):
        record_paper_decision(s.archive, s.keeper, req["id"], "Z1", True, s.scan,
                              _now() + timedelta(days=2), "", CTX)
    with pytest.raises(InputError, match="before the request"):
        record_paper_decision(s.archive, s.keeper, req["id"], "Z1", True, s.scan,
                              _now() - timedelta(days=2), "", CTX)
    with pytest.raises(InputError, match="not a registered person"):
        record_paper_decision(s.archive, s.keeper, req["id"], "NOBODY", True, s.scan, _now(),
                              "", CTX)
    assert access.get_request(s.catalog, req["id"])["status"] == "pending"

