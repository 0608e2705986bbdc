"""The judgements ingest records on every item: time consistency, offload deadlines, and the
DA/T 70 four-property check report. Pure functions of their inputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

PASS, FAIL, NA, NOT_CHECKABLE = "pass", "fail", "not-applicable", "not-checkable"
_DEADLINE = {"24h": timedelta(hours=24), "2d": timedelta(days=2)}


@dataclass(frozen=True)
class Entry:
    """One line of the four-property report."""

    property: str  # authenticity, integrity, usability, security
    check: str
    observed: object
    result: str    # pass / fail / not-applicable / not-checkable

    def to_dict(self) -> dict:
        return {"property": self.property, "check": self.check, "observed": self.observed,
                "result": self.result}


PROPERTY_ZH = {"authenticity": "真实性", "integrity": "完整性", "usability": "可用性",
               "security": "安全性"}
RESULT_ZH = {PASS: "通过", FAIL: "不通过", NA: "不适用", NOT_CHECKABLE: "无法检测"}


def media_time_consistency(declared_start: datetime | None, declared_end: datetime | None,
                           media_start: datetime | None, media_duration_s: float | None,
                           tolerance_s: float, declared_from_media: bool) -> dict:
    """Embedded creation time and duration against the declared start and end."""
    if declared_from_media:
        return {"result": NOT_CHECKABLE, "reason": "times were taken from the media itself"}
    if declared_start is None or media_start is None:
        return {"result": NOT_CHECKABLE,
                "reason": "no declared time" if declared_start is None
                else "the media carries no creation time"}
    offset = (media_start - declared_start).total_seconds()
    out = {"media_start": media_start.isoformat(), "clock_offset_s": round(offset, 3)}
    problems = []
    if abs(offset) > tolerance_s:
        problems.append(f"media start differs from the declared start by {offset:+.0f} s")
    if media_duration_s is not None and declared_end is not None:
        declared = (declared_end - declared_start).total_seconds()
        diff = media_duration_s - declared
        out["duration_difference_s"] = round(diff, 3)
        if abs(diff) > tolerance_s:
            problems.append(f"media lasts {media_duration_s:.0f} s, declared {declared:.0f} s")
    out["result"] = FAIL if problems else PASS
    if problems:
        out["problems"] = problems
    return out


def written_record_consistency(av_spans: list[tuple[datetime, datetime]],
                               record_start: datetime, record_end: datetime,
                               tolerance_s: float) -> dict:
    """The recordings of an activity must cover the times of its written record (笔录)."""
    if not av_spans:
        return {"result": NOT_CHECKABLE, "reason": "no recording of the activity yet"}
    tol = timedelta(seconds=tolerance_s)
    first = min(s for s, _ in av_spans)
    last = max(e for _, e in av_spans)
    problems = []
    if first > record_start + tol:
        problems.append(f"recording starts {(first - record_start).total_seconds():.0f} s "
                        "after the written record")
    if last < record_end - tol:
        problems.append(f"recording ends {(record_end - last).total_seconds():.0f} s before "
                        "the written record")
    return {"result": FAIL if problems else PASS, "recorded": [first.isoformat(),
                                                               last.isoformat()],
            "written_record": [record_start.isoformat(), record_end.isoformat()],
            **({"problems": problems} if problems else {})}


def offload_deadline(rule: str, recorded_end: datetime | None, returned_at: datetime | None,
                     offloaded_at: datetime, zone: ZoneInfo) -> dict:
    """Same day, within 24 h, or within 2 days of the recording's end; for remote work within
    24 h of the officer's return."""
    if returned_at is not None:
        due = returned_at + timedelta(hours=24)
        basis = "returned_at + 24h"
    elif recorded_end is None:
        return {"result": NOT_CHECKABLE, "reason": "no recording end"}
    elif rule == "same-day":
        local_end = recorded_end.astimezone(zone)
        due = (local_end + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                      microsecond=0)
        basis = "same day"
    else:
        due = recorded_end + _DEADLINE[rule]
        basis = rule
    late = offloaded_at > due
    return {"result": FAIL if late else PASS, "rule": basis, "due": due.isoformat(),
            "offloaded_at": offloaded_at.isoformat(), "late": late}


def document_deadline(document_date: datetime | None, ingested_at: datetime, days: int,
                      zone: ZoneInfo) -> dict:
    if document_date is None:
        return {"result": NOT_CHECKABLE, "reason": "no document date"}
    local = document_date.astimezone(zone)
    due = (local + timedelta(days=days + 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    late = ingested_at > due
    return {"result": FAIL if late else PASS, "rule": f"{days} days", "due": due.isoformat(),
            "late": late}


def four_properties(*, digests: dict, signed: bool, source: dict, consistency: dict,
                    missing: list[str], size: int, fmt: dict | None, sequence: int | None,
                    virus: dict, lock: dict | None) -> list[Entry]:
    """DA/T 70: authenticity, integrity, usability, security, each check with what was seen.

    ``sequence`` is the file's own running number: a number missing from the device's
    sequence is no defect of this file, and is reported where it belongs (the batch report
    and the device register, once the batch is complete)."""
    fmt = fmt or {}
    entries = [
        Entry("authenticity", "digests (SHA-256, SM3)", digests.get("sha256"), PASS),
        Entry("authenticity", "metadata signed (Ed25519)", signed, PASS if signed else FAIL),
        Entry("authenticity", "source recorded", source.get("original_name") or
              source.get("name"), PASS if source else FAIL),
        Entry("authenticity", "time consistency", consistency.get("result"),
              consistency.get("result", NOT_CHECKABLE)),
        Entry("integrity", "required metadata", missing or "complete",
              FAIL if missing else PASS),
        Entry("integrity", "size", size, PASS if size > 0 else FAIL),
        Entry("integrity", "not truncated", not fmt.get("truncated", False),
              FAIL if fmt.get("truncated") else PASS),
        Entry("integrity", "device sequence", sequence if sequence is not None else
              "no file number", PASS if sequence is not None else NA),
        Entry("usability", "format allowed", fmt.get("mime"),
              PASS if fmt.get("kind_allowed") else FAIL),
        Entry("usability", "readable", [p["code"] for p in fmt.get("problems", [])] or "ok",
              FAIL if fmt.get("damaged") else PASS),
        Entry("usability", "not encrypted", not fmt.get("encrypted", False),
              FAIL if fmt.get("encrypted") else PASS),
        Entry("security", "virus scan", f"{virus.get('status')} ({virus.get('engine')} "
              f"{virus.get('database')}, {virus.get('method')})",
              PASS if virus.get("status") == "clean" else FAIL),
        Entry("security", "WORM lock confirmed", (lock or {}).get("retain_until"),
              PASS if lock else FAIL),
    ]
    return entries


def render_zh(entries: list[dict]) -> str:
    """The four-property report as a person files it."""
    lines = ["四性检测报告", "属性    检测项目                    检测结果    检测值"]
    for e in entries:
        lines.append(f"{PROPERTY_ZH[e['property']]:<6}{e['check']:<28}"
                     f"{RESULT_ZH.get(e['result'], e['result']):<8}{e['observed']}")
    return "\n".join(lines)
