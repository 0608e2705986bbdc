"""Archive codes (档号) and the signed yearly manifest.

A code is ``<fonds>-<year>-<period code>-<unit>-<item number>``, e.g.
``J001-2025-M6-market-001-00012``.
Every (fonds, year, period, unit) is one sequence numbered from 1 with no gaps; a code once
given is never given again nor taken back. An item of year N that arrives after a finalize
run is appended at the end of its sequence by a later run. A later promotion (6 months to
permanent) does not change the code: the record keeps the period it was coded under and gets a
note.

Numbers are allocated through the audit ledger, the one sequence in the system that several
processes (and both catalog backends) append to atomically: one ledger entry carries a batch
of assignments, and the batch is computed inside the append from the ledger head it follows,
so two finalize runs at once can neither take one number twice nor skip one. The catalog's
``archive_codes`` records are a cache of those entries, rebuilt from the ledger when a run
died between the append and the cache write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from archive.catalog.base import Catalog, sort_time
from archive.domain.canonical import canonical
from archive.domain.errors import InputError
from archive.domain.ids import uuid7
from archive.domain.model import Item, LedgerEntry, iso, parse_iso
from archive.ledger.chain import Actor, build_entry
from archive.service import Archive
from i18n import N_

CODE_ACTION = "archive-codes"
WATERMARK = "archive-codes-watermark"  # meta record: ledger seq up to which the cache is whole
BATCH = 500  # assignments per ledger entry (keeps one entry small)
ANNUAL_PREFIX = "annual"
STALE_CLAIM = timedelta(minutes=30)  # a manifest claimed this long ago without its bag: died

_PERIOD_ZH_FALLBACK = {"permanent": "永久"}


def period_code(period: str) -> str:
    from retention.rules import period_code as rules_period_code

    return rules_period_code(period)


def period_zh(period: str) -> str:
    try:
        from retention.rules import period_zh as rules_period_zh
    except ImportError:  # pragma: no cover - the rules module always has it now
        return _PERIOD_ZH_FALLBACK.get(period, period)
    return rules_period_zh(period)


def item_period(item: Item, units: dict[str, dict]) -> str:
    """The retention period an item is kept for now: the retention engine's, else (an item it
    has not seen yet) permanent for the permanent tier and the unit's routine period."""
    period = (item.retention or {}).get("period")
    if period:
        return str(period)
    if item.tier == "permanent":
        return "permanent"
    rules = units.get(item.description.unit or "", {})
    return f"{int(rules.get('routine_months', 6))}m"


def format_code(fonds: str, year: int, pcode: str, unit: str, number: int, digits: int) -> str:
    return f"{fonds}-{year}-{pcode}-{unit}-{number:0{digits}d}"


@dataclass(frozen=True)
class Wanted:
    """An item that should get a code, with the period it is coded under."""

    item: Item
    period: str

    @property
    def unit(self) -> str:
        return self.item.description.unit or "-"


def _sequence(doc: dict) -> tuple[str, int, str, str]:
    return doc["fonds"], int(doc["year"]), doc["period_code"], doc["unit"]


class _State:
    """Highest number per sequence and the code of each item, as of one ledger head."""

    def __init__(self) -> None:
        self.top: dict[tuple[str, int, str, str], int] = {}
        self.of_item: dict[str, str] = {}
        self.docs: dict[str, dict] = {}  # code -> record (the ones learnt from the ledger)

    def add(self, doc: dict) -> None:
        seq = _sequence(doc)
        self.top[seq] = max(self.top.get(seq, 0), int(doc["number"]))
        self.of_item[doc["item"]] = doc["code"]


def _cached(catalog: Catalog) -> tuple[_State, int]:
    state = _State()
    for doc in catalog.list_records("archive_codes"):
        state.add(doc)
    mark = catalog.get_record("meta", WATERMARK) or {}
    return state, int(mark.get("ledger_seq", 0))


