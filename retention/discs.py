"""Write-once disc copies (刻录光盘) of permanent records, and the disc inventory.

``build`` packs items into ISO images of at most the disc's capacity: first fit by size, in a
stable order (recorded time, then id). Each image holds one BagIt bag: per item the object's
bytes, read from the WORM store by version id and checked against the signed digests while
they are copied, and every signed metadata version as stored; plus a disc manifest signed by
the archive. The inventory (``discs``) says which item is on which disc and where each disc
is kept. Discs are never lent: only copies of them.

``verify`` checks an image or a mounted disc offline: the bag (every file against both
manifests) and every signature against the archive's public keys, and that each object on the
disc has the digests its signed metadata names.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from archive import people
from archive.access.lookup import codes_by_item
from archive.catalog.base import Query
from archive.domain.canonical import canonical
from archive.domain.errors import InputError, NotFound, ProblemFound, WormViolation
from archive.domain.model import Item, MetadataVersion, iso
from archive.domain.names import KIND_ZH, local_time, zone_label
from archive.integrity.fixity import digest_file
from archive.integrity.signing import Keyring
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.base import now_utc
from i18n import N_, Text, localize
from retention.codes import ordered
from retention.handover import record_name
from retention.policy import CyclePolicy, items_of_year
from retention.rules import add_years

ROLES = ("archivist",)
BLOCK = 2048
DISC_RESERVE = 4 * 1024 * 1024  # system area, volume descriptors, UDF, bag tag files
ITEM_RESERVE = 24 * 1024        # per item: directory records, manifest lines, block rounding
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
NEVER_LENT = "光盘只提供复制件，原盘不外借 (discs are never lent; only copies of them)"
# ASCII folder names on a disc: pycdlib reads a UDF directory with a Chinese name back garbled
# (archive/packaging/iso.py; file names are fine), and the records must be found again
RECORDS = "records"
METADATA = "metadata"
INSIDE = "盘内说明.txt"


def _said(text: Text) -> dict:
    """A problem's words: ``message`` in English (JSON, logs), ``text`` in the reader's."""
    return {"message": str(text), "text": localize(text)}


def parse_capacity(text: str) -> int:
    """25G, 50G, 100G (decimal, as disc makers count) or any size such as 1M; bytes."""
    m = _SIZE.match(text.strip())
    if not m:
        raise InputError(N_("capacity {capacity} is not a size such as 25G, 50G or 100G"),
                         capacity=text)
    n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if n < DISC_RESERVE + 2 * ITEM_RESERVE:
        raise InputError(N_("capacity {capacity} is too small for even one item"),
                         capacity=text)
    return n


def _blocks(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def footprint(item: Item, metadata_sizes: list[int]) -> int:
    """What an item takes on a disc, rounded up to blocks (pycdlib shares one extent between
    the ISO 9660 and UDF names of a file)."""
    return (_blocks(item.current.digests.size) + sum(_blocks(s) for s in metadata_sizes)
            + ITEM_RESERVE)


@dataclass
class Plan:
    """Discs to write, each a list of (item, footprint), and items too large for any disc."""

    discs: list[list[tuple[Item, int]]] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)


def plan(items: list[tuple[Item, int]], capacity: int) -> Plan:
    """First fit, in the given order; an item larger than an empty disc is refused."""
    room = capacity - DISC_RESERVE
    out = Plan()
    free: list[int] = []
    for item, size in items:
        if size > room:
            why = Text("item {item} needs {size} bytes on a disc; a {capacity}-byte disc "
                       "holds {room} after its own structures: use a larger disc",
                       item=item.id, size=size, capacity=capacity, room=room)
            out.refused.append({"item": item.id, "size": item.current.digests.size,
                                "needs": size, "capacity": capacity} | _said(why))
            continue
        for n, left in enumerate(free):
            if size <= left:
                out.discs[n].append((item, size))
                free[n] -= size
                break
        else:
            out.discs.append([(item, size)])
            free.append(room - size)
    return out


def on_disc(archive: Archive) -> dict[str, str]:
    """item id -> the first disc holding it."""
    out: dict[str, str] = {}
    for d in archive.catalog.list_records("discs"):
        for row in d["items"]:
            out.setdefault(row["item"], d["id"])
    return out


def candidates(archive: Archive, policy: CyclePolicy, tier: str,
               year: int | None) -> list[Item]:
    if year is not None:
        items = [i for i in items_of_year(archive.catalog, policy, year) if i.tier == tier]
    else:
        items = [i for i in archive.catalog.iter_items(Query(tier=tier))
                 if i.status != "disposed"]
    held = on_disc(archive)
    return ordered(i for i in items if i.id not in held and i.status != "pending-metadata")


def _next_disc_number(archive: Archive) -> int:
    numbers = [int(d["number"]) for d in archive.catalog.list_records("discs")]
    return max(numbers, default=0) + 1


def _claim_disc(archive: Archive, fonds: str, number: int, actor: Actor,
                now: datetime) -> tuple[int, str]:
    """A disc number is claimed by a write-once record in the store, which refuses a second
    writer of the same key: two builds at once never label two discs alike."""
    while True:
        disc_id = f"{fonds}-GP-{number:04d}"
        claim = {"type": "custody.disc-claim", "disc": disc_id, "by": actor.person_id,
                 "at": iso(now)}
        try:
            archive.store.put_blob(f"discs/{disc_id}/claim.json", canonical(claim),
                                   add_years(now_utc(), archive.checkpoint_years))
            return number, disc_id
        except WormViolation:
            number += 1


# makes the 盘内说明 as a PDF document from (disc id, label data, rows); given by the face
# (the document engine needs the home's settings and signing key, which retention does not)
InsidePdf = Callable[[str, dict, list[dict]], bytes]
INSIDE_PDF = "盘内说明.pdf"


@people.records_refusals("disc build")
def build(archive: Archive, actor: Actor, policy: CyclePolicy, tier: str, year: int | None,
          capacity: int, out_dir: Path, now: datetime,
          progress: Callable[[int], None] | None = None,
          inside_pdf: InsidePdf | None = None) -> dict:
    from archive.packaging.bags import BagWriter
    from archive.packaging.iso import write_iso

    people.require_role(archive.catalog, actor, ROLES, N_("build disc copies"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = candidates(archive, policy, tier, year)
    sized = [(i, footprint(i, [_meta_size(archive, m) for m in i.storage["manifests"]]))
             for i in items]
    p = plan(sized, capacity)
    built = []
    number = _next_disc_number(archive)
    for disc_items in p.discs:
        number, disc_id = _claim_disc(archive, policy.fonds, number, actor, now)
        image = out_dir / f"{disc_id}.iso"
        if image.exists():
            raise InputError(N_("{path} exists; refusing to replace it"), path=str(image),
                             subject=str(image))
        staging = out_dir / f".{disc_id}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            rows, label = _write_bag(archive, BagWriter(staging, {
                "Source-Organization": policy.fonds, "External-Identifier": disc_id,
                "External-Description": f"永久保存电子档案光盘 {disc_id}"}),
                disc_id, tier, year, [i for i, _ in disc_items], now, progress,
                codes_by_item(archive.catalog, (i.id for i, _ in disc_items)), policy.zone,
                inside_pdf)
            write_iso(staging, image, disc_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        size = image.stat().st_size
        if size > capacity:
            image.unlink()
            raise ProblemFound(N_("{disc}: the image came out at {size} bytes, more than the "
                                  "{capacity}-byte disc (the size estimate is wrong: report "
                                  "it)"), disc=disc_id, size=size, capacity=capacity)
        digests = digest_file(image)  # the inventory names the very image to be burnt
        record = {"id": disc_id, "number": number, "tier": tier, "year": year,
                  "capacity": capacity, "image": str(image), "size": size,
                  "image_sha256": digests.sha256, "image_sm3": digests.sm3,
                  "created_at": iso(now), "created_by": actor.person_id, "items": rows,
                  "label": label, "location": None, "placements": [], "lent": False}
        archive.catalog.put_record("discs", disc_id, record)
        archive.ledger.append(actor, "disc-built", disc_id,
                              {"items": len(rows), "size": size, "capacity": capacity,
                               "image": image.name, "image_sha256": digests.sha256})
        built.append(record)
        number += 1
    return {"discs": built, "refused": p.refused, "candidates": len(items)}


def _meta_size(archive: Archive, ref: dict) -> int:
    return sum(s for k, v, s in archive.store.list_keys(ref["key"]) if v == ref["version_id"])


def _write_bag(archive: Archive, bag, disc_id: str, tier: str, year: int | None,
               items: list[Item], now: datetime,
               progress: Callable[[int], None] | None, codes: dict[str, str],
               zone: tzinfo | None, inside_pdf: InsidePdf | None = None
               ) -> tuple[list[dict], dict]:
    """The records under records/ named by 档号 (the item id while it has none) with their
    real extension, so that they play without custody; the signed metadata under metadata/;
    the signed disc manifest and the 盘内说明 (plain text, and a signed PDF when
    ``inside_pdf`` makes one). Returns the rows and the label's data."""
    rows = []
    for item in items:
        obj = item.storage["object"]
        code = codes.get(item.id)
        file = f"{RECORDS}/{record_name(item, code)}"
        got = bag.add_stream(file, _counted(
            archive.store.read(obj["key"], obj["version_id"]), progress))
        if got != item.current.digests:
            raise ProblemFound(N_("item {item}: the store returned {got}… ({size} bytes), "
                                  "the signed digest is {signed}…; no disc written (restore "
                                  "the object from the second copy first)"), item=item.id,
                               got=got.sha256[:16], size=got.size, signed=item.sha256[:16],
                               subject=item.id)
        versions, metadata = [], []
        for ref in item.storage["manifests"]:
            data = archive.store.read_bytes(ref["key"], ref["version_id"])
            mfile = f"{METADATA}/{code or item.id}/v{ref['version']:04d}.json"
            bag.add_bytes(mfile, data)
            versions.append(ref["version"])
            metadata.append(mfile)
        rows.append({"item": item.id, "archive_code": code, "file": file,
                     "kind": item.description.kind, "sha256": item.sha256, "sm3": got.sm3,
                     "size": got.size, "metadata_versions": versions,
                     "metadata_files": metadata,
                     "object": {"key": obj["key"], "version_id": obj["version_id"]}})
    manifest = {"type": "custody.disc-manifest", "disc": disc_id, "tier": tier, "year": year,
                "written_at": iso(now), "items": rows}
    signed = {"manifest": manifest, "key_id": archive.key.key_id,
              "signature": archive.key.sign(manifest)}
    bag.add_bytes("disc-manifest.json", json.dumps(signed, ensure_ascii=False, indent=1)
                  .encode("utf-8"))
    label = label_data(disc_id, tier, year, rows, iso(now), zone)
    bag.add_bytes(INSIDE, inside_text(label, rows).encode("utf-8"))  # 盘内说明
    if inside_pdf is not None:
        bag.add_bytes(INSIDE_PDF, inside_pdf(disc_id, label, rows))
    bag.add_bytes("disc-label-zh.txt", label_text(label).encode("utf-8"))  # 光盘标签
    bag.finish()
    return rows, label


