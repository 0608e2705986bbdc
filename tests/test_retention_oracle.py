"""The oracle: retain-until worked out by hand from the regulations, row by row, apart from
the engine. Each expected date was computed on paper (Asia/Shanghai); the engine must agree on
every row. A rule that kept everything for 100 years, or everything for 6 months, fails it.

Rules used (config/default.toml): market-001 routine 6 months, evidence = case file;
culture-001 routine 12 months; urban-001 evidence long-term 30 years; case files general 10
years, major 30, permanent; counted from 1 January after the filing year (or the year the
record was archived, if later); routine from the later of recorded end and ingest.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from config import settings
from retention.rules import CaseFacts, FlagFacts, period_code, requirement

SH = ZoneInfo("Asia/Shanghai")
UNITS = settings.load().units


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


OPEN = CaseFacts("C-open", "general")
GENERAL_0510 = CaseFacts("C-g", "general", date(2026, 5, 10))
GENERAL_FILED_2027 = CaseFacts("C-g27", "general", date(2026, 5, 10), 2027)
MAJOR_1231 = CaseFacts("C-m", "major", date(2026, 12, 31))
PERM_CASE = CaseFacts("C-p", "permanent", date(2026, 6, 1))
UNKNOWN = CaseFacts("C-x", None)

# unit, recorded end, ingested, cases, flags -> tier, retain-until in Shanghai (None: permanent),
# period, number of holding reasons
ROWS = [
    # routine: 6 months from ingest (10:00 on 6 March, later than the 00:30 end)
    ("market-001", utc("2026-03-05T16:30"), utc("2026-03-06T02:00"), [], [],
     "routine", sh("2026-09-06T10:00"), "6m", 0),
    # 12 months in culture-001
    ("culture-001", sh("2026-08-31T10:00"), sh("2026-08-31T12:00"), [], [],
     "routine", sh("2027-08-31T12:00"), "12m", 0),
    # month end: 31 August + 6 months is 28 February
    ("market-001", sh("2026-08-31T09:00"), sh("2026-08-31T09:30"), [], [],
     "routine", sh("2027-02-28T09:30"), "6m", 0),
    # leap year: 31 August 2027 + 6 months is 29 February 2028
    ("market-001", sh("2027-08-31T09:00"), sh("2027-08-31T09:30"), [], [],
     "routine", sh("2028-02-29T09:30"), "6m", 0),
    # counted in Shanghai: 20:00 UTC on 30 Aug is 04:00 on 31 Aug there, so 28 Feb (not the
    # 1 March that counting in UTC would give)
    ("market-001", utc("2026-08-30T20:00"), utc("2026-08-30T20:00"), [], [],
     "routine", sh("2027-02-28T04:00"), "6m", 0),
    # New Year in Shanghai while still 31 December in UTC
    ("market-001", utc("2026-12-31T17:00"), utc("2026-12-31T17:00"), [], [],
     "routine", sh("2027-07-01T01:00"), "6m", 0),
    # a camera clock reset to 2000 does not make fresh footage expire
    ("market-001", utc("2000-01-01T00:00"), sh("2026-03-01T08:00"), [], [],
     "routine", sh("2026-09-01T08:00"), "6m", 0),
    # an open case holds; the date stays the routine one; the code's period is the case's
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [OPEN], [],
     "case", sh("2026-09-06T10:00"), "10y", 1),
    # closed 10 May 2026, general: 10 years from 1 January 2027
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [GENERAL_0510], [],
     "case", sh("2037-01-01T00:00"), "10y", 0),
    # filed in 2027: from 1 January 2028
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [GENERAL_FILED_2027], [],
     "case", sh("2038-01-01T00:00"), "10y", 0),
    # major, closed on New Year's Eve: 30 years from 1 January 2027
    ("market-001", sh("2026-12-01T10:00"), sh("2026-12-01T10:00"), [MAJOR_1231], [],
     "case", sh("2057-01-01T00:00"), "30y", 0),
    # urban-001 keeps evidence 30 years, longer than the general case file's 10
    ("urban-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [GENERAL_0510], [],
     "case", sh("2057-01-01T00:00"), "30y", 0),
    # archived in 2030 for a case filed in 2026: from 1 January 2031
    ("market-001", sh("2026-03-06T10:00"), sh("2030-02-01T10:00"), [GENERAL_0510], [],
     "case", sh("2041-01-01T00:00"), "10y", 0),
    # one case open, one closed: held, dated by the closed one
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [OPEN, MAJOR_1231], [],
     "case", sh("2057-01-01T00:00"), "30y", 1),
    # a permanent case file: held until a second person confirms the flag
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [PERM_CASE], [],
     "case", sh("2026-09-06T10:00"), "permanent", 1),
    # a case named on the item but not in the register: held
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [UNKNOWN], [],
     "case", sh("2026-09-06T10:00"), "6m", 1),
    # an unconfirmed flag holds, nothing else changes
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [],
     [FlagFacts("F1", "objection", "unconfirmed")], "routine", sh("2026-09-06T10:00"), "6m", 1),
    # a withdrawn flag neither holds nor dates
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [],
     [FlagFacts("F1", "objection", "withdrawn")], "routine", sh("2026-09-06T10:00"), "6m", 0),
    # confirmed: permanent, and the flag still holds
    ("market-001", sh("2026-03-06T10:00"), sh("2026-03-06T10:00"), [GENERAL_0510],
     [FlagFacts("F1", "assault", "confirmed")], "permanent", None, "permanent", 1),
]


@pytest.mark.parametrize("row", ROWS, ids=[f"row{n}" for n in range(len(ROWS))])
def test_engine_agrees_with_the_hand_worked_table(row):
    unit, end, ingested, cases, flags, tier, until, period, holds = row
    req = requirement(unit, UNITS[unit], SH, end, ingested, cases, flags)
    assert req.tier == tier
    assert req.until == until, (req.until.astimezone(SH) if req.until else None, req.rule)
    assert req.period == period
    assert len(req.holds) == holds, req.holds


def test_period_codes():
    assert [period_code(p) for p in ("permanent", "30y", "10y", "6m", "12m")] == [
        "Y", "D30", "D10", "M6", "M12"]
