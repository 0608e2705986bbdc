"""The judgements ingest records on every item: time consistency, offload deadlines, and the
DA/T 70 four-property check report. Pure functions of their inputs."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import i18n
from i18n import N_, Text, localize
from retention.wording import local_minute

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
# the stored check names (Entry.check) as the report names them; the same words as the
# 四性检测报告 document (documents/four_property.py INGEST_CHECKS, which adds their codes)
CHECK_ZH = {"digests (SHA-256, SM3)": "固化信息（SHA-256、SM3 摘要）",
            "metadata signed (Ed25519)": "元数据数字签名（Ed25519）",
            "source recorded": "来源信息（原始文件名、采集设备）",
            "time consistency": "媒体时间与登记时间一致", "required metadata": "必填元数据齐全",
            "size": "文件非空", "not truncated": "文件未截断", "device sequence": "设备文件序号",
            "format allowed": "文件格式符合该类别要求", "readable": "文件可读、可解析",
            "not encrypted": "文件未加密", "virus scan": "病毒检测",
            "WORM lock confirmed": "一次写入存储保留锁已确认"}
# what a check saw, where it is a word rather than a value
OBSERVED_ZH = {"complete": "齐全", "no file number": "无文件编号", "ok": "正常", True: "是",
               False: "否", PASS: "通过", FAIL: "不通过", NOT_CHECKABLE: "无法检测",
               None: "-"}


def media_time_consistency(declared_start: datetime | None, declared_end: datetime | None,
                           media_start: datetime | None, media_duration_s: float | None,
                           tolerance_s: float, declared_from_media: bool) -> dict:
    """Embedded creation time and duration against the declared start and end."""
    if declared_from_media:
        return {"result": NOT_CHECKABLE, "reason": N_("times were taken from the media itself")}
    if declared_start is None or media_start is None:
        return {"result": NOT_CHECKABLE,
                "reason": N_("no declared time") if declared_start is None
                else N_("the media carries no creation time")}
    offset = (media_start - declared_start).total_seconds()
    out = {"media_start": media_start.isoformat(), "clock_offset_s": round(offset, 3)}
    problems: list[Text] = []
    if abs(offset) > tolerance_s:
        problems.append(Text("media start differs from the declared start by {seconds} s",
                             seconds=f"{offset:+.0f}"))
    if media_duration_s is not None and declared_end is not None:
        declared = (declared_end - declared_start).total_seconds()
        diff = media_duration_s - declared
        out["duration_difference_s"] = round(diff, 3)
        if abs(diff) > tolerance_s:
            problems.append(Text("media lasts {seconds} s, declared {declared} s",
                                 seconds=f"{media_duration_s:.0f}", declared=f"{declared:.0f}"))
    out["result"] = FAIL if problems else PASS
    return out | _problems(problems)


def written_record_consistency(av_spans: list[tuple[datetime, datetime]],
                               record_start: datetime, record_end: datetime,
                               tolerance_s: float) -> dict:
    """The recordings of an activity must cover the times of its written record (笔录)."""
    if not av_spans:
        return {"result": NOT_CHECKABLE, "reason": N_("no recording of the activity yet")}
    tol = timedelta(seconds=tolerance_s)
    first = min(s for s, _ in av_spans)
    last = max(e for _, e in av_spans)
    problems: list[Text] = []
    if first > record_start + tol:
        problems.append(Text("recording starts {seconds} s after the written record",
                             seconds=f"{(first - record_start).total_seconds():.0f}"))
    if last < record_end - tol:
        problems.append(Text("recording ends {seconds} s before the written record",
                             seconds=f"{(record_end - last).total_seconds():.0f}"))
    return {"result": FAIL if problems else PASS, "recorded": [first.isoformat(),
                                                               last.isoformat()],
            "written_record": [record_start.isoformat(), record_end.isoformat()],
            **_problems(problems)}


def _problems(texts: list[Text]) -> dict:
    """A check's problems as the item keeps them: the English sentences (``problems``, what
    the signed record and JSON hold) and the same in the reader's language (``texts``)."""
    if not texts:
        return {}
    return {"problems": [str(t) for t in texts], "texts": [localize(t) for t in texts]}


def problem_texts(result: dict) -> list[Text]:
    """The problems of a check result as texts to word again (a reason, a finding): each
    English sentence with the reader's wording made when the check ran beside it."""
    texts = result.get("texts") or []
    return [_Worded(message, texts[i] if i < len(texts) else None)
            for i, message in enumerate(result.get("problems") or [])]


class _Worded(Text):
    """A sentence already worded in both languages: ``str()`` English, ``localized()`` the
    reader's wording made with it (else the English through the catalog)."""

    __slots__ = ("worded",)

    def __init__(self, message: str, worded: str | None) -> None:
        super().__init__(message)
        self.worded = worded

    def localized(self) -> str:
        if i18n.language() == "en" or not self.worded:
            return localize(self.template)
        return self.worded


def offload_deadline(rule: str, recorded_end: datetime | None, returned_at: datetime | None,
                     offloaded_at: datetime, zone: ZoneInfo) -> dict:
    """Same day, within 24 h, or within 2 days of the recording's end; for remote work within
    24 h of the officer's return."""
    if returned_at is not None:
        due = returned_at + timedelta(hours=24)
        basis = "returned_at + 24h"
    elif recorded_end is None:
        return {"result": NOT_CHECKABLE, "reason": N_("no recording end")}
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
        return {"result": NOT_CHECKABLE, "reason": N_("no document date")}
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


def render_zh(entries: list[dict], zone: tzinfo | None = None) -> str:
    """The four-property report as a person files it; the lock's date in ``zone`` (the
    unit's, else UTC named)."""
    widths = (8, 34, 10)
    lines = ["四性检测报告", _row(("属性", "检测项目", "检测结果", "检测值"), widths)]
    for e in entries:
        lines.append(_row((PROPERTY_ZH[e["property"]], CHECK_ZH.get(e["check"], e["check"]),
                           RESULT_ZH.get(e["result"], e["result"]),
                           _observed(e["check"], e["observed"], zone)), widths))
    return "\n".join(lines)


def _row(cells: tuple[str, ...], widths: tuple[int, ...]) -> str:
    """Cells padded to columns as a terminal shows them (a Chinese character is two wide)."""
    out = ""
    for cell, width in zip(cells, widths, strict=False):
        out += cell + " " * max(1, width - _width(cell))
    return out + cells[-1] if len(cells) > len(widths) else out.rstrip()


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# the required fields as the report names them (Description.missing())
FIELD_ZH = {"unit": "单位", "device_id": "设备编号", "officers": "执法人员",
            "recorded_start": "录制开始时间", "recorded_end": "录制结束时间"}
# a virus verdict's status (scanners.base), as the report names it
VIRUS_ZH = {"clean": "未发现病毒", "infected": "感染病毒", "not-scanned": "未完成扫描"}


def _observed(check: str, value: object, zone: tzinfo | None) -> str:
    if check == "required metadata" and isinstance(value, list):
        return "、".join(FIELD_ZH.get(str(v), str(v)) for v in value)
    if check == "virus scan" and isinstance(value, str):
        status, _, rest = value.partition(" ")
        return f"{VIRUS_ZH.get(status, status)} {rest}".strip()
    if check == "WORM lock confirmed" and isinstance(value, str) and value:
        return f"锁定至 {local_minute(value, zone)}"
    if isinstance(value, list):
        return "、".join(map(str, value))
    if isinstance(value, bool | str) or value is None:
        return OBSERVED_ZH.get(value, str(value))  # type: ignore[arg-type]
    return str(value)
