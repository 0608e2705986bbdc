"""What people read for the codes custody stores: kinds, tiers, states, classes and roles by
their Chinese names, people by name with their id, units by their configured name, and times
in the unit's zone. Pure: no I/O; the callers pass the people and units they know.

The stored codes (``video``, ``archived``, ...) never change: JSON and the catalog keep them,
and the Chinese text is put beside them where a person reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from i18n import N_, Text

KIND_ZH = {"video": "视频", "audio": "音频", "photo": "照片", "document": "文书", "data": "数据"}
TIER_ZH = {"routine": "常规", "case": "案件", "permanent": "永久"}
# An item's status. ``archived`` is the stored code of an item that is stored and locked: it is
# read 已入库, because 已归档 means archived with a 档号 (custody archive finalize).
STATUS_ZH = {"archived": "已入库", "pending-metadata": "待补元数据", "attention": "需关注",
             "disposed": "已销毁"}
ARCHIVED_WITH_CODE_ZH = "已归档"
DESTROYED_ZH = "已销毁"
# The outcome of one file at ingest (ingest/pipeline.py FileOutcome.state).
INGEST_STATE_ZH = {
    "archived": "已入库",
    "archived-pending-metadata": "已入库（待补元数据）",
    "archived-attention": "已入库（需关注）",
    "quarantined": "已隔离（感染病毒）",
    "rejected": "已拒收（格式不允许）",
    "not-scanned": "未完成扫描（原地保留）",
}
CONFIDENTIAL_ZH = {"state-secret": "国家秘密", "commercial-secret": "商业秘密",
                   "personal-privacy": "个人隐私"}
ROLE_ZH = {"officer": "执法人员", "assisting": "协助人员", "archivist": "档案管理员",
           "auditor": "审计人员", "approver": "审批人", "legal": "法制审核人员",
           "administrator": "系统管理员"}
# Activity types and record forms are stored in Chinese already (model.ACTIVITY_TYPES).
# What a recording is called in a 题名, by kind (a body-worn camera's files: 执法记录仪).
KIND_TITLE_ZH = {"video": "执法记录仪视频", "audio": "执法记录仪音频", "photo": "现场照片",
                 "document": "文书", "data": "电子数据"}
ZONE_ZH = {"Asia/Shanghai": "北京时间", "Asia/Urumqi": "乌鲁木齐时间",
           "Asia/Hong_Kong": "香港时间", "Asia/Macau": "澳门时间", "UTC": "协调世界时"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The roles by name inside a message (its reader's language); the stored codes are the keys.
ROLE_NAMES = {"officer": N_("officer"), "assisting": N_("assisting"),
              "archivist": N_("archivist"), "auditor": N_("auditor"),
              "approver": N_("approver"), "legal": N_("legal"),
              "administrator": N_("administrator")}
_AS_GIVEN = "{text}"  # a value shown as it is, in no language (not a catalog id)


def role_choice(roles: Iterable[str]) -> Text:
    """'auditor or archivist' in the reader's language (a role not in ROLE_NAMES, from a
    unit's config, as it is written)."""
    names = [Text(ROLE_NAMES.get(r, r)) for r in roles]
    if not names:
        return Text(_AS_GIVEN, text="")
    out = names[-1]
    for name in reversed(names[:-1]):
        out = Text(N_("{first} or {rest}"), first=name, rest=out)
    return out


def joined(texts: Iterable[Text | str]) -> Text:
    """Several reasons as one, separated by '; ' ('；' in Chinese)."""
    parts = list(texts)
    if not parts:
        return Text(_AS_GIVEN, text="")
    out = parts[-1] if isinstance(parts[-1], Text) else Text(_AS_GIVEN, text=parts[-1])
    for part in reversed(parts[:-1]):
        out = Text(N_("{first}; {rest}"), first=part, rest=out)
    return out


def zh(table: Mapping[str, str], code: str | None) -> str:
    """The Chinese name of a code; the code itself when the table has none, '' for None."""
    if code is None:
        return ""
    return table.get(code, code)


def person_label(person_id: str, name: str | None) -> str:
    """张警官（P1001）; the id alone when the person is not registered."""
    return f"{name}（{person_id}）" if name and name != person_id else person_id


# the filters of a verification lot or an access request ("KEY=VALUE ...", as the command line
# takes them) by what a person calls them
QUERY_FIELD_ZH = {"unit": "单位", "device": "设备", "device_id": "设备", "officer": "执法人员",
                  "party": "当事人", "cause": "案由", "case": "案件", "case_id": "案件",
                  "tier": "保管类别", "kind": "类型", "activity_type": "执法活动类型",
                  "activity": "执法活动", "activity_id": "执法活动", "status": "状态"}