def label_data(disc_id: str, tier: str, year: int | None, rows: list[dict], written_at: str,
               zone: tzinfo | None) -> dict:
    """What a disc's label and its 盘内说明 say: the 档号 range, counts, bytes, written time."""
    coded = sorted(r["archive_code"] for r in rows if r.get("archive_code"))
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r.get("kind") or "data"] = kinds.get(r.get("kind") or "data", 0) + 1
    return {"disc": disc_id, "tier": tier, "year": year,
            "first_code": coded[0] if coded else None, "last_code": coded[-1] if coded else None,
            "items": len(rows), "coded": len(coded), "uncoded": len(rows) - len(coded),
            "bytes": sum(r["size"] for r in rows), "kinds": kinds, "written_at": written_at,
            "written_at_local": local_time(written_at, zone), "zone": zone_label(zone)}


def _range(label: dict) -> str:
    if not label["first_code"]:
        return "（本盘条目尚无档号，以条目标识命名）"
    span = label["first_code"] if label["first_code"] == label["last_code"] else (
        f"{label['first_code']} 至 {label['last_code']}")
    return span + (f"；另 {label['uncoded']} 件未编档号" if label["uncoded"] else "")


def label_text(label: dict) -> str:
    """光盘标签 as text (the engine prints the form)."""
    kinds = "、".join(f"{KIND_ZH.get(k, k)} {n}" for k, n in sorted(label["kinds"].items()))
    return "\n".join([
        f"光盘编号 {label['disc']}  保管期限 永久  {label['year'] or ''}年度",
        f"档号 {_range(label)}",
        f"共 {label['items']} 件（{kinds}），{label['bytes']} 字节",
        f"写入时间 {label['written_at_local']}（{label['zone']}）", NEVER_LENT]) + "\n"


