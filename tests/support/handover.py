"""A console over an archive for the handover pages: archivists ARC1 and ARC2 (no clearance)
and officer O1, each with their own browser (Flask test client) and passkey; items of 2025
(the first personal-privacy, some permanent, for discs); the background jobs run in this
process, as the runner runs them."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import bootstrap
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.passkeys import service as passkeys
from archive.worm.local import LocalWormStore
from tests.support.access import add_person
from tests.support.archives import make_archive
from tests.support.authenticator import Authenticator
from tests.support.console import console_app, enroll, sign_in
from working import jobs as jobs_mod
from working.jobs import Jobs

SH = ZoneInfo("Asia/Shanghai")
YEAR = 2025
HIDDEN = "李四"  # the party of the confidential item


class _Kept:
    """The console's archive as a job sees it, without ``finish_command``: the runner ends
    (checkpoints and closes) the archive it opened, and this one the console still uses."""

    def __init__(self, archive) -> None:
        self._archive = archive

    def __getattr__(self, name: str):
        if name == "finish_command":
            raise AttributeError(name)
        return getattr(self._archive, name)


class Office:
    def __init__(self, tmp_path, items: int = 3, permanent: int = 2) -> None:
        store = LocalWormStore(tmp_path / "worm", immutable=False)
        self.s = make_archive(tmp_path, SQLiteCatalog(tmp_path / "catalog.sqlite"), store)
        self.archive = passkeys.attach(self.s.archive, tmp_path / "home")
        for pid, role in (("ARC1", "archivist"), ("ARC2", "archivist"), ("O1", "officer")):
            add_person(self.s, pid, [role])
        until = datetime.now(timezone.utc) + timedelta(days=30)
        self.items = []
        for n in range(items + permanent):
            start = datetime(YEAR, 6, 1, 9, tzinfo=SH) + timedelta(hours=n)
            secret = n == 0  # the first is confidential: its party is masked for ARC1/2
            item = self.archive.archive_stream([os.urandom(4000 + n)], Description(
                kind="video", unit="market-001", device_id="D1", officers=["O1"],
                recorded_start=start, recorded_end=start + timedelta(minutes=3),
                party=HIDDEN if secret else "王五", cause="无照经营",
                confidential="personal-privacy" if secret else None), self.s.actor,
                until).item
            if n >= items:
                item.tier = "permanent"
                self.archive.catalog.save_state(item)
            self.items.append(item.id)
        self.app = console_app(tmp_path / "home", self.archive)
        self.console = self.app.extensions["custody"]
        self.clients, self.keys = {}, {}

    def person(self, pid: str):
        client = self.app.test_client()
        self.keys[pid] = Authenticator()
        enroll(client, self.archive, self.s.actor, pid, self.keys[pid])
        r = sign_in(client, self.keys[pid])
        assert r.status_code == 200, r.get_json()
        self.clients[pid] = client
        return client

    @property
    def jobs(self) -> Jobs:
        return Jobs(self.console.state)

    def run_job(self, job_id: str) -> dict:
        """What ``custody jobs run JOB`` does for a job queued at the console."""
        settings = self.console.settings

        def actor_for(archive, job):
            return passkeys.console_actor(archive, job["started_by"], job["params"]["sign_in"])

        return jobs_mod.run(self.jobs, job_id, lambda: _Kept(self.archive), actor_for,
                            {"settings": settings, "keys_dir": bootstrap.keys_dir(settings)})

    def close(self) -> None:
        self.console.close()