def lot_words(lot: Mapping, units: Mapping[str, str] | None = None,
              people: Mapping[str, str] | None = None) -> str:
    """A verification lot as a person reads it: "2025 年度", or each filter by its Chinese
    name ("单位 市场监管一中队；2025 年度"; "当事人含“王”；2025-03-01 00:00 至 2025-04-01
    00:00"), never the KEY=VALUE text the command line takes. A filter this does not know is
    shown as it was given rather than dropped."""
    query = str(lot.get("query") or "")
    if not query:
        return f"{lot['year']} 年度" if lot.get("year") is not None else "—"
    given = dict(part.partition("=")[::2] for part in query.split())
    start, end = given.pop("from", None), given.pop("to", None)
    words = []
    for key, value in given.items():
        if key == "unit":
            value = (units or {}).get(value) or value
        elif key == "officer":
            value = person_label(value, (people or {}).get(value))
        elif key in ("party", "cause"):
            words.append(f"{QUERY_FIELD_ZH[key]}含“{value}”")
            continue
        else:
            value = zh({"tier": TIER_ZH, "kind": KIND_ZH, "status": STATUS_ZH}.get(key, {}),
                       value)
        words.append(f"{QUERY_FIELD_ZH[key]} {value}" if key in QUERY_FIELD_ZH
                     else f"{key}={value}")
    if start or end:
        year = (start or "")[:4]
        if (year.isdigit() and start == f"{year}-01-01T00:00"
                and end == f"{int(year) + 1}-01-01T00:00"):
            words.append(f"{year} 年度")
        else:
            words.append(f"{(start or '').replace('T', ' ') or '最早'} 至 "
                         f"{(end or '').replace('T', ' ') or '最近'}")
    return "；".join(words)


def zone_label(zone: tzinfo | None) -> str:
    """The zone named once per table or document: 北京时间（Asia/Shanghai）."""
    if zone is None:
        return "UTC"
    key = getattr(zone, "key", None) or str(zone)
    return f"{ZONE_ZH[key]}（{key}）" if key in ZONE_ZH else key


def local_time(value: str | datetime | None, zone: tzinfo | None) -> str:
    """A stored time (ISO 8601, UTC) as people read it in the zone: 2025-06-18 14:00:00."""
    if value is None or value == "":
        return ""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(
        str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:  # never stored so; shown as is rather than guessed
        return dt.strftime(TIME_FORMAT)
    return dt.astimezone(zone).strftime(TIME_FORMAT) if zone else dt.strftime(TIME_FORMAT)


def local_iso(value: str | None, zone: tzinfo | None) -> str | None:
    """A stored time as ISO 8601 with the zone's own offset (2025-06-18T14:00:00+08:00)."""
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (dt.astimezone(zone) if zone else dt).isoformat()


@dataclass(frozen=True)
class View:
    """How one face shows codes to people: each unit's zone and name, people's names.

    ``zone_of(unit)`` is the unit's zone (settings.unit_zone); ``unit_names`` the configured
    names; ``people`` person id -> name (filled by the service that reads the register)."""

    zone_of: Callable[[str | None], tzinfo | None] = lambda unit: None
    unit_names: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)

    def with_people(self, people: Mapping[str, str]) -> View:
        return View(self.zone_of, self.unit_names, dict(people))

    def unit(self, code: str | None) -> str:
        if not code:
            return ""
        return self.unit_names.get(code) or code

    def person(self, person_id: str) -> str:
        return person_label(person_id, self.people.get(person_id))

    def time(self, value: str | datetime | None, unit: str | None = None) -> str:
        return local_time(value, self.zone_of(unit))

    def zone(self, unit: str | None = None) -> str:
        return zone_label(self.zone_of(unit))


# a verification's problems by their stable codes: the 检查台帐, the handover's 四性检测报告
CHECK_PROBLEM_ZH = {"ingest-finding": "入库时已有问题", "object-unreadable": "对象无法读取",
              "digest-mismatch": "摘要值不符", "manifest-unreadable": "元数据版本无法读取",
              "signature-invalid": "签名核验未通过", "manifest-mismatch": "元数据版本不一致",
              "lock-missing": "缺少锁定", "lock-too-short": "锁定期限不足",
              "legal-hold-missing": "缺少法律保全", "media-unreadable": "录音录像无法解析",
              "duration-changed": "时长已改变",
              "search-field-mismatch": "检索字段与签名元数据不一致",
              "version-mismatch": "元数据版本不是最新", "index-missing": "不在检索索引中"}
