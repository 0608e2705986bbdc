"""A data home for the background-job tests: people at the command line (keys held by the
test, each acting as themselves), two items, and an extract request approved by 法制股."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import bootstrap
from archive import people
from archive.domain.model import Description
from config import settings
from tests.support.cli import held_keys_home, run, run_json

T0 = datetime(2026, 3, 2, 1, tzinfo=timezone.utc)


def act(monkeypatch, person: str | None) -> None:
    if person is None:
        monkeypatch.delenv("CUSTODY_ACT_AS", raising=False)
    else:
        monkeypatch.setenv("CUSTODY_ACT_AS", person)


def office(tmp_path, monkeypatch, size: int = 60_000) -> dict:
    """admin (this account), officer O1, legal L1 (法制股), leader B1; items ``a`` and ``b``
    of market-001. Returns the item ids by name."""
    held_keys_home(tmp_path, monkeypatch)
    run("people", "add", "O1", "--name", "执法员甲", "--account", "o1", "--role", "officer")
    run("people", "add", "L1", "--name", "法制员乙", "--account", "l1", "--role", "legal",
        "--position", "法制股")
    run("people", "add", "B1", "--name", "局长丙", "--account", "b1", "--role", "approver")
    archive = bootstrap.open_archive(settings.load())
    actor = people.acting_person(archive.catalog)
    until = datetime.now(timezone.utc) + timedelta(days=30)
    ids = {}
    for name in ("a", "b"):
        d = Description(kind="video", unit="market-001", device_id="D1", officers=["O1"],
                        recorded_start=T0, recorded_end=T0 + timedelta(minutes=2),
                        party="王五", cause="销售假冒商品", case_id=f"C-{name}",
                        source={"original_name": f"DSJ/{name}.mp4"})
        ids[name] = archive.archive_stream([os.urandom(size)], d, actor, until).item.id
    archive.finish_command()
    archive.catalog.close()
    return ids


def approved_extract(monkeypatch, items: list[str], exports: int = 1) -> str:
    """O1 asks to extract ``items``; L1 approves ``exports`` packages. The request id."""
    act(monkeypatch, "O1")
    req = run_json("access", "request", "--items", ",".join(items), "--reason", "行政复议",
                   "--purpose", "extract")["id"]
    act(monkeypatch, "L1")
    run("access", "approve", req, "--exports", str(exports))
    act(monkeypatch, None)
    return req


def wait_until(check, timeout: float = 30.0, poll: float = 0.05):
    """Poll ``check()`` until it returns something true; that value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"not so within {timeout} s")
