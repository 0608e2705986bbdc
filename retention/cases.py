"""The case register, links between items and cases, and case closure.

An item linked to a case is held while the case is open; closing it gives its items the case
file's period (``retention.rules``). A register entry may only change in ways that keep or
lengthen retention: a closing date, once set, and a case type are never lowered.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from archive import people
from archive.catalog.base import Query
from archive.domain.canonical import canonical
from archive.domain.errors import InputError, NotFound
from archive.domain.model import ACTIVITY_TYPES, Item, iso
from archive.inputs import read_text_input
from archive.ledger.chain import Actor
from archive.people import require_role
from i18n import N_, Text
from retention.engine import (
    RUN_CURSOR,
    RetentionEngine,
    RunReport,
    add_reference,
    sign_statement,
)
from retention.flags import flag_for_rule, raise_flag
from retention.rules import CaseFacts, case_period_years
from retention.wording import Joined, Stored
from scanners.problems import problem

REGISTER_ROLES = ("archivist", "legal", "administrator")
LINK_ROLES = ("officer", "archivist", "legal", "approver")
CLOSE_ROLES = ("archivist", "legal", "approver")
FIELDS = ("id", "type", "unit", "opened", "closed", "filing_year", "activities")


def _date(value: object, what: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise InputError(N_("{field} {value!r} is not a date (YYYY-MM-DD)"), field=what,
                         value=value) from exc


def read_register(path: Path) -> list[tuple[int, dict]]:
    """Rows of a case register: CSV with a header (activities separated by ';' or '、') or
    JSON (a list of objects). Returns (line, row) pairs."""
    text = read_text_input(path, "case register")  # a FIFO or a device is never read
    return parse_register(text, str(path))


def parse_register(text: str, name: str) -> list[tuple[int, dict]]:
    """``read_register`` of a text already read (an upload at the console): ``name`` says
    which it is (``.json``: JSON, anything else CSV) and names it in problems."""
    path = name
    if name.lower().endswith(".json"):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(N_("{path}: not valid JSON: {error}"), subject=str(path),
                             path=str(path), error=str(exc)) from exc
        if not isinstance(rows, list):
            raise InputError(N_("{path}: expected a list of cases"), subject=str(path),
                             path=str(path))
        return list(enumerate(rows, start=1))
    reader = csv.DictReader(io.StringIO(text))
    unknown = [f for f in reader.fieldnames or [] if f not in FIELDS]
    if unknown or "id" not in (reader.fieldnames or []):
        raise InputError(N_("{path}: columns must be {columns} (unknown: {unknown})"),
                         subject=str(path), path=str(path), columns=", ".join(FIELDS),
                         unknown=", ".join(unknown) or "-")
    out = []
    for n, row in enumerate(reader, start=2):
        acts = (row.get("activities") or "").replace("、", ";")
        out.append((n, {**row, "activities": [a.strip() for a in acts.split(";") if a.strip()]}))
    return out


def _check_row(engine: RetentionEngine, row: object) -> dict:
    if not isinstance(row, dict):
        raise InputError(N_("not an object"))
    case_id = str(row.get("id") or "").strip()
    if not case_id:
        raise InputError(N_("no case id"))
    unit = str(row.get("unit") or "").strip()
    if unit not in engine.settings.units:
        raise InputError(N_("unknown unit {unit!r}"), unit=unit)
    ctype = str(row.get("type") or "").strip()
    opened = _date(row.get("opened"), "opened")
    closed = _date(row.get("closed"), "closed")
    fy = row.get("filing_year")
    try:
        filing_year = int(fy) if fy not in (None, "") else None
    except (TypeError, ValueError) as exc:
        raise InputError(N_("filing_year {value!r} is not a year"), value=fy) from exc
    rules = engine.settings.units[unit]
    case_period_years(rules, CaseFacts(case_id, ctype))
    if opened and closed and closed < opened:
        raise InputError(N_("closed {closed} before it opened {opened}"), closed=str(closed),
                         opened=str(opened))
    if closed and closed > engine.clock().astimezone(engine.zone(unit)).date():
        raise InputError(N_("closed {closed} is in the future"), closed=str(closed))
    if filing_year is not None and closed and filing_year < closed.year:
        raise InputError(N_("filing year {year} before the closing year {closing_year}"),
                         year=filing_year, closing_year=closed.year)
    acts = [a for a in row.get("activities") or []]
    bad = [a for a in acts if a not in ACTIVITY_TYPES]
    if bad:
        raise InputError(N_("unknown activity types: {types}"),
                         types=", ".join(map(str, bad)))
    return {"id": case_id, "type": ctype, "unit": unit,
            "opened": opened.isoformat() if opened else None,
            "closed": closed.isoformat() if closed else None, "filing_year": filing_year,
            "activities": acts}


class RegisterProblems(InputError):
    """A register file with problems: every one is listed, nothing is imported."""

    code = "register-problems"

    def __init__(self, path: Path, problems: list[dict]) -> None:
        lines = Joined([Text("line {line}: {problem}", line=p["line"],
                             problem=Stored(p)) for p in problems])
        super().__init__(N_("{path}: {count} problem(s), nothing imported: {problems}"),
                         subject=str(path), path=str(path), count=len(problems),
                         problems=lines)
        self.problems = problems

    def to_dict(self) -> dict:
        return super().to_dict() | {"problems": self.problems}


def _lowers(engine: RetentionEngine, old: dict, new: dict) -> Text | None:
    """Why an update of a register entry would lower retention (None: it does not)."""
    rules = engine.settings.units[new["unit"]]
    if old["unit"] != new["unit"]:
        return Text("the unit changes from {old} to {new}", old=old["unit"], new=new["unit"])
    if old.get("closed") and new.get("closed") != old["closed"]:
        return Text("it was closed on {closed}", closed=old["closed"])
    old_years = case_period_years(rules, CaseFacts(old["id"], old["type"]))
    new_years = case_period_years(rules, CaseFacts(new["id"], new["type"]))
    if (old_years == 0 and new_years != 0) or (new_years and old_years and new_years < old_years):
        return Text("its type {old} keeps the case file longer than {new}", old=old["type"],
                    new=new["type"])
    if (old.get("filing_year") and (new.get("filing_year") or 0) < old["filing_year"]):
        return Text("its filing year is {year}", year=old["filing_year"])
    return None


@people.records_refusals("case import")
def import_register(engine: RetentionEngine, actor: Actor, path: Path) -> dict:
    """All or nothing: every problem in the file is reported (line and reason) and nothing is
    imported while any remains."""
    require_role(engine.catalog, actor, REGISTER_ROLES, Text("import the case register"))
    return _write_register(engine, actor, read_register(path), str(path))


@people.records_refusals("case import")
def check_rows(engine: RetentionEngine, actor: Actor,
               parsed: list[tuple[int, dict]]) -> dict:
    """What importing these rows would do, nothing written (the console's check page):
    ``rows`` the cases as they would be written (``update``: already in the register,
    ``unchanged``: nothing new), ``problems`` each bad row with its line and reason."""
    require_role(engine.catalog, actor, REGISTER_ROLES, Text("import the case register"))
    rows, problems = _checked(engine, parsed)
    return {"rows": [row | {"update": old is not None,
                            "unchanged": old is not None and _same(old, row)}
                     for row, old in rows],
            "problems": problems, "raises_flags": any(
                _keeps_evidence(engine, row["unit"]) for row, _old in rows)}


@people.records_refusals("case import")
def import_rows(engine: RetentionEngine, actor: Actor, parsed: list[tuple[int, dict]],
                source: str) -> dict:
    """``import_register`` of rows already parsed (an upload the console checked first)."""
    require_role(engine.catalog, actor, REGISTER_ROLES, Text("import the case register"))
    return _write_register(engine, actor, parsed, source)


def _same(old: dict, row: dict) -> bool:
    return {k: old.get(k) for k in FIELDS} == {k: row.get(k) for k in FIELDS}


def _checked(engine: RetentionEngine, parsed: list[tuple[int, dict]]
             ) -> tuple[list[tuple[dict, dict | None]], list[dict]]:
    problems, rows = [], []
    seen: set[str] = set()
    for line, raw in parsed:
        try:
            row = _check_row(engine, raw)
        except (ValueError, InputError) as exc:
            said = exc.text if isinstance(exc, InputError) else Text(str(exc))
            problems.append(problem("bad-row", said, line=line, case=(raw or {}).get("id")
                                    if isinstance(raw, dict) else None))
            continue
        if row["id"] in seen:
            problems.append(problem("listed-twice", Text("listed twice"), line=line,
                                    case=row["id"]))
            continue
        seen.add(row["id"])
        old = engine.catalog.get_record("cases", row["id"])
        if old is not None:
            why = _lowers(engine, old, row)
            if why:
                problems.append(problem("would-lower", Text(
                    "refused: would lower retention ({reason})", reason=why), line=line,
                    case=row["id"]))
                continue
        rows.append((row, old))
    return rows, problems


def _write_register(engine: RetentionEngine, actor: Actor, parsed: list[tuple[int, dict]],
                    source: str) -> dict:
    rows, problems = _checked(engine, parsed)
    if problems:
        raise RegisterProblems(Path(source), problems)
    added = updated = 0
    changes: list[dict] = []
    flags: list[str] = []
    for row, old in rows:
        doc = dict(old or {})
        doc.update(row)
        doc.setdefault("items", [])
        doc["imported_at"] = iso(engine.clock())
        doc["imported_by"] = actor.person_id
        if old is not None and _same(old, doc):
            continue
        engine.catalog.put_record("cases", row["id"], doc)
        engine.archive.ledger.append(actor, "case-register", row["id"],
                                     {k: doc.get(k) for k in FIELDS} | {"update": old is not None})
        added += old is None
        updated += old is not None
        engine.forget()
        of_case = items_of_case(engine, row["id"])
        raised = evidence_flags(engine, actor, of_case, [row["id"]])
        flags += [d["id"] for d in raised]
        changes += [c for d in raised for c in d["retention_changes"]]
        changes += engine.apply_all(of_case, actor, f"case register: {row['id']}")
    return {"file": source, "cases": len(rows), "added": added, "updated": updated,
            "retention_changes": changes, "evidence_flags": flags}


def items_of_case(engine: RetentionEngine, case_id: str) -> list[str]:
    """The items of a case, the one notion every part uses: those whose description names it
    and those linked to it (``case link``), less the destroyed ones."""
    ids = [i.id for i in engine.catalog.iter_items(Query(case_id=case_id))
           if i.status != "disposed"]
    doc = engine.catalog.get_record("cases", case_id) or {}
    for item_id in doc.get("items", []):
        if item_id not in ids:
            item = engine.catalog.get_item(item_id)
            if item is not None and item.status != "disposed":
                ids.append(item_id)
    return ids


def _keeps_evidence(engine: RetentionEngine, unit: str | None) -> bool:
    return engine.settings.units.get(unit or "", {}).get("evidence") == "permanent"


def evidence_flags(engine: RetentionEngine, actor: Actor, item_ids: Iterable[str],
                   case_ids: Iterable[str] | None = None,
                   after_withdrawal: bool = False) -> list[dict]:
    """In a unit whose evidence is kept permanently, every item that is evidence of a case in
    the register (its description names the case, or it was linked to it) gets an evidence
    flag for that case, once: the same flag whether the manifest named the case or a person
    linked it. A flag somebody withdrew is not raised again unless ``after_withdrawal`` (a
    person links the item again). Returns the flags raised."""
    only = set(case_ids) if case_ids is not None else None
    raised = []
    for item_id in dict.fromkeys(item_ids):
        item = engine.archive.item(item_id)
        if item.status == "disposed":
            continue
        for case_id in engine.case_ids(item):
            if only is not None and case_id not in only:
                continue
            case = engine.case(case_id)
            if case is None or not _keeps_evidence(engine, case["unit"]):
                continue
            if not _keeps_evidence(engine, item.description.unit or case["unit"]):
                continue
            if _has_evidence_flag(engine, item.id, case_id, withdrawn=not after_withdrawal):
                continue
            raised.append(flag_for_rule(
                engine, actor, item.id, "evidence", f"evidence of case {case_id}",
                case_id=case_id, raised_by_rule=f"{case['unit']} keeps evidence permanently: "
                f"item {item.id} is evidence of case {case_id}"))
    return raised


def _evidence_candidates(engine: RetentionEngine, full: bool) -> Iterator[Item]:
    """The items the evidence step reads: every item of the units that keep evidence
    permanently on a full sweep (``--all``, a first run, a change of the rules); otherwise
    the run's own incremental set (``RetentionEngine.run_items``, from the same cursor): the
    items changed since the last run, the items of cases and flags written since, those the
    last run could not apply, and those whose retain-until fell due or came within the
    expiring days since (the due-date index), so a case item is looked at again before it
    can become a disposal candidate."""
    cursor = engine.catalog.get_record("meta", RUN_CURSOR)
    if full or not cursor or cursor.get("rules") != engine.rules_fingerprint():
        for unit in engine.settings.units:
            if _keeps_evidence(engine, unit):
                yield from engine.catalog.iter_items(Query(unit=unit))
        return
    now = engine.clock()
    items, _coverage = engine.run_items(cursor, now, now + timedelta(days=engine.expiring_days),
                                        False)
    yield from items


@people.records_refusals("retention run")
def run(engine: RetentionEngine, actor: Actor | None, as_of: datetime | None = None,
        full: bool = False) -> RunReport:
    """custody retention run: the evidence flags the rules require for items that name a case
    (in units whose evidence is permanent; ``case link`` raises them for linked items), then
    the engine's run (``RetentionEngine.run``). With ``as_of``: a what-if, nothing applied."""
    raised: list[dict] = []
    read = 0
    if as_of is None and actor is not None:
        ids = []
        for item in _evidence_candidates(engine, full):
            read += 1
            if item.status != "disposed" and engine.case_ids(item):
                ids.append(item.id)
        raised = evidence_flags(engine, actor, ids)
    report = engine.run(actor if as_of is None else None, as_of, full=full)
    report.coverage["evidence_items_read"] = read
    report.evidence_flags = [d["id"] for d in raised]
    report.changed[:0] = [c for d in raised for c in d["retention_changes"]]
    return report


@people.records_refusals("case link")
def link(engine: RetentionEngine, actor: Actor, item_ids: list[str], case_id: str) -> dict:
    """Make items evidence of a case: held while it is open. In a unit whose evidence is
    permanent, each linked item also gets an evidence flag, which a second person confirms."""
    case, items = _may_link(engine, actor, item_ids, case_id)
    linked = []
    for item in items:
        if add_reference(engine.catalog, item.id, "cases", case_id):
            linked.append(item.id)
    case = engine.catalog.get_record("cases", case_id) or case
    case["items"] = list(dict.fromkeys(case.get("items", []) + [i.id for i in items]))
    engine.catalog.put_record("cases", case_id, case)
    engine.archive.ledger.append(actor, "case-link", case_id, {"items": [i.id for i in items]})
    engine.forget()
    raised = evidence_flags(engine, actor, [i.id for i in items], [case_id],
                            after_withdrawal=True)
    changes = [c for d in raised for c in d["retention_changes"]]
    changes += engine.apply_all([i.id for i in items], actor, f"linked to case {case_id}")
    return {"case": case_id, "linked": linked, "evidence_flags": [d["id"] for d in raised],
            "retention_changes": changes}


@people.records_refusals("case link")
def check_link(engine: RetentionEngine, actor: Actor, item_ids: list[str], case_id: str) -> dict:
    """Whether ``actor`` may link these items to the case now (``link`` refuses the same),
    nothing written: the case, and ``raises_flags`` when the link raises evidence flags."""
    case, _items = _may_link(engine, actor, item_ids, case_id)
    return case | {"raises_flags": _keeps_evidence(engine, case.get("unit"))}


def _may_link(engine: RetentionEngine, actor: Actor, item_ids: list[str],
              case_id: str) -> tuple[dict, list[Item]]:
    require_role(engine.catalog, actor, LINK_ROLES, Text("link items to a case"))
    case = engine.catalog.get_record("cases", case_id)
    if case is None:
        raise NotFound(N_("case {case} is not in the case register; import it first "
                          "(custody case import)"), subject=case_id, case=case_id)
    if not item_ids:
        raise InputError(N_("choose the items to link to case {case}"), subject=case_id,
                         case=case_id)
    items = [engine.archive.item(i) for i in item_ids]
    for item in items:
        if item.status == "disposed":
            raise InputError(N_("item {item} was disposed of"), subject=item.id, item=item.id)
    return case, items


def _has_evidence_flag(engine: RetentionEngine, item_id: str, case_id: str,
                       withdrawn: bool = False) -> bool:
    """A flag for this case is on the item (``withdrawn``: one withdrawn counts too)."""
    item = engine.archive.item(item_id)
    for fid in item.retention.get("flags", []):
        f = engine.flag(fid)
        if f and f.get("case_id") == case_id and (withdrawn or f["state"] != "withdrawn"):
            return True
    return False


@people.records_refusals("case close")
def close(engine: RetentionEngine, actor: Actor, case_id: str, closed: date) -> dict:
    """Close a case on ``closed`` (not in the future, not before it opened, once)."""
    case = _may_close(engine, actor, case_id, closed)
    statement = {"action": "case-close", "case": case_id, "closed": closed.isoformat(),
                 "at": iso(engine.clock())}
    case.update(closed=closed.isoformat(), closed_by=actor.person_id,
                close_signature=sign_statement(actor, statement) | {"statement": statement})
    years = case_period_years(engine.settings.units[case["unit"]],
                              CaseFacts(case_id, case["type"]))
    engine.catalog.put_record("cases", case_id, case)
    engine.archive.ledger.append(actor, "case-close", case_id,
                                 {"closed": closed.isoformat(), "type": case["type"],
                                  "statement": canonical(statement).decode()})
    engine.forget()
    items = items_of_case(engine, case_id)
    flags = []
    if years == 0:  # a permanent case file: its evidence waits for a confirmed flag
        for item_id in items:
            if not _has_evidence_flag(engine, item_id, case_id):
                flags.append(raise_flag(engine, actor, item_id, "other",
                                        f"案卷永久保存: case {case_id} ({case['type']})",
                                        case_id=case_id)["id"])
    changes = engine.apply_all(items, actor, f"case {case_id} closed")
    return {"case": case_id, "closed": closed.isoformat(), "items": items,
            "flags": flags, "retention_changes": changes}


@people.records_refusals("case close")
def check_close(engine: RetentionEngine, actor: Actor, case_id: str, closed: date) -> dict:
    """Whether ``actor`` may close the case on ``closed`` now (``close`` refuses the same),
    nothing written: the case, and ``raises_flags`` when closing it raises flags (a case
    file kept permanently: a flag on each of its items)."""
    case = _may_close(engine, actor, case_id, closed)
    years = case_period_years(engine.settings.units[case["unit"]],
                              CaseFacts(case_id, case["type"]))
    return case | {"raises_flags": years == 0 and bool(items_of_case(engine, case_id))}


def _may_close(engine: RetentionEngine, actor: Actor, case_id: str, closed: date) -> dict:
    require_role(engine.catalog, actor, CLOSE_ROLES, Text("close a case"))
    case = engine.catalog.get_record("cases", case_id)
    if case is None:
        raise NotFound(N_("case {case} is not in the case register"), subject=case_id,
                       case=case_id)
    today = engine.clock().astimezone(engine.zone(case["unit"])).date()
    if closed > today:
        raise InputError(N_("case {case}: closing date {closed} is in the future (today is "
                            "{today} in the unit's zone)"), subject=case_id, case=case_id,
                         closed=str(closed), today=str(today))
    if case.get("opened") and closed < date.fromisoformat(case["opened"]):
        raise InputError(N_("case {case}: closing date {closed} is before it opened "
                            "({opened})"), subject=case_id, case=case_id, closed=str(closed),
                         opened=case["opened"])
    if case.get("closed"):
        by = case.get("closed_by")
        if by:
            raise InputError(N_("case {case} was already closed on {closed} by {person}"),
                             subject=case_id, case=case_id, closed=case["closed"], person=by)
        raise InputError(N_("case {case} was already closed on {closed} by the register"),
                         subject=case_id, case=case_id, closed=case["closed"])
    return case


def parse_day(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise InputError(N_("{value!r} is not a date (YYYY-MM-DD)"), value=value) from exc


def get_case(engine: RetentionEngine, case_id: str) -> dict | None:
    """One case of the register as imported, or None."""
    return engine.catalog.get_record("cases", case_id)


def list_cases(engine: RetentionEngine) -> list[dict]:
    """The case register, each case with its items (``items``: named by their description
    or linked, as ``items_of_case``) and, apart, those linked by ``case link`` (``linked``)."""
    return [doc | {"items": items_of_case(engine, doc["id"]),
                   "linked": list(doc.get("items", []))}
            for doc in engine.catalog.list_records("cases")]
