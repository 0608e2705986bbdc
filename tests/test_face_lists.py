"""Items in the faces' listings (commands/base.py item_label): a person reads an item's 题名 with
its id beside it, and a confidential item's title never shows its party or cause to a viewer
without the clearance — also where a listing is not a search (audit verify's problems)."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import held_keys_home, run, run_json
from tests.support.language import chinese  # noqa: F401  (a fixture)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """admin (this OS account, no clearance), L1 with personal-privacy; a plain item and a
    confidential one, both with a search field edited behind custody's back."""
    held_keys_home(tmp_path, monkeypatch)
    run("people", "add", "L1", "--name", "法制员乙", "--account", "l1", "--role", "legal",
        "--clearance", "personal-privacy")
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    t0 = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    ids = {}
    for name, conf, party in (("plain", None, "王五"), ("secret", "personal-privacy", "李四")):
        d = Description(kind="video", unit="market-001", device_id="D1", officers=["L1"],
                        recorded_start=t0, recorded_end=t0 + timedelta(minutes=2), party=party,
                        cause="销售假冒商品", confidential=conf)
        ids[name] = archive.archive_stream([os.urandom(5000)], d, actor,
                                           datetime.now(timezone.utc) + timedelta(days=9)).item.id
    archive.finish_command()
    archive.catalog.close()
    with sqlite3.connect(tmp_path / "data" / "catalog.sqlite") as db:
        db.executemany("UPDATE items SET start_us=start_us+1 WHERE id=?",
                       [(i,) for i in ids.values()])
    db.close()
    monkeypatch.ids = ids
    yield monkeypatch
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(tmp_path)


def _problem_lines(text: str, item_id: str) -> list[str]:
    return [line for line in text.splitlines() if f"（{item_id}）" in line]


def test_a_listed_item_reads_by_title_and_id(home):
    ids = home.ids
    assert {p["item"] for p in run_json("audit", "verify", code=1)["index_problems"]} \
        == set(ids.values())
    text = run("audit", "verify", code=1).stdout
    (plain,) = _problem_lines(text, ids["plain"])
    title = run_json("show", ids["plain"])["title"]
    assert "王五" in title and f"{title}（{ids['plain']}）" in plain  # as show reads it
    assert "search-field-mismatch" in plain  # an English reader reads the code


def test_a_confidential_title_is_masked_without_the_clearance(home):
    ids = home.ids
    (secret,) = _problem_lines(run("audit", "verify", code=1).stdout, ids["secret"])
    assert "李四" not in secret and "销售假冒商品" not in secret and "***" in secret
    home.setenv("CUSTODY_ACT_AS", "L1")  # holds personal-privacy
    (secret,) = _problem_lines(run("audit", "verify", code=1).stdout, ids["secret"])
    assert "李四" in secret and "***" not in secret


def test_the_problem_reads_in_chinese(home, chinese):  # noqa: F811  (a fixture)
    (plain,) = _problem_lines(run("audit", "verify", code=1).stdout, home.ids["plain"])
    assert plain.startswith("  检索字段与签名元数据不一致：") and "search-field" not in plain
    assert "目录库为" in plain and "经签名的元数据为" in plain
