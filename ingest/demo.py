"""The demo: a day's offload from three body cameras, a recorder and a scanner, ingested on
the embedded defaults through the real pipeline (private clamd on the project's test
signatures, libmagic, MediaInfo), then completed, searched, shown, verified, and exported as
an approved copy."""

from __future__ import annotations

import copy
import csv
import random
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive import people
from archive.catalog.base import Query
from archive.domain.names import INGEST_STATE_ZH, local_time, person_label, zone_label
from archive.domain.titles import title_of
from archive.integrity.signing import SigningKey, fingerprint, public_pem
from archive.ledger.chain import Actor
from archive.service import Archive
from config import settings
from i18n import Text, language, localize
from ingest import devices
from ingest.completion import complete
from ingest.pipeline import Ingest
from ingest.samples import make_image, make_mp4, make_pdf, make_wav, truncate
from scanners.clamd import TEST_SIGNATURES_DIR, PrivateClamd

CAMERAS = {"DSJ-0101": ("P1001", "market-001"), "DSJ-0102": ("P1002", "market-001"),
           "DSJ-0207": ("P2007", "urban-001")}
PARTIES = ["王五", "张三丰", "某某食品有限公司", "王五金店", "李秀英"]
CAUSES = ["无照经营", "占道经营", "销售过期食品", "未按规定明码标价", "违法搭建"]
FIELDS = ["file", "kind", "unit", "device_id", "officer_id", "recorded_start", "recorded_end",
          "party", "cause", "case_id", "activity_id", "activity_type", "document_type",
          "title", "document_date"]


def _eicar() -> bytes:
    """The EICAR test file, rebuilt from the shipped test signature (no source holds it)."""
    line = (TEST_SIGNATURES_DIR / "custody-test-eicar.ndb").read_text().strip()
    return bytes.fromhex(line.split(":")[3])


def _utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _offload(root: Path, day: datetime, rng: random.Random) -> list[dict]:
    for sub in [*CAMERAS, "recorder", "photos", "scans", "unsorted"]:
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (device, (officer, unit)) in enumerate(CAMERAS.items()):
        start = day + timedelta(hours=n)
        for seq in (1, 2, 3):
            if device == "DSJ-0102" and seq == 2:
                start += timedelta(minutes=20)
                continue  # deleted on the camera: a gap in its file numbers
            secs = rng.randint(2, 4)
            rel = f"{device}/{device}_{start:%Y%m%d_%H%M%S}_{seq:04d}.MP4"
            make_mp4(root / rel, secs, creation_time=_utc(start))
            case = "SJ-2026-0042" if device == "DSJ-0101" else ""
            rows.append({"file": rel, "kind": "video", "unit": unit, "device_id": device,
                         "officer_id": officer + (";+P3001" if seq == 2 else ""),
                         "recorded_start": _utc(start),
                         "recorded_end": _utc(start + timedelta(seconds=secs)),
                         "party": rng.choice(PARTIES), "cause": rng.choice(CAUSES),
                         "case_id": case, "activity_id": f"ACT-{device}-{start:%Y%m%d}",
                         "activity_type": "询问" if case else "日常巡查"})
            start += timedelta(minutes=rng.randint(15, 40))
    broken = root / "DSJ-0207" / "DSJ-0207_broken.MP4"
    broken_at = day + timedelta(hours=4)
    make_mp4(root / "full.tmp.mp4", 3, creation_time=_utc(broken_at))
    truncate(root / "full.tmp.mp4", broken)
    (root / "full.tmp.mp4").unlink()
    rows.append({"file": "DSJ-0207/DSJ-0207_broken.MP4", "kind": "video", "unit": "urban-001",
                 "device_id": "DSJ-0207", "officer_id": "P2007",
                 "recorded_start": _utc(broken_at),
                 "recorded_end": _utc(broken_at + timedelta(seconds=3)), "party": "赵六",
                 "cause": "违法搭建"})
    make_wav(root / "recorder" / "录音-王五.wav", 3)
    rows.append({"file": "recorder/录音-王五.wav", "kind": "audio", "unit": "market-001",
                 "device_id": "REC-01", "officer_id": "P1001",
                 "recorded_start": _utc(day + timedelta(minutes=5)),
                 "recorded_end": _utc(day + timedelta(minutes=5, seconds=3)),
                 "party": "王五", "cause": "无照经营", "case_id": "SJ-2026-0042",
                 "activity_id": f"ACT-DSJ-0101-{day:%Y%m%d}", "activity_type": "询问"})
    make_image(root / "photos" / "现场照片-01.jpg")
    rows.append({"file": "photos/现场照片-01.jpg", "kind": "photo", "unit": "market-001",
                 "device_id": "DSJ-0101", "officer_id": "P1001",
                 "recorded_start": _utc(day + timedelta(minutes=1)),
                 "recorded_end": _utc(day + timedelta(minutes=1)), "party": "王五",
                 "cause": "无照经营", "case_id": "SJ-2026-0042"})
    make_pdf(root / "scans" / "SJ-2026-0042-询问笔录.pdf",
             text="Record of questioning SJ-2026-0042")
    rows.append({"file": "scans/SJ-2026-0042-询问笔录.pdf", "kind": "document",
                 "unit": "market-001", "officer_id": "P1001", "party": "王五",
                 "cause": "无照经营", "case_id": "SJ-2026-0042",
                 "activity_id": f"ACT-DSJ-0101-{day:%Y%m%d}", "activity_type": "询问",
                 "document_type": "询问笔录", "title": "王五询问笔录",
                 "recorded_start": _utc(day + timedelta(seconds=1)),
                 "recorded_end": _utc(day + timedelta(seconds=2)),
                 "document_date": _utc(day)})
    (root / "DSJ-0102" / "autorun.com").write_bytes(_eicar())  # an infected file
    make_mp4(root / "unsorted" / "VID_0001.mp4", 2)  # no manifest row, unknown camera
    return rows


