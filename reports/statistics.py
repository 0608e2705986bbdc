"""Yearly statistics (统计分析): the figures a leader reads to find weak spots in enforcement.

Pure computation over the catalog: nothing here prints, and the clock is never read, so the
same catalog and year always give the same figures. ``reports/`` imports nothing of
``ingest/``: a device's file-number gaps are read as ingest settled them, per year, in the
device register.

"Year N" of an item is the year, in its unit's zone, of its recording start; an item without
one (a scanned document, data, an item still pending metadata) counts in the year of its
document date, else of its ingestion.
"""

from __future__ import annotations

import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from archive.catalog import years
from archive.catalog.base import Catalog, Query, item_cases, sort_time
from archive.catalog.years import parse_when
from archive.domain.errors import InputError
from archive.domain.model import TIERS, Item
from config.settings import Settings
from i18n import N_

# Activities whose enforcement regulations demand a full audio-visual record. Configurable
# (the CLI reads ``[report] required_activity_types``); this is the list the bureaus share.
DEFAULT_REQUIRED: tuple[str, ...] = (
    "现场勘验", "询问", "先行登记保存", "扣押", "查封", "听证", "强制拆除", "送达",
)
AV_KINDS = ("video", "audio")  # kinds that have a duration worth counting in hours
RECORDING_KINDS = ("video", "audio", "photo")  # 音像记录: what proves an activity was recorded
WORK_RECORD = "工作记录"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
NONE_KEY = "-"  # the group of items that lack the grouped field (JSON keys must be strings)


# --- reading the catalog ----------------------------------------------------------------------
def list_optional(catalog: Catalog, collection: str) -> tuple[bool, list[dict]]:
    """(exists, records): a collection this catalog version does not know yet reads as empty
    rather than failing the whole report."""
    try:
        return True, catalog.list_records(collection)
    except InputError as exc:
        if exc.message.startswith("no collection"):
            return False, []
        raise


def year_gaps(doc: dict, year: int, item_numbers: Collection[int] = ()
              ) -> tuple[list[int], int]:
    """(file numbers missing in ``year``, numbers the device delivered in it), read from the
    device register's per-year gaps, which ingest settles once each batch is complete: a gap
    of an earlier year is not repeated in this one. A register entry from before numbers
    were kept by year falls back on the numbers this year's own items carry
    (``item_numbers``), the gaps between them."""
    by_year = doc.get("sequence_years")
    if isinstance(by_year, dict) and isinstance(doc.get("gaps_by_year"), dict):
        gaps = [int(n) for n in doc["gaps_by_year"].get(str(year), [])]
        return gaps, len(by_year.get(str(year), []))
    seen = sorted({int(n) for n in item_numbers})
    if not seen:
        return [], 0
    have = set(seen)
    return [n for n in range(seen[0], seen[-1] + 1) if n not in have], len(seen)


# --- tallies ----------------------------------------------------------------------------------
def _hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


def _duration_s(item: Item) -> float:
    d = item.description
    if d.kind in AV_KINDS and d.recorded_start and d.recorded_end:
        return (d.recorded_end - d.recorded_start).total_seconds()
    return 0.0


def _late(item: Item) -> bool:
    return bool((item.checks.get("deadline") or {}).get("late"))


class _Tally:
    """Items, recorded seconds and late offloads of one unit, officer or device."""

    def __init__(self) -> None:
        self.items = 0
        self.seconds = 0.0
        self.late = 0
        self.by_kind: dict[str, int] = defaultdict(int)
        self.by_type_items: dict[str, int] = defaultdict(int)
        self.by_type_seconds: dict[str, float] = defaultdict(float)

    def add(self, row: dict, seconds: float) -> None:
        """Count one item's row (``item_row``)."""
        t = row["type"] or NONE_KEY
        self.items += 1
        self.seconds += seconds
        self.late += row["late"]
        self.by_kind[row["kind"]] += 1
        self.by_type_items[t] += 1
        self.by_type_seconds[t] += seconds

    def to_dict(self) -> dict:
        return {"items": self.items, "seconds": self.seconds, "hours": _hours(self.seconds),
                "late": self.late, "by_kind": dict(sorted(self.by_kind.items())),
                "by_activity_type": {t: {"items": self.by_type_items[t],
                                         "hours": _hours(self.by_type_seconds[t])}
                                     for t in sorted(self.by_type_items)}}


