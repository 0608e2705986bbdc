"""Archive codes (档号): gap-free sequences, never reassigned, safe under concurrent runs."""

from __future__ import annotations

import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.catalog.sqlite import SQLiteCatalog
from archive.service import Archive
from archive.worm.local import LocalWormStore
from retention import codes, cycle, transfer
from tests.support.archives import make_archive
from tests.support.builders import make_item
from tests.support.cycle import add, archivist, policy
from tests.support.worm import release_all_for_tests

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)


def test_format_and_periods():
    assert codes.format_code("J001", 2025, "M6", "market-001", 7, 5) == \
        "J001-2025-M6-market-001-00007"
    assert codes.format_code("J001", 2025, "Y", "u", 123456, 5).endswith("-123456")  # never cut
    units = {"culture-001": {"routine_months": 12}}
    assert codes.item_period(make_item(unit="culture-001"), units) == "12m"
    assert codes.item_period(make_item(tier="permanent"), units) == "permanent"
    item = make_item()
    item.retention = {"period": "30y"}
    assert codes.period_code(codes.item_period(item, units)) == "D30"
    assert codes.gaps([{"fonds": "J", "year": 1, "period_code": "Y", "unit": "u", "number": n}
                       for n in (1, 3)]) == {"J-1-Y-u": [1, 3]}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.tuples(st.sampled_from(["market-001", "urban-001"]),
                                           st.sampled_from(["routine", "permanent"]),
                                           st.integers(0, 10_000)),
                                 min_size=0, max_size=6), min_size=1, max_size=5),
       batch=st.integers(1, 4))
def test_any_arrival_order_gives_gap_free_codes_never_reassigned(batches, batch, monkeypatch):
    monkeypatch.setattr(codes, "BATCH", batch)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        setup = make_archive(tmp, SQLiteCatalog(tmp / "c.sqlite"), LocalWormStore(tmp / "w"))
        try:
            given_codes: dict[str, str] = {}
            arrived = []
            for arrivals in batches:
                top_before = {}
                for doc in codes.codes_of_year(setup.catalog, 2025):
                    seq = (doc["period_code"], doc["unit"])
                    top_before[seq] = max(top_before.get(seq, 0), doc["number"])
                for unit, tier, minutes in arrivals:
                    arrived.append(make_item(unit=unit, tier=tier, start=datetime(
                        2025, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=minutes)))
                wanted = [codes.Wanted(i, codes.item_period(i, {})) for i in
                          codes.ordered(arrived)]
                new = codes.assign_codes(setup.archive, setup.actor, wanted, "J001", 2025, 4,
                                         NOW)
                docs = codes.codes_of_year(setup.catalog, 2025)
                assert codes.gaps(docs) == {}
                assert len({d["item"] for d in docs}) == len(docs) == len(arrived)
                for doc in docs:  # a code once given stays with its item
                    assert given_codes.setdefault(doc["item"], doc["code"]) == doc["code"]
                for doc in new:  # later arrivals go to the end of their sequence
                    assert doc["number"] > top_before.get((doc["period_code"], doc["unit"]), 0)
        finally:
            setup.catalog.close()
            release_all_for_tests(tmp)


def test_cache_lost_after_the_ledger_append_is_rebuilt(tmp_path, catalog, store):
    """A run that died between its ledger entry and the cache write loses nothing: the next
    run reads the assignment from the ledger and continues after it."""
    setup = make_archive(tmp_path, catalog, store)
    items = [make_item(start=datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(hours=n))
             for n in range(3)]
    wanted = [codes.Wanted(i, "6m") for i in items]
    real_put = catalog.put_record
    dropped = []

    def lossy(collection, record_id, doc):
        if collection == "archive_codes" and not dropped:
            dropped.append(record_id)
            raise RuntimeError("crash before the cache write")
        return real_put(collection, record_id, doc)

    catalog.put_record = lossy
    with pytest.raises(RuntimeError):
        codes.assign_codes(setup.archive, setup.actor, wanted[:2], "J001", 2025, 4, NOW)
    catalog.put_record = real_put
    assert codes.codes_of_year(catalog, 2025) == []
    new = codes.assign_codes(setup.archive, setup.actor, wanted, "J001", 2025, 4, NOW)
    assert [d["number"] for d in new] == [3]  # 1 and 2 were taken by the dead run
    docs = codes.codes_of_year(catalog, 2025)
    assert [d["item"] for d in docs] == [i.id for i in items]
    assert codes.gaps(docs) == {}


def test_two_finalize_runs_at_once_against_one_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.setattr(codes, "BATCH", 3)  # many small appends: the runs interleave
    path = tmp_path / "catalog.sqlite"
    setup = make_archive(tmp_path, SQLiteCatalog(path), LocalWormStore(tmp_path / "worm"))
    a1, a2 = archivist(setup, "ARC1"), archivist(setup, "ARC2")
    for n in range(40):
        add(setup, n, "market-001" if n % 3 else "urban-001")
    transfer.prepare(setup.archive, a1, policy(), 2025, tmp_path / "out", NOW)
    transfer.accept(setup.archive, a2, 2025, NOW)
    setup.catalog.close()

    barrier = threading.Barrier(2)
    results, errors = [], []

    def run(actor):
        cat = SQLiteCatalog(path)
        archive = Archive(cat, LocalWormStore(tmp_path / "worm"), setup.archive.key,
                          setup.archive.archive_keys)
        try:
            barrier.wait()
            results.append(cycle.finalize(archive, actor, policy(), 2025,
                                          tmp_path / f"work-{actor.person_id}", NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            cat.close()

    threads = [threading.Thread(target=run, args=(a,)) for a in (a1, a2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cat = SQLiteCatalog(path)
    try:
        docs = codes.codes_of_year(cat, 2025)
        assert len(docs) == 40 and len({d["item"] for d in docs}) == 40
        assert codes.gaps(docs) == {}
        assert sum(len(r["new_codes"]) for r in results) == 40
        runs = codes.manifest_runs(cat, 2025)
        assert [r["number"] for r in runs] == [1]  # both computed the same body: one manifest
        store = LocalWormStore(tmp_path / "worm")
        assert len(store.versions("annual/2025/001/bagit.txt")) == 1
        assert not list(store.list_keys("annual/2025/002/"))
    finally:
        cat.close()
        release_all_for_tests(tmp_path)


