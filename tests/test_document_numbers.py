"""Document numbers (文号, 〔2026〕移字第0003号): one sequence per word and year, without gaps
or duplicates, even with two processes issuing at once; a subject keeps its number; a
process that died between the ledger append and the counter write leaves nothing wrong."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.integrity.signing import Keyring, SigningKey
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.local import LocalWormStore
from documents import numbers
from tests.support.archives import make_archive
from tests.support.worm import release_all_for_tests

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def setup(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    s = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    yield s
    cat.close()
    release_all_for_tests(tmp_path / "worm")


@pytest.fixture
def any_backend(tmp_path, catalog):
    """The allocation on every catalog backend (it uses only the atomic ledger append and
    small records every backend has)."""
    s = make_archive(tmp_path, catalog, LocalWormStore(tmp_path / "worm"))
    yield s
    release_all_for_tests(tmp_path / "worm")


def _take(s, kind: str, word: str, year: int, subject: str) -> int:
    return numbers.allocate(s.archive, s.actor, kind, word, year, subject, NOW)


def test_numbers_follow_each_other_per_word_and_year(any_backend):
    setup = any_backend
    got = [_take(setup, "handover-list", "移", 2026, f"s{i}") for i in range(3)]
    assert got == [1, 2, 3]
    assert _take(setup, "disposal-register", "销", 2026, "s0") == 1  # its own sequence
    assert _take(setup, "handover-list", "移", 2027, "s9") == 1  # a new year starts at 1
    assert _take(setup, "handover-list", "移", 2026, "s1") == 2  # a subject keeps its number
    # two kinds sharing a word share its sequence, each subject numbered once per kind
    assert _take(setup, "disc-label", "盘", 2026, "d1") == 1
    assert _take(setup, "disc-readme", "盘", 2026, "d1") == 2
    assert numbers.format_number("移", 2026, 3) == "〔2026〕移字第0003号"
    entries = [e for e in setup.catalog.ledger_entries() if e.action == numbers.ACTION]
    assert len(entries) == 7  # one ledger entry per number given, none for a number kept


def test_a_counter_left_behind_is_caught_up_from_the_ledger(any_backend):
    """A process that died after its append wrote neither the subject's number nor the
    counter: the next allocation replays the ledger instead of giving the number again."""
    setup = any_backend
    for i in range(3):
        _take(setup, "handover-list", "移", 2026, f"s{i}")
    setup.catalog.put_record("meta", numbers.COUNTER, {"ledger_seq": 0, "last": {}})
    assert _take(setup, "handover-list", "移", 2026, "s3") == 4
    real_put = setup.catalog.put_record

    def dies(collection, record_id, doc):
        raise RuntimeError("process killed")

    setup.catalog.put_record = dies
    with pytest.raises(RuntimeError):
        _take(setup, "handover-list", "移", 2026, "s4")  # appended, then died
    setup.catalog.put_record = real_put
    assert _take(setup, "handover-list", "移", 2026, "s4") == 5  # its number, from the ledger
    assert _take(setup, "handover-list", "移", 2026, "s5") == 6


def _allocate_many(db_path: str, worm: str, key_dir: str, tag: str, n: int,
                   queue) -> None:
    akey = SigningKey.load(Path(key_dir) / "archive.key")
    ring = Keyring()
    ring.add(akey.public)
    cat = SQLiteCatalog(db_path)
    archive = Archive(cat, LocalWormStore(Path(worm)), akey, ring)
    actor = Actor("P000", SigningKey.load(Path(key_dir) / "person-P000.key"))
    got = []
    for i in range(n):
        # every third subject is issued by both processes at once: numbered once
        subject = f"both-{i}" if i % 3 == 0 else f"{tag}-{i}"
        got.append((subject, numbers.allocate(archive, actor, "handover-list", "移", 2026,
                                              subject, NOW)))
    cat.close()
    queue.put(got)


def test_two_processes_at_once_take_no_number_twice_and_skip_none(setup, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_allocate_many,
                         args=(str(setup.catalog.path), str(tmp_path / "worm"),
                               str(setup.key_dir), tag, 30, queue)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    by_subject: dict[str, set[int]] = {}
    for got in results:
        for subject, number in got:
            by_subject.setdefault(subject, set()).add(number)
    assert all(len(n) == 1 for n in by_subject.values()), by_subject  # one number a subject
    taken = sorted(n for ns in by_subject.values() for n in ns)
    assert len(by_subject) == 10 + 2 * 20
    assert taken == list(range(1, len(by_subject) + 1))  # no gap, no duplicate
