"""Viewing in the browser, below the web face: one registered playback per view under the
command line's rules, the object checked in full before any byte, every range served from
blocks checked against their remembered digests, damage refused and recorded."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

import archive.access.requests as access
from archive.access import streaming
from archive.domain.errors import InputError, NotFound, ProblemFound
from tests.support.access import access_team
from tests.support.catalogs import sqlite_catalog
from tests.support.damage import damage
from tests.support.media import archive_file
from working.db import WorkingState

CTX = access.AccessContext(approver_position=lambda u: "法制股")
BLOCK = 4096  # small blocks: a 70 kB item spans many


@pytest.fixture
def team(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "BLOCK", BLOCK)
    with sqlite_catalog(tmp_path) as catalog:
        s = access_team(tmp_path, catalog)
        s.playbacks = streaming.Playbacks(WorkingState(tmp_path / "working.db"))
        s.data = os.urandom(70_001)
        s.video = archive_file(s.archive, s.actor, tmp_path / "clip.mp4", data=s.data)
        yield s
        from tests.support.worm import release_all_for_tests

        release_all_for_tests(tmp_path)


def _approved(s, items, purpose="view", until=None):
    req = access.create_request(s.archive, s.officer, "复核", purpose, items=items, until=until)
    return access.decide(s.archive, s.legal, req["id"], True, "同意", CTX)


def _views(s, item):
    return [r for r in s.catalog.list_records("access_register")
            if r["kind"] == "view" and r["item"] == item]


def _refusals(s):
    return [r for r in s.catalog.list_records("access_register") if r["kind"] == "refusal"]


def _ledger(s, action):
    return [e for e in s.catalog.ledger_entries() if e.action == action]


def _read(s, pb, first, last):
    return b"".join(streaming.read_range(s.archive, s.officer, s.playbacks, pb, first, last))


def test_one_registered_view_and_every_range_is_the_archived_bytes(team):
    s = team
    req = _approved(s, [s.video])
    pb = streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    assert (pb["request"], pb["mime"], pb["shown_as"], pb["size"]) == (
        req["id"], "video/mp4", "video", len(s.data))
    assert len(pb["id"]) >= 32  # unguessable
    size = len(s.data)
    for first, last in ((0, 1), (0, size - 1), (BLOCK - 1, BLOCK), (5000, 20_000),
                        (size - 10, size - 1), (3 * BLOCK, 4 * BLOCK - 1)):
        assert _read(s, pb, first, last) == s.data[first:last + 1], (first, last)
    # many ranges, one view: registered once, in the register and the ledger
    (entry,) = _views(s, s.video)
    assert (entry["how"], entry["outcome"], entry["person"], entry["request"]) == (
        "browser", "completed", "O1", req["id"])
    (led,) = _ledger(s, "access-view")
    assert led.details["register"] == entry["id"] and led.actor == "O1"
    # the verification is remembered per version: a second view reads no more than it needs
    v = s.playbacks.verified(pb["store_key"], pb["version_id"])
    assert v.size == size and len(v.digests) == 32 * (size // BLOCK + 1)
    pb2 = streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    assert pb2["id"] != pb["id"] and len(_views(s, s.video)) == 2


def test_viewing_is_refused_and_recorded_without_a_usable_approval(team):
    s = team
    with pytest.raises(access.AccessRefused, match="no approved request"):
        streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    req = _approved(s, [s.video])
    # another person's approval does not let B1 watch, naming it or not
    with pytest.raises(access.AccessRefused, match="made by O1, not B1"):
        streaming.open_playback(s.archive, s.leader, s.playbacks, s.video, req["id"])
    with pytest.raises(access.AccessRefused):
        streaming.open_playback(s.archive, s.leader, s.playbacks, s.video)
    # an approval to view another item does not cover this one
    other = _approved(s, [s.items["a"]])
    with pytest.raises(access.AccessRefused, match="does not cover"):
        streaming.open_playback(s.archive, s.officer, s.playbacks, s.video, other["id"])
    refusals = _refusals(s)
    assert [(r["person"], r["action"]) for r in refusals] == [
        ("O1", "view"), ("B1", "view"), ("B1", "view"), ("O1", "view")]
    assert len(_ledger(s, "access-refused")) == 4
    assert _views(s, s.video) == [] and _ledger(s, "access-view") == []


def test_an_expired_approval_is_refused(team):
    s = team
    until = datetime.now(timezone.utc) + timedelta(seconds=2)
    req = _approved(s, [s.video], until=until)
    pb = streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    assert pb["expires"] == req["decision"]["decision"]["until"]  # never past the approval
    time.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 0.1)
    with pytest.raises(access.AccessRefused, match="expired"):
        streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    with pytest.raises(access.AccessRefused, match="ended"):
        streaming.playback_for(s.archive, s.officer, s.playbacks, pb["id"])


def test_a_playback_is_its_viewers_only(team):
    s = team
    _approved(s, [s.video])
    pb = streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    assert streaming.playback_for(s.archive, s.officer, s.playbacks, pb["id"])["id"] == pb["id"]
    with pytest.raises(access.AccessRefused, match="opened by O1, not B1"):
        streaming.playback_for(s.archive, s.leader, s.playbacks, pb["id"])
    assert [r["person"] for r in _refusals(s)] == ["B1"]
    with pytest.raises(NotFound):
        streaming.playback_for(s.archive, s.officer, s.playbacks, "no-such-playback")


def test_damage_before_the_first_byte_refuses_and_is_recorded(team):
    s = team
    _approved(s, [s.video])
    obj = s.archive.item(s.video).storage["object"]
    damage(s.store, obj["key"], obj["version_id"])
    with pytest.raises(ProblemFound, match="do not match their digests"):
        streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    (entry,) = _views(s, s.video)
    assert entry["outcome"] == "digest-mismatch"
    (fail,) = _ledger(s, "fixity-failure")
    assert fail.subject == s.video and fail.details["during"] == "view"
    assert s.playbacks.verified(obj["key"], obj["version_id"]) is None


def test_damage_after_the_check_is_caught_at_its_block(team):
    s = team
    _approved(s, [s.video])
    pb = streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    # the first byte of the object changes behind the store's back after it was verified
    damage(s.store, pb["store_key"], pb["version_id"])
    assert _read(s, pb, BLOCK, 2 * BLOCK - 1) == s.data[BLOCK:2 * BLOCK]  # other blocks: fine
    with pytest.raises(ProblemFound):
        streaming.read_range(s.archive, s.officer, s.playbacks, pb, 0, 99)
    (entry,) = _views(s, s.video)
    assert entry["outcome"] == "digest-mismatch"
    (fail,) = _ledger(s, "fixity-failure")
    assert fail.details["read"]["block"] == 0
    # nothing is served under the forgotten verification, and a new view checks in full
    with pytest.raises(access.AccessRefused, match="no longer verified"):
        streaming.read_range(s.archive, s.officer, s.playbacks, pb, BLOCK, BLOCK + 1)
    with pytest.raises(ProblemFound):
        streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)


def test_damage_later_in_a_range_ends_the_stream_before_the_bad_block(team, tmp_path):
    s = team
    _approved(s, [s.video])
    pb = streaming.open_playback(s.archive, s.officer, s.playbacks, s.video)
    path = tmp_path / "worm" / "keys" / pb["store_key"] / pb["version_id"]
    from tests.support.worm import release_all_for_tests

    release_all_for_tests(path.parent)
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[2 * BLOCK + 7] ^= 0xFF
    path.write_bytes(bytes(raw))
    got = []
    stream = streaming.read_range(s.archive, s.officer, s.playbacks, pb, 0, 3 * BLOCK - 1)
    with pytest.raises(ProblemFound):
        for chunk in stream:
            got.append(chunk)
    assert b"".join(got) == s.data[:2 * BLOCK]  # up to, never into, the changed block


@pytest.mark.parametrize("fmt, name", [(".avi", "old.avi"), (".hevc.mp4", "h265.mp4")])
def test_formats_the_browser_cannot_play_are_declared_not_viewable(team, tmp_path, fmt, name):
    s = team
    item = archive_file(s.archive, s.actor, tmp_path / name, fmt=fmt, data=os.urandom(5000))
    shown = streaming.showing(s.archive.item(item))
    assert shown.shown_as is None and "export" in str(shown.why)
    _approved(s, [item])
    with pytest.raises(InputError, match="not viewable in the browser"):
        streaming.open_playback(s.archive, s.officer, s.playbacks, item)
    assert _views(s, item) == []


def test_what_the_browser_shows(team, tmp_path):
    s = team
    for name, fmt, want in (("p.jpg", ".jpg", ("image", "image/jpeg")),
                            ("d.pdf", ".pdf", ("pdf", "application/pdf")),
                            ("v.mp4", ".mp4", ("video", "video/mp4"))):
        item = archive_file(s.archive, s.actor, tmp_path / name, fmt=fmt,
                            data=os.urandom(100))
        shown = streaming.showing(s.archive.item(item))
        assert (shown.shown_as, shown.mime) == want
    # an item without a recorded format check is judged by its original name
    assert streaming.showing(s.archive.item(s.items["a"])).shown_as == "video"


@pytest.mark.parametrize("header, want", [
    (None, None), ("", None), ("bytes=0-", (0, 99)), ("bytes=5-9", (5, 9)),
    ("bytes=-3", (97, 99)), ("bytes=-500", (0, 99)), ("bytes=90-500", (90, 99)),
    ("bytes=99-99", (99, 99)), (" Bytes=1-2 ", (1, 2))])
def test_ranges(header, want):
    assert streaming.parse_range(header, 100) == want


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=5-2", "bytes=0-1,5-6", "items=0-1",
                                    "bytes=-0", "bytes=a-b", "bytes=5", "bytes=-"])
def test_unsatisfiable_ranges_are_refused(header):
    with pytest.raises(streaming.BadRange):
        streaming.parse_range(header, 100)


def test_an_auditor_plays_in_the_browser_what_their_sample_drew(team):
    from archive import verification
    from tests.support.access import add_person

    s = team
    auditor = add_person(s, "AU1", ["auditor"])
    with pytest.raises(access.AccessRefused, match="no sampled verification by AU1"):
        streaming.open_playback(s.archive, auditor, s.playbacks, s.video)
    lot = verification.inspect_lot(s.archive, auditor, [s.video], {"query": "test"},
                                   everything=True)
    pb = streaming.open_playback(s.archive, auditor, s.playbacks, s.video)
    assert pb["inspection"] == lot["id"] and pb["request"] is None
    assert _read(s, pb, 0, 9) == s.data[:10]
    (entry,) = _views(s, s.video)
    assert entry["inspection"] == lot["id"] and "回放检查" in entry["reason"]
    # the officer may not play under the auditor's inspection
    with pytest.raises(access.AccessRefused, match="not an auditor"):
        streaming.open_playback(s.archive, s.officer, s.playbacks, s.video,
                                inspection_id=lot["id"])


def test_block_digests_do_not_depend_on_how_the_store_cuts_its_reads(team, monkeypatch):
    s = team
    item = s.archive.item(s.video)
    straight, ok = streaming.verify_version(s.archive, item)
    assert ok and straight.size == len(s.data)
    read = s.archive.store.read

    def odd_pieces(key, version_id, chunk_size=None):  # an S3 body read in its own sizes
        data = b"".join(read(key, version_id))
        for i in range(0, len(data), 1000):
            yield data[i:i + 1000]

    monkeypatch.setattr(s.archive.store, "read", odd_pieces)
    cut, ok = streaming.verify_version(s.archive, item)
    assert ok and cut == straight
