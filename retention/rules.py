"""Retention periods from the unit's rules: pure functions of dates, no I/O.

Retain-until counts from the later of recorded end and ingest, so a camera whose clock was
reset to 2000 cannot make fresh evidence disposable. Case files count from 1 January after
their filing year (archival practice); a record archived after that year counts from
1 January after the year it was archived in.

What holds an item (a reason) and what only sets its date are kept apart: an open case and
every flag, confirmed or not, hold; a closed case and the routine period give dates.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from archive.domain.errors import InputError
from i18n import N_, Text
from retention.wording import Joined, Named, reword

PERMANENT = "permanent"

# The reasons the regulations give for keeping a record permanently (长期/永久保存).
FLAG_REASONS: dict[str, str] = {
    "objection": "当事人异议", "complaint": "投诉", "petition": "上访",
    "obstruction": "阻碍执法", "refusal": "拒绝执法", "insult": "谩骂执法人员",
    "assault": "殴打执法人员", "mass-incident": "群体性事件", "sudden-incident": "突发事件",
    "review": "行政复议", "litigation": "行政诉讼", "major": "重大案件", "complex": "复杂案件",
    "difficult": "疑难案件", "evidence": "证据（本单位规定证据永久保存）", "other": "其他",
}
FLAG_STATES = ("unconfirmed", "confirmed", "withdrawn")

# The rule that sets an item's date and every reason that holds it, as the item's record keeps
# them: English sentences, stable whatever the reader's language. ``rule_text`` reads one back
# as a text in the reader's language.
ROUTINE = N_("routine footage of {unit}: {months} months from {start}")
CASE_UNREGISTERED = N_("case {case} is not in the case register")
CASE_OPEN = N_("case {case} is open")
CASE_PERMANENT = N_("case {case} ({type}) is kept permanently: its evidence awaits a "
                    "confirmed flag")
CASE_FILE = N_("case file {case} ({type}, filed {filed}): {years} years from {start}")
EVIDENCE = N_("evidence of {unit} is kept {years} years: case {case} from {start}")
FLAG_UNCONFIRMED = N_("flag {flag} ({reason}) awaits confirmation")
FLAG_CONFIRMED = N_("flag {flag} ({reason}) is confirmed")
CONFIRMED_FLAG = N_("confirmed flag {flag} ({reason})")
RULE_TEMPLATES = (ROUTINE, CASE_UNREGISTERED, CASE_OPEN, CASE_PERMANENT, CASE_FILE, EVIDENCE,
                  FLAG_UNCONFIRMED, FLAG_CONFIRMED, CONFIRMED_FLAG)


def rule_text(stored: str | None) -> Text | str:
    """A stored rule or hold (``Requirement.rule``, one of ``holds``) as the reader reads it:
    the sentence in their language, a flag's reason by its Chinese name; a sentence of no
    known form as it is."""
    if not stored:
        return ""
    said = reword(stored, RULE_TEMPLATES)
    if said is None:
        return stored
    if "reason" in said.params:
        said.params["reason"] = Named(str(said.params["reason"]), FLAG_REASONS)
    return said


def holds_text(holds: list[str] | tuple[str, ...]) -> Joined:
    """Every reason that holds an item, each in the reader's language."""
    return Joined([rule_text(h) for h in holds])


def add_months(dt: datetime, months: int) -> datetime:
    """Calendar months; a day past the new month's end becomes its last day (31 Aug + 6 = 28/29
    Feb)."""
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def add_years(dt: datetime, years: int) -> datetime:
    """29 February plus a year that is not a leap year is 28 February."""
    return add_months(dt, 12 * years)


def retention_start(recorded_end: datetime | None, ingested_at: datetime,
                    zone: ZoneInfo) -> datetime:
    return max(t for t in (recorded_end, ingested_at) if t is not None).astimezone(zone)


def routine_retain_until(unit_rules: dict, recorded_end: datetime | None,
                         ingested_at: datetime, zone: ZoneInfo) -> datetime:
    start = retention_start(recorded_end, ingested_at, zone)
    return add_months(start, int(unit_rules["routine_months"]))


def period_code(period: str) -> str:
    """The retention-period part of an archive code (档号): 永久 Y, 30 years D30, 6 months M6."""
    if period == PERMANENT:
        return "Y"
    if period.endswith("y") and period[:-1].isdigit():
        return f"D{int(period[:-1])}"
    if period.endswith("m") and period[:-1].isdigit():
        return f"M{int(period[:-1])}"
    raise InputError(N_("not a retention period: {period!r}"), period=period)


def period_zh(period: str) -> str:
    if period == PERMANENT:
        return "永久"
    if period.endswith("y"):
        return f"{int(period[:-1])}年"
    return f"{int(period[:-1])}个月"


@dataclass(frozen=True)
class CaseFacts:
    """A case as the register and closures describe it."""

    id: str
    type: str | None  # None: the case is not in the register
    closed: date | None = None
    filing_year: int | None = None  # of the case file; the closing year when not given


