"""The access services driven without any face (no click): masked search, counts, show,
pending and quarantine reads; request lists, the approvers from settings, views and the
register; every refusal recorded exactly once."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone

import pytest

import archive.access.requests as access
from archive.access import lookup, register, viewing
from archive.access.masking import viewer_clearances
from archive.catalog.base import Query
from archive.domain.errors import IdentityError, InputError, NotFound
from archive.domain.model import CONFIDENTIAL_CLASSES, Description
from config import settings
from tests.support.access import access_team

NONE = frozenset()
PRIVACY = frozenset({"personal-privacy"})
ALL = frozenset(CONFIDENTIAL_CLASSES)


@pytest.fixture
def team(tmp_path, catalog):
    yield access_team(tmp_path, catalog)
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _text(doc) -> str:
    return json.dumps(doc, ensure_ascii=False)


def test_search_masks_for_an_uncleared_viewer(team):
    s = team
    page = lookup.search_items(s.archive, NONE, Query(unit="market-001"))
    rows = {r["id"]: r for r in page["items"]}
    assert set(rows) == set(s.items.values()) and page["next_cursor"] is None
    secret = rows[s.items["secret"]]
    assert secret["party"] == secret["cause"] == "***" and secret["masked"]
    assert rows[s.items["a"]]["party"] == "王五" and "masked" not in rows[s.items["a"]]
    assert "李四" not in _text(page) and "某单位" not in _text(page)
    # a search by a hidden item's party, cause or case does not reveal that it matches
    assert lookup.search_items(s.archive, NONE, Query(party="李四"))["items"] == []
    assert [r["id"] for r in lookup.search_items(s.archive, NONE, Query(cause="无照经营"))
            ["items"]] == [r["id"] for r in page["items"] if not r.get("masked")]
    # cleared for personal privacy: that item shows; the state secret stays masked
    cleared = {r["id"]: r for r in lookup.search_items(s.archive, PRIVACY, Query())["items"]}
    assert cleared[s.items["secret"]]["party"] == "李四"
    assert cleared[s.items["state"]]["party"] == "***"
    assert [r["party"] for r in lookup.search_items(s.archive, PRIVACY,
                                                    Query(party="李四"))["items"]] == ["李四"]
    # paged: the cursor continues where the page ended
    first = lookup.search_items(s.archive, NONE, Query(), limit=3)
    assert len(first["items"]) == 3 and first["next_cursor"]
    rest = lookup.search_items(s.archive, NONE, Query(), limit=3, cursor=first["next_cursor"])
    assert {r["id"] for r in first["items"] + rest["items"]} == set(s.items.values())


def test_counts_are_masked(team):
    s = team
    counts = lookup.count_items(s.archive, NONE, "party")
    assert counts == {"王五": 1, "赵六": 1, "***": 2}
    assert lookup.count_items(s.archive, PRIVACY, "party") == {"王五": 1, "赵六": 1, "李四": 1,
                                                               "***": 1}
    assert lookup.count_items(s.archive, ALL, "party") == s.catalog.count_by("party", Query())
    # a filter on party, cause or case counts only what the viewer may see match it
    assert lookup.count_items(s.archive, NONE, "unit", Query(party="李四")) == {}
    assert lookup.count_items(s.archive, NONE, "officer", Query(cause="无照经营")) == {"O1": 2}
    assert lookup.count_items(s.archive, PRIVACY, "case_id", Query(cause="无照经营")) == {"": 3}
    # keys that name nothing confidential are the catalog's own counts
    assert lookup.count_items(s.archive, NONE, "unit") == {"market-001": 4}
    with pytest.raises(InputError):
        lookup.count_items(s.archive, NONE, "colour")


def test_show_is_masked(team):
    s = team
    shown = lookup.show_item(s.archive, NONE, s.items["secret"])
    assert shown["masked"] and shown["description"]["party"] == "***"
    assert "李四" not in _text(shown) and "secret%1.mp4" not in _text(shown)
    assert shown["signature_valid"]
    cleared = lookup.show_item(s.archive, PRIVACY, s.items["secret"], read_lock=True)
    assert cleared["description"]["party"] == "李四" and "masked" not in cleared
    assert cleared["lock_in_store"]["retain_until"]
    assert "masked" not in lookup.show_item(s.archive, NONE, s.items["a"])
    with pytest.raises(NotFound):
        lookup.show_item(s.archive, NONE, "no-such-item")


def test_pending_and_quarantine_are_masked(team):
    s = team
    d = Description(kind="video", party="李四", cause="泄密", confidential="personal-privacy",
                    source={"original_name": "李四笔录.mp4"})
    s.archive.archive_stream([os.urandom(1000)], d, s.actor,
                             datetime.now(timezone.utc) + timedelta(days=30))
    s.catalog.put_record("quarantine", "b1:李四.mp4", {
        "id": "b1:李四.mp4", "file": "李四.mp4", "path": "/q/李四.mp4", "sha256": "ab" * 32,
        "at": "2026-03-02T00:00:00Z", "reasons": [{"message": "Eicar-Test-Signature"}],
        "declared": d.to_dict()})
    pending = lookup.pending_items(s.archive, NONE)
    assert len(pending) == 1 and pending[0]["missing"]
    assert pending[0]["party"] == "***" and pending[0]["original_name"] == "***"
    assert lookup.pending_items(s.archive, PRIVACY)[0]["original_name"] == "李四笔录.mp4"
    listed = lookup.quarantine_list(s.archive, NONE)
    assert len(listed) == 1 and "李四" not in _text(listed)
    assert listed[0]["id"] == "b1:***" and listed[0]["reasons"]
    assert "李四" not in _text(lookup.quarantine_show(s.archive, NONE, "b1:李四.mp4"))
    assert lookup.quarantine_show(s.archive, PRIVACY, "b1:李四.mp4")["file"] == "李四.mp4"
    with pytest.raises(InputError, match="no quarantine entry"):
        lookup.quarantine_show(s.archive, NONE, "b1:other")


def test_viewer_clearances_fail_closed(team, monkeypatch):
    monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    monkeypatch.delenv("CUSTODY_TESTING", raising=False)
    assert viewer_clearances(team.archive) == NONE  # this OS account is nobody here


def test_requests_listed_and_approvers_from_settings(team, tmp_path, monkeypatch):
    s = team
    monkeypatch.delenv("CUSTODY_CONFIG", raising=False)
    ctx = access.AccessContext.from_settings(settings.load(None, tmp_path))
    assert ctx.approver_position("market-001") == "法制股"
    assert ctx.approver_position("no-such-unit") == access.FALLBACK_POSITION
    first = access.create_request(s.archive, s.officer, "复核", "view", items=[s.items["a"]])
    second = access.create_request(s.archive, s.legal, "核对", "extract", items=[s.items["b"]])
    access.decide(s.archive, s.legal, first["id"], True, "同意", ctx)
    rows = access.list_requests(s.archive)
    assert [r["id"] for r in rows] == [first["id"], second["id"]]
    assert rows[0] | {"at": None, "until": None} == {
        "id": first["id"], "status": "approved", "requester": "O1", "purpose": "view",
        "reason": "复核", "items": 1, "at": None, "units": ["market-001"],
        "decided_by": "L1", "until": None, "exports_allowed": None}  # a view: no exports
    assert rows[0]["until"] and rows[1]["decided_by"] is None
    assert [r["id"] for r in access.list_requests(s.archive, "pending")] == [second["id"]]
    assert [r["id"] for r in access.list_requests(s.archive, requester="O1")] == [first["id"]]
    with pytest.raises(InputError):
        access.list_requests(s.archive, "maybe")


def test_view_and_register_without_a_face(team, tmp_path):
    s = team
    req = access.create_request(s.archive, s.officer, "核对现场", "view", items=[s.items["a"]])
    access.decide(s.archive, s.legal, req["id"], True, "", access.AccessContext(
        approver_position=lambda u: "法制股"))
    counted = tmp_path / "read"
    out = viewing.view_with_player(s.archive, s.officer, s.items["a"], None,
                                   ["sh", "-c", f"wc -c > {counted}"])
    assert out["outcome"] == "completed" and out["request"] == req["id"]
    assert out["player_exit"] == 0 and int(counted.read_text()) == 70_000
    seen = []
    fetched = viewing.view_by_link(s.archive, s.officer, s.items["a"], req["id"], seen.append,
                                   timeout=1)
    assert not fetched["fetched"] and fetched["outcome"] == "started"
    assert seen[0].startswith("http://127.0.0.1:")
    rows = register.read_register(s.archive, s.legal, None, None)
    assert [(r["kind"], r["how"], r["outcome"]) for r in rows] == [
        ("view", "player", "已调阅"), ("view", "link", "调阅中")]
    # what a person reads for the ids: the approver by name, the item by its 题名
    cells = register.row_cells(rows[0], None)
    assert cells[3] == "名L1（L1）" and rows[0]["item_title"] and \
        cells[5] == f"{rows[0]['item_title']}（{s.items['a']}）"
    assert "王五" in rows[0]["item_title"]
    assert register.read_register(s.archive, s.legal, None,
                                  datetime(2020, 1, 1, tzinfo=timezone.utc)) == []


def _refusals(s) -> list[dict]:
    return sorted((r for r in s.catalog.list_records("access_register")
                   if r["kind"] == "refusal"), key=lambda r: r["ledger_seq"])


def test_every_refusal_is_recorded_once(team, monkeypatch):
    s = team
    ctx = access.AccessContext(approver_position=lambda u: "法制股")
    req = access.create_request(s.archive, s.officer, "复核", "view", items=[s.items["a"]])
    # the access rules refuse: recorded by the access service, not again by the decorator
    with pytest.raises(access.AccessRefused) as refused:
        access.decide(s.archive, s.officer, req["id"], True, "", ctx)
    assert refused.value.recorded
    with pytest.raises(access.AccessRefused):
        viewing.view_with_player(s.archive, s.officer, s.items["b"], None, ["true"])
    actions = [e.action for e in s.catalog.ledger_entries()]
    assert actions.count("access-refused") == 2 and "refused" not in actions
    assert [(r["person"], r["action"]) for r in _refusals(s)] == [("O1", "approve"),
                                                                  ("O1", "view")]
    # who is acting is refused (the approver vanished after sign-in): recorded once, by the
    # people service's mechanism, through the decorator on the entry point
    monkeypatch.setattr(access, "person_of", lambda catalog, pid: None)
    with pytest.raises(IdentityError) as gone:
        access.decide(s.archive, s.legal, req["id"], True, "", ctx)
    assert gone.value.recorded
    actions = [e.action for e in s.catalog.ledger_entries()]
    assert actions.count("refused") == 1 and actions.count("access-refused") == 2
    last = _refusals(s)[-1]
    assert last["person"] == "L1" and last["action"] == "access decide"
    assert len(_refusals(s)) == 3
