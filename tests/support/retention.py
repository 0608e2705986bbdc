"""A team of people and a few archived items for retention tests."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from archive import people
from archive.catalog.base import RECORD_COLLECTIONS, Query
from archive.domain.model import Description
from archive.integrity.signing import SigningKey
from archive.ledger.chain import Actor
from config import settings
from retention import cases, flags
from retention.engine import RetentionEngine
from retention.rules import routine_retain_until
from tests.support.archives import Setup, make_archive

TEAM = {"AR1": ["archivist"], "AR2": ["archivist"], "OF1": ["officer"],
        "AP1": ["approver"], "AP2": ["approver"], "AP3": ["approver"], "LG1": ["legal"],
        "AU1": ["auditor"], "AU2": ["auditor"]}


@dataclass
class Team:
    setup: Setup
    engine: RetentionEngine
    actors: dict[str, Actor]

    @property
    def archive(self):
        return self.setup.archive

    @property
    def catalog(self):
        return self.setup.archive.catalog

    @property
    def store(self):
        return self.setup.archive.store

    def __getitem__(self, person: str) -> Actor:
        return self.actors[person]

    def put(self, *, unit: str = "market-001", ingested: datetime | None = None,
            data: bytes | None = None, **fields) -> str:
        """Archive one item with the routine lock ingest would give it."""
        now = datetime.now(timezone.utc)
        start = fields.pop("start", now - timedelta(hours=2))
        d = Description(kind=fields.pop("kind", "video"), unit=unit,
                        device_id=fields.pop("device_id", "DSJ-1"),
                        officers=fields.pop("officers", ["OF1"]), recorded_start=start,
                        recorded_end=start + timedelta(minutes=10), **fields)
        until = routine_retain_until(settings.load().units[unit], d.recorded_end, now,
                                     self.engine.zone(unit))
        res = self.archive.archive_stream([data or os.urandom(3000)], d, self.setup.actor,
                                          until, legal_hold=d.case_id is not None)
        return res.item.id


@pytest.fixture
def clock():
    """A clock a test moves by hand (``clock.now[0] += timedelta(...)``)."""
    now = [datetime.now(timezone.utc)]

    def read() -> datetime:
        return now[0]
    read.now = now  # type: ignore[attr-defined]
    return read


def make_team(tmp_path: Path, catalog, store, clock=None) -> Team:
    setup = make_archive(tmp_path, catalog, store)
    actors = {"P000": setup.actor}
    for pid, roles in TEAM.items():
        key = SigningKey.generate(setup.key_dir / f"person-{pid}.key")
        people.register(catalog, pid, f"人员{pid}", f"acct-{pid}", roles, key)
        actors[pid] = Actor(pid, key)
    kwargs = {"clock": clock} if clock else {}
    engine = RetentionEngine(setup.archive, settings.load(None, tmp_path / "home"), **kwargs)
    return Team(setup, engine, actors)


def snapshot(catalog) -> dict:
    items = sorted((i.to_record() for i in catalog.iter_items(Query())), key=lambda d: d["id"])
    return {
        "items": items,
        "versions": {d["id"]: [v.to_dict() for v in catalog.versions(d["id"])] for d in items},
        "objects": sorted((o.sha256, o.storage.key, o.storage.version_id)
                          for o in catalog.iter_objects()),
        "records": {c: catalog.list_records(c) for c in RECORD_COLLECTIONS if c != "meta"},
        "ledger": [e.to_dict() for e in catalog.ledger_entries()],
    }


def fill(team, tmp_path) -> None:
    """Items, a correction, a pending item, a case, a confirmed flag: every kind of state."""
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"id": "SJ-1", "type": "general", "unit": "market-001",
                                 "opened": "2026-01-05"}]), encoding="utf-8")
    cases.import_register(team.engine, team["AR1"], path)
    a = team.put(activity_id="ACT-1", party="王五")
    b = team.put(activity_id="ACT-1", party="某某食品有限公司")
    team.put(case_id="SJ-1")
    pending = team.archive.archive_stream([os.urandom(900)], Description(kind="video"),
                                          team.setup.actor, team.archive.item(a).retain_until)
    assert pending.item.status == "pending-metadata"
    old = team.archive.item(b).description
    fixed = Description.from_dict({**old.to_dict(), "cause": "销售过期食品"})
    team.archive.correct(b, fixed, team["AR1"], "cause added")
    flags.confirm(team.engine, team["AP1"],
                  flags.raise_flag(team.engine, team["OF1"], a, "assault")["id"])
    cases.close(team.engine, team["AR1"], "SJ-1", date(2026, 5, 10))
    team.archive.finish_command()


def register(team, tmp_path, rows: list[dict]) -> dict:
    """Import a case register of ``rows`` (as JSON), by the archivist AR1."""
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return cases.import_register(team.engine, team["AR1"], path)