@dataclass(frozen=True)
class FlagFacts:
    id: str
    reason: str
    state: str  # unconfirmed | confirmed | withdrawn


@dataclass(frozen=True)
class Requirement:
    """What the rules demand of one item at one moment."""

    tier: str
    until: datetime | None  # None: permanent
    period: str  # "6m", "10y", "permanent": the period an archive code carries
    rule: str  # the rule that sets ``until`` (named when a change would lower it)
    holds: tuple[str, ...] = field(default=())  # every reason that holds the item

    @property
    def permanent(self) -> bool:
        return self.until is None

    def lock_until(self, start: datetime, permanent_years: int) -> datetime:
        """The date the WORM lock must reach: a permanent item is locked ``permanent_years``
        past its start, and that lock is renewed long before it runs out."""
        return self.until if self.until is not None else add_years(start, permanent_years)


def case_period_years(unit_rules: dict, case: CaseFacts) -> int:
    periods = unit_rules.get("case_periods", {})
    if case.type not in periods:
        raise InputError(N_("case {case}: no period for case type {type!r} (known: {known})"),
                         subject=case.id, case=case.id, type=case.type,
                         known=", ".join(sorted(periods)) or "-")
    return int(periods[case.type])


def _period(years: int = 0, months: int = 0) -> str:
    return f"{years}y" if years else f"{months}m"


def requirement(unit: str, unit_rules: dict, zone: ZoneInfo, recorded_end: datetime | None,
                ingested_at: datetime, cases: list[CaseFacts],
                flags: list[FlagFacts]) -> Requirement:
    """The strictest of every rule that applies to one item.

    Evidence of a closed case is kept as long as its case file (the regulations' general rule)
    and, in a unit whose evidence rule is long-term, at least that many years too; a unit whose
    evidence is permanent raises an evidence flag when an item is linked (retention.cases), so
    the irreversible lock still needs a second person.
    """
    start = retention_start(recorded_end, ingested_at, zone)
    months = int(unit_rules["routine_months"])
    dated: list[tuple[datetime, str, str]] = [
        (add_months(start, months), _period(months=months),
         ROUTINE.format(unit=unit, months=months, start=f"{start:%Y-%m-%d}"))]
    holds: list[str] = []
    prospective: list[tuple[int, str]] = []  # open cases: the period they will give
    tier = "routine"
    permanent_rule: str | None = None
    for case in cases:
        tier = "case"
        if case.type is None:  # named by the item, not (yet) in the register
            holds.append(CASE_UNREGISTERED.format(case=case.id))
            continue
        years = case_period_years(unit_rules, case)
        evidence_years = (int(unit_rules.get("evidence_years", 0))
                          if unit_rules.get("evidence") == "long-term" else 0)
        if case.closed is None:
            holds.append(CASE_OPEN.format(case=case.id))
            prospective.append((years, case.id))
            continue
        filed = case.filing_year or case.closed.year
        counted_from = datetime(max(filed, start.year) + 1, 1, 1, tzinfo=zone)
        if years == 0:
            # a permanent case file keeps its evidence for good; the lock that says so waits
            # for a confirmed flag (retention.cases raises it), this holds meanwhile
            holds.append(CASE_PERMANENT.format(case=case.id, type=case.type))
            prospective.append((0, case.id))
            continue
        dated.append((add_years(counted_from, years), _period(years),
                      CASE_FILE.format(case=case.id, type=case.type, filed=filed, years=years,
                                       start=f"{counted_from:%Y-%m-%d}")))
        if evidence_years:
            dated.append((add_years(counted_from, evidence_years), _period(evidence_years),
                          EVIDENCE.format(unit=unit, years=evidence_years, case=case.id,
                                          start=f"{counted_from:%Y-%m-%d}")))
    for flag in flags:
        if flag.state == "unconfirmed":
            holds.append(FLAG_UNCONFIRMED.format(flag=flag.id, reason=flag.reason))
        elif flag.state == "confirmed":
            holds.append(FLAG_CONFIRMED.format(flag=flag.id, reason=flag.reason))
            permanent_rule = permanent_rule or CONFIRMED_FLAG.format(flag=flag.id,
                                                                     reason=flag.reason)
    if permanent_rule is not None:
        return Requirement("permanent", None, PERMANENT, permanent_rule, tuple(holds))
    until, period, rule = max(dated, key=lambda d: d[0])
    for years, _case in prospective:  # the code's period: what the open case will give
        if years == 0:
            period = PERMANENT
        elif period != PERMANENT and _longer(_period(years), period):
            period = _period(years)
    return Requirement(tier, until, period, rule, tuple(holds))


def _longer(a: str, b: str) -> bool:
    def months(p: str) -> int:
        return int(p[:-1]) * (12 if p.endswith("y") else 1)
    return months(a) > months(b)
