"""Replication and restore throughput, local WORM directory to local WORM directory.

    .venv/bin/python benchmarks/replica_bench.py --mib 64 --items 16 [--dir /var/tmp]

Archives N items of M MiB, then times: a first replicate, a second (nothing to copy: what
every later run pays per version), a restore of one damaged object, and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive.catalog.sqlite import SQLiteCatalog
from archive.copies import replica as rep_mod
from archive.copies import restore as restore_mod
from archive.domain.model import Description
from archive.worm.local import LocalWormStore
from tests.support.archives import make_archive
from tests.support.damage import damage
from tests.support.worm import release_all_for_tests


def _chunks(block: bytes, mib: int, n: int):
    for i in range(mib):
        yield n.to_bytes(8, "big") + i.to_bytes(8, "big") + block[16:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(dir=a.dir))
    try:
        catalog = SQLiteCatalog(base / "catalog.sqlite")
        s = make_archive(base, catalog, LocalWormStore(base / "primary"))
        replica = LocalWormStore(base / "replica")
        block = os.urandom(1 << 20)
        until = datetime.now(timezone.utc) + timedelta(days=30)
        ids = []
        for n in range(a.items):
            start = datetime(2026, 3, 1, tzinfo=timezone.utc) + timedelta(hours=n)
            d = Description(kind="video", unit="market-001", device_id="D1", officers=["P1"],
                            recorded_start=start, recorded_end=start)
            ids.append(s.archive.archive_stream(_chunks(block, a.mib, n), d, s.actor,
                                                until).item.id)
        s.archive.finish_command()
        total = a.items * a.mib
        t = time.perf_counter()
        out = rep_mod.replicate(s.archive, replica, s.actor)
        first = time.perf_counter() - t
        t = time.perf_counter()
        again = rep_mod.replicate(s.archive, replica, s.actor)
        second = time.perf_counter() - t
        item = s.archive.item(ids[0])
        damage(s.store, item.storage["object"]["key"], item.storage["object"]["version_id"])
        t = time.perf_counter()
        res = restore_mod.restore(s.archive, replica, s.actor, [ids[0]])
        rest = time.perf_counter() - t
        assert res["restored"] == [ids[0]]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{a.items} items x {a.mib} MiB = {total} MiB")
        print(f"first replicate: {out['versions']['copied']} versions in {first:.1f} s "
              f"= {total / first:.0f} MiB/s")
        print(f"second replicate (nothing new): {again['versions']['present']} versions "
              f"present in {second:.2f} s")
        print(f"restore of one {a.mib} MiB object (check both copies, copy, read back): "
              f"{rest:.2f} s")
        print(f"peak RSS {rss:.0f} MiB")
        catalog.close()
    finally:
        release_all_for_tests(base)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