# what a lock read from the store is called, by its mode
LOCK_MODES = {"LOCAL-WORM": Text("the local WORM directory's lock"),
              "COMPLIANCE": Text("S3 Object Lock in COMPLIANCE mode"),
              "GOVERNANCE": Text("S3 Object Lock in GOVERNANCE mode")}


def _yes(flag: object) -> Text:
    return Text("yes") if flag else Text("no")


def _reasons(reasons: list[dict]) -> str:
    """A file's reasons as the reader reads them: each one's own text when its producer made
    one, else its message (translated when the catalog holds it whole)."""
    return _joined((r["text"] if isinstance(r.get("text"), str) else localize(r["message"])
                    for r in reasons), "；")


def _joined(parts: Iterable[str], chinese: str = "，") -> str:
    """The narration is shown at once: parts separated as its reader's language does."""
    return ({"；": "; "}.get(chinese, ", ") if language() == "en" else chinese).join(parts)


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows(rows)
    return path


def run_demo(directory: Path, new_archive: Callable[[settings.Settings], Archive],
             config: str | None = None, echo: Callable[[Text], None] | None = None) -> dict:
    """The demo in a fresh home under ``directory``; ``new_archive`` (the wiring's
    ``bootstrap.create_archive``) makes the archive there from the demo's settings. ``echo``
    is told each line of the narration as a ``Text``, for the face to show in its reader's
    language."""
    say = echo or (lambda _line: None)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    home = directory.resolve() / f"run-{stamp}"
    base = settings.load(config, home=home)
    data = copy.deepcopy(base.data)
    data["scanner"].update(socket="", host="", allow_test_signatures=True)
    s = settings.Settings(data=data, home=home, files=base.files)
    home.mkdir(parents=True)
    archive = new_archive(s)
    catalog, key = archive.catalog, archive.key
    # The demo holds its people's keys itself (DESIGN.md allows this for tests and the demo).
    pkey = SigningKey.generate(home / "people" / "person-demo-admin.key")
    people.register(catalog, "demo-admin", "演示管理员", f"demo-{stamp}", ["administrator"],
                    pkey)
    actor = Actor("demo-admin", pkey)
    say(Text("Demo archive in {home}", home=str(home)))
    say(Text("Archive key fingerprint: {fingerprint}", fingerprint=fingerprint(key.key_id)))
    for device, (officer, unit) in CAMERAS.items():
        devices.add_device(archive, actor, device, "DSJ-X9", "utc", officer, unit)

    daemon = PrivateClamd(home / "scanner", allow_test_signatures=True)
    scanner = daemon.start()
    say(Text("clamd started on the project's test signatures ({version})",
             version=scanner.version()[0]))
    try:
        # the day's recordings: the last five hours, the first camera out first
        day = (datetime.now(timezone.utc) - timedelta(hours=5)).astimezone(
            s.unit_zone("market-001")).replace(minute=0, second=0, microsecond=0)
        offload = home / "offload"
        rows = _offload(offload, day, random.Random(20260315))
        manifest = _write_csv(home / "manifest.csv", rows)
        say(Text("Offload: {files} files from {cameras} body cameras, a recorder and a "
                 "scanner; manifest {manifest}",
                 files=sum(1 for p in offload.rglob("*") if p.is_file()),
                 cameras=len(CAMERAS), manifest=manifest.name))
        report = Ingest(archive, s, scanner, actor).run(offload, manifest, "STATION-01")
    finally:
        daemon.stop()
    for f in report.files:
        why = _reasons(f.reasons)
        say(Text("  {state}  {file}: {reasons}", state=INGEST_STATE_ZH[f.state], file=f.file,
                 reasons=why) if why else
            Text("  {state}  {file}", state=INGEST_STATE_ZH[f.state], file=f.file))
    counts = report.counts()
    say(Text("Files by state: {counts}", counts=_joined(
        f"{INGEST_STATE_ZH[k]} {v}" for k, v in counts.items() if v)))
    for device, gaps in sorted(report.sequence_gaps.items()):
        say(Text("Device {device}: file numbers missing: {numbers}", device=device,
                 numbers=_joined(map(str, gaps), "、")))

    fix = home / "fix.csv"
    _write_csv(fix, [{"file": "unsorted/VID_0001.mp4", "kind": "video", "unit": "market-001",
                      "device_id": "DSJ-0102", "officer_id": "P1002", "party": "李秀英",
                      "cause": "占道经营"}])
    completed = complete(archive, s, actor, fix)
    say(Text("Metadata completed from {manifest} for {count} item(s):", manifest=fix.name,
             count=len(completed["completed"])))
    for done in completed["completed"]:
        say(Text("  {title} (metadata version {version})",
                 title=_title(archive, s, done["item"]), version=done["version"]))

    again = Ingest(archive, s, daemon.start(), actor).run(offload, manifest, "STATION-01")
    daemon.stop()
    dup = sum(f.duplicate for f in again.files)
    say(Text("The same offload ingested again: {duplicates} duplicates recognised; {items} "
             "items in the catalog", duplicates=dup, items=catalog.count(Query())))

    q = Query(officer="P1001", start=day - timedelta(hours=1), end=day + timedelta(hours=3))
    by_officer = archive.search(q).items
    names = people.people_names(catalog, ["P1001"])
    say(Text("Search by officer {officer}, {start} to {end} ({zone}): {count} items",
             officer=person_label("P1001", names.get("P1001")),
             start=f"{q.start.astimezone(day.tzinfo):%Y-%m-%d %H:%M}",
             end=f"{q.end.astimezone(day.tzinfo):%H:%M}", zone=zone_label(day.tzinfo),
             count=len(by_officer)))
    for item in by_officer:
        say(Text("  {title}", title=_title(archive, s, item.id)))
    by_party = archive.search(Query(party="王五")).items
    say(Text("Search by party containing {text}: {count} items, parties {parties}",
             text="王五", count=len(by_party),
             parties=_joined(sorted({i.description.party or "-" for i in by_party}), "、")))
    say(Text("Items by unit: {counts}", counts=_joined(
        f"{_unit(s, u)} {n}" for u, n in sorted(catalog.count_by("unit").items()))))
    first = by_officer[0]
    shown = archive.show(first.id, read_lock=True)
    lock, unit = shown["lock_in_store"], shown["description"].get("unit")
    say(Text("Shown: {title} (party {party}, cause {cause}); signature valid: {valid}; "
             "{lock} until {until}; legal hold: {hold}", title=_title(archive, s, first.id),
             party=shown["description"]["party"] or "-",
             cause=shown["description"]["cause"] or "-",
             valid=_yes(shown["signature_valid"]),
             lock=LOCK_MODES.get(lock["mode"], lock["mode"]),
             until=local_time(lock["retain_until"], s.unit_zone(unit))[:16],
             hold=_yes(lock["legal_hold"])))
    items = archive.search(Query(), limit=1000).items
    fixity = [archive.fixity(i.id) for i in items]
    fixity_ok = all(f["digests_match"] and f["signature_valid"] for f in fixity)
    say(Text("Read back {count} objects: every digest and signature matches", count=len(fixity))
        if fixity_ok else
        Text("Read back {count} objects: DIGESTS OR SIGNATURES DO NOT MATCH", count=len(fixity)))
    exported = _export(archive, s, home, stamp, say)
    archive.ledger.checkpoint()
    ledger = archive.verify_ledger()
    say(Text("Audit ledger: {entries} entries, {checkpoints} signed checkpoints; {verdict}",
             entries=ledger.entries, checkpoints=ledger.checkpoints,
             verdict=Text("intact") if ledger.ok else Text("PROBLEMS FOUND")))
    catalog.close()
    say(Text("(Stored files are write-protected like real evidence; to remove the demo: "
             "{command})", command=f"chattr -R -i {directory.resolve()} && "
                                   f"rm -rf {directory.resolve()}"))
    expected = {"quarantined": 1, "archived-attention": 1, "archived-pending-metadata": 1}
    ok = (all(counts[k] == v for k, v in expected.items()) and fixity_ok and ledger.ok
          and report.sequence_gaps == {"DSJ-0102": [2]} and not completed["problems"]
          and dup == counts["archived"] + counts["archived-attention"] + 1
          and bool(by_officer) and exported["ok"])
    say(Text("Every expectation of the demo was met") if ok else
        Text("SOME EXPECTATIONS OF THE DEMO FAILED"))
    return {"ok": ok, "home": str(home), "counts": counts, "batch": report.batch_id,
            "sequence_gaps": report.sequence_gaps, "completed": completed["completed"],
            "duplicates_on_rerun": dup, "officer_search": len(by_officer),
            "party_search": [i.id for i in by_party], "fixity_ok": fixity_ok,
            "ledger": ledger.to_dict(), "fingerprint": fingerprint(key.key_id),
            "export": exported}


