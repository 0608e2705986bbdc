"""Disc copies: first-fit packing, ISO images holding one bag each, offline verification."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import bagit
import pytest

from archive.domain.errors import InputError, ProblemFound
from archive.domain.model import Description
from archive.integrity.signing import Keyring, SigningKey
from archive.packaging.bags import open_bag
from retention import discs
from tests.support.archives import make_archive
from tests.support.builders import make_item
from tests.support.cycle import SH, archivist, policy
from tests.support.damage import damage

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)
CAP = discs.DISC_RESERVE + 700_000  # a "disc" that holds about two 300 kB items


def test_capacity_sizes():
    assert discs.parse_capacity("25G") == 25 * 10**9
    assert discs.parse_capacity("100g") == 100 * 10**9
    assert discs.parse_capacity("5M") == 5_000_000
    for bad in ("lots", "1K", "-3G"):
        with pytest.raises(InputError):
            discs.parse_capacity(bad)


def test_first_fit_in_the_given_order():
    items = [(make_item(), s) for s in (400, 700, 300, 200, 1200, 100)]
    p = discs.plan(items, discs.DISC_RESERVE + 1000)
    assert [[s for _, s in d] for d in p.discs] == [[400, 300, 200, 100], [700]]
    assert [r["item"] for r in p.refused] == [items[4][0].id]
    assert "use a larger disc" in p.refused[0]["message"]


def _permanent(setup, n: int, size: int, year: int = 2025):
    start = datetime(year, 6, 1, 9, tzinfo=SH) + timedelta(hours=n)
    item = setup.archive.archive_stream([os.urandom(size)], Description(
        kind="video", unit="resources-001", device_id="D1", officers=["P1"],
        recorded_start=start, recorded_end=start + timedelta(minutes=3), party="王五"),
        setup.actor, datetime.now(timezone.utc) + timedelta(days=30)).item
    item.tier = "permanent"
    setup.catalog.save_state(item)
    return item


@pytest.fixture
def perm(tmp_path, catalog, store):
    setup = make_archive(tmp_path, catalog, store)
    arc = archivist(setup, "ARC1")
    items = [_permanent(setup, n, 300_000) for n in range(3)]
    big = _permanent(setup, 9, 900_000)
    _permanent(setup, 10, 1000, year=2024)  # another year
    return setup, arc, items, big, tmp_path


def test_build_verify_place_and_never_twice(perm):
    setup, arc, items, big, tmp = perm
    with pytest.raises(Exception, match="archivist"):
        discs.build(setup.archive, setup.actor, policy(), "permanent", 2025, CAP, tmp / "d",
                    NOW)
    out = discs.build(setup.archive, arc, policy(), "permanent", 2025, CAP, tmp / "d", NOW)
    assert [r["item"] for r in out["refused"]] == [big.id]
    built = out["discs"]
    assert [[r["item"] for r in d["items"]] for d in built] == \
        [[items[0].id, items[1].id], [items[2].id]]
    for d in built:
        assert d["size"] <= CAP
        rep = discs.verify(d["image"], setup.archive.archive_keys)
        assert rep["ok"], rep["problems"]
        assert rep["items"] == len(d["items"])
    # bagit-python validates the bag on the disc, copied out of the image unchanged
    extracted = tmp / "extracted"
    with open_bag(built[0]["image"]) as src:
        for rel in src.files():
            target = extracted / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes(rel))
    bagit.Bag(str(extracted)).validate()
    obj = extracted / "data" / built[0]["items"][0]["file"]
    assert obj.read_bytes() == setup.store.read_bytes(items[0].storage["object"]["key"],
                                                      items[0].storage["object"]["version_id"])
    # a mounted disc (a directory) verifies the same way
    assert discs.verify(extracted, setup.archive.archive_keys)["ok"]

    again = discs.build(setup.archive, arc, policy(), "permanent", 2025, CAP, tmp / "d", NOW)
    assert again["discs"] == []  # items already on a disc are not packed again
    placed = discs.place(setup.archive, arc, built[0]["id"], "档案室 3号柜 第2层", NOW)
    assert placed["location"] == "档案室 3号柜 第2层" and len(placed["placements"]) == 1
    with pytest.raises(InputError):
        discs.place(setup.archive, arc, "J001-GP-9999", "x", NOW)
    inv = discs.inventory(setup.archive)
    assert [d["id"] for d in inv] == ["J001-GP-0001", "J001-GP-0002"]
    assert all(d["lent"] is False for d in inv)
    left = {i.id for i in discs.candidates(setup.archive, policy(), "permanent", None)}
    assert len(left) == 2 and big.id in left  # the big one and the 2024 item
    everything = discs.build(setup.archive, arc, policy(), "permanent", None, 10**9,
                             tmp / "d", NOW)
    assert {r["item"] for r in everything["discs"][0]["items"]} == left
    assert everything["refused"] == []


def test_verify_names_every_problem(perm, tmp_path):
    setup, arc, items, big, tmp = perm
    out = discs.build(setup.archive, arc, policy(), "permanent", 2025, CAP, tmp / "d", NOW)
    image = out["discs"][0]["image"]
    # flip one byte of an object inside the image
    data = bytearray(open(image, "rb").read())
    first = setup.store.read_bytes(items[0].storage["object"]["key"],
                                   items[0].storage["object"]["version_id"])
    at = data.find(first[:64])
    assert at > 0
    data[at + 10] ^= 0xFF
    bad = tmp_path / "bad.iso"
    bad.write_bytes(bytes(data))
    rep = discs.verify(bad, setup.archive.archive_keys)
    assert not rep["ok"]
    codes = {(p["code"], p["path"]) for p in rep["problems"]}
    first_file = f"data/records/{items[0].id}.bin"  # no 档号 yet: named by item id
    assert ("altered", first_file) in codes
    assert ("object-mismatch", first_file) in codes
    # with another archive's keys every signature fails, each named
    other = Keyring()
    other.add(SigningKey.generate(tmp_path / "other.key").public)
    rep = discs.verify(image, other)
    sig = [p["path"] for p in rep["problems"] if p["code"] == "signature-invalid"]
    assert "data/disc-manifest.json" in sig
    assert f"data/metadata/{items[1].id}/v0001.json" in sig
    # a directory that is not a bag
    empty = tmp_path / "notabag"
    empty.mkdir()
    rep = discs.verify(empty, setup.archive.archive_keys)
    assert {"no-declaration", "no-disc-manifest"} <= {p["code"] for p in rep["problems"]}


def test_damaged_object_is_not_copied(perm):
    setup, arc, items, big, tmp = perm
    obj = items[0].storage["object"]
    damage(setup.store, obj["key"], obj["version_id"])
    with pytest.raises(ProblemFound, match="no disc written"):
        discs.build(setup.archive, arc, policy(), "permanent", 2025, CAP, tmp / "d", NOW)
    assert discs.inventory(setup.archive) == []
    assert not list((tmp / "d").glob("*.iso")) and not list((tmp / "d").glob(".*staging"))




def test_disc_numbers_are_claimed_in_the_store_and_images_named_by_digest(perm):
    import hashlib

    setup, arc, items, _big, tmp = perm
    # another build elsewhere claimed GP-0001 a moment ago: this one labels its disc 0002
    assert discs._claim_disc(setup.archive, "J001", 1, arc, NOW) == (1, "J001-GP-0001")
    out = discs.build(setup.archive, arc, policy(), "permanent", 2025, CAP, tmp / "d", NOW)
    ids = [d["id"] for d in out["discs"]]
    assert ids == ["J001-GP-0002", "J001-GP-0003"]
    for d in out["discs"]:
        with open(d["image"], "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == d["image_sha256"]