def _replay(catalog: Catalog, state: _State, after: int, upto: int) -> None:
    """Add the assignments the ledger holds in (after, upto] that the cache may lack."""
    if upto <= after:
        return
    for entry in catalog.ledger_entries(after + 1):
        if entry.seq > upto:
            break
        if entry.action == CODE_ACTION:
            for doc in entry.details.get("codes", []):
                doc = doc | {"ledger_seq": entry.seq}
                if doc["item"] not in state.of_item:
                    state.docs[doc["code"]] = doc
                state.add(doc)


def _assign(state: _State, wanted: list[Wanted], fonds: str, year: int, digits: int,
            at: str, by: str) -> list[dict]:
    out: list[dict] = []
    for w in wanted:
        if w.item.id in state.of_item:
            continue
        pcode = period_code(w.period)
        seq = (fonds, year, pcode, w.unit)
        number = state.top.get(seq, 0) + 1
        doc = {"code": format_code(fonds, year, pcode, w.unit, number, digits),
               "item": w.item.id, "fonds": fonds, "year": year, "period": w.period,
               "period_code": pcode, "unit": w.unit, "number": number, "assigned_at": at,
               "assigned_by": by, "sha256": w.item.sha256}
        state.add(doc)
        out.append(doc)
    return out


def sync_cache(catalog: Catalog) -> int:
    """Write to the cache any assignment only the ledger holds (a run died after its append);
    returns how many were missing."""
    state, mark = _cached(catalog)
    head = catalog.ledger_head()
    if head is None:
        return 0
    _replay(catalog, state, mark, head.seq)
    for code, doc in state.docs.items():
        if catalog.get_record("archive_codes", code) is None:
            catalog.put_record("archive_codes", code, doc | {"notes": []})
    _raise_watermark(catalog, head.seq)
    return len(state.docs)


def _raise_watermark(catalog: Catalog, seq: int) -> None:
    mark = catalog.get_record("meta", WATERMARK) or {}
    if int(mark.get("ledger_seq", 0)) < seq:
        catalog.put_record("meta", WATERMARK, {"ledger_seq": seq})


def assign_codes(archive: Archive, actor: Actor, wanted: Iterable[Wanted], fonds: str,
                 year: int, digits: int, now: datetime) -> list[dict]:
    """Give every wanted item that has no code the next number of its sequence, in the
    order given (callers sort it stably). Returns the new assignments."""
    catalog = archive.catalog
    sync_cache(catalog)
    wanted = list(wanted)
    new: list[dict] = []
    at = iso(now)
    known = _known_items(catalog)
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start:start + BATCH]
        made: list[dict] = []

        def build(prev: LedgerEntry | None, chunk=chunk, made=made) -> LedgerEntry:
            # Runs inside the catalog's atomic append (again, if another writer got there
            # first): the state is read as of ``prev``, so numbers follow every earlier batch.
            state, mark = _cached(catalog)
            _replay(catalog, state, mark, prev.seq if prev else 0)
            made[:] = _assign(state, chunk, fonds, year, digits, at, actor.person_id)
            if not made:
                raise _Nothing
            return build_entry(prev, actor, CODE_ACTION, f"{fonds}-{year}",
                               {"year": year, "codes": made}, now)

        if all(w.item.id in known for w in chunk):
            continue
        try:
            entry = catalog.append_ledger(build)
        except _Nothing:
            continue  # another run coded them meanwhile
        archive.ledger.appended += 1
        for doc in made:
            catalog.put_record("archive_codes", doc["code"],
                               doc | {"ledger_seq": entry.seq, "notes": []})
        new += made
        sync_cache(catalog)
    return new


class _Nothing(Exception):
    """Raised inside a ledger append to abandon it: nothing is left to record."""


def _known_items(catalog: Catalog) -> set[str]:
    return {d["item"] for d in catalog.list_records("archive_codes")}


def destroyed_items(catalog: Catalog) -> dict[str, dict]:
    """item id -> when and by which disposal list it was destroyed (its tombstone)."""
    return {t["id"]: {"at": t.get("destroyed_at"), "list": t.get("list")}
            for t in catalog.list_records("tombstones") if t.get("state") == "destroyed"}


