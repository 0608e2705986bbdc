"""What several views share: how codes are shown (units, zones, people), the access rules
from the settings, the header's count of waiting requests, times typed in local time."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import g

from archive.access import todo
from archive.access.requests import AccessContext
from archive.domain.names import View
from archive.domain.timeutil import parse_time


def settings():
    return g.console.settings


def view_of() -> View:
    """Units by their configured names, times in each unit's zone (as the command line)."""
    s = settings()
    return View(zone_of=s.unit_zone,
                unit_names={u: r["name"] for u, r in s.units.items() if r.get("name")})


def access_context() -> AccessContext:
    return AccessContext.from_settings(settings())


def waiting_count() -> int:
    """Requests waiting for the signed-in person's decision (shown on every page)."""
    person = getattr(g, "person", None)
    if person is None or not {"approver", "legal"} & set(person.roles):
        return 0
    return len(todo.waiting_for(g.archive, person.id, access_context()))


def local_input(value: str | None, unit: str | None, what: str,
                end_of_day: bool = False) -> datetime | None:
    """A time from a form (``datetime-local`` gives 2026-03-01T08:30), read in the unit's
    zone; a date alone is its midnight, or with ``end_of_day`` the next one (the whole day,
    as the command line reads ``--until`` and ``--to``)."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if len(text) != 10:
        return parse_time(text, settings().unit_zone(unit), what)
    start = parse_time(text + "T00:00", settings().unit_zone(unit), what)
    return start + timedelta(days=1) if end_of_day else start


# PREMIS event types and outcomes as the item page names them (the stored codes stay English)
EVENT_ZH = {"ingestion": "入库", "virus check": "病毒检查", "format identification": "格式识别",
            "fixity check": "完整性检查", "message digest calculation": "摘要值计算",
            "validation": "有效性验证", "replication": "复制", "deletion": "删除",
            "duplicate": "重复入库", "metadata modification": "元数据修改", "recovery": "恢复",
            "retention change": "保管期限变更", "disposal": "销毁"}
OUTCOME_ZH = {"success": "成功", "failure": "失败", "warning": "警告", "completed": "完成",
              "started": "开始", "disposed": "已销毁", "digest-mismatch": "校验不符",
              "unrecoverable": "无法恢复"}