class _OfficerTally(_Tally):
    """An officer's figures, split by role: leading the recording or assisting (协助)."""

    def __init__(self) -> None:
        super().__init__()
        self.role_items = {"officer": 0, "assisting": 0}
        self.role_seconds = {"officer": 0.0, "assisting": 0.0}

    def add_role(self, row: dict, seconds: float, role: str) -> None:
        self.add(row, seconds)
        self.role_items[role] += 1
        self.role_seconds[role] += seconds

    def to_dict(self) -> dict:
        return super().to_dict() | {
            "as_officer": self.role_items["officer"],
            "as_assisting": self.role_items["assisting"],
            "hours_as_officer": _hours(self.role_seconds["officer"]),
            "hours_as_assisting": _hours(self.role_seconds["assisting"])}


def _brief(item: Item, zone: ZoneInfo, clearances: frozenset[str] = frozenset()) -> dict:
    d = item.description
    start = d.recorded_start.astimezone(zone).isoformat() if d.recorded_start else None
    # a confidential item's case number is masked for readers without its clearance
    hide = d.confidential is not None and d.confidential not in clearances
    return {"id": item.id, "kind": d.kind, "unit": d.unit, "device_id": d.device_id,
            "officers": list(d.officers), "recorded_start": start,
            "activity_id": d.activity_id, "activity_type": d.activity_type,
            "case_id": "***" if hide and d.case_id else d.case_id, "status": item.status,
            "tier": item.tier}


def _problems(item: Item) -> list[str]:
    """The check failures of one item, by name (the keys of ``check_failures``)."""
    c = item.checks
    found = []
    if item.status == "attention":
        found.append("attention")
    if item.status == "pending-metadata":
        found.append("pending_metadata")
    if (c.get("format") or {}).get("damaged"):
        found.append("format_damaged")
    if (c.get("consistency") or {}).get("result") == "fail":
        found.append("consistency_fail")
    if (c.get("written_record") or {}).get("result") == "fail":
        found.append("written_record_fail")
    virus = c.get("virus")
    if virus is None:
        found.append("virus_not_recorded")
    elif virus.get("status") != "clean":
        found.append("virus_not_clean")
    if (c.get("device") or {}).get("result") == "fail":
        found.append("device_faulty")
    if (c.get("verification") or {}).get("ok") is False:  # failed its last sampled read
        found.append("verification_failed")
    return found


PROBLEM_KEYS = ("attention", "pending_metadata", "format_damaged", "consistency_fail",
                "written_record_fail", "virus_not_clean", "virus_not_recorded", "device_faulty",
                "verification_failed")


def _flag_names(item: Item) -> list[str]:
    """Retention flags as names; the retention engine may store plain names or records."""
    out = []
    for f in item.retention.get("flags") or []:
        if isinstance(f, str):
            out.append(f)
        elif isinstance(f, dict):
            out.append(str(f.get("flag") or f.get("reason") or f.get("type") or NONE_KEY))
    return out


# --- the report -------------------------------------------------------------------------------
def yearly_statistics(catalog: Catalog, year: int, zone: ZoneInfo, unit: str | None = None,
                      required_activity_types: Sequence[str] = DEFAULT_REQUIRED, *,
                      unit_zones: Mapping[str, ZoneInfo] | None = None,
                      unit_names: Mapping[str, str] | None = None,
                      clearances: frozenset[str] = frozenset(),
                      unit_required: Mapping[str, Sequence[str]] | None = None) -> dict:
    """Every figure of the yearly report for ``year`` (and ``unit``), as JSON-safe data.

    ``zone`` places items of units not in ``unit_zones`` (and register dates) in a year.

    Registers read besides the items (records of small collections):

    - ``devices`` (the device register): ``{"id", "unit", "model", "status",
      "sequence_years": {"2026": [file numbers seen]}, "gaps_by_year": {"2026": [missing]}}``
      (see ``year_gaps``), for devices of the unit or used by it in the year.
    - ``cases`` (the case register; may be empty):
      ``{"id": "SJ-2026-0042", "unit": "market-001", "opened": "2026-03-01",
      "closed": "2026-05-10" | None, "activities": ["询问", "扣押", ...]}`` where
      ``activities`` are the activity types performed in the case. A case counts in the year
      it was opened (a case without an opening date in every year, so it is not missed).
      应录未录 is judged per activity: each activity of the case whose type its unit requires
      to be recorded (``unit_required``, else ``required_activity_types``) and that no
      recording of the case (video, audio or photo, any year) of that activity type shows.
    - ``inspections`` (检查台帐, ``archive.verification``), counted in the year of ``at``:
      sampled read-verifications ``{"id", "type": "sampled-verification", "at", "by",
      "results": [{"item", "ok", "problems": [{"code", ...}]}], ...}`` and conduct spot checks
      ``{"id", "type": "conduct-check", "at", "unit", "officers", "finding", "finding_zh"}``.
      A catalog without the collection reads as "not available", not as an error.
    """
    zones = dict(unit_zones or {})
    rows = [item_row(item, zones.get(item.description.unit or "", zone), clearances)
            for item in years.year_items(catalog, year, zone, unit, zones)]
    return figures(catalog, rows, year, zone, unit, required_activity_types,
                   unit_zones=zones, unit_names=unit_names, unit_required=unit_required)