def inside_text(label: dict, rows: list[dict]) -> str:
    """盘内说明: on every disc, so that a person can find, check and play the records in
    twenty years without custody."""
    lines = [f"盘内说明  光盘 {label['disc']}", "",
             f"档号范围：{_range(label)}",
             f"数量：{label['items']} 件，{label['bytes']} 字节",
             f"写入时间：{label['written_at_local']}（{label['zone']}）",
             "摘要算法：SHA-256 与 SM3（GB/T 32905）；每个文件的摘要见下表，也见 "
             "manifest-sha256.txt 与 manifest-sm3.txt（BagIt）",
             f"{RECORDS}/ 下为电子档案本身，以档号命名（未编档号的以条目标识命名），"
             "扩展名即其格式，可直接用通用播放器或阅读器打开；",
             f"{METADATA}/ 下为每件已签名的元数据（JSON），"
             "disc-manifest.json 为档案机构签名的光盘清单。",
             NEVER_LENT, "", "档号或条目标识  文件  字节数  SHA-256  SM3"]
    for r in rows:
        lines.append(f"{r.get('archive_code') or r['item']}  {r['file']}  {r['size']}  "
                     f"{r['sha256']}  {r['sm3']}")
    return "\n".join(lines) + "\n"


def _counted(chunks, progress):
    for c in chunks:
        if progress:
            progress(len(c))
        yield c


