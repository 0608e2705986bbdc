from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from retention.rules import add_months, routine_retain_until

SH = ZoneInfo("Asia/Shanghai")


def test_add_months_clamps_to_month_end():
    assert add_months(datetime(2025, 8, 31, tzinfo=SH), 6).date().isoformat() == "2026-02-28"
    assert add_months(datetime(2027, 8, 31, tzinfo=SH), 6).date().isoformat() == "2028-02-29"
    assert add_months(datetime(2026, 12, 15, tzinfo=SH), 12).date().isoformat() == "2027-12-15"


def test_counts_from_later_of_end_and_ingest():
    reset_clock = datetime(2000, 1, 1, tzinfo=timezone.utc)
    ingest = datetime(2026, 3, 1, 2, tzinfo=timezone.utc)
    until = routine_retain_until({"routine_months": 6}, reset_clock, ingest, SH)
    assert until.astimezone(SH).date().isoformat() == "2026-09-01"
    end = datetime(2026, 3, 5, 16, 30, tzinfo=timezone.utc)  # 00:30 on 6 March in Shanghai
    until = routine_retain_until({"routine_months": 12}, end, ingest, SH)
    assert until.astimezone(SH).date().isoformat() == "2027-03-06"