def _us(dt: datetime | None) -> int | None:
    """A time as whole microseconds since the epoch: exact, and ordered as the time."""
    return None if dt is None else (dt - _EPOCH) // timedelta(microseconds=1)


def item_row(item: Item, zone: ZoneInfo, clearances: frozenset[str] = frozenset()) -> dict:
    """What one item gives the figures of its year (``zone``: its unit's), as JSON-safe data:
    the figures are a function of these rows alone (and the registers), so rows kept from
    an earlier run, with the changed items' rows replaced, give what a full read gives."""
    d = item.description
    row: dict = {
        "id": item.id, "t": _us(sort_time(item)), "status": item.status, "unit": d.unit,
        "kind": d.kind, "type": d.activity_type, "activity": d.activity_id,
        "device": d.device_id, "officers": list(d.officers),
        "assisting": [p for p in d.assisting if p not in d.officers],  # one count per item
        "seconds": _duration_s(item), "late": _late(item), "tier": item.tier,
        "important": bool(d.important), "confidential": d.confidential or None,
        "flags": _flag_names(item), "problems": _problems(item),
        "sequence": d.extra.get("sequence") if isinstance(d.extra.get("sequence"), int)
        else None,
        "work_record": d.kind == "document"
        and WORK_RECORD in (d.extra.get("document_type") or ""),
        "start": _us(d.recorded_start), "end": _us(d.recorded_end)}
    if row["late"] or row["important"] or row["flags"] or row["problems"]:
        row["brief"] = _brief(item, zone, clearances)
    if row["late"]:
        # the deadline check stores its due time in whatever offset it computed in
        due = parse_when((item.checks.get("deadline") or {}).get("due"), zone)
        row["due"] = due.astimezone(zone).isoformat() if due else None
    return row


def row_order(row: dict) -> tuple[int, str]:
    """Search order (recorded start, else ingest time; then id): the order figures add rows
    in, so float sums and listed items come out the same however the rows were gathered."""
    return row["t"], row["id"]