def codes_of_year(catalog: Catalog, year: int) -> list[dict]:
    """The codes of year N in sequence order; the code of a destroyed item says so
    (``destroyed``: when, which list). Its number stays taken: a code is never given again."""
    docs = catalog.list_records("archive_codes", year=year)
    gone = destroyed_items(catalog)
    docs = [d | {"destroyed": gone[d["item"]]} if d["item"] in gone else d for d in docs]
    return sorted(docs, key=lambda d: (_sequence(d), int(d["number"])))


def note_promotions(catalog: Catalog, items: dict[str, Item], units: dict[str, dict],
                    at: str) -> list[dict]:
    """A period that changed after coding is noted beside the code, never put in it."""
    noted = []
    for doc in catalog.list_records("archive_codes"):
        item = items.get(doc["item"])
        if item is None:
            continue
        now = item_period(item, units)
        last = doc["notes"][-1]["period"] if doc.get("notes") else doc["period"]
        if now != last:
            doc.setdefault("notes", []).append({
                "at": at, "period": now,
                "text": f"保管期限由{period_zh(last)}变更为{period_zh(now)}，档号不变"})
            catalog.put_record("archive_codes", doc["code"], doc)
            noted.append(doc)
    return noted


def gaps(docs: list[dict]) -> dict[str, list[int]]:
    """Missing or doubled numbers per sequence (for checks and tests): {} when whole."""
    by_seq: dict[tuple, list[int]] = {}
    for d in docs:
        by_seq.setdefault(_sequence(d), []).append(int(d["number"]))
    out = {}
    for seq, numbers in by_seq.items():
        numbers.sort()
        if numbers != list(range(1, len(numbers) + 1)):
            out["-".join(map(str, seq))] = numbers
    return out


# --- the yearly manifest --------------------------------------------------------------------
def manifest_body(archive: Archive, year: int, fonds: str, docs: list[dict],
                  items: dict[str, Item], transfers: list[str]) -> dict:
    rows = []
    for d in docs:
        item = items.get(d["item"]) or archive.item(d["item"])
        ref = item.storage["manifests"][-1]
        obj = item.storage["object"]
        rows.append({"code": d["code"], "item_id": item.id, "period": d["period"],
                     "notes": d.get("notes", []), "sha256": item.sha256,
                     "sm3": item.current.digests.sm3, "size": item.current.digests.size,
                     "object": {"key": obj["key"], "version_id": obj["version_id"]},
                     "metadata": {"version": item.version, "key": ref["key"],
                                  "version_id": ref["version_id"]}}
                    | ({"destroyed": d["destroyed"]} if d.get("destroyed") else {}))
    return {"type": "custody.annual-manifest", "fonds": fonds, "year": year,
            "transfers": transfers, "items": rows}


MANIFEST_ACTION = "annual-manifest"


def manifest_runs(catalog: Catalog, year: int, upto: int | None = None) -> list[dict]:
    """Every numbered yearly manifest of year N: the cache, plus claims only the ledger has."""
    doc = catalog.get_record("meta", f"annual-{year}") or {}
    runs = {r["number"]: r for r in doc.get("manifests", [])}
    after = int(doc.get("ledger_seq", 0))
    head = upto if upto is not None else (catalog.ledger_head().seq
                                          if catalog.ledger_head() else 0)
    if head > after:
        for entry in catalog.ledger_entries(after + 1):
            if entry.seq > head:
                break
            if entry.action == MANIFEST_ACTION and entry.details.get("year") == year:
                d = entry.details
                runs.setdefault(d["number"], {k: d[k] for k in (
                    "number", "at", "by", "prefix", "body_sha256", "items")}
                    | {"ledger_seq": entry.seq})
    return [runs[n] for n in sorted(runs)]


def last_manifest(catalog: Catalog, year: int) -> dict | None:
    runs = manifest_runs(catalog, year)
    return runs[-1] if runs else None


