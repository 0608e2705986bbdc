"""Copy-only export throughput and memory (issue 5): `export` of an approved request against
the local store, then optionally the ISO image and `verify_export` of the bag.

Archives ``--items`` objects of ``--mib`` MiB each (distinct salted blocks), approves an
extract request for them, and times the export (read by version id, SHA-256 + SM3 while the
copy is written and fsynced, signed metadata read and verified). Peak RSS is the process
high-water mark read from /proc after each stage (VmHWM), so memory flatness shows as an RSS
that does not grow with the export's size.

    python benchmarks/export_bench.py [--items 4] [--mib 512] [--iso] [--verify] [--dir DIR]
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

from archive.access import requests as access
from archive.access.export import export, verify_export
from archive.catalog.sqlite import SQLiteCatalog
from archive.domain.model import Description
from archive.integrity.signing import Keyring, SigningKey, public_pem
from archive.ledger.chain import Actor
from archive.people import register
from archive.service import Archive
from archive.worm.local import LocalWormStore
from tests.support.worm import release_all_for_tests


def _hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _chunks(block: bytes, mib: int, salt: int):
    for n in range(mib // 8):
        yield salt.to_bytes(8, "big") + n.to_bytes(8, "big") + block[16:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--iso", action="store_true")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--dir", type=Path)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="export-bench-", dir=a.dir))
    try:
        keys = base / "keys"
        akey = SigningKey.generate(keys / "archive.key")
        ring = Keyring()
        ring.add(akey.public)
        catalog = SQLiteCatalog(base / "catalog.sqlite")
        archive = Archive(catalog, LocalWormStore(base / "worm", immutable=False), akey, ring)
        actors = {}
        for pid, roles, pos in (("O1", ["officer"], []), ("L1", ["legal"], ["法制股"])):
            k = SigningKey.generate(keys / f"{pid}.key")
            register(catalog, pid, pid, f"acct-{pid}", roles, k, positions=pos)
            actors[pid] = Actor(pid, k)
        until = datetime.now(timezone.utc) + timedelta(days=1)
        block = os.urandom(8 * 1024 * 1024)
        t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
        ids = []
        for n in range(a.items):
            d = Description(kind="video", unit="market-001", device_id="D1", officers=["O1"],
                            recorded_start=t0, recorded_end=t0 + timedelta(minutes=30),
                            source={"original_name": f"DSJ_{n:04d}.mp4"})
            ids.append(archive.archive_stream(_chunks(block, a.mib, n), d, actors["O1"],
                                              until).item.id)
        ctx = access.AccessContext(approver_position=lambda u: "法制股")
        req = access.create_request(archive, actors["O1"], "bench", "extract", items=ids)
        access.decide(archive, actors["L1"], req["id"], True, "", ctx)
        rss_before = _hwm_mib()
        total = a.items * a.mib * 1024 * 1024
        start = time.perf_counter()
        export(archive, actors["O1"], req["id"], base / "out", iso_image=False)
        t_export = time.perf_counter() - start
        rss_export = _hwm_mib()
        out = {"items": a.items, "mib_each": a.mib, "bytes": total,
               "export_s": round(t_export, 2),
               "export_mib_s": round(total / 2**20 / t_export, 1),
               "rss_before_export_mib": round(rss_before, 1),
               "rss_after_export_mib": round(rss_export, 1)}
        if a.iso:
            from archive.packaging.iso import write_iso

            start = time.perf_counter()
            write_iso(base / "out", base / "out.iso", "bench")
            t = time.perf_counter() - start
            out |= {"iso_s": round(t, 2), "iso_mib_s": round(total / 2**20 / t, 1),
                    "rss_after_iso_mib": round(_hwm_mib(), 1)}
        if a.verify:
            pem = base / "archive.pem"
            pem.write_text(public_pem(akey.public))
            start = time.perf_counter()
            ok = verify_export(base / "out", key_file=pem).ok
            t = time.perf_counter() - start
            out |= {"verify_ok": ok, "verify_s": round(t, 2),
                    "verify_mib_s": round(total / 2**20 / t, 1),
                    "rss_after_verify_mib": round(_hwm_mib(), 1)}
        catalog.close()
        if a.json:
            print(json.dumps(out, indent=2))
        else:
            for k, v in out.items():
                print(f"{k:>24}: {v}")
    finally:
        release_all_for_tests(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
