"""retention run and retention check over an archive: items per second.

    .venv/bin/python benchmarks/retention_bench.py --items 2000 --dir /tmp

Archives N small items (SQLite + local WORM directory), then times the first `retention run`
(records each item's rule and reads its locks back), a second run with nothing due (what a
nightly run costs), and `retention check` (every object's and metadata version's lock read
from the store). Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.catalog.sqlite import SQLiteCatalog  # noqa: E402
from archive.domain.model import Description  # noqa: E402
from archive.worm.local import LocalWormStore
from tests.support.retention import make_team  # noqa: E402
from tests.support.worm import release_all_for_tests  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="retention-bench-", dir=a.dir))
    try:
        cat = SQLiteCatalog(root / "catalog.sqlite")
        team = make_team(root, cat, LocalWormStore(root / "worm"))
        until = datetime.now(timezone.utc) + timedelta(days=200)
        for n in range(a.items):
            s = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
            team.archive.archive_stream([os.urandom(2048)], Description(
                kind="video", unit="market-001", device_id="DSJ-1", officers=["P1"],
                recorded_start=s, recorded_end=s + timedelta(minutes=3),
                activity_id=f"ACT-{n % 50}"), team.setup.actor, until)
        for label, fn in (("first run", lambda: len(team.engine.run(team["AR1"]).changed)),
                          ("run, nothing due", lambda: len(team.engine.run(team["AR1"]).changed)),
                          ("check", lambda: len(team.engine.check()))):
            team.engine.forget()
            t0 = time.perf_counter()
            n = fn()
            took = time.perf_counter() - t0
            print(f"{label}: {n} changed/problems, {took:.2f} s = {a.items / took:,.0f} items/s")
        cat.close()
    finally:
        release_all_for_tests(root)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
