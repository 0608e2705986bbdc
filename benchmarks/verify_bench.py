"""Verification throughput against the local store (issue: sampled read-verification).

Prints (a) reading the objects with no digests, (b) SHA-256 + SM3 over the same bytes with
both cores (the one-pass digests), (c) `verify --all` over the same items (read back by
version id, both digests, signed metadata version, lock read from the store), and the ratio
(c) / min(a, b) against the goal 0.85. The objects are read once before timing, so all
three read from the page cache alike.

    python benchmarks/verify_bench.py [--items 16] [--mib 128] [--dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive import verification
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.integrity.fixity import digest_chunks
from archive.integrity.signing import Keyring, SigningKey
from archive.ledger.chain import Actor
from archive.people import register
from archive.service import Archive
from archive.worm.local import LocalWormStore
from tests.support.worm import release_all_for_tests


def _chunks(block: bytes, mib: int, salt: int):
    # distinct objects without generating gigabytes of randomness: a salted random block
    for n in range(mib // 8):
        yield salt.to_bytes(8, "big") + n.to_bytes(8, "big") + block[16:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--mib", type=int, default=128, help="size of each object (multiple of 8)")
    ap.add_argument("--dir")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="custody-verify-", dir=args.dir))
    try:
        store = LocalWormStore(work / "worm")
        catalog = SQLiteCatalog(work / "catalog.sqlite")
        key = SigningKey.generate(work / "archive.key")
        ring = Keyring()
        ring.add(key.public)
        archive = Archive(catalog, store, key, ring)
        pkey = SigningKey.generate(work / "auditor.key")
        register(catalog, "A1", "bench", "bench", ["auditor"], pkey)
        actor = Actor("A1", pkey)
        block = os.urandom(8 << 20)
        until = datetime.now(timezone.utc) + timedelta(days=1)
        items = []
        for n in range(args.items):
            d = Description(kind="data", unit="market-001", officers=["P1"])
            items.append(archive.archive_stream(_chunks(block, args.mib, n), d, actor,
                                                until).item)
        total = args.items * args.mib * (1 << 20)
        objs = [(i.storage["object"]["key"], i.storage["object"]["version_id"]) for i in items]
        for k, v in objs:  # warm the page cache for every stage alike
            for _ in store.read(k, v):
                pass

        def timed(fn) -> tuple[float, float]:
            w, c = time.perf_counter(), time.process_time()
            fn()
            return time.perf_counter() - w, time.process_time() - c

        def read_only() -> None:
            for k, v in objs:
                for _ in store.read(k, v):
                    pass

        def digests_only() -> None:
            for k, v in objs:
                digest_chunks(store.read(k, v))

        def verify_all() -> None:
            rec = verification.inspect_lot(archive, actor, [i.id for i in items], {"b": 1},
                                           everything=True)
            assert not rec["summary"]["failed"]

        rows = {}
        for name, fn in (("a read, no digests", read_only), ("b SHA-256 + SM3", digests_only),
                         ("c verify --all", verify_all)):
            wall, cpu = timed(fn)
            rows[name] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                          "mb_s": round(total / 1e6 / wall, 1)}
        base = min(rows["a read, no digests"]["mb_s"], rows["b SHA-256 + SM3"]["mb_s"])
        ratio = rows["c verify --all"]["mb_s"] / base
        out = {"objects": args.items, "bytes": total, "stages": rows,
               "ratio_c_to_min_ab": round(ratio, 3), "goal": 0.85}
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"{args.items} objects, {total / 2**30:.2f} GiB, page cache warm")
            print(f"{'stage':<22}{'wall s':>9}{'CPU s':>9}{'MB/s':>9}")
            for name, r in rows.items():
                print(f"{name:<22}{r['wall_s']:>9}{r['cpu_s']:>9}{r['mb_s']:>9}")
            print(f"verify / min(read, digests) = {ratio:.3f}  (goal >= 0.85)")
        catalog.close()
    finally:
        release_all_for_tests(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
