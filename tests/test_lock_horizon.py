"""The lock horizon: everything kept for ever is locked a configured number of years ahead and
renewed by `retention run` before it ends -- permanent items (the engine) and, here, the
records that are not items: the archive's public keys, ledger checkpoints, journal segments
and the other signed records (retention/renewal.py). On the local store, S3 through moto and
a real Ceph RGW, whose 32-bit dates end on 2106-02-07: a renewal past that is refused with
the setting to change, never clamped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from archive.domain.errors import ConfigError, LockNotConfirmed
from archive.ledger.chain import LOCK_HORIZON_YEARS
from archive.worm.s3 import WRAP_LIMIT
from bootstrap import open_store
from config import settings
from retention import renewal
from retention.engine import RetentionEngine
from retention.rules import add_years
from tests.support.catalogs import sqlite_catalog
from tests.support.cli import held_keys_home, run, run_json
from tests.support.retention import make_team
from tests.support.stores import ALL_STORE_FACTORIES


@pytest.fixture(params=["local", "s3", "ceph"])
def any_store(request, tmp_path):
    """The local store, S3 on moto, S3 on the session's Ceph RGW."""
    with ALL_STORE_FACTORIES[request.param](tmp_path) as store:
        yield store


def _settings(tmp_path, text: str = "") -> settings.Settings:
    path = tmp_path / "custody.toml"
    path.write_text(text, encoding="utf-8")
    return settings.load(path, tmp_path / "home")


@pytest.fixture
def cat(tmp_path):
    with sqlite_catalog(tmp_path) as catalog:
        yield catalog


def _team(tmp_path, cat, store):
    """A team, one routine item, and the records a command leaves: the archive key, a
    checkpoint and a journal segment."""
    team = make_team(tmp_path, cat, store)
    item = team.put()
    team.archive.finish_command()
    return team, item


def _records(team) -> dict[str, str]:
    return dict(renewal.record_keys(team.archive))


def _renewals(team) -> list[str]:
    return [e.subject for e in team.catalog.ledger_entries() if e.action == renewal.ACTION]


# --- the settings ----------------------------------------------------------------------------
def test_one_horizon_for_everything_kept_for_ever_that_fits_every_server(tmp_path):
    s = settings.load(None, tmp_path)
    years = s.section("retention")["permanent_lock_years"]
    assert years == LOCK_HORIZON_YEARS == s.section("ledger")["checkpoint_retention_years"]
    # a lock the default gives today (or renews to) is one Ceph RGW can hold
    assert add_years(datetime.now(UTC), years) + timedelta(days=366) < WRAP_LIMIT
    s = _settings(tmp_path, "[retention]\npermanent_lock_years = 40\n")
    assert s.section("ledger")["checkpoint_retention_years"] == 40  # follows the horizon
    s = _settings(tmp_path, "[ledger]\ncheckpoint_retention_years = 60\n")
    assert s.section("ledger")["checkpoint_retention_years"] == 60  # or set on its own
    for text in ("[ledger]\ncheckpoint_retention_years = 20\n",
                 "[ledger]\ncheckpoint_retention_years = 30\n"
                 "[retention]\nrenew_within_years = 30\npermanent_lock_years = 50\n"):
        with pytest.raises(ConfigError, match="ledger.checkpoint_retention_years"):
            _settings(tmp_path, text)


def test_the_archive_key_is_locked_to_the_horizon_not_a_century(tmp_path, cat):
    from tests.support.stores import local_store

    with local_store(tmp_path) as store:
        team, _ = _team(tmp_path, cat, store)
        key = team.archive.publish_key()
        (vid,) = store.versions(key)
        until = store.lock(key, vid).retain_until
        horizon = datetime.now(UTC) + timedelta(days=366 * LOCK_HORIZON_YEARS)
        assert horizon - timedelta(days=2) < until <= horizon


# --- renewal -------------------------------------------------------------------------------
def test_records_kept_for_ever_are_renewed_before_their_locks_end(tmp_path, cat, any_store):
    """Keys, checkpoints, journal segments: renewed, read back, in the report and the ledger;
    the item's own objects are left to its rules. 25 years on with a 30-year window, the
    renewed date (2101) stays below Ceph's limit too."""
    team, item = _team(tmp_path, cat, any_store)
    s = _settings(tmp_path, "[retention]\nrenew_within_years = 30\n")
    records = _records(team)
    assert {k.split("/")[0] for k in records} >= {"keys", "ledger", "journal"}
    obj = team.archive.item(item).storage["object"]

    later = datetime.now(UTC) + timedelta(days=365 * 25)
    report = RetentionEngine(team.archive, s, clock=lambda: later).run(team["AR1"])
    assert report.problems == []
    assert {r["key"] for r in report.renewed} == set(records)
    for key, vid in records.items():
        assert any_store.lock(key, vid).retain_until >= add_years(later, 50)
    assert sorted(_renewals(team)) == sorted(records)
    assert obj["key"] not in records and obj["key"] not in _renewals(team)
    # once renewed, nothing is due again for decades: a full pass renews nothing
    team.catalog.put_record(*renewal.NOTE, {})
    again = RetentionEngine(team.archive, s, clock=lambda: later + timedelta(days=1))
    assert again.run(team["AR1"]).renewed == []


