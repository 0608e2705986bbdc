"""Transfer prepare/accept and finalize as services, on both stores and both catalogs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import bagit
import pytest

from archive.domain.errors import IdentityError, InputError
from archive.domain.model import Description
from archive.integrity.signing import fingerprint
from retention import codes, cycle, transfer
from tests.support.archives import make_archive
from tests.support.cycle import SH, add, archivist, policy
from tests.support.damage import damage


@pytest.fixture
def year(tmp_path, catalog, store):
    setup = make_archive(tmp_path, catalog, store)
    a1, a2 = archivist(setup, "ARC1"), archivist(setup, "ARC2")
    items = [add(setup, n) for n in range(4)] + [add(setup, 10 + n, "urban-001")
                                                 for n in range(2)]
    pending = add(setup, 20, device_id=None)  # no device: pending metadata
    # a recording at 2025-12-31 23:30 in Shanghai is 15:30 UTC: year 2025, not 2026
    edge = add(setup, 30, when=datetime(2025, 12, 31, 23, 30, tzinfo=SH))
    add(setup, 31, when=datetime(2026, 1, 1, 0, 30, tzinfo=SH))  # year 2026: not in the lot
    return setup, a1, a2, items + [edge], pending, tmp_path


def test_prepare_withholds_accept_needs_another_archivist(year):
    setup, a1, a2, items, pending, tmp = year
    with pytest.raises(IdentityError):
        transfer.prepare(setup.archive, setup.actor, policy(), 2025, tmp / "out",
                         datetime.now(timezone.utc))
    rec = transfer.prepare(setup.archive, a1, policy(), 2025, tmp / "out",
                           datetime.now(timezone.utc))
    assert set(rec["items"]) == {i.id for i in items}
    assert [w["item"] for w in rec["withheld"]] == [pending.id]
    assert rec["withheld"][0]["reasons"] == ["pending-metadata"]
    bag = bagit.Bag(rec["package"])
    bag.validate()  # the Library of Congress validator, unchanged
    root = tmp / "out" / "transfer-2025-01" / "data"
    listing = (root / "transfer-list-zh.txt").read_text("utf-8")
    assert "移交清单" in listing and "暂缓移交" in listing
    fp = fingerprint(setup.archive.key.key_id)
    assert fp in listing
    signed = json.loads((root / "transfer-manifest.json").read_text("utf-8"))
    assert setup.archive.archive_keys.verify(signed["manifest"], signed["key_id"],
                                             signed["signature"])
    rows = {r["item_id"]: r for r in signed["manifest"]["items"]}
    one = items[0]
    assert rows[one.id]["object"]["version_id"] == one.storage["object"]["version_id"]
    meta = root / "metadata" / one.id / "v0001.json"
    assert meta.read_bytes() == setup.store.read_bytes(one.storage["manifests"][0]["key"],
                                                       one.storage["manifests"][0]["version_id"])
    assert not any((root / "metadata").glob(f"{pending.id}*"))
    report = json.loads((root / "check-report.json").read_text("utf-8"))
    assert report["checked"] == len(items) + 1
    assert "四性检测报告" in (root / "check-report-zh.txt").read_text("utf-8")

    with pytest.raises(InputError, match="no accepted transfer"):
        cycle.finalize(setup.archive, a1, policy(), 2025, tmp / "work",
                       datetime.now(timezone.utc))
    with pytest.raises(IdentityError, match="another archivist"):
        transfer.accept(setup.archive, a1, 2025, datetime.now(timezone.utc))
    t = transfer.accept(setup.archive, a2, 2025, datetime.now(timezone.utc))
    assert t["status"] == "accepted" and transfer.verify_receipt(setup.archive, t)
    stored = json.loads(setup.store.read_bytes(t["receipt"]["key"],
                                               t["receipt"]["version_id"]))
    assert stored["receipt"]["accepted_by"] == "ARC2"
    # a receipt edited in the catalog no longer verifies against ARC2's key
    t["receipt"]["receipt"]["items"] += 1
    assert not transfer.verify_receipt(setup.archive, t)
    actions = [e.action for e in setup.catalog.ledger_entries()]
    assert "transfer-prepared" in actions and "transfer-accepted" in actions


def test_fixed_item_is_picked_up_and_appended_at_the_end(year):
    setup, a1, a2, items, pending, tmp = year
    now = datetime.now(timezone.utc)
    transfer.prepare(setup.archive, a1, policy(), 2025, tmp / "out", now)
    transfer.accept(setup.archive, a2, 2025, now)
    first = cycle.finalize(setup.archive, a2, policy(), 2025, tmp / "work", now)
    assert len(first["new_codes"]) == len(items)
    assert first["not_transferred"] == [pending.id]
    market = [d["code"] for d in first["new_codes"] if d["unit"] == "market-001"]
    assert market == [f"J001-2025-M6-market-001-{n:05d}" for n in range(1, 6)]
    # ordered by recorded time: the 31 December recording is the last of market-001
    assert [d for d in first["new_codes"] if d["unit"] == "market-001"][-1]["item"] == \
        items[-1].id
    assert codes.gaps(codes.codes_of_year(setup.catalog, 2025)) == {}
    st = cycle.status(setup.archive, policy(), 2025, datetime(2026, 4, 1, tzinfo=SH))
    assert st["phase"] == "archiving"
    assert {b["code"] for b in st["blockers"]} >= {"pending-metadata", "not-transferred"}

    again = cycle.finalize(setup.archive, a2, policy(), 2025, tmp / "work", now)
    assert again["unchanged"] and again["manifest"] is None

    d = pending.description
    fixed = Description.from_dict(d.to_dict() | {"device_id": "D20"})
    setup.archive.correct(pending.id, fixed, setup.actor, "device added")
    rec = transfer.prepare(setup.archive, a2, policy(), 2025, tmp / "out", now)
    assert rec["id"] == "2025-02" and rec["items"] == [pending.id] and rec["withheld"] == []
    transfer.accept(setup.archive, a1, 2025, now)
    late = cycle.finalize(setup.archive, a1, policy(), 2025, tmp / "work", now)
    assert [c["code"] for c in late["new_codes"]] == ["J001-2025-M6-market-001-00006"]
    assert late["manifest"]["number"] == 2
    st = cycle.status(setup.archive, policy(), 2025, datetime(2026, 4, 1, tzinfo=SH))
    assert st["phase"] == "finalized" and st["blockers"] == [] and st["overdue"] == []

    # a promotion is noted beside the code, never put into it
    item = setup.archive.item(items[0].id)
    item.tier = "permanent"
    setup.catalog.save_state(item)
    promoted = cycle.finalize(setup.archive, a1, policy(), 2025, tmp / "work", now)
    doc = setup.catalog.get_record("archive_codes", "J001-2025-M6-market-001-00001")
    assert doc["item"] == item.id and doc["period"] == "6m"
    assert doc["notes"][-1]["period"] == "permanent" and "档号不变" in doc["notes"][-1]["text"]
    assert promoted["new_codes"] == [] and promoted["manifest"]["number"] == 3
    body = json.loads(setup.store.read_bytes(*_key(setup, 2025, 3,
                                                   "data/annual-manifest.json")))
    assert setup.archive.archive_keys.verify(body["manifest"], body["key_id"],
                                             body["signature"])
    assert len(body["manifest"]["items"]) == len(items) + 1


def _key(setup, year: int, number: int, rel: str) -> tuple[str, str]:
    key = f"annual/{year}/{number:03d}/{rel}"
    return key, setup.store.versions(key)[0]


def test_damaged_object_is_withheld_until_restored(year):
    setup, a1, a2, items, pending, tmp = year
    obj = items[1].storage["object"]
    damage(setup.store, obj["key"], obj["version_id"])
    rec = transfer.prepare(setup.archive, a1, policy(), 2025, tmp / "out",
                           datetime.now(timezone.utc))
    withheld = {w["item"]: w["reasons"] for w in rec["withheld"]}
    assert withheld[items[1].id] == ["digest-mismatch"]
    assert items[1].id not in rec["items"]
    text = (tmp / "out" / "transfer-2025-01" / "data" / "check-report-zh.txt").read_text()
    assert "完整性-摘要值不符" in text