def figures(catalog: Catalog, rows: Sequence[dict], year: int, zone: ZoneInfo,
            unit: str | None = None,
            required_activity_types: Sequence[str] = DEFAULT_REQUIRED, *,
            unit_zones: Mapping[str, ZoneInfo] | None = None,
            unit_names: Mapping[str, str] | None = None,
            unit_required: Mapping[str, Sequence[str]] | None = None,
            work_records_of: Callable[[str], int] | None = None) -> dict:
    """The yearly figures from the year's item rows (``item_row``, any order) and the
    registers (``yearly_statistics`` says which). ``work_records_of`` counts an activity's
    work records in any year (default: from the catalog)."""
    zones = dict(unit_zones or {})
    required = list(required_activity_types)
    count_work_records = work_records_of or (lambda a: _activity_work_records(catalog, a))

    def zone_of(u: str | None) -> ZoneInfo:
        return zones.get(u or "", zone)

    totals = _Tally()
    by_status: dict[str, int] = defaultdict(int)
    units: dict[str, _Tally] = defaultdict(_Tally)
    officers: dict[str, _OfficerTally] = defaultdict(_OfficerTally)
    devices: dict[str, _Tally] = defaultdict(_Tally)
    device_unit: dict[str, str] = {}
    late_items: list[dict] = []
    segments: dict[tuple[str, str], list[dict]] = defaultdict(list)
    activity_of: dict[str, dict] = {}
    work_records: dict[str, int] = defaultdict(int)
    work_records_total = 0
    recorded_activities: set[str] = set()
    tiers = dict.fromkeys(TIERS, 0)
    important = 0
    confidential: dict[str, int] = defaultdict(int)
    flags: dict[str, int] = defaultdict(int)
    flagged_items: list[dict] = []
    problems = dict.fromkeys(PROBLEM_KEYS, 0)
    problem_items: list[dict] = []
    numbers: dict[str, set[int]] = defaultdict(set)  # file numbers of the year, by device

    for r in sorted(rows, key=row_order):
        seconds = r["seconds"]
        totals.add(r, seconds)
        by_status[r["status"]] += 1
        units[r["unit"] or NONE_KEY].add(r, seconds)
        for p in r["officers"]:
            officers[p].add_role(r, seconds, "officer")
        for p in r["assisting"]:
            officers[p].add_role(r, seconds, "assisting")
        if r["device"]:
            devices[r["device"]].add(r, seconds)
            if r["unit"]:
                device_unit.setdefault(r["device"], r["unit"])
            if r["sequence"] is not None:
                numbers[r["device"]].add(r["sequence"])
        if r["late"]:
            late_items.append(r["brief"] | {"due": r["due"]})
        if r["activity"]:
            activity_of.setdefault(r["activity"], r)
            if r["kind"] in AV_KINDS:
                segments[(r["activity"], r["device"] or NONE_KEY)].append(r)
            if r["kind"] in RECORDING_KINDS:
                recorded_activities.add(r["activity"])
        if r["work_record"]:
            work_records_total += 1
            work_records[r["activity"] or NONE_KEY] += 1
        tiers[r["tier"]] = tiers.get(r["tier"], 0) + 1
        important += r["important"]
        if r["confidential"]:
            confidential[r["confidential"]] += 1
        for name in r["flags"]:
            flags[name] += 1
        if r["important"] or r["flags"]:
            flagged_items.append(r["brief"] | {"important": r["important"],
                                               "flags": r["flags"]})
        for name in r["problems"]:
            problems[name] += 1
        if r["problems"]:
            problem_items.append(r["brief"] | {"problems": r["problems"]})

    # interrupted recordings: one device, several segments of one activity
    interrupted: dict[str, dict] = {}
    for (activity, device), segs in sorted(segments.items()):
        if len(segs) < 2:
            continue
        segs = sorted(segs, key=row_order)
        pause = 0.0
        for a, b in zip(segs, segs[1:], strict=False):
            if a["end"] is not None and b["start"] is not None:
                # as timedelta.total_seconds() gives it: microseconds over a million
                pause += max(0.0, (b["start"] - a["end"]) / 10**6)
        first = activity_of[activity]
        entry = interrupted.setdefault(activity, {
            "activity_id": activity, "activity_type": first["type"], "unit": first["unit"],
            "devices": {}, "segments": 0, "pause_seconds": 0.0,
            "work_records": count_work_records(activity)})
        entry["devices"][device] = len(segs)
        entry["segments"] += len(segs)
        entry["pause_seconds"] += pause

    # device sequence gaps
    _, device_docs = list_optional(catalog, "devices")
    gap_rows = []
    checked = 0
    for doc in device_docs:
        dev = str(doc.get("id"))
        if unit is not None and doc.get("unit") != unit and dev not in devices:
            continue
        checked += 1
        gaps, seen = year_gaps(doc, year, numbers.get(dev, ()))
        if gaps:
            gap_rows.append({"device_id": dev, "unit": doc.get("unit") or device_unit.get(dev),
                             "model": doc.get("model"), "status": doc.get("status"),
                             "files_seen": seen, "gaps": gaps, "missing": len(gaps)})
    gaps_of = {r["device_id"]: r["missing"] for r in gap_rows}

    by_device = {}
    for dev in sorted(devices):
        by_device[dev] = devices[dev].to_dict() | {"unit": device_unit.get(dev),
                                                   "sequence_missing": gaps_of.get(dev, 0)}

    cases = _unrecorded_cases(catalog, year, zone_of, unit, required, unit_required or {})
    verification = _verification(catalog, year, zone_of, unit)

    return {
        "year": year, "unit": unit, "zone": str(zone),
        "unit_names": dict(unit_names or {}),
        "required_activity_types": required,
        "totals": totals.to_dict() | {"by_status": dict(sorted(by_status.items()))},
        "by_unit": {u: units[u].to_dict() for u in sorted(units)},
        "by_officer": {p: officers[p].to_dict() for p in sorted(officers)},
        "by_device": by_device,
        "late_offloads": {
            "total": len(late_items),
            "by_unit": _count(late_items, lambda r: [r["unit"] or NONE_KEY]),
            "by_officer": _count(late_items, lambda r: r["officers"]),
            "by_device": _count(late_items, lambda r: [r["device_id"] or NONE_KEY]),
            "items": late_items},
        "interrupted": {
            "total": len(interrupted),
            "without_work_record": sum(1 for e in interrupted.values()
                                       if not e["work_records"]),
            "activities": [interrupted[a] for a in sorted(interrupted)]},
        "work_records": {
            "total": work_records_total,
            "by_activity": dict(sorted(work_records.items())),
            # work records standing in for recordings: activities with no recording this year
            "activities_without_recording": sorted(
                a for a in work_records if a != NONE_KEY and a not in recorded_activities)},
        "sequence_gaps": {"devices_checked": checked,
                          "total_missing": sum(r["missing"] for r in gap_rows),
                          "devices": gap_rows},
        "unrecorded_cases": cases,
        "flags": {"important": important, "confidential": dict(sorted(confidential.items())),
                  "by_flag": dict(sorted(flags.items())), "flagged": len(flagged_items),
                  "items": flagged_items},
        "tiers": tiers,
        "check_failures": {"items_with_problems": len(problem_items), **problems,
                           "items": problem_items},
        "verification": verification,
    }


