"""A large batch's records are packed in a forked child (archive/catalog/packer.py): the same
bytes as packed in the parent, and nothing depends on the child: one that cannot start, dies
or fails leaves the parent to pack the rest, prints nothing, and is never left running."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from archive.catalog import packer as packer_module
from archive.catalog import sqlite as sqlite_module
from archive.catalog.base import Query
from archive.catalog.packer import Packer, pack_chunk
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.errors import InputError
from tests.support.builders import make_item

CHUNK = 7


def _items(n: int) -> list:
    return [make_item(party=f"王{k % 5}五") for k in range(n)]


def _chunks(items: list) -> list[list[bytes]]:
    return [pack_chunk(items[n:n + CHUNK]) for n in range(0, len(items), CHUNK)]


def _drain(p: Packer, items: list) -> list[list[bytes]]:
    return [p.next() for _ in range(0, len(items), CHUNK)]


def _no_child_left() -> bool:
    return multiprocessing.active_children() == []


def test_a_child_packs_every_chunk_into_the_bytes_the_parent_would_make():
    items = _items(40)
    with Packer(items, CHUNK, fork_items=10) as p:
        got = _drain(p, items)
        assert p.forked and p.from_child == 6
    assert got == _chunks(items)
    assert _no_child_left()


def test_a_small_batch_is_packed_in_the_parent():
    items = _items(9)
    with Packer(items, CHUNK, fork_items=10) as p:
        assert not p.forked
        assert _drain(p, items) == _chunks(items)
        assert p.from_child == 0


def _one_chunk_then_die(items, chunk, conn):
    conn.send(pack_chunk(items[:chunk]))
    conn.close()
    os._exit(1)


def test_a_child_that_dies_midway_leaves_the_rest_to_the_parent(monkeypatch):
    monkeypatch.setattr(packer_module, "_child", _one_chunk_then_die)
    items = _items(30)
    with Packer(items, CHUNK, fork_items=10) as p:
        got = _drain(p, items)
        assert p.from_child == 1 and not p.forked  # the rest was packed here
    assert got == _chunks(items)
    assert _no_child_left()


def test_a_child_that_cannot_start_leaves_the_batch_to_the_parent(monkeypatch):
    def refuse(self):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    items = _items(20)
    with Packer(items, CHUNK, fork_items=10) as p:
        assert not p.forked
        assert _drain(p, items) == _chunks(items)


@pytest.fixture
def small_bulk(monkeypatch):
    """add_items's bulk path (the cache, the map, the child) for batches of 12 or more."""
    monkeypatch.setattr(sqlite_module, "_BULK_ITEMS", 12)
    monkeypatch.setattr(sqlite_module, "_CHUNK", CHUNK)
    made: list[Packer] = []

    class Seen(Packer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(sqlite_module, "Packer", Seen)
    return made


def test_a_large_batch_is_stored_as_packed_by_the_child(tmp_path, small_bulk):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = sorted(_items(40), key=lambda i: i.id)
    cat.add_items(items)
    p, = small_bulk
    assert p.from_child == 6
    stored = [row[0] for row in cat.db.execute("SELECT doc FROM items ORDER BY rowid")]
    assert stored == [doc for chunk in _chunks(items) for doc in chunk]
    assert all(cat.get_item(i.id).to_record() == i.to_record() for i in items)
    assert cat.count(Query(party="王3")) == 8
    # the bulk settings are given back: the map is for the length of a batch only
    assert cat.db.execute("PRAGMA mmap_size").fetchone()[0] == 0
    assert cat.db.execute("PRAGMA cache_size").fetchone()[0] == -sqlite_module._CACHE_KIB
    assert _no_child_left()
    cat.close()


def test_an_item_that_cannot_be_packed_fails_the_batch_in_the_parent_alone(tmp_path, capfd,
                                                                           small_bulk):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    items = _items(30)
    bad = sorted(items, key=lambda i: i.id)[17]

    def broken():
        raise ValueError("this record cannot be written")

    bad.to_record = broken
    with pytest.raises(ValueError, match="cannot be written"):
        cat.add_items(items)
    assert small_bulk[0].from_child == 2  # the chunks before the bad one
    assert cat.count(Query()) == 0  # the batch is refused whole
    assert capfd.readouterr().err == ""  # the child met it too, and said nothing
    assert _no_child_left()
    cat.close()


def test_a_refused_batch_ends_its_child(tmp_path, small_bulk):
    cat = SQLiteCatalog(tmp_path / "c.sqlite")
    first = _items(1)
    cat.add_items(first)
    with pytest.raises(InputError, match="already exists"):
        cat.add_items(_items(30) + first)
    assert small_bulk[0].forked is False  # stopped on the way out
    assert cat.count(Query()) == 1
    assert _no_child_left()
    cat.close()