def write_manifest(archive: Archive, actor: Actor, body: dict, year: int, work_dir,
                   now: datetime, render_zh) -> dict | None:
    """Sign the manifest, wrap it in a bag and store the bag's files under
    ``annual/<year>/<n>/``; None when it equals the last one (nothing changed).

    The number is claimed by a ledger entry computed inside the atomic append, so two runs
    at once never write one number twice; a claim whose bag a crash left unwritten is
    completed by the next run."""
    catalog = archive.catalog
    digest = _digest(canonical(body))
    at = iso(now)
    claim: dict = {}

    def build(prev: LedgerEntry | None) -> LedgerEntry:
        runs = manifest_runs(catalog, year, prev.seq if prev else 0)
        if runs and runs[-1]["body_sha256"] == digest:
            claim.clear()
            claim.update(runs[-1])
            raise _Nothing
        number = runs[-1]["number"] + 1 if runs else 1
        claim.clear()
        claim.update({"year": year, "number": number, "at": at, "by": actor.person_id,
                      "prefix": f"{ANNUAL_PREFIX}/{year}/{number:03d}",
                      "body_sha256": digest, "items": len(body["items"])})
        return build_entry(prev, actor, MANIFEST_ACTION, f"{body['fonds']}-{year}", claim, now)

    try:
        entry = catalog.append_ledger(build)
        archive.ledger.appended += 1
        claim["ledger_seq"] = entry.seq
        fresh = True
    except _Nothing:
        fresh = False
    if not fresh:
        if archive.store.versions(f"{claim['prefix']}/bagit.txt"):
            return None  # unchanged, and its bag is whole in the store
        if now - parse_iso(claim["at"]) < STALE_CLAIM:
            return None  # its claimant is writing it now; only a dead run's bag is completed
    run = _store_bag(archive, actor, body, year, claim, work_dir, render_zh)
    doc = catalog.get_record("meta", f"annual-{year}") or {"manifests": []}
    doc["manifests"] = [r for r in doc["manifests"] if r["number"] != run["number"]] + [run]
    doc["manifests"].sort(key=lambda r: r["number"])
    doc["ledger_seq"] = max(int(doc.get("ledger_seq", 0)), run.get("ledger_seq", 0))
    catalog.put_record("meta", f"annual-{year}", doc)
    return run


def _store_bag(archive: Archive, actor: Actor, body: dict, year: int, claim: dict, work_dir,
               render_zh) -> dict:
    import shutil

    from archive.packaging.bags import BagWriter

    number, at = claim["number"], claim["at"]
    signed_body = body | {"number": number, "at": at, "by": claim["by"]}
    signed = {"manifest": signed_body, "key_id": archive.key.key_id,
              "signature": archive.key.sign(signed_body),
              "signer": {"person": actor.person_id, "key_id": actor.key.key_id,
                         "signature": actor.key.sign(signed_body)}}
    root = work_dir / f"annual-{year}-{number:03d}-{uuid7()}"
    bag = BagWriter(root, {"Source-Organization": body["fonds"],
                           "External-Description": f"{year}年度归档清单（第{number}版）",
                           "External-Identifier": f"{body['fonds']}-{year}-annual-{number:03d}"})
    bag.add_bytes("annual-manifest.json", json.dumps(signed, ensure_ascii=False, indent=1)
                  .encode("utf-8"))
    bag.add_bytes("catalogue-zh.txt", render_zh(signed_body).encode("utf-8"))  # 归档目录
    bag.finish()
    until = parse_iso(at) + timedelta(days=366 * archive.ledger.checkpoint_years)
    stored = []
    files = sorted(p for p in root.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "bagit.txt")  # last: its presence marks a whole bag
    for p in files:
        rel = p.relative_to(root).as_posix()
        key = f"{claim['prefix']}/{rel}"
        if archive.store.versions(key):
            continue  # stored by the run that died; the claim's bag is completed, not redone
        v = archive.store.put_blob(key, p.read_bytes(), until)
        stored.append({"path": rel, "key": key, "version_id": v.version_id})
    shutil.rmtree(root, ignore_errors=True)
    return {k: claim[k] for k in ("number", "at", "by", "prefix", "body_sha256", "items")} | {
        "ledger_seq": claim.get("ledger_seq", 0), "files": stored}


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def check_year(year: int) -> int:
    if not 1900 <= year <= 9999:
        raise InputError(N_("year {year} is out of range"), year=year)
    return year


def ordered(items: Iterable[Item]) -> list[Item]:
    """The stable order numbers follow: recorded (else ingested) time, then id."""
    return sorted(items, key=lambda i: (sort_time(i), i.id))