def _count(rows: list[dict], keys) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        for k in keys(r):
            out[k] += 1
    return dict(sorted(out.items()))


def _activity_work_records(catalog: Catalog, activity: str) -> int:
    """Work records of an activity in any year: the one explaining a 31 December gap may be
    scanned in January."""
    documents = catalog.iter_items(Query(activity_id=activity, kind="document"), years.PAGE_SIZE)
    return sum(1 for i in documents
               if WORK_RECORD in (i.description.extra.get("document_type") or ""))


def _activities(doc: dict) -> list[str]:
    """The activity types a register entry lists (a list, or text as '询问;扣押;送达')."""
    acts = doc.get("activities") or []
    if isinstance(acts, str):
        acts = acts.replace("；", ";").replace("、", ";").replace(",", ";").split(";")
    return list(dict.fromkeys(a.strip() for a in acts if isinstance(a, str) and a.strip()))


def _case_recordings(catalog: Catalog, case_id: str) -> tuple[set[str], int, int]:
    """(activity types the case's recordings show, recordings without an activity type,
    the case's other items)."""
    recorded: set[str] = set()
    untyped = others = 0
    for item in catalog.iter_items(Query(case_id=case_id), years.PAGE_SIZE):
        d = item.description
        if d.kind not in RECORDING_KINDS:
            others += 1
        elif d.activity_type:
            recorded.add(d.activity_type)
        else:
            untyped += 1
    return recorded, untyped, others


def _unrecorded_cases(catalog: Catalog, year: int, zone_of, unit: str | None,
                      required: list[str], unit_required: Mapping[str, Sequence[str]]
                      ) -> dict:
    """应录未录 per activity: every activity of a case whose type must be recorded and that
    no recording of the case shows. A recording without an activity type proves no
    particular activity; such recordings are counted on the row, for a person to look at."""
    exists, docs = list_optional(catalog, "cases")
    considered = requiring = 0
    rows = []
    by_activity: dict[str, int] = defaultdict(int)
    for doc in docs:
        if unit is not None and doc.get("unit") != unit:
            continue
        z = zone_of(doc.get("unit"))
        opened = parse_when(doc.get("opened"), z)
        if opened is not None and opened.astimezone(z).year != year:
            continue
        considered += 1
        must = list(unit_required.get(str(doc.get("unit")), required))
        needs = [a for a in _activities(doc) if a in must]
        if not needs:
            continue
        requiring += 1
        case_id = str(doc.get("id"))
        recorded, untyped, others = _case_recordings(catalog, case_id)
        missing = [a for a in needs if a not in recorded]
        if not missing:
            continue
        for a in missing:
            by_activity[a] += 1
        rows.append({"id": case_id, "unit": doc.get("unit"), "opened": doc.get("opened"),
                     "closed": doc.get("closed"),
                     # the activities that required recording and have none
                     "required": missing, "missing": missing,
                     "recorded": [a for a in needs if a in recorded],
                     "untyped_recordings": untyped, "other_items": others})
    return {"register_available": exists, "register_size": len(docs),
            "considered": considered, "requiring_recording": requiring,
            "total": len(rows), "missing_activities": sum(by_activity.values()),
            "by_activity_type": dict(sorted(by_activity.items())), "cases": rows}


def _result_ok(r: dict) -> bool:
    if "ok" in r:
        return bool(r["ok"])
    return str(r.get("result", "")).lower() in ("pass", "ok", "passed", "通过")


