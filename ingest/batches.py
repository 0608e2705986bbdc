"""Ingest batches as filed: every batch's report (每批次四性检测报告), listed and shown, and the
report as a person reads it."""

from __future__ import annotations

from archive.domain.errors import InputError
from archive.service import Archive
from ingest import checks
from ingest.pipeline import STATES

SUMMARY = ("batch_id", "station", "root", "started_at", "counts", "late")


def list_batches(archive: Archive) -> list[dict]:
    """Every batch, one summary row each (its id, station, source, start, counts, late)."""
    return [{k: d[k] for k in SUMMARY} for d in archive.catalog.list_records("batches")]


def batch_report(archive: Archive, batch_id: str) -> dict:
    """The batch's report: every file's state, reasons and four-property checks."""
    doc = archive.catalog.get_record("batches", batch_id)
    if doc is None:
        raise InputError(f"no batch {batch_id!r}")
    return doc


def render_batch_zh(doc: dict) -> str:
    """The batch's check report as a person files it (四性检测 per file, counts per state)."""
    lines = [f"批次 {doc['batch_id']}  采集站 {doc['station'] or '-'}  来源 {doc['root']}",
             f"开始 {doc['started_at']}  结束 {doc['finished_at']}", "",
             "状态统计：" + "，".join(f"{STATES[k]} {v}" for k, v in doc["counts"].items()),
             f"逾期上传：{doc['late']}", ""]
    for f in doc["files"]:
        lines.append(f"文件 {f['file']}：{f['state_zh']}" +
                     (f"（条目 {f['item_id']}）" if f["item_id"] else ""))
        for r in f["reasons"]:
            lines.append(f"  · {r['message']}")
        if f["checks"].get("four_property"):
            lines.append("  " + checks.render_zh(f["checks"]["four_property"])
                         .replace("\n", "\n  "))
    for p in doc["manifest_problems"]:
        lines.append(f"清单第 {p['line']} 行 {p['file'] or '-'}：{p['message']}")
    for dev, gaps in doc["sequence_gaps"].items():
        lines.append(f"设备 {dev} 文件序号缺失：{', '.join(map(str, gaps))}")
    for dev, off in doc["clock_offsets"].items():
        lines.append(f"设备 {dev} 时钟偏差 {off:+.0f} 秒")
    return "\n".join(lines)
