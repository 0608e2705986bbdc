"""The archivist's pages through the Flask test client: an archive with archivists A1 and
A2, an officer O1, items of 2025 (one stored without its officer, so pending metadata), a
console over it (optionally with a second store for replication), and each person's browser
(client) and passkey."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.passkeys import service as passkeys
from archive.worm.local import LocalWormStore
from config import settings as settings_mod
from tests.support.access import add_person
from tests.support.archives import make_archive
from tests.support.authenticator import Authenticator
from tests.support.console import enroll, sign_in, web_settings

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 5, 1, 9, tzinfo=SH)
PARTY = "孙八"


def item(setup, n: int, *, officers: list[str] | None = None, **kw):
    """A video of market-001 recorded on 1 May 2025 (``officers=[]``: stored pending)."""
    start = START + timedelta(hours=n)
    fields = {"unit": "market-001", "device_id": f"DSJ-{n:04d}",
              "officers": ["O1"] if officers is None else officers,
              "recorded_start": start, "recorded_end": start + timedelta(minutes=5),
              "party": PARTY, "cause": "无照经营",
              "source": {"original_name": f"DSJ-{n:04d}/clip{n}.mp4"}} | kw
    until = datetime.now(timezone.utc) + timedelta(days=30)
    return setup.archive.archive_stream([os.urandom(4000)], Description(kind="video", **fields),
                                        setup.actor, until).item


class Desk:
    """The archive, its console and the people at it."""

    def __init__(self, tmp_path: Path, replica: Path | None = None):
        store = LocalWormStore(tmp_path / "worm", immutable=False)
        self.s = make_archive(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"), store)
        self.archive = passkeys.attach(self.s.archive, tmp_path / "home")
        self.actors = {"A1": add_person(self.s, "A1", ["archivist"]),
                       "A2": add_person(self.s, "A2", ["archivist"]),
                       "O1": add_person(self.s, "O1", ["officer"])}
        self.pending = item(self.s, 1, officers=[])
        self.stored = item(self.s, 2)
        self.settings = web_settings(tmp_path / "home")
        if replica is not None:  # a local second store
            data = dict(self.settings.data) | {"replica": dict(self.settings.section("replica"))
                                               | {"backend": "local", "path": str(replica),
                                                  "immutable": False}}
            self.settings = settings_mod.Settings(data=data, home=self.settings.home,
                                                  files=self.settings.files)
            import bootstrap

            bootstrap.open_replica(self.settings, create=True)  # as custody init makes it
        from web.app import create_app

        self.app = create_app(self.settings, archive_factory=lambda: self.archive,
                              testing=True)
        self.keys: dict[str, Authenticator] = {}

    def person(self, pid: str, signed: bool = True):
        client = self.app.test_client()
        self.keys[pid] = Authenticator()
        enroll(client, self.archive, self.s.actor, pid, self.keys[pid])
        if signed:
            r = sign_in(client, self.keys[pid])
            assert r.status_code == 200, r.get_json()
        return client

    def close(self) -> None:
        self.app.extensions["custody"].close()


def ingest_folder(desk: Desk, root: Path, scanner) -> dict:
    """``root`` through the real ingest pipeline (the session's clamd) as the administrator:
    the batch report."""
    from ingest.pipeline import Ingest

    return Ingest(desk.archive, desk.settings, scanner, desk.s.actor).run(root, None, "ST-01")


def title_of(desk: Desk, item_id: str) -> str:
    """The item's 题名 as a reader without clearances reads it (the console's zones)."""
    from archive.access.lookup import item_title
    from archive.domain.names import View

    view = View(zone_of=desk.settings.unit_zone)
    return item_title(desk.archive, frozenset(), item_id, view) or ""