def _verification(catalog: Catalog, year: int, zone_of, unit: str | None) -> dict:
    """Sampled read-verifications and conduct spot checks filed in year N (by their date).

    A sampled run's lot is not tied to a unit, so for one unit only the results for its
    items count (the item is looked up), and a run counts when any of them does."""
    exists, docs = list_optional(catalog, "inspections")
    units: dict[str, str | None] = {}

    def unit_of(item_id: str) -> str | None:
        if item_id not in units:
            item = catalog.get_item(item_id)
            units[item_id] = item.description.unit if item else None
        return units[item_id]

    runs = checked = failed = conduct = 0
    failures: list[dict] = []
    by_problem: dict[str, int] = defaultdict(int)
    by_finding: dict[str, int] = defaultdict(int)
    conduct_by_officer: dict[str, int] = defaultdict(int)
    for doc in docs:
        z = zone_of(doc.get("unit"))
        at = parse_when(doc.get("at"), z)
        if at is None or at.astimezone(z).year != year:
            continue
        if doc.get("type") == "conduct-check":  # 回放检查: a finding about conduct
            if unit is not None and doc.get("unit") != unit:
                continue
            conduct += 1
            by_finding[str(doc.get("finding_zh") or doc.get("finding") or NONE_KEY)] += 1
            for p in doc.get("officers") or []:
                conduct_by_officer[p] += 1
            continue
        results = [r for r in doc.get("results") or []
                   if unit is None or unit_of(str(r.get("item") or r.get("item_id"))) == unit]
        if unit is not None and not results:
            continue
        runs += 1
        for r in results:
            checked += 1
            if _result_ok(r):
                continue
            failed += 1
            codes = [str(p.get("code")) for p in r.get("problems") or [] if isinstance(p, dict)]
            for c in codes:
                by_problem[c] += 1
            failures.append({"inspection": doc.get("id"), "at": doc.get("at"),
                             "item_id": r.get("item") or r.get("item_id"),
                             "problems": codes or ([r["problem"]] if r.get("problem") else [])})
    return {"available": exists, "inspections": runs, "items_checked": checked,
            "passed": checked - failed, "failed": failed,
            "by_problem": dict(sorted(by_problem.items())), "failures": failures,
            "conduct_checks": conduct, "conduct_by_finding": dict(sorted(by_finding.items())),
            "conduct_by_officer": dict(sorted(conduct_by_officer.items()))}


# what the figures read besides the year's items: a change to one of them is a change
REGISTERS = ("devices", "cases", "inspections")
# why the kept figures were computed again (``coverage.reason``: English, each whole in the
# catalogs, so a face shows it with ``localize``)
_REGISTER_CHANGED = {"devices": N_("the devices register changed"),
                     "cases": N_("the cases register changed"),
                     "inspections": N_("the inspections register changed")}
# the form of the kept state (``item_row`` and the records below): a state of another form,
# from an older or newer custody, is not read but computed anew
STATE_FORMAT = 2
# the kept rows of a year are spread over this many documents by a hash of the item id, so
# that one stays far below a MongoDB document's 16 MB at a million items of a year and a
# change rewrites only the documents holding changed items
ROW_BUCKETS = 128


def _bucket(item_id: str) -> int:
    return zlib.crc32(item_id.encode()) % ROW_BUCKETS


def _bucket_key(key: str, n: int) -> str:
    return f"{key}:rows:{n}"


def _touches(item: Item, year: int, zone: ZoneInfo) -> str | None:
    """Why a changed item may change the year's figures (None: it cannot): an item of the
    year, one re-described (it may have left the year), and the items read across years:
    the recordings of the year's cases, the activities' work records."""
    d = item.description
    if item.version > 1 or years.item_year(item, zone) == year:
        return N_("items of the year changed")
    if item_cases(item) or (d.kind == "document" and d.activity_id):
        return N_("items of the year's cases or activities changed")
    return None


def _changes(catalog: Catalog, since: int, year: int,
             zone_of: Callable[[str | None], ZoneInfo]) -> tuple[str | None, list[Item]]:
    """(why the kept figures must be brought up to date, None if they stand; the items
    changed since ``since``, every one of them: they are what an update reads)."""
    why = next((_REGISTER_CHANGED[name] for name in REGISTERS
                if catalog.changed_records(name, since)), None)
    changed = list(catalog.iter_changed_items(since))
    for item in changed:
        if why is not None:
            break
        why = _touches(item, year, zone_of(item.description.unit))
    return why, changed


def _load_rows(catalog: Catalog, key: str, state: dict) -> dict[int, list[dict]] | None:
    """The kept rows by bucket; None when one is missing or is not the one the state names
    (a run cut off while writing them, or two reports of the year written at once): then
    nothing kept can be trusted."""
    marks = state.get("marks")
    if not isinstance(marks, list) or len(marks) != ROW_BUCKETS:
        return None
    out = {}
    for n in range(ROW_BUCKETS):
        doc = catalog.get_working(_bucket_key(key, n))
        if doc is None or doc.get("format") != STATE_FORMAT or doc.get("mark") != marks[n]:
            return None
        out[n] = doc["rows"]
    return out