def _title(archive: Archive, s: settings.Settings, item_id: str) -> str:
    """The item's 题名, as a person finds it (its id is not what a reader reads)."""
    item = archive.catalog.get_item(item_id)
    if item is None:
        return item_id
    d = item.description
    return title_of(d, s.unit_zone(d.unit),
                    people.people_names(archive.catalog, [*d.officers, *d.assisting]))


def _unit(s: settings.Settings, unit: str | None) -> str:
    return (s.units.get(unit) or {}).get("name") or unit or "-"


def _export(archive: Archive, s: settings.Settings, home: Path, stamp: str,
            say: Callable[[Text], None]) -> dict:
    """Copies only, with approval: a clerk asks for the case's recordings, the unit's legal
    office (法制股) approves, the clerk exports a signed BagIt copy, which is then checked
    offline against the archive's public key alone."""
    from archive.access.export import export, verify_export
    from archive.access.requests import AccessContext, create_request, decide

    keys = home / "people"
    catalog = archive.catalog
    for pid, name, roles, positions in (("demo-clerk", "办案人员", ["officer"], []),
                                        ("demo-legal", "法制股审核人", ["legal"], ["法制股"])):
        people.register(catalog, pid, name, f"{pid}-{stamp}", roles,
                        SigningKey.generate(keys / f"person-{pid}.key"), positions=positions)
    clerk = Actor("demo-clerk", SigningKey.load(keys / "person-demo-clerk.key"))
    legal = Actor("demo-legal", SigningKey.load(keys / "person-demo-legal.key"))
    units = s.units
    ctx = AccessContext(approver_position=lambda u: units[u]["approver_role"] if u in units
                        else "局领导")
    req = create_request(archive, clerk, "行政复议：调取案件 SJ-2026-0042 的执法记录", "extract",
                         query=Query(case_id="SJ-2026-0042"),
                         query_text="case_id=SJ-2026-0042")
    decide(archive, legal, req["id"], True, "同意提取，仅限复议使用", ctx)
    out = home / "export-SJ-2026-0042"
    doc = export(archive, clerk, req["id"], out, fonds=s.section("archive")["fonds"])
    public = home / "archive-public.pem"  # all an outside checker is given
    public.write_text(public_pem(archive.key.public))
    check = verify_export(out, key_file=public)
    names = people.people_names(catalog, ["demo-clerk", "demo-legal"])
    say(Text("Access request {request} by {requester} approved by {approver} (法制股); {count} "
             "copies exported to {folder} (a BagIt bag with its signed 提取说明)",
             request=req["id"], requester=person_label("demo-clerk", names.get("demo-clerk")),
             approver=person_label("demo-legal", names.get("demo-legal")),
             count=len(doc["items"]), folder=out.name))
    say(Text("verify-export against the archive's public key {key}: {verdict}",
             key=public.name, verdict=Text("intact") if check.ok else Text("PROBLEMS FOUND")))
    return {"ok": check.ok and len(doc["items"]) > 0, "request": req["id"], "to": str(out),
            "items": len(doc["items"])}
