"""Offloads a test builds in seconds, an archive to ingest them into with the fake scanner
(no clamd), and a guard that turns a hang into a failure.

``finishes`` runs a call in a daemon thread; if it has not returned in time, each FIFO given is
opened for writing once (a reader blocked on it then gets end-of-file and the call can end)
and the test fails: a hang becomes a failure in seconds, and no thread is left blocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archive.catalog.sqlite import SQLiteCatalog
from archive.worm.local import LocalWormStore
from config import settings
from tests.support.archives import make_archive
from tests.support.fake_scanner import VIRUS_WORDS, FakeScanner
from tests.support.worm import release_all_for_tests


@pytest.fixture
def fake_env(tmp_path):
    """(setup, settings, fake scanner, tmp_path): SQLite and the local store."""
    cat = SQLiteCatalog(tmp_path / "catalog.sqlite")
    setup = make_archive(tmp_path, cat, LocalWormStore(tmp_path / "worm"))
    s = settings.load(None, home=tmp_path / "home")
    yield setup, s, FakeScanner(infected_marker=VIRUS_WORDS), tmp_path
    cat.close()
    release_all_for_tests(tmp_path)


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"files": rows}, ensure_ascii=False), encoding="utf-8")
    return path


def finishes(call: Callable[[], Any], seconds: float = 30,
             fifos: tuple[Path, ...] = ()) -> Any:
    """The call's result, or a test failure if it is still running after ``seconds``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        for fifo in fifos:
            _release(fifo)
        t.join(10)
        pytest.fail(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _release(fifo: Path) -> None:
    """Give a reader blocked on a FIFO its end of file."""
    for path in [fifo, *fifo.parent.parent.rglob(fifo.name)]:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
