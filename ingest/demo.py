"""The demo: a realistic day's offload from three body cameras and a scanned case file,
archived on the embedded defaults, then searched, shown and verified.

Until the ingest pipeline lands this archives through the core API (no virus scan yet).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive import backends, people, settings
from archive.catalog.base import Query
from archive.ledger import Actor
from archive.model import Description
from archive.service import Archive
from archive.signing import SigningKey, fingerprint
from retention.rules import routine_retain_until

OFFICERS = {"DSJ-0101": "P1001", "DSJ-0102": "P1002", "DSJ-0207": "P2007"}
PARTIES = ["王五", "张三丰", "某某食品有限公司", "王五金店", "李秀英"]
CAUSES = ["无照经营", "占道经营", "销售过期食品", "未按规定明码标价", "违法搭建"]


def _sample_file(path: Path, size: int, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(rng.randbytes(size))


def _offload(root: Path, day: datetime, rng: random.Random) -> list[tuple[Path, Description]]:
    """Files as a docking station leaves them: a folder per device, names carry device, date,
    time and sequence (DSJ-0101_20260315_093000_0001.MP4)."""
    out = []
    zone = day.tzinfo
    for n, (device, officer) in enumerate(OFFICERS.items()):
        start = day.replace(hour=9 + n)
        for seq in range(1, 4):
            minutes = rng.randint(3, 25)
            name = f"{device}_{start:%Y%m%d_%H%M%S}_{seq:04d}.MP4"
            path = root / device / name
            _sample_file(path, rng.randint(200_000, 900_000), rng)
            end = start + timedelta(minutes=minutes)
            out.append((path, Description(
                kind="video", unit="market-001" if n < 2 else "urban-001", device_id=device,
                officers=[officer], assisting=["P3001"] if seq == 2 else [],
                recorded_start=start, recorded_end=end,
                offloaded_at=day.replace(hour=18, tzinfo=zone),
                party=rng.choice(PARTIES), cause=rng.choice(CAUSES),
                case_id="SJ-2026-0042" if (n, seq) == (0, 2) else None,
                activity_id=f"ACT-{device}-{start:%Y%m%d}", activity_type="调查取证",
                source={"original_name": name, "station": "STATION-01", "batch": "demo"})))
            start = end + timedelta(minutes=rng.randint(5, 40))
    scan = root / "scans" / "SJ-2026-0042-询问笔录.pdf"
    scan.parent.mkdir(parents=True, exist_ok=True)
    scan.write_bytes(b"%PDF-1.4\n% custody demo scan\n1 0 obj<</Type/Catalog>>endobj\n"
                     b"trailer<</Root 1 0 R>>\n%%EOF\n")
    out.append((scan, Description(
        kind="document", unit="market-001", case_id="SJ-2026-0042", party="王五",
        cause="无照经营", officers=["P1001"], activity_type="询问",
        recorded_start=day.replace(hour=14), recorded_end=day.replace(hour=14, minute=40),
        source={"original_name": scan.name, "station": "SCANNER-01", "batch": "demo"},
        extra={"document_type": "询问笔录", "title": "王五询问笔录"})))
    return out


def run_demo(directory: Path, config: str | None = None,
             echo: Callable[[str], None] | None = None) -> dict:
    say = echo or (lambda _line: None)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    home = directory.resolve() / f"run-{stamp}"
    s = settings.load(config, home=home)
    home.mkdir(parents=True)
    store = backends.open_store(s, create=True)
    catalog = backends.open_catalog(s)
    key = backends.create_archive_key(s)
    archive = Archive(catalog, store, key, backends.archive_keyring(s, store),
                      s.section("ledger")["checkpoint_retention_years"])
    archive.publish_key()
    # The demo holds its people's keys itself (DESIGN.md allows this for tests and the demo).
    pkey = SigningKey.generate(home / "people" / "person-demo-admin.key")
    people.register(catalog, "demo-admin", "演示管理员", f"demo-{stamp}", ["administrator"],
                    pkey)
    actor = Actor("demo-admin", pkey)
    say(f"demo archive in {home}")
    say(f"archive key fingerprint {fingerprint(key.key_id)}")

    rng = random.Random(20260315)
    zone = s.unit_zone("market-001")
    day = datetime(2026, 3, 15, tzinfo=zone)
    files = _offload(home / "offload", day, rng)
    archived = []
    for path, desc in files:
        ingested = datetime.now(timezone.utc)
        until = routine_retain_until(s.units[desc.unit], desc.recorded_end, ingested,
                                     s.unit_zone(desc.unit))
        with open(path, "rb") as f:
            res = archive.archive_stream(iter(lambda f=f: f.read(1 << 20), b""), desc, actor,
                                         until, legal_hold=desc.case_id is not None)
        archived.append(res.item)
        say(f"archived {path.relative_to(home / 'offload')} -> {res.item.id} "
            f"({res.item.status}, locked until {until.date()})")
    path, desc = files[0]
    with open(path, "rb") as f:
        again = archive.archive_stream(iter(lambda: f.read(1 << 20), b""), desc, actor,
                                       routine_retain_until(s.units[desc.unit],
                                                            desc.recorded_end,
                                                            datetime.now(timezone.utc), zone))
    say(f"re-offloaded {path.name}: duplicate of {again.item.id} = {again.duplicate}")

    q = Query(officer="P1001", start=day.replace(hour=9), end=day.replace(hour=12))
    by_officer = archive.search(q).items
    say(f"search officer P1001, 09:00-12:00: {len(by_officer)} items")
    by_party = archive.search(Query(party="王五")).items
    say(f"search party contains 王五: {[i.description.party for i in by_party]}")
    counts = catalog.count_by("unit")
    say(f"items per unit: {counts}")
    shown = archive.show(archived[1].id, read_lock=True)
    say(f"show {shown['id']}: {shown['description']['party']} / "
        f"{shown['description']['cause']}, signature valid {shown['signature_valid']}, "
        f"lock {shown['lock_in_store']['mode']} until {shown['lock_in_store']['retain_until']}")
    fixity = [archive.fixity(i.id) for i in archived]
    fixity_ok = all(f["digests_match"] and f["signature_valid"] for f in fixity)
    say(f"read back {len(fixity)} objects: digests and signatures "
        f"{'all match' if fixity_ok else 'MISMATCH'}")
    archive.ledger.checkpoint()
    report = archive.verify_ledger()
    say(f"ledger: {report.entries} entries, {report.checkpoints} signed checkpoint(s), "
        f"{'intact' if report.ok else 'PROBLEMS'}")
    catalog.close()
    say(f"(the demo's stored files are write-protected like real evidence; to remove the demo: "
        f"chattr -R -i {directory.resolve()} && rm -rf {directory.resolve()})")
    ok = fixity_ok and report.ok and again.duplicate and len(by_officer) > 0
    return {"ok": ok, "home": str(home), "archived": len(archived),
            "duplicate_recognised": again.duplicate, "officer_search": len(by_officer),
            "party_search": [i.id for i in by_party], "counts_by_unit": counts,
            "fixity_ok": fixity_ok, "ledger": report.to_dict(),
            "fingerprint": fingerprint(key.key_id), "environment": dict(
                catalog=catalog.endpoint, store=store.describe(), pid=os.getpid())}
