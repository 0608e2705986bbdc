"""Ingest batches as filed: every batch's report (每批次四性检测报告), listed and shown, and the
report as a person reads it."""

from __future__ import annotations

from datetime import tzinfo

from archive.domain.errors import InputError
from archive.domain.names import zone_label
from archive.service import Archive
from i18n import N_
from ingest import checks
from ingest.pipeline import STATES
from retention.wording import local_minute
from scanners.problems import shown

SUMMARY = ("batch_id", "station", "root", "started_at", "counts", "late")


def list_batches(archive: Archive) -> list[dict]:
    """Every batch, one summary row each (its id, station, source, start, counts, late)."""
    return [{k: d[k] for k in SUMMARY} for d in archive.catalog.list_records("batches")]


def batch_report(archive: Archive, batch_id: str) -> dict:
    """The batch's report: every file's state, reasons and four-property checks."""
    doc = archive.catalog.get_record("batches", batch_id)
    if doc is None:
        raise InputError(N_("no batch {batch!r}"), subject=batch_id, batch=batch_id)
    return doc


def render_batch_zh(doc: dict, zone: tzinfo | None = None) -> str:
    """The batch's check report as a person files it (四性检测 per file, counts per state),
    its times in ``zone`` (the archive's; UTC named when none is given)."""
    def when(value: str | None) -> str:
        return local_minute(value, zone) if value else "-"

    lines = [f"批次 {doc['batch_id']}  采集站 {doc['station'] or '-'}  来源 {doc['root']}",
             f"开始 {when(doc['started_at'])}  结束 {when(doc['finished_at'])}"
             + (f"（{zone_label(zone)}）" if zone is not None else ""), "",
             "状态统计：" + "，".join(f"{STATES[k]} {v}" for k, v in doc["counts"].items()),
             f"逾期采集：{doc['late']}", ""]
    for f in doc["files"]:
        lines.append(f"文件 {f['file']}：{f['state_zh']}" +
                     (f"（条目 {f['item_id']}）" if f["item_id"] else ""))
        for r in f["reasons"]:
            lines.append(f"  · {shown(r)}")
        if f["checks"].get("four_property"):
            lines.append("  " + checks.render_zh(f["checks"]["four_property"], zone)
                         .replace("\n", "\n  "))
    for p in doc["manifest_problems"]:
        lines.append(f"著录清单第 {p['line']} 行 {p['file'] or '-'}：{shown(p)}")
    for dev, gaps in doc["sequence_gaps"].items():
        lines.append(f"设备 {dev} 文件编号缺号：{'、'.join(map(str, gaps))}")
    for dev, off in doc["clock_offsets"].items():
        lines.append(f"设备 {dev} 时钟偏差 {off:+.0f} 秒")
    return "\n".join(lines)