def _store(catalog: Catalog, key: str, state: dict, buckets: dict[int, list[dict]],
           touched: Collection[int]) -> None:
    # Each bucket written carries this run's mark and the state lists the mark of every
    # bucket, written last: a run cut off before the state, or a bucket another run wrote
    # meanwhile, leaves a mark the state does not name, and the next report reads every
    # item again rather than trust rows of two runs.
    mark = uuid.uuid4().hex
    marks = list(state.get("marks") or [None] * ROW_BUCKETS)
    for n in sorted(touched):
        catalog.put_working(_bucket_key(key, n),
                            {"format": STATE_FORMAT, "mark": mark, "rows": buckets[n]})
        marks[n] = mark
    catalog.put_working(key, state | {"marks": marks})


def report_parameters(settings: Settings, unit: str | None) -> dict:
    """``yearly_statistics``' arguments as the configuration gives them for ``unit`` (None:
    every unit): ``zone``, ``required_activity_types`` and the keyword arguments."""
    if unit is not None and unit not in settings.units:
        raise InputError(N_("no unit {unit!r} in the config (units: {units})"), subject=unit,
                         unit=unit, units=", ".join(sorted(settings.units)) or "-")
    zone = settings.unit_zone(unit) or ZoneInfo("UTC")  # none configured: UTC, not a guess
    # a unit may name its own (units.<unit>.required_activity_types); else the [report] list
    return {"zone": zone,
            "required_activity_types": (settings.section("report").get(
                "required_activity_types") or DEFAULT_REQUIRED),
            "unit_zones": {u: settings.unit_zone(u) or zone for u in settings.units},
            "unit_names": {u: r.get("name", u) for u, r in settings.units.items()},
            "unit_required": {u: r["required_activity_types"]
                              for u, r in settings.units.items()
                              if r.get("required_activity_types")}}


