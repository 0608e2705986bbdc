"""The retention engine: what every item must be kept for, applied to the WORM store first.

Each change goes the same way: the rules (``retention.rules``) give the item's requirement;
the store's locks are raised (never lowered) and its legal holds set or released, then read
back; only a confirmed lock is recorded in the catalog and the ledger, signed by the person
acting. The catalog keeps the result on the item (tier, retain-until, legal hold, and in
``retention`` the period, the rule, every holding reason) so verification can compare locks
without importing the rules.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from archive.catalog.base import Query, item_cases
from archive.domain.errors import IdentityError, InputError, LockNotConfirmed, NotFound
from archive.domain.model import Item, Lock, iso, parse_iso
from archive.ledger.chain import Actor
from archive.service import Archive, event
from archive.worm.base import now_utc
from config.settings import Settings
from i18n import N_, Text
from retention.renewal import renew_records
from retention.rules import (
    CaseFacts,
    FlagFacts,
    Requirement,
    add_years,
    holds_text,
    requirement,
    retention_start,
    rule_text,
)
from retention.wording import Named, local_minute
from scanners.problems import problem


@dataclass
class RunReport:
    as_of: str
    applied: bool
    changed: list[dict] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # rule wording only: nothing changed
    evidence_flags: list[str] = field(default_factory=list)
    expiring: list[dict] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    renewed: list[dict] = field(default_factory=list)  # records kept for ever (renewal.py)
    coverage: dict = field(default_factory=dict)  # what this run read (``Coverage``)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def person_doc(catalog, person_id: str) -> dict:
    doc = catalog.get_record("people", person_id)
    if doc is None:
        raise IdentityError(N_("no person {person!r}"), subject=person_id, person=person_id)
    return doc


def verify_person_signature(catalog, person_id: str, statement: dict, signed: dict) -> bool:
    """A signature counts only under a key registered to that very person (or, for a person
    who signs at the console with a passkey, the console's: archive.people.signing_ring)."""
    from archive.people import signing_ring

    ring = signing_ring(catalog, person_id)
    return ring.verify(statement, signed.get("key_id", ""), signed.get("signature", ""))


def sign_statement(actor: Actor, statement: dict) -> dict:
    return {"by": actor.person_id, "key_id": actor.key.key_id,
            "signature": actor.key.sign(statement)}


RUN_CURSOR = "cursor:retention-run"
_YES_NO = {"yes": "是", "no": "否"}
CHECK_CURSOR = "cursor:retention-check"
_TIERS_THAT_EXPIRE = ("routine", "case")
# a check reads at least this many items' locks: a small archive is read whole every run
CHECK_MIN_SLICE = 1000


def _fingerprint(doc: object) -> str:
    text = json.dumps(doc, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class RetentionEngine:
    def __init__(self, archive: Archive, settings: Settings,
                 clock: Callable[[], datetime] = now_utc) -> None:
        self.archive = archive
        self.catalog = archive.catalog
        self.store = archive.store
        self.settings = settings
        self.clock = clock
        ret = settings.section("retention")
        self.permanent_years = int(ret.get("permanent_lock_years", 100))
        self.renew_within = int(ret.get("renew_within_years", 10))
        self.expiring_days = int(ret.get("expiring_days", 30))
        # 'retention check' reads a slice each run so that every lock is read in this many days
        self.check_within_days = int(ret.get("check_within_days", 30))
        self._cases: dict[str, dict | None] = {}
        self._flags: dict[str, dict | None] = {}

    # --- the facts the rules read ---------------------------------------------------------
    def unit_rules(self, unit: str | None) -> tuple[str, dict]:
        """An item without a (known) unit is kept by the strictest routine rule."""
        units = self.settings.units
        if unit in units:
            return unit, units[unit]
        if not units:
            return unit or "-", {"routine_months": 12, "case_periods": {}}
        name = max(units, key=lambda u: units[u]["routine_months"])
        return name, units[name]

    def zone(self, unit: str | None):
        return self.settings.unit_zone(unit) or timezone.utc

    def case(self, case_id: str) -> dict | None:
        if case_id not in self._cases:
            self._cases[case_id] = self.catalog.get_record("cases", case_id)
        return self._cases[case_id]

    def flag(self, flag_id: str) -> dict | None:
        if flag_id not in self._flags:
            self._flags[flag_id] = self.catalog.get_record("flags", flag_id)
        return self._flags[flag_id]

    def forget(self) -> None:
        self._cases.clear()
        self._flags.clear()

    def case_ids(self, item: Item) -> list[str]:
        return item_cases(item)  # the one notion of the items of a case (search, access too)

    def case_facts(self, case_id: str) -> CaseFacts:
        doc = self.case(case_id)
        if doc is None:
            return CaseFacts(case_id, None)
        closed = date.fromisoformat(doc["closed"]) if doc.get("closed") else None
        return CaseFacts(case_id, doc["type"], closed, doc.get("filing_year"))

    def requirement_of(self, item: Item) -> Requirement:
        unit, rules = self.unit_rules(item.description.unit)
        flags = []
        for fid in item.retention.get("flags", []):
            doc = self.flag(fid)
            if doc is not None:
                flags.append(FlagFacts(fid, doc["reason"], doc["state"]))
        return requirement(unit, rules, self.zone(unit), item.description.recorded_end,
                           item.ingested_at, [self.case_facts(c) for c in self.case_ids(item)],
                           flags)

    def start_of(self, item: Item) -> datetime:
        unit, _ = self.unit_rules(item.description.unit)
        return retention_start(item.description.recorded_end, item.ingested_at, self.zone(unit))

    def target(self, item: Item, req: Requirement) -> datetime:
        """The lock date the item needs now: never below what it already has; a permanent
        item's lock renewed when fewer than ``renew_within_years`` remain."""
        until = req.lock_until(self.start_of(item), self.permanent_years)
        if req.permanent:
            now = self.clock()
            if until - now < timedelta(days=365 * self.renew_within):
                until = add_years(now, self.permanent_years)
        if item.retain_until is not None and item.retain_until > until:
            until = item.retain_until
        return until

    # --- applying -------------------------------------------------------------------------
    def state_for(self, item: Item, req: Requirement) -> dict:
        keep = {k: item.retention[k] for k in ("cases", "flags") if k in item.retention}
        return {**keep, "tier": req.tier, "period": req.period, "rule": req.rule,
                "holds": list(req.holds), "permanent": req.permanent,
                "required_until": iso(req.until)}

    def recorded(self, item: Item) -> dict:
        """What the item's retention is now, field by field, as the catalog records it. An
        item the engine has not seen yet is routine for its unit's period."""
        _, rules = self.unit_rules(item.description.unit)
        r = item.retention
        permanent = bool(r.get("permanent", item.tier == "permanent"))
        period = r.get("period") or ("permanent" if permanent
                                     else f"{int(rules['routine_months'])}m")
        return {"tier": item.tier, "retain_until": iso(item.retain_until),
                "legal_hold": item.legal_hold, "permanent": permanent, "period": period}

    def apply(self, item: Item, actor: Actor, cause: str) -> dict | None:
        """Bring one item and its locks to what the rules require. None if nothing changes;
        ``{"refreshed": True}`` when only the bookkeeping (the rule's wording, the list of
        holding reasons) changed and nothing a person acts on did; else the change, with
        ``fields`` naming each changed field's before and after."""
        if item.status == "disposed":
            return None
        req = self.requirement_of(item)
        until = self.target(item, req)
        hold = bool(req.holds)
        state = self.state_for(item, req)
        old = self.recorded(item)
        new = {"tier": req.tier, "retain_until": iso(until), "legal_hold": hold,
               "permanent": req.permanent, "period": req.period}
        fields = {k: {"before": old[k], "after": new[k]} for k in new if old[k] != new[k]}
        if not fields:
            if {k: item.retention.get(k) for k in state} == state:
                return None
            # the store already holds what these fields say: only the catalog's wording moves
            fresh = self.catalog.get_item(item.id)
            if fresh is None:
                raise NotFound(N_("no item {item}"), subject=item.id, item=item.id)
            fresh.retention = {**state, "cases": fresh.retention.get("cases", []),
                               "flags": fresh.retention.get("flags", [])}
            self.catalog.save_state(fresh)
            return {"item": item.id, "refreshed": True, "rule": req.rule}
        obj = item.storage["object"]
        others = [o for o in self.catalog.items_of_object(item.sha256)
                  if o.id != item.id and o.status != "disposed"]
        obj_until = max([until] + [o.retain_until for o in others if o.retain_until])
        obj_hold = hold or any(o.legal_hold for o in others)
        lock = self.raise_lock(obj["key"], obj["version_id"], obj_until, obj_hold)
        for m in item.storage.get("manifests", []):
            self.raise_lock(m["key"], m["version_id"], until, hold)
        fresh = self.catalog.get_item(item.id)
        if fresh is None:
            raise NotFound(N_("no item {item}"), subject=item.id, item=item.id)
        fresh.tier, fresh.retain_until, fresh.legal_hold = req.tier, until, hold
        fresh.retention = {**state, "cases": fresh.retention.get("cases", []),
                           "flags": fresh.retention.get("flags", [])}
        fresh.storage["object"]["lock"] = lock.to_dict()
        fresh.events.append(event("retention change", actor.person_id, "success",
                                  cause=cause, rule=req.rule, **new))
        self.catalog.save_state(fresh)
        self.catalog.update_object_lock(item.sha256, lock)
        change = {"item": item.id, "unit": item.description.unit, "cause": cause,
                  "before": old, "after": new, "fields": fields,
                  "period": req.period, "rule": req.rule, "holds": list(req.holds)}
        self.archive.ledger.append(actor, "retention", item.id, change)
        return change

    def raise_lock(self, key: str, version_id: str, until: datetime, hold: bool) -> Lock:
        """Extend (never shorten) and set or release the legal hold; confirmed by reading the
        lock back, or LockNotConfirmed: a lock that was not read back is not a lock."""
        current = self.store.lock(key, version_id)
        if current.retain_until is None or current.retain_until < until:
            self.store.extend_retention(key, version_id, until)
        if current.legal_hold != hold:
            self.store.set_legal_hold(key, version_id, hold)
        lock = self.store.lock(key, version_id)
        if (lock.retain_until is None or lock.retain_until < until
                or lock.legal_hold != hold):
            raise LockNotConfirmed(N_("{key}@{version}: the store did not confirm retention "
                                      "until {until} with legal hold {hold}"), subject=key,
                                   key=key, version=version_id, until=iso(until),
                                   hold=Named("yes" if hold else "no", _YES_NO))
        return lock

    def apply_all(self, item_ids: Iterable[str], actor: Actor, cause: str) -> list[dict]:
        """The real changes (a refreshed rule wording is applied, not reported)."""
        changes = []
        for item_id in dict.fromkeys(item_ids):
            item = self.archive.item(item_id)
            change = self.apply(item, actor, cause)
            if change is not None and not change.get("refreshed"):
                changes.append(change)
        return changes

    def refuse_lowering(self, item: Item, proposed: Requirement, why: str | Text) -> None:
        """Promotion only: a change that would give an earlier date or drop the permanent tier
        is refused, naming the rule that holds the item."""
        current = item.retention
        lower = (current.get("permanent") and not proposed.permanent) or (
            current.get("required_until") and proposed.until is not None
            and proposed.until < parse_iso(current["required_until"]))
        if lower:
            raise InputError(N_("{change} would lower the retention of item {item}, which is "
                                "held by: {rule}"), subject=item.id, change=why, item=item.id,
                             rule=rule_text(current.get("rule")))

    # --- the periodic run and the store check ----------------------------------------------
    def items(self) -> Iterable[Item]:
        return self.catalog.iter_items(Query())

    def rules_fingerprint(self) -> str:
        """What every item's requirement is computed from besides its own record and its
        cases and flags: a change here sends the next run over every item."""
        return _fingerprint({"units": self.settings.units,
                             "permanent_years": self.permanent_years,
                             "renew_within": self.renew_within})

    def run_items(self, cursor: dict | None, now: datetime, soon: datetime,
                  full: bool) -> tuple[Iterator[Item], dict]:
        """The items a run reads, and its coverage. A full sweep reads every item. Otherwise
        what changed since the last run's cursor (items; the items of cases and flags written
        since; items the last run could not apply), what fell due since it (retain-until in
        (last run, now]: new candidates; in (last run's horizon, now + expiring days]: newly
        expiring) and every permanent item whose lock is due for renewal (the renewal moves
        it out of range). Each item once."""
        seq = self.catalog.change_seq()
        why = None if cursor else N_("no earlier run")
        if cursor and cursor.get("rules") != self.rules_fingerprint():
            why = N_("the retention rules changed")
        if full or why:
            coverage = {"mode": "full", "reason": "--all" if full else why,
                        "to_seq": seq, "last_full_sweep": iso(now)}
            return iter(self.items()), coverage
        assert cursor is not None
        since = max(0, int(cursor["seq"]) - self.catalog.cursor_overlap)
        start = parse_iso(cursor["at"])
        horizon = max(parse_iso(cursor.get("soon") or cursor["at"]), now)
        renew_by = now + timedelta(days=365 * self.renew_within)
        coverage = {"mode": "incremental", "since_seq": int(cursor["seq"]), "to_seq": seq,
                    "due_window": [iso(start), iso(soon)], "renewal_until": iso(renew_by),
                    "last_full_sweep": cursor.get("last_full_sweep")}

        def related() -> Iterator[Item]:
            yield from self.catalog.iter_changed_items(since)
            for case_id, _ in self.catalog.changed_records("cases", since):
                yield from self.catalog.iter_items(Query(case_id=case_id))
            for _fid, flag in self.catalog.changed_records("flags", since):
                for item_id in flag.get("items", []):
                    item = self.catalog.get_item(item_id)
                    if item is not None:
                        yield item
                if flag.get("activity_id"):
                    yield from self.catalog.iter_items(Query(activity_id=flag["activity_id"]))
            for item_id in cursor.get("retry", []):
                item = self.catalog.get_item(item_id)
                if item is not None:
                    yield item
            for tier in _TIERS_THAT_EXPIRE:
                yield from self.catalog.iter_due_items(tier, now, start)
                if soon > horizon:
                    yield from self.catalog.iter_due_items(tier, soon, horizon)
            yield from self.catalog.iter_due_items("permanent", renew_by)

        def once() -> Iterator[Item]:
            seen: set[str] = set()
            for item in related():
                if item.id not in seen:
                    seen.add(item.id)
                    yield item
        return once(), coverage

    def propagate_flags(self, actor: Actor) -> list[str]:
        """Items that joined a flagged activity after the flag (a late offload) get it too."""
        touched = []
        for flag in self.catalog.list_records("flags"):
            if flag["state"] == "withdrawn" or not flag.get("activity_id"):
                continue
            for item in self.catalog.iter_items(Query(activity_id=flag["activity_id"])):
                if flag["id"] not in item.retention.get("flags", []):
                    add_reference(self.catalog, item.id, "flags", flag["id"])
                    touched.append(item.id)
        return touched

    def run(self, actor: Actor | None, as_of: datetime | None = None,
            full: bool = False) -> RunReport:
        """Apply what is due (with ``as_of``: nothing, a what-if report for that date), list
        what expires soon and the disposal candidates. Idempotent.

        Proportional to what changed: an applying run reads what changed or fell due since
        the last one (``run_items``), and lists the candidates and expiring items among
        those; ``full`` (``--all``), a what-if, a first run and a change of the rules read
        every item and list them all. The report's ``coverage`` says which it was."""
        now = self.clock()
        applying = as_of is None and actor is not None
        when = as_of or now
        report = RunReport(as_of=iso(when), applied=applying)
        cursor = self.catalog.get_record("meta", RUN_CURSOR) if applying else None
        if applying:
            self.propagate_flags(actor)
            self.forget()
            report.renewed, report.problems = renew_records(self.archive, actor, now,
                                                            self.renew_within)
        soon = when + timedelta(days=self.expiring_days)
        items, coverage = self.run_items(cursor, when, soon, full or not applying)
        read = 0
        retry: list[str] = []
        for item in items:
            read += 1
            if item.status == "disposed":
                continue
            if applying:
                try:
                    change = self.apply(item, actor, "retention run")
                except (LockNotConfirmed, InputError) as exc:
                    report.problems.append(problem("not-applied", exc.text, item=item.id))
                    retry.append(item.id)  # read again next time, changed or not
                    continue
                if change is not None and change.get("refreshed"):
                    report.refreshed.append(item.id)
                elif change is not None:
                    report.changed.append(change)
                if change is not None:
                    item = self.archive.item(item.id)
            req = self.requirement_of(item)
            held = bool(req.holds) or item.legal_hold
            until = item.retain_until
            if held or until is None or req.permanent:
                continue
            if as_of is not None:  # what-if: the rules' date, not only the recorded one
                until = max(until, self.target(item, req))
            row = {"item": item.id, "unit": item.description.unit, "tier": item.tier,
                   "retain_until": iso(until), "rule": req.rule}
            if until <= when:
                report.candidates.append(row)
            elif until <= soon:
                report.expiring.append(row)
        report.coverage = coverage | {"items_read": read}
        if applying:
            last_full = coverage["last_full_sweep"]
            self.catalog.put_record("meta", RUN_CURSOR, {
                "seq": coverage["to_seq"], "at": iso(when), "soon": iso(soon),
                "rules": self.rules_fingerprint(),
                "last_full_sweep": last_full, "retry": retry})
        return report

    def check(self) -> list[dict]:
        """Every item whose locks in the store (read from the store, not the catalog) are
        weaker than its rules require: each problem with a code and the key concerned."""
        return self.check_items(self.items())

    def check_run(self, full: bool = False) -> dict:
        """'retention check': the store drifts where no catalog cursor sees it, so each run
        reads the locks of a slice of the items, in id order from where the last run stopped,
        sized so that the sweep reads every item within ``check_within_days`` of its start
        (the rest of the sweep spread over the days left, the whole rest on the last day).
        ``full``: every item now. The coverage says which items were read, how far the sweep
        is, and when the last whole sweep ended."""
        now = self.clock()
        cursor = self.catalog.get_record("meta", CHECK_CURSOR) or {}
        total = self.catalog.count(Query())
        if full:
            problems = self.check()
            coverage = {"mode": "full", "items_read": total, "items": total,
                        "last_full_sweep": iso(now), "within_days": self.check_within_days}
            self.catalog.put_record("meta", CHECK_CURSOR, {
                "after": None, "read": 0, "sweep_started": iso(now),
                "last_full_sweep": iso(now)})
            return {"problems": problems, "coverage": coverage}
        started = parse_iso(cursor["sweep_started"]) if cursor.get("after") else now
        read_before = int(cursor.get("read", 0)) if cursor.get("after") else 0
        days_left = self.check_within_days - (now - started) / timedelta(days=1)
        remaining = max(total - read_before, 0)
        size = remaining if days_left <= 1 else math.ceil(remaining / days_left)
        size = max(size, CHECK_MIN_SLICE)
        items = self.catalog.items_after(cursor.get("after"), size)
        problems = self.check_items(items)
        done = len(items) < size or read_before + len(items) >= total
        last_full = iso(now) if done else cursor.get("last_full_sweep")
        after = None if done else items[-1].id
        self.catalog.put_record("meta", CHECK_CURSOR, {
            "after": after, "read": 0 if done else read_before + len(items),
            "sweep_started": iso(started) if not done else iso(now),
            "last_full_sweep": last_full})
        coverage = {"mode": "slice", "items_read": len(items), "items": total,
                    "from": items[0].id if items else None,
                    "to": items[-1].id if items else None,
                    "sweep_started": iso(started), "sweep_read": read_before + len(items),
                    "sweep_complete": done, "last_full_sweep": last_full,
                    "within_days": self.check_within_days}
        return {"problems": problems, "coverage": coverage}

    def check_items(self, items: Iterable[Item]) -> list[dict]:
        problems: list[dict] = []
        for item in items:
            if item.status == "disposed":
                continue
            req = self.requirement_of(item)
            need = req.lock_until(self.start_of(item), self.permanent_years)
            hold = bool(req.holds)
            zone = self.zone(item.description.unit)
            obj = item.storage.get("object", {})
            keys = [(obj.get("key"), obj.get("version_id"), "object")] + [
                (m["key"], m["version_id"], f"metadata v{m['version']}")
                for m in item.storage.get("manifests", [])]
            for key, vid, what in keys:
                base = {"item": item.id, "key": key, "version_id": vid, "what": what,
                        "rule": req.rule}
                try:
                    lock = self.store.lock(key, vid)
                except Exception as exc:  # noqa: BLE001 - unreadable is a finding, not a crash
                    problems.append(base | problem("lock-unreadable", Text(
                        "the lock cannot be read: {error}", error=str(exc))))
                    continue
                if lock.mode is None or lock.retain_until is None:
                    problems.append(base | problem("lock-missing",
                                                   Text("no retention in the store")))
                elif lock.retain_until < need:
                    problems.append(base | problem("lock-short", Text(
                        "locked until {until}, the rules require {need}",
                        until=local_minute(lock.retain_until, zone),
                        need=local_minute(need, zone))))
                if hold and not lock.legal_hold:
                    problems.append(base | problem("hold-missing", Text(
                        "held by {holds}, but the store has no legal hold",
                        holds=holds_text(req.holds))))
        return problems


def add_reference(catalog, item_id: str, field_name: str, ref: str) -> bool:
    """Record on an item that a case or flag concerns it (state, not description)."""
    item = catalog.get_item(item_id)
    if item is None:
        raise NotFound(N_("no item {item!r}"), subject=item_id, item=item_id)
    refs = list(item.retention.get(field_name, []))
    if ref in refs:
        return False
    item.retention = {**item.retention, field_name: refs + [ref]}
    catalog.save_state(item)
    return True
