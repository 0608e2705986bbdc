"""A data home for the audit pages (playback inspection, the inspection ledger, statistics),
made at the command line, and its console through the Flask test client with software
passkeys: one signed-in browser per person."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bootstrap
from archive import people
from archive.domain.model import Description
from archive.passkeys import service as passkeys
from config import settings
from tests.support.authenticator import Authenticator
from tests.support.cli import held_keys_home, run, run_json
from tests.support.console import console_app, enroll, sign_in

T0 = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)  # 09:00 in Asia/Shanghai
YEAR = 2026
PEOPLE = (("O1", "执法员甲", "officer", ()), ("O2", "执法员丁", "officer", ()),
          ("L1", "法制员乙", "legal", ("--position", "法制股")),
          ("A1", "审计员甲", "auditor", ()), ("A2", "审计员乙", "auditor", ()),
          ("AR1", "档案员戊", "archivist", ()))


def act(monkeypatch, person: str | None) -> None:
    if person is None:
        monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    else:
        monkeypatch.setenv("CUSTODY_ACT_AS", person)


def audit_office(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """People (officers O1 O2, 法制股 L1, auditors A1 A2, archivist AR1) and four recordings
    of market-001 in 2026: ``a`` and ``b`` two segments of one activity of O1 on device D1
    with no work record (``a`` offloaded late), ``c`` O2's on device D2 whose device check
    failed (personal-privacy: confidential), ``d`` an audio of O2. Item ids by name."""
    held_keys_home(tmp_path, monkeypatch)
    for pid, name, role, extra in PEOPLE:
        run("people", "add", pid, "--name", name, "--account", pid.lower(), "--role", role,
            *extra)
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    late = {"deadline": {"late": True, "due": (T0 + timedelta(days=1)).isoformat()}}
    made = {
        "a": (dict(kind="video", device_id="D1", officers=["O1"], activity_id="ACT-1",
                   activity_type="调查取证", party="王五", cause="无照经营"), 0, late),
        "b": (dict(kind="video", device_id="D1", officers=["O1"], activity_id="ACT-1",
                   activity_type="调查取证", party="王五", cause="无照经营"), 15, None),
        "c": (dict(kind="video", device_id="D2", officers=["O2"], party="钱七",
                   cause="销售假冒商品", confidential="personal-privacy"), 60,
              {"device": {"result": "fail"}}),
        "d": (dict(kind="audio", device_id="D2", officers=["O2"], party="赵六",
                   cause="占道经营"), 120, None),
    }
    ids = {}
    try:
        for name, (fields, minutes, checks) in made.items():
            start = T0 + timedelta(minutes=minutes)
            d = Description(unit="market-001", recorded_start=start,
                            recorded_end=start + timedelta(minutes=10),
                            source={"original_name": f"DSJ/{name}.mp4"}, **fields)
            ids[name] = archive.archive_stream([os.urandom(20_000)], d, actor, until,
                                               checks=checks).item.id
    finally:
        archive.finish_command()
        archive.catalog.close()
    return ids


def sampled_verification(monkeypatch, auditor: str = "A1", code: int = 0) -> dict:
    """``auditor`` checks every item of market-001 (a full sweep): the sample they may then
    play without a request. ``code``: the exit expected (1 when an item fails)."""
    act(monkeypatch, auditor)
    try:
        return run_json("verify", "--query", "unit=market-001", "--all", code=code)
    finally:
        act(monkeypatch, None)


class AuditConsole:
    """The console over the home ``audit_office`` made, and a signed-in test client per
    person (each with their own software passkey)."""

    def __init__(self, tmp_path: Path, monkeypatch) -> None:
        self.mp = monkeypatch
        self.tmp = tmp_path
        self.ids = audit_office(tmp_path, monkeypatch)
        self.home = tmp_path / "data"
        self.archive = passkeys.attach(bootstrap.open_archive(settings.load()), self.home)
        self.admin = people.acting_person(self.archive.catalog)
        self.app = console_app(self.home, self.archive)
        self.clients: dict[str, object] = {}
        self.keys: dict[str, Authenticator] = {}

    def browser(self, pid: str):
        if pid not in self.clients:
            client = self.app.test_client()
            key = Authenticator()
            enroll(client, self.archive, self.admin, pid, key)
            assert sign_in(client, key).status_code == 200
            self.clients[pid], self.keys[pid] = client, key
        return self.clients[pid]

    def ledger(self, action: str) -> list:
        return [e for e in self.archive.catalog.ledger_entries() if e.action == action]

    def close(self) -> None:
        from tests.support.worm import release_all_for_tests

        self.app.extensions["custody"].close()
        self.archive.catalog.close()
        release_all_for_tests(self.tmp)