def year_report(catalog: Catalog, settings: Settings, year: int, unit: str | None,
                clearances: frozenset[str], full: bool = False) -> dict:
    """The yearly statistics as the configuration describes the units: each unit's zone and
    name, the activity types that must be recorded; masked for the viewer's clearances.

    Proportional to what changed (issue 17): each item's part of the figures (its row) is
    kept with the change cursor it was read at (working state per year, unit and
    clearances), and the figures are given again while nothing they read has changed. After
    changes, only the changed items are read again: each one's row is replaced (or dropped
    when it left the year) and the figures are added up from the rows and the registers,
    as a full read would (``tests/test_statistics_incremental.py`` holds them equal).
    ``full`` (``--all``), a missing state, another configuration or a state of another
    form read every item of the year. The ``coverage`` says which, and when every item was
    last read."""
    import hashlib
    import json

    from archive.domain.model import iso

    p = report_parameters(settings, unit)
    zone, required, zones = p["zone"], p["required_activity_types"], p["unit_zones"]
    names, unit_required = p["unit_names"], p["unit_required"]

    def zone_of(u: str | None) -> ZoneInfo:
        return zones.get(u or "", zone)

    config = hashlib.sha256(json.dumps(
        [str(zone), list(required), unit_required, {u: str(z) for u, z in zones.items()},
         names], sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    key = f"statistics:{year}:{unit or '*'}:{','.join(sorted(clearances))}"
    seq = catalog.change_seq()
    state = None if full else catalog.get_working(key)
    buckets = None
    if full:
        why: str | None = "--all"
    elif state is None:
        why = N_("no earlier report")
    elif state.get("format") != STATE_FORMAT:
        why = N_("the kept figures are of another form")
    elif state.get("config") != config:
        why = N_("the configuration changed")
    else:
        why = None
    now = iso(datetime.now(timezone.utc))

    if state is not None and why is None:
        since = max(0, int(state["seq"]) - catalog.cursor_overlap)
        changed_why, changed = _changes(catalog, since, year, zone_of)
        if changed_why is None:  # the figures kept stand: the rows are not even read
            stats = json.loads(state["stats"])
            stats["coverage"] = {"mode": "cached", "since_seq": state["seq"], "to_seq": seq,
                                 "items_read": len(changed),
                                 "last_full_sweep": state["computed_at"]}
            if changed:  # checked up to here: the next report reads from here
                catalog.put_working(key, state | {"seq": seq})
            return stats
        buckets = _load_rows(catalog, key, state)
        if buckets is None:
            why = N_("the kept figures are incomplete")

    if state is not None and buckets is not None:
        touched: set[int] = set()
        counts = {a: n for a, n in state.get("work_records") or []}
        for item in changed:
            d = item.description
            n = _bucket(item.id)
            kept = [r for r in buckets[n] if r["id"] != item.id]
            if years.in_year(item, year, zone_of(d.unit), unit):
                kept.append(item_row(item, zone_of(d.unit), clearances))
            if kept != buckets[n]:
                buckets[n] = kept
                touched.add(n)
            # an activity's work records are counted anew when the item is a document of it,
            # or an earlier description made it one (it may have been a work record there)
            described = [d] + ([v.description for v in catalog.versions(item.id)]
                               if item.version > 1 else [])
            for x in described:
                if x.kind == "document" and x.activity_id:
                    counts.pop(x.activity_id, None)
        rows = [r for n in range(ROW_BUCKETS) for r in buckets[n]]
        mode = {"mode": "incremental", "reason": changed_why, "since_seq": state["seq"],
                "items_read": len(changed)}
        last_full = state["computed_at"]
    else:
        rows = [item_row(item, zone_of(item.description.unit), clearances)
                for item in years.year_items(catalog, year, zone, unit, zones)]
        buckets = {n: [] for n in range(ROW_BUCKETS)}
        for r in rows:
            buckets[_bucket(r["id"])].append(r)
        touched = set(buckets)
        counts = {}
        mode = {"mode": "full", "reason": why, "items_read": len(rows)}
        last_full = now

    def work_records_of(activity: str) -> int:
        if activity not in counts:
            counts[activity] = _activity_work_records(catalog, activity)
        return counts[activity]

    stats = figures(catalog, rows, year, zone, unit, required, unit_zones=zones,
                    unit_names=names, unit_required=unit_required,
                    work_records_of=work_records_of)
    stats["generated_at"] = now
    # as JSON text: any key a figure has (a unit, a device) is safe in any backend
    kept_marks = state.get("marks") if state is not None and mode["mode"] != "full" else None
    _store(catalog, key, {"format": STATE_FORMAT, "seq": seq, "config": config,
                          "marks": kept_marks,
                          "computed_at": last_full,
                          # pairs, not a mapping: an activity id is any text, and MongoDB
                          # refuses some as keys
                          "work_records": sorted(counts.items()),
                          "stats": json.dumps(stats, ensure_ascii=False)},
           buckets, touched)
    stats["coverage"] = mode | {"to_seq": seq, "last_full_sweep": last_full}
    return stats


# --- the items behind a figure (the console links each figure to them) -------------------------
FIGURES = ("late", "problem", "faulty", "verification")


def figure_items(stats: dict, figure: str, key: str = "") -> list[str]:
    """The ids of the items behind one figure of ``stats`` (as ``figures`` gave them), in
    the report's order:

    - ``late``: late offloads; ``key`` "unit:U", "officer:P" or "device:D" narrows to one
      bar (``late_offloads.by_unit`` …), "" is them all;
    - ``problem``: the items with the check failure ``key`` (a ``PROBLEM_KEYS`` name);
    - ``faulty``: the items whose device check failed, of device ``key`` ("" all devices);
    - ``verification``: the items that failed a sampled read-verification of the year, with
      problem ``key`` ("" any).

    What the report lists by activity or by case (interrupted recordings, 应录未录) is given
    with those ids in ``stats`` already, and a catalog search finds their items."""
    if figure not in FIGURES:
        raise InputError(N_("no figure {figure!r} (figures: {figures})"), figure=figure,
                         figures=", ".join(FIGURES))
    if figure == "late":
        field, _, value = key.partition(":")
        pick = {"unit": lambda r: (r["unit"] or NONE_KEY) == value,
                "officer": lambda r: value in r["officers"],
                "device": lambda r: (r["device_id"] or NONE_KEY) == value,
                "": lambda r: True}.get(field)
        if pick is None:
            raise InputError(N_("{key!r} is not unit:, officer: or device: followed by a "
                                "value"), key=key)
        return _unique(r["id"] for r in stats["late_offloads"]["items"] if pick(r))
    if figure == "verification":
        return _unique(str(r["item_id"]) for r in stats["verification"]["failures"]
                       if not key or key in r["problems"])
    rows = stats["check_failures"]["items"]
    if figure == "faulty":
        return _unique(r["id"] for r in rows if "device_faulty" in r["problems"]
                       and (not key or (r["device_id"] or NONE_KEY) == key))
    return _unique(r["id"] for r in rows if key in r["problems"])


def faulty_devices(stats: dict) -> dict[str, int]:
    """device id -> its items of the year whose device check failed (a faulty device)."""
    out: dict[str, int] = defaultdict(int)
    for r in stats["check_failures"]["items"]:
        if "device_faulty" in r["problems"]:
            out[r["device_id"] or NONE_KEY] += 1
    return dict(sorted(out.items()))


def _unique(ids) -> list[str]:
    return list(dict.fromkeys(ids))
