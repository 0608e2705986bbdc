"""The audit ledger: chain, checkpoints, and tampering told apart (SQLite edited directly)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.integrity.signing import SigningKey
from archive.ledger.chain import Actor, check_chain
from archive.people import people_keyring
from archive.worm.local import LocalWormStore
from tests.support.archives import make_archive
from tests.support.language import chinese, english_phrases  # noqa: F401
from tests.support.worm import release_all_for_tests


@pytest.fixture
def setup(tmp_path):
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    s = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    yield s
    cat.close()
    release_all_for_tests(tmp_path / "worm")


def _fill(s, n=10):
    for i in range(n):
        s.archive.ledger.append(s.actor, "test", f"subject-{i}", {"i": i, "text": "王五"})
    s.archive.ledger.checkpoint()


def _codes(s):
    return [(p.code, p.seq) for p in s.archive.verify_ledger().problems]


def _sql(s, *statements):
    db = sqlite3.connect(s.catalog.path)
    with db:
        for st in statements:
            db.execute(st)
    db.close()


def test_intact_ledger_verifies(setup):
    _fill(setup)
    report = setup.archive.verify_ledger()
    assert report.ok and report.entries == 10 and report.checkpoints == 1


def test_edited_entry(setup):
    _fill(setup)
    _sql(setup, """UPDATE ledger SET details='{"i":99,"text":"王五"}' WHERE seq=4""")
    assert _codes(setup) == [("edited", 4)]


def test_removed_entry(setup):
    _fill(setup)
    _sql(setup, "DELETE FROM ledger WHERE seq=6")
    assert _codes(setup) == [("removed", 6)]


def test_reordered_pair(setup):
    _fill(setup)
    _sql(setup, "UPDATE ledger SET seq=-1 WHERE seq=3", "UPDATE ledger SET seq=3 WHERE seq=4",
         "UPDATE ledger SET seq=4 WHERE seq=-1")
    problems = setup.archive.verify_ledger().problems
    assert [(p.code, p.seq) for p in problems] == [("reordered", 3)]
    assert "3, 4" in str(problems[0].message)


def test_truncated_tail(setup):
    _fill(setup)
    _sql(setup, "DELETE FROM ledger WHERE seq>=8")
    problems = setup.archive.verify_ledger().problems
    assert [(p.code, p.seq) for p in problems] == [("truncated", 8)]
    assert "8..10" in str(problems[0].message)


def test_a_problem_reads_in_chinese_and_stays_english_in_json(setup, chinese):
    """The report's JSON keeps the English message; beside it the reader's text."""
    _fill(setup)
    _sql(setup, "DELETE FROM ledger WHERE seq>=8")
    [problem] = setup.archive.verify_ledger().to_dict()["problems"]
    assert problem["message"].startswith("entries 8..10 were cut off")
    assert "审计日志记录 8..10 被截去" in problem["text"]
    assert english_phrases(problem["text"]) == []


def test_recomputed_hash_is_a_broken_link(setup):
    """An attacker who edits an entry and recomputes its hash still breaks the next link."""
    _fill(setup)
    from archive.domain.model import LedgerEntry
    from archive.ledger.chain import entry_hash

    row = next(e for e in setup.catalog.ledger_entries() if e.seq == 5)
    forged = LedgerEntry(**{**row.__dict__, "subject": "forged"})
    _sql(setup, f"UPDATE ledger SET subject='forged', hash='{entry_hash(forged)}' WHERE seq=5")
    codes = _codes(setup)
    assert ("broken-link", 6) in codes
    assert ("bad-signature", 5) in codes  # the actor's signature was over the old hash
    assert ("rewritten", 5) not in codes and len(codes) == 2


def test_signature_of_unregistered_key_refused(setup, tmp_path):
    stranger = Actor("P000", SigningKey.generate(tmp_path / "stranger.key"))
    setup.archive.ledger.append(stranger, "test", "x", {})
    assert _codes(setup) == [("bad-signature", 1)]


def test_forged_checkpoint_detected(setup):
    _fill(setup, 3)
    setup.store.put_blob("ledger/checkpoints/000000000099-forged.json",
                         b'{"checkpoint":{"seq":99},"key_id":"x","signature":"y"}', None)
    assert _codes(setup) == [("bad-checkpoint", None)]


def test_checkpoint_only_once_per_head(setup):
    _fill(setup, 2)
    setup.archive.ledger.checkpoint()
    assert setup.archive.verify_ledger().checkpoints == 1


def _append_many(db_path: str, key_path: str, n: int, tag: str) -> None:
    cat = SQLiteCatalog(db_path)
    from datetime import datetime, timezone

    from archive.ledger.chain import build_entry

    actor = Actor("P000", SigningKey.load(Path(key_path)))
    for i in range(n):
        cat.append_ledger(lambda prev, i=i: build_entry(prev, actor, "load", f"{tag}-{i}", {},
                                                        datetime.now(timezone.utc)))
    cat.close()


@pytest.mark.slow
def test_two_processes_append_5000_each(setup):
    key_path = str(setup.key_dir / "person-P000.key")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(setup.catalog.path), key_path, 5000, t))
             for t in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    rows = list(setup.catalog.ledger_entries())
    assert [r.seq for r in rows] == list(range(1, 10001))
    assert sum(r.subject.startswith("a-") for r in rows) == 5000
    assert check_chain(rows, people_keyring(setup.catalog)) == []


def test_an_entry_naming_someone_else_does_not_verify(setup):
    """A registered key of another person does not make an entry in someone's name."""
    from archive import people

    other = SigningKey.generate(setup.key_dir / "person-P777.key")
    people.register(setup.catalog, "P777", "另一人", "acct-P777", ["officer"], other)
    _fill(setup, 2)
    setup.archive.ledger.append(Actor("P000", other), "approve", "forged", {})  # P777's key
    setup.archive.ledger.append(Actor("P777", other), "note", "honest", {})
    assert _codes(setup) == [("bad-signature", 3)]
    # the archive's own key counts only for the archive's own entries
    setup.archive.ledger.append(Actor(people.SYSTEM_ACTOR, setup.archive.key), "refused", "x")
    setup.archive.ledger.append(Actor("P000", setup.archive.key), "approve", "forged-2")
    assert _codes(setup) == [("bad-signature", 3), ("bad-signature", 6)]
