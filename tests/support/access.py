"""An archive with the people of an office and four items, two of them confidential, for the
access services' tests (requests, approvals, views, exports, masked reads)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive import people
from archive.catalog.base import Catalog
from archive.domain.model import Description
from archive.integrity.signing import SigningKey
from archive.ledger.chain import Actor
from archive.worm.local import LocalWormStore
from tests.support.archives import Setup, make_archive
from tests.support.builders import T0

# name -> (confidential class, party); every item: market-001, device D1, officer O1
ITEMS = (("a", None, "王五"), ("b", None, "赵六"), ("secret", "personal-privacy", "李四"),
         ("state", "state-secret", "某单位"))


def add_person(s: Setup, pid: str, roles: list[str], **grants) -> Actor:
    key = SigningKey.generate(s.key_dir / f"person-{pid}.key")
    people.register(s.catalog, pid, f"名{pid}", f"acct-{pid}", roles, key, **grants)
    return Actor(pid, key)


def access_team(tmp_path: Path, catalog: Catalog) -> Setup:
    """The archive (administrator P000) with officer O1, legal L1 (法制股, personal-privacy)
    and leader B1 (局领导); ``s.items`` maps the names of ITEMS to item ids. The caller
    releases the local store's locks (``tests.support.worm.release_all_for_tests``) when done."""
    store = LocalWormStore(tmp_path / "worm", immutable=False)
    s = make_archive(tmp_path, catalog, store)
    s.officer = add_person(s, "O1", ["officer"])
    s.legal = add_person(s, "L1", ["legal"], positions=["法制股"],
                         clearances=["personal-privacy"])
    s.leader = add_person(s, "B1", ["approver"], positions=["局领导"])
    until = datetime.now(timezone.utc) + timedelta(days=30)
    s.items = {}
    for name, conf, party in ITEMS:
        d = Description(kind="video", unit="market-001", device_id="D1", officers=["O1"],
                        recorded_start=T0, recorded_end=T0 + timedelta(minutes=1), party=party,
                        cause="无照经营", confidential=conf,
                        source={"original_name": f"2026/{name}%1.mp4"})
        s.items[name] = s.archive.archive_stream([os.urandom(70_000)], d, s.actor, until).item.id
    return s