def test_a_run_before_anything_is_due_reads_no_record_lock(tmp_path, cat, monkeypatch):
    from tests.support.stores import local_store

    with local_store(tmp_path) as store:
        team, _ = _team(tmp_path, cat, store)
        s = settings.load(None, tmp_path / "home")
        assert RetentionEngine(team.archive, s).run(team["AR1"]).renewed == []
        read: list[str] = []
        lock = store.lock
        monkeypatch.setattr(store, "lock", lambda k, v: read.append(k) or lock(k, v))
        assert RetentionEngine(team.archive, s).run(team["AR1"]).renewed == []
        assert not [k for k in read if not k.startswith(renewal.CONTENT_PREFIX)]
        # past the earliest date a renewal could be due, every record is read again
        later = datetime.now(UTC) + timedelta(days=365 * 41)
        report = RetentionEngine(team.archive, s, clock=lambda: later).run(team["AR1"])
        assert {r["key"] for r in report.renewed} == set(_records(team))


def test_a_renewal_the_store_refuses_is_a_problem_and_tried_again(tmp_path, cat, monkeypatch):
    from tests.support.stores import local_store

    with local_store(tmp_path) as store:
        team, _ = _team(tmp_path, cat, store)
        s = settings.load(None, tmp_path / "home")
        extend = store.extend_retention

        def refuse_checkpoints(key, vid, until):
            if key.startswith("ledger/"):
                raise LockNotConfirmed(f"{key}: refused", subject=key)
            return extend(key, vid, until)

        monkeypatch.setattr(store, "extend_retention", refuse_checkpoints)
        later = datetime.now(UTC) + timedelta(days=365 * 45)
        report = RetentionEngine(team.archive, s, clock=lambda: later).run(team["AR1"])
        assert {p["code"] for p in report.problems} == {"not-renewed"}
        assert all(p["key"].startswith("ledger/") for p in report.problems)
        assert report.renewed and all(not r["key"].startswith("ledger/")
                                      for r in report.renewed)
        monkeypatch.setattr(store, "extend_retention", extend)
        report = RetentionEngine(team.archive, s, clock=lambda: later).run(team["AR1"])
        assert report.problems == []
        assert {r["key"].split("/")[0] for r in report.renewed} == {"ledger"}


@pytest.mark.parametrize("kind", ["s3", "ceph"])
def test_a_renewal_past_2106_is_refused_on_ceph_never_clamped(tmp_path, cat, kind):
    """45 years on, a 50-year renewal would reach 2121: S3 (moto here) holds it; Ceph RGW
    would wrap it round and unlock the record, so the store sends nothing and the run names
    the setting to lower. The record keeps its lock."""
    with ALL_STORE_FACTORIES[kind](tmp_path) as store:
        team, _ = _team(tmp_path, cat, store)
        s = settings.load(None, tmp_path / "home")
        before = {k: store.lock(k, v) for k, v in _records(team).items()}
        later = datetime.now(UTC) + timedelta(days=365 * 45)
        report = RetentionEngine(team.archive, s, clock=lambda: later).run(team["AR1"])
        if kind == "s3":
            assert report.problems == [] and len(report.renewed) == len(before)
            return
        assert report.renewed == [] and _renewals(team) == []
        assert {p["key"] for p in report.problems} == set(before)
        for p in report.problems:
            assert p["code"] == "not-renewed"
            assert "2106-02-07" in p["message"] and "permanent_lock_years" in p["message"]
        assert {k: store.lock(k, v) for k, v in _records(team).items()} == before
        assert team.catalog.get_record(*renewal.NOTE) is None  # the next run tries again


def test_retention_run_renews_and_shows_a_record_lock_that_ends_soon(tmp_path, monkeypatch):
    """Through the command line: a record locked for only a year (as an older version of
    custody might have left) is renewed to the horizon and named in the output."""
    held_keys_home(tmp_path, monkeypatch)
    store = open_store(settings.load())
    soon = datetime.now(UTC) + timedelta(days=365)
    v = store.put_blob("reports/old-record.json", b"{}", soon)
    out = run("retention", "run").stdout
    assert "1 record locks renewed" in out and "renewed reports/old-record.json" in out
    assert store.lock(v.key, v.version_id).retain_until > add_years(soon, 40)
    assert run_json("retention", "run")["renewed"] == []
