"""Catalog rebuild from the WORM store and carrier migration: items per second and peak memory.

    .venv/bin/python benchmarks/rebuild_bench.py --items 3000 --dir /tmp

Builds an archive of N small items (SQLite + local WORM directory) with a case and a flag,
then times (1) a rebuild of the catalog from the store alone into a new SQLite file, and
(2) a migration to a second SQLite + local directory (store copy, catalog copy, full
verification on the target). Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.catalog.sqlite import SQLiteCatalog  # noqa: E402
from archive.copies.migrate import migrate  # noqa: E402
from archive.copies.rebuild import rebuild  # noqa: E402
from archive.domain.model import Description  # noqa: E402
from archive.service import Archive  # noqa: E402
from archive.worm.local import LocalWormStore
from tests.support.archives import make_archive  # noqa: E402
from tests.support.worm import release_all_for_tests  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--kib", type=int, default=16, help="size of each item's bytes")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rebuild-bench-", dir=a.dir))
    try:
        catalog = SQLiteCatalog(root / "catalog.sqlite")
        setup = make_archive(root, catalog, LocalWormStore(root / "worm"))
        arch, actor = setup.archive, setup.actor
        until = datetime.now(timezone.utc) + timedelta(days=200)
        t0 = time.perf_counter()
        start = datetime(2026, 3, 1, tzinfo=timezone.utc)
        for n in range(a.items):
            s = start + timedelta(minutes=n)
            arch.archive_stream([os.urandom(a.kib * 1024)], Description(
                kind="video", unit="market-001", device_id=f"DSJ-{n % 40:04d}",
                officers=[f"P{n % 300:04d}"], recorded_start=s,
                recorded_end=s + timedelta(minutes=5), party=f"当事人{n % 997}",
                cause="占道经营"), actor, until)
        arch.finish_command()
        build = time.perf_counter() - t0
        print(f"archive of {a.items} items x {a.kib} KiB built in {build:.1f} s "
              f"({a.items / build:.0f} items/s through archive_stream)")

        fresh = SQLiteCatalog(root / "rebuilt.sqlite")
        target = Archive(fresh, arch.store, arch.key, arch.archive_keys)
        rss0 = rss_mb()
        t0 = time.perf_counter()
        report = rebuild(target, fresh)
        took = time.perf_counter() - t0
        print(f"rebuild-catalog: {report.items} items, {report.ledger_entries} ledger entries, "
              f"{report.segments} segments in {took:.1f} s = {report.items / took:.0f} items/s; "
              f"problems {len(report.problems)}; peak RSS {rss_mb():.0f} MB "
              f"(before {rss0:.0f} MB)")
        fresh.close()

        dest_cat = SQLiteCatalog(root / "migrated.sqlite")
        dest = Archive(dest_cat, LocalWormStore(root / "worm2"), arch.key, arch.archive_keys)
        t0 = time.perf_counter()
        mig = migrate(arch, dest, actor)
        took = time.perf_counter() - t0
        print(f"migrate (store copy + catalog copy + verification on the target): "
              f"{mig.items} items, {mig.store['copied']} store versions, "
              f"{mig.store['bytes'] / 1e6:.0f} MB in {took:.1f} s = {mig.items / took:.0f} "
              f"items/s; failed {len(mig.failed)}; peak RSS {rss_mb():.0f} MB")
        dest_cat.close()
        catalog.close()
    finally:
        release_all_for_tests(root)
        import shutil

        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