@people.records_refusals("disc place")
def place(archive: Archive, actor: Actor, disc_id: str, location: str, now: datetime) -> dict:
    people.require_role(archive.catalog, actor, ROLES, N_("record where a disc is kept"))
    doc = archive.catalog.get_record("discs", disc_id)
    if doc is None:
        raise InputError(N_("no disc {disc} (custody disc list)"), disc=disc_id,
                         subject=disc_id)
    if not location.strip():
        raise InputError(N_("--location must say where the disc is kept"))
    doc["location"] = location
    doc["placements"].append({"location": location, "at": iso(now), "by": actor.person_id})
    archive.catalog.put_record("discs", disc_id, doc)
    archive.ledger.append(actor, "disc-placed", disc_id, {"location": location})
    return doc


def disc_of(archive: Archive, disc_id: str) -> dict:
    """The inventory record of one disc; refused for a disc nobody built."""
    doc = archive.catalog.get_record("discs", disc_id)
    if doc is None:
        raise NotFound(N_("no disc {disc} (custody disc list)"), disc=disc_id,
                       subject=disc_id)
    return doc


def inventory(archive: Archive) -> list[dict]:
    return sorted(archive.catalog.list_records("discs"), key=lambda d: d["number"])


# --- verification ---------------------------------------------------------------------------
def verify(path: Path, keys: Keyring) -> dict:
    """Every problem with a disc image or a mounted disc; ``ok`` when there is none."""
    from archive.packaging.bags import check_bag, open_bag

    report = check_bag(Path(path))
    problems = [p.to_dict() for p in report.problems]
    items = 0
    with open_bag(Path(path)) as src:
        files = src.files()
        if "data/disc-manifest.json" not in files:
            problems.append({"code": "no-disc-manifest", "path": "data/disc-manifest.json"}
                            | _said(Text("the disc carries no signed disc manifest")))
            listed = []
        else:
            doc = _load(src, "data/disc-manifest.json", problems)
            listed = []
            if doc is not None:
                if not keys.verify(doc.get("manifest", {}), doc.get("key_id", ""),
                                   doc.get("signature", "")):
                    problems.append({"code": "signature-invalid",
                                     "path": "data/disc-manifest.json"}
                                    | _said(Text("the disc manifest does not verify with any "
                                                 "archive key")))
                listed = doc.get("manifest", {}).get("items", [])
        for row in listed:
            items += 1
            base = f"data/items/{row['item']}"  # the layout of discs written before 档号 names
            obj = f"data/{row['file']}" if row.get("file") else f"{base}/object"
            got = report.digests.get(obj)
            mpaths = [f"data/{m}" for m in row.get("metadata_files") or []] or [
                f"{base}/metadata-v{v:04d}.json" for v in row.get("metadata_versions", [])]
            for v, mpath in zip(row.get("metadata_versions", []), mpaths, strict=False):
                if mpath not in files:
                    problems.append({"code": "missing", "path": mpath}
                                    | _said(Text("{path} is named by the disc manifest but "
                                                 "absent", path=mpath)))
                    continue
                mdoc = _load(src, mpath, problems)
                if mdoc is None:
                    continue
                try:
                    version = MetadataVersion.from_dict(mdoc)
                except (KeyError, TypeError, ValueError, InputError) as exc:
                    problems.append({"code": "metadata-unreadable", "path": mpath}
                                    | _said(Text("{path}: {reason}", path=mpath,
                                                 reason=str(exc))))
                    continue
                if not keys.verify(mdoc["manifest"], version.key_id, version.signature):
                    problems.append({"code": "signature-invalid", "path": mpath}
                                    | _said(Text("{path} does not verify with any archive key",
                                                 path=mpath)))
                if got is not None and (version.digests.sha256 != got.sha256
                                        or version.digests.size != got.size):
                    problems.append({"code": "object-mismatch", "path": obj}
                                    | _said(Text("{path} is not the object its signed "
                                                 "metadata v{version} names", path=obj,
                                                 version=v)))
            if obj not in files:
                problems.append({"code": "missing", "path": obj}
                                | _said(Text("{path} is named by the disc manifest but absent",
                                             path=obj)))
    problems = _dedupe(problems)
    return {"path": str(path), "ok": not problems, "files": report.files,
            "bytes": report.bytes, "items": items, "problems": problems}


def _load(src, rel: str, problems: list[dict]) -> dict | None:
    try:
        return json.loads(src.read_bytes(rel))
    except (OSError, ValueError) as exc:
        problems.append({"code": "unreadable", "path": rel}
                        | _said(Text("{path}: {reason}", path=rel, reason=str(exc))))
        return None


def _dedupe(problems: list[dict]) -> list[dict]:
    seen, out = set(), []
    for p in problems:
        k = (p["code"], p["path"])
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out
