"""custody replicate at archive scale (issue 17): the whole-store walk against the run that
follows the change cursor, on the same archive.

    .venv/bin/python benchmarks/replica_runs_bench.py --items 100000 --dir /dev/shm

Archives N small items (64 bytes each, so the figure is what a run reads and checks, not the
bytes it copies) through ``Archive.archive_stream`` into a local WORM directory with a SQLite
catalog, replicates them once to a second local directory (a full sweep: not timed against a
goal), then times, with nothing changed: the run as it was (``--old``: the module from git
``HEAD`` or a file, walking the store and every item) and the incremental run; then gives 1 %
of the items a new state (as a lock or hold change recorded by custody does) and times both
again. On tmpfs (``/dev/shm``) to keep the hours of fsyncs of 100,000 items out of the build.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.catalog.sqlite import SQLiteCatalog  # noqa: E402
from archive.copies import replica as rep_mod  # noqa: E402
from archive.domain.model import Description  # noqa: E402
from archive.worm.local import LocalWormStore  # noqa: E402
from tests.support.archives import make_archive  # noqa: E402
from tests.support.worm import release_all_for_tests  # noqa: E402


def _old_module(source: str):
    """The replica module as it was (the whole-store walk), loaded beside the new one."""
    path = Path(tempfile.mkdtemp()) / "replica_old.py"
    if source == "HEAD":
        text = subprocess.run(["git", "show", "HEAD:archive/copies/replica.py"], check=True,
                              capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1]).stdout
        path.write_text(text, encoding="utf-8")
    else:
        shutil.copy(source, path)
    spec = importlib.util.spec_from_file_location("replica_old", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    took = time.perf_counter() - t
    c = out.get("coverage") or {}
    read = c.get("items_read", "all")
    print(f"  {label:<44} {took:8.1f} s   items read {read!s:>7}   versions "
          f"{out['versions']['copied']} copied / {out['versions']['present']} present",
          flush=True)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--changed", type=float, default=1.0, help="percent changed")
    ap.add_argument("--dir", default="/dev/shm")
    ap.add_argument("--old", default="HEAD", help="the old replica module: HEAD or a file")
    a = ap.parse_args()
    old = _old_module(a.old)
    base = Path(tempfile.mkdtemp(dir=a.dir, prefix="custody-replica-runs-"))
    try:
        catalog = SQLiteCatalog(base / "catalog.sqlite")
        s = make_archive(base, catalog, LocalWormStore(base / "primary"))
        replica = LocalWormStore(base / "replica")
        until = datetime.now(timezone.utc) + timedelta(days=30)
        print(f"load average before {os.getloadavg()}", flush=True)
        t = time.perf_counter()
        ids = []
        for n in range(a.items):
            start = datetime(2025, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
            d = Description(kind="photo", unit="market-001", device_id=f"D{n % 200}",
                            officers=[f"P{n % 300}"], recorded_start=start, recorded_end=start)
            ids.append(s.archive.archive_stream([os.urandom(64)], d, s.actor,
                                                until).item.id)
            if n % 10_000 == 9_999:
                s.archive.finish_command()
                print(f"  {n + 1} items archived, {time.perf_counter() - t:.0f} s", flush=True)
        s.archive.finish_command()
        print(f"{a.items} items archived in {time.perf_counter() - t:.0f} s (not counted)")
        _timed("first replicate (full sweep, copies all)",
               lambda: rep_mod.replicate(s.archive, replica, s.actor))
        _timed("second (reads the first one's own writes)",
               lambda: rep_mod.replicate(s.archive, replica, s.actor))
        print(f"load average {os.getloadavg()}")
        _timed("before: nothing changed (whole walk)",
               lambda: old.replicate(s.archive, replica, s.actor))
        _timed("after:  nothing changed (incremental)",
               lambda: rep_mod.replicate(s.archive, replica, s.actor))
        k = max(1, int(a.items * a.changed / 100))
        t = time.perf_counter()
        for item_id in random.Random(17).sample(ids, k):
            item = catalog.get_item(item_id)
            item.events.append({"type": "note", "at": "2026-01-01T00:00:00Z"})
            catalog.save_state(item)
        print(f"  ({k} items given a new state in {time.perf_counter() - t:.1f} s, "
              "not counted)")
        _timed(f"after:  {a.changed:g}% changed (incremental)",
               lambda: rep_mod.replicate(s.archive, replica, s.actor))
        _timed(f"before: {a.changed:g}% changed (whole walk)",
               lambda: old.replicate(s.archive, replica, s.actor))
        _timed("after:  --all (a full sweep)",
               lambda: rep_mod.replicate(s.archive, replica, s.actor, full=True))
        print(f"load average after {os.getloadavg()}; peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        catalog.close()
    finally:
        release_all_for_tests(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
