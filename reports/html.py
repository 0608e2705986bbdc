"""The yearly statistics (``statistics.yearly_statistics``) rendered for people: one
self-contained HTML file a leader opens (inline CSS, charts as inline PNG, no script and no
external address, so it works on the offline archive computer and survives being mailed), a
CSV for spreadsheets, and rich tables for the terminal. Rendering only: no catalog access.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache

TITLE = "统计分析报告"
KIND_ZH = {"video": "视频", "audio": "音频", "photo": "照片", "document": "文书", "data": "数据"}
TIER_ZH = {"routine": "常规", "case": "案件", "permanent": "永久"}
STATUS_ZH = {"archived": "已入库", "pending-metadata": "待补元数据", "attention": "需关注"}
PROBLEM_ZH = {"attention": "需关注", "pending_metadata": "待补元数据",
              "format_damaged": "文件损坏", "consistency_fail": "媒体时间与申报时间不符",
              "written_record_fail": "与笔录时间不符", "virus_not_clean": "病毒检查未通过",
              "virus_not_recorded": "无病毒检查记录", "device_faulty": "设备故障",
              "verification_failed": "抽检未通过"}
# Chart labels when no CJK font is installed: matplotlib would draw empty boxes for Chinese.
ACTIVITY_EN = {"日常巡查": "patrol", "调查取证": "investigation", "询问": "inquiry",
               "送达": "service", "听证": "hearing", "行政强制": "coercion",
               "现场勘验": "site inspection", "先行登记保存": "registered preservation",
               "扣押": "seizure", "查封": "sealing", "强制拆除": "demolition",
               "罚没": "confiscation", "投诉处置": "complaint", "其他": "other"}
_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC",
              "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
              "Droid Sans Fallback", "AR PL UMing CN", "AR PL UKai CN", "SimHei",
              "Microsoft YaHei", "PingFang SC")
_CJK_FILE_HINTS = ("notosanscjk", "notoserifcjk", "sourcehan", "wqy", "droidsansfallback",
                   "uming", "ukai", "simhei", "msyh")
MAX_ROWS = 200  # item lists in the HTML: a leader reads counts; the JSON has every row

_CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",
sans-serif;margin:24px 36px;color:#1d2733;background:#fff;line-height:1.5}
h1{font-size:26px;border-bottom:3px solid #a31d1d;padding-bottom:8px;margin-bottom:4px}
h2{font-size:20px;color:#a31d1d;margin-top:32px;border-left:5px solid #a31d1d;
padding-left:8px}
.meta{color:#5b6875;font-size:13px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #c5ccd3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #c5ccd3;border-radius:6px;padding:10px 16px;min-width:120px;
background:#f7f9fb}
.card b{display:block;font-size:24px;color:#1d2733}
.card.bad b{color:#a31d1d}
.note{color:#5b6875;font-style:italic}
img.chart{max-width:100%;border:1px solid #e1e5ea;margin:6px 0}
"""


# --- fonts and charts -------------------------------------------------------------------------
@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs, or None."""
    from matplotlib import font_manager

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((n for n in _CJK_FONTS if n in names), None)

    found = known()
    if found:
        return found
    # matplotlib's font cache predates fonts installed after it was built: add them now
    for path in font_manager.findSystemFonts():
        if any(h in path.lower().replace("-", "").replace("_", "") for h in _CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return known()


def _label(text: str, cjk: bool) -> str:
    if cjk or text.isascii():
        return text
    return ACTIVITY_EN.get(text) or text.encode("ascii", "ignore").decode().strip() or "?"


def _bar_png(title: tuple[str, str], labels: Sequence[str], values: Sequence[float],
             unit_label: tuple[str, str], font: str | None) -> str:
    """A horizontal bar chart as base64 PNG; ``title``/``unit_label`` are (Chinese, English)."""
    cjk = font is not None
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    shown = [_label(str(x), cjk) for x in labels]
    # findfont warns on every label that WenQuanYi has weight 500, not 400: harmless noise
    fm_log = logging.getLogger("matplotlib.font_manager")
    level = fm_log.level
    fm_log.setLevel(logging.ERROR)
    try:
        return _draw_bar(title, shown, values, unit_label, cjk, family)
    finally:
        fm_log.setLevel(level)


def _draw_bar(title: tuple[str, str], shown: list[str], values: Sequence[float],
              unit_label: tuple[str, str], cjk: bool, family: list[str]) -> str:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = 1.2 + 0.34 * max(len(shown), 1)
    # a bare Figure on the Agg canvas: no pyplot, so no global state and no display needed
    with rc_context({"font.family": family, "axes.unicode_minus": False}):
        fig = Figure(figsize=(8, height), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        pos = list(range(len(shown)))
        bars = ax.barh(pos, list(values), color="#2f6f9f")
        ax.set_yticks(pos, shown)
        ax.invert_yaxis()
        ax.set_title(title[0] if cjk else title[1])
        ax.set_xlabel(unit_label[0] if cjk else unit_label[1])
        ax.bar_label(bars, fmt="%g", padding=3, fontsize=8)
        ax.margins(x=0.12)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def charts(stats: dict) -> list[tuple[str, str]]:
    """(alt text, base64 PNG) of every chart that has data."""
    font = cjk_font()
    out = []
    units = stats["by_unit"]
    if units:
        out.append(("各单位录制时长", _bar_png(
            ("各单位录制时长（小时）", "Hours recorded by unit"),
            [_unit_name(stats, u) if font else ("unspecified" if u == "-" else u)
             for u in units],
            [units[u]["hours"] for u in units], ("小时", "hours"), font)))
    officers = sorted(stats["by_officer"].items(), key=lambda kv: (-kv[1]["hours"], kv[0]))
    if officers:
        top = officers[:20]
        out.append(("执法人员录制时长", _bar_png(
            ("执法人员录制时长（小时，前20名）", "Hours recorded by officer (top 20)"),
            [p for p, _ in top], [v["hours"] for _, v in top], ("小时", "hours"), font)))
    types = stats["totals"]["by_activity_type"]
    if types:
        ordered = sorted(types.items(), key=lambda kv: (-kv[1]["items"], kv[0]))
        out.append(("按活动类型的条目数", _bar_png(
            ("按活动类型的条目数", "Items by activity type"),
            [("未标注" if font else "unspecified") if t == "-" else t for t, _ in ordered],
            [v["items"] for _, v in ordered], ("条目", "items"), font)))
    tiers = stats["tiers"]
    if any(tiers.values()):
        out.append(("保管层级", _bar_png(
            ("保管层级（条目）", "Items by retention tier"),
            [TIER_ZH.get(t, t) if font else t for t in tiers],
            list(tiers.values()), ("条目", "items"), font)))
    return out


# --- HTML -------------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape("-" if value is None or value == "" else str(value))


def _unit_name(stats: dict, unit: str | None) -> str:
    if not unit or unit == "-":  # items still pending metadata may have no unit yet
        return "未标注单位"
    name = stats.get("unit_names", {}).get(unit)
    return f"{name}（{unit}）" if name else unit


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]],
           numeric: Sequence[int] = (), empty: str = "无。") -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="note">{_e(empty)}</p>' if empty else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for n, row in enumerate(rows):
        if n == MAX_ROWS:
            body.append(f'<tr><td colspan="{len(headers)}" class="note">另有 '
                        f'{len(rows) - MAX_ROWS} 行未列出，见 JSON 或 CSV 输出。</td></tr>')
            break
        cells = "".join(f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
                        for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _types(tally: dict) -> str:
    return "；".join(f"{'未标注' if t == '-' else t} {v['items']}"
                    + (f"（{v['hours']:g} 小时）" if v["hours"] else "")
                    for t, v in tally["by_activity_type"].items())


def _card(label: str, value: object, bad: bool = False) -> str:
    return f'<div class="card{" bad" if bad else ""}">{_e(label)}<b>{_e(value)}</b></div>'


def render_html(stats: dict) -> str:
    """The whole report as one self-contained HTML document."""
    s = stats
    t = s["totals"]
    cf = s["check_failures"]
    scope = _unit_name(s, s["unit"]) if s["unit"] else "全部单位"
    parts = [f"<h1>{TITLE}</h1>",
             f'<p class="meta">{s["year"]} 年度 · {_e(scope)} · 时区 {_e(s["zone"])}'
             + (f" · 生成于 {_e(s['generated_at'])}" if s.get("generated_at") else "")
             + "</p>",
             "<h2>概况</h2>",
             '<div class="cards">',
             _card("条目", t["items"]), _card("录制时长（小时）", t["hours"]),
             _card("逾期上传", s["late_offloads"]["total"], s["late_offloads"]["total"] > 0),
             _card("中断录像", s["interrupted"]["total"], s["interrupted"]["total"] > 0),
             _card("工作记录", s["work_records"]["total"]),
             _card("设备序号缺失", s["sequence_gaps"]["total_missing"],
                   s["sequence_gaps"]["total_missing"] > 0),
             _card("应录未录案件", s["unrecorded_cases"]["total"],
                   s["unrecorded_cases"]["total"] > 0),
             _card("有问题的条目", cf["items_with_problems"], cf["items_with_problems"] > 0),
             "</div>",
             _table(["类别", "条目"], [(KIND_ZH.get(k, k), n) for k, n in
                                       t["by_kind"].items()], (1,)),
             _table(["状态", "条目"], [(STATUS_ZH.get(k, k), n) for k, n in
                                       t["by_status"].items()], (1,))]
    images = dict(charts(s))

    def chart(alt: str) -> str:
        png = images.get(alt)
        return (f'<img class="chart" alt="{_e(alt)}" src="data:image/png;base64,{png}">'
                if png else "")

    parts += ["<h2>按单位</h2>", chart("各单位录制时长"),
              _table(["单位", "条目", "录制时长（小时）", "逾期上传", "按活动类型"],
                     [(_unit_name(s, u), v["items"], v["hours"], v["late"], _types(v))
                      for u, v in s["by_unit"].items()], (1, 2, 3)),
              "<h2>按活动类型</h2>", chart("按活动类型的条目数"),
              _table(["活动类型", "条目", "录制时长（小时）"],
                     [("未标注" if k == "-" else k, v["items"], v["hours"])
                      for k, v in t["by_activity_type"].items()], (1, 2)),
              "<h2>按执法人员</h2>", chart("执法人员录制时长"),
              _table(["执法人员", "条目", "主办", "协助", "录制时长（小时）", "主办时长",
                      "协助时长", "逾期上传", "按活动类型"],
                     [(p, v["items"], v["as_officer"], v["as_assisting"], v["hours"],
                       v["hours_as_officer"], v["hours_as_assisting"], v["late"], _types(v))
                      for p, v in s["by_officer"].items()], (1, 2, 3, 4, 5, 6, 7)),
              "<h2>按设备</h2>",
              _table(["设备", "单位", "条目", "录制时长（小时）", "逾期上传", "序号缺失",
                      "按活动类型"],
                     [(d, v["unit"], v["items"], v["hours"], v["late"], v["sequence_missing"],
                       _types(v)) for d, v in s["by_device"].items()], (2, 3, 4, 5))]

    late = s["late_offloads"]
    parts += ["<h2>逾期上传</h2>",
              f"<p>共 {late['total']} 个条目晚于规定期限上传。</p>",
              _table(["单位", "逾期条目"], [(_unit_name(s, u), n)
                                         for u, n in late["by_unit"].items()], (1,)),
              _table(["条目", "单位", "设备", "执法人员", "开始录制", "应上传期限"],
                     [(r["id"], r["unit"], r["device_id"], "、".join(r["officers"]),
                       r["recorded_start"], r["due"]) for r in late["items"]])]

    intr, wr = s["interrupted"], s["work_records"]
    parts += ["<h2>中断录像与工作记录</h2>",
              f"<p>同一设备在同一执法活动中分段录制的活动 {intr['total']} 个，其中无工作记录"
              f"说明的 {intr['without_work_record']} 个；工作记录共 {wr['total']} 份。</p>",
              _table(["执法活动", "活动类型", "单位", "设备（段数）", "中断时长（分钟）",
                      "工作记录"],
                     [(a["activity_id"], a["activity_type"], a["unit"],
                       "、".join(f"{d}（{n}）" for d, n in a["devices"].items()),
                       round(a["pause_seconds"] / 60, 1), a["work_records"])
                      for a in intr["activities"]], (4, 5)),
              _table(["执法活动", "工作记录"],
                     [("未关联活动" if a == "-" else a, n)
                      for a, n in wr["by_activity"].items()], (1,), "无工作记录。")]
    if wr["activities_without_recording"]:
        parts.append("<p>只有工作记录、无音像记录的执法活动："
                     + _e("、".join(wr["activities_without_recording"])) + "</p>")

    gaps = s["sequence_gaps"]
    parts += ["<h2>设备序号缺失</h2>",
              f"<p>检查设备 {gaps['devices_checked']} 台，缺失文件序号共 "
              f"{gaps['total_missing']} 个（可能是被删除的录像）。</p>",
              _table(["设备", "单位", "型号", "状态", "已收文件", "缺失数", "缺失序号"],
                     [(g["device_id"], g["unit"], g["model"], g["status"], g["files_seen"],
                       g["missing"], ", ".join(map(str, g["gaps"]))) for g in gaps["devices"]],
                     (4, 5))]

    cases = s["unrecorded_cases"]
    parts.append("<h2>应录未录案件</h2>")
    parts.append(f"<p>需全程音像记录的活动类型：{_e('、'.join(s['required_activity_types']))}。"
                 "</p>")
    if not cases["register_size"]:
        parts.append('<p class="note">案件登记簿为空（尚未导入），无法核对。</p>')
    else:
        parts += [f"<p>本年度案件 {cases['considered']} 件，含需录制活动的 "
                  f"{cases['requiring_recording']} 件，其中有应录未录活动的 "
                  f"{cases['total']} 件（{cases.get('missing_activities', cases['total'])} "
                  "项活动）。</p>",
                  _table(["案件编号", "单位", "立案", "结案", "应录未录的活动", "其他材料"],
                         [(c["id"], _unit_name(s, c["unit"]), c["opened"], c["closed"],
                           "、".join(c["required"]), c["other_items"])
                          for c in cases["cases"]], (5,))]

    fl = s["flags"]
    parts += ["<h2>标记与保管层级</h2>",
              _table(["保管层级", "条目"], [(TIER_ZH.get(k, k), n)
                                         for k, n in s["tiers"].items()], (1,)),
              chart("保管层级"),
              f"<p>重要标记 {fl['important']} 个；带保管标记的条目共 {fl['flagged']} 个。</p>",
              _table(["标记", "条目"], list(fl["by_flag"].items()), (1,), "无保管标记。"),
              _table(["涉密类别", "条目"], list(fl["confidential"].items()), (1,), "")]

    parts += ["<h2>检查问题</h2>",
              _table(["问题", "条目"], [(PROBLEM_ZH[k], cf[k]) for k in PROBLEM_ZH], (1,)),
              _table(["条目", "单位", "设备", "开始录制", "问题"],
                     [(r["id"], r["unit"], r["device_id"], r["recorded_start"],
                       "、".join(PROBLEM_ZH.get(p, p) for p in r["problems"]))
                      for r in cf["items"]], empty="所有条目检查通过。")]

    v = s["verification"]
    parts.append("<h2>抽检结果</h2>")
    if not v["available"]:
        parts.append('<p class="note">检查台帐（抽样机读检验记录）尚未建立，暂无抽检结果。</p>')
    else:
        parts += [f"<p>本年度抽样机读检验 {v['inspections']} 次，检验条目 {v['items_checked']}"
                  f" 个，合格 {v['passed']} 个，不合格 {v['failed']} 个；回放检查 "
                  f"{v['conduct_checks']} 次。</p>",
                  _table(["不合格原因", "条目"], list(v["by_problem"].items()), (1,), ""),
                  _table(["检验", "时间", "条目", "问题"],
                         [(f["inspection"], f["at"], f["item_id"], "、".join(f["problems"]))
                          for f in v["failures"]], empty="无不合格条目。"),
                  _table(["回放检查发现", "次数"], list(v["conduct_by_finding"].items()), (1,),
                         "无回放检查发现。"),
                  _table(["执法人员", "回放检查发现"],
                         list(v["conduct_by_officer"].items()), (1,), "")]

    body = "\n".join(p for p in parts if p)
    return ("<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{TITLE} {s['year']}</title><style>{_CSS}</style></head>"
            f"<body>\n{body}\n</body></html>\n")


# --- CSV --------------------------------------------------------------------------------------
CSV_HEADER = ("section", "subject", "activity_type", "metric", "value")


def _tally_rows(section: str, groups: dict, extra: Sequence[str] = ()) -> list[tuple]:
    rows = []
    for key, v in groups.items():
        for metric in ("items", "hours", "late", *extra):
            rows.append((section, key, "", metric, v[metric]))
        for t, tv in v["by_activity_type"].items():
            rows.append((section, key, t, "items", tv["items"]))
            rows.append((section, key, t, "hours", tv["hours"]))
    return rows


def render_csv(stats: dict) -> str:
    """Long format, one figure a row (section, subject, activity type, metric, value): sorts,
    filters and pivots in any spreadsheet without knowing the report's shape."""
    s = stats
    rows: list[tuple] = [("report", s["unit"] or "", "", "year", s["year"])]
    rows += _tally_rows("total", {"": s["totals"]})
    rows += _tally_rows("unit", s["by_unit"])
    rows += _tally_rows("officer", s["by_officer"], ("as_officer", "as_assisting",
                                                     "hours_as_officer", "hours_as_assisting"))
    rows += _tally_rows("device", s["by_device"], ("sequence_missing",))
    late = s["late_offloads"]
    rows.append(("late_offloads", "", "", "total", late["total"]))
    rows += [("late_offloads", r["id"], r["activity_type"] or "", "due", r["due"])
             for r in late["items"]]
    intr = s["interrupted"]
    rows.append(("interrupted", "", "", "total", intr["total"]))
    rows.append(("interrupted", "", "", "without_work_record", intr["without_work_record"]))
    for a in intr["activities"]:
        rows.append(("interrupted", a["activity_id"], a["activity_type"] or "", "segments",
                     a["segments"]))
        rows.append(("interrupted", a["activity_id"], a["activity_type"] or "", "work_records",
                     a["work_records"]))
    rows.append(("work_records", "", "", "total", s["work_records"]["total"]))
    rows += [("work_records", a, "", "count", n)
             for a, n in s["work_records"]["by_activity"].items()]
    gaps = s["sequence_gaps"]
    rows.append(("sequence_gaps", "", "", "total_missing", gaps["total_missing"]))
    rows += [("sequence_gaps", g["device_id"], "", "missing", " ".join(map(str, g["gaps"])))
             for g in gaps["devices"]]
    cases = s["unrecorded_cases"]
    rows.append(("unrecorded_cases", "", "", "total", cases["total"]))
    rows += [("unrecorded_cases", c["id"], " ".join(c["required"]), "other_items",
              c["other_items"]) for c in cases["cases"]]
    rows += [("tiers", t, "", "items", n) for t, n in s["tiers"].items()]
    rows.append(("flags", "", "", "important", s["flags"]["important"]))
    rows += [("flags", f, "", "items", n) for f, n in s["flags"]["by_flag"].items()]
    cf = s["check_failures"]
    rows += [("check_failures", "", "", k, cf[k]) for k in PROBLEM_ZH]
    rows += [("check_failures", r["id"], "", "problems", " ".join(r["problems"]))
             for r in cf["items"]]
    v = s["verification"]
    rows += [("verification", "", "", k, v[k]) for k in (
        "available", "inspections", "items_checked", "passed", "failed", "conduct_checks")]
    rows += [("verification", f["item_id"], "", "failed", " ".join(f["problems"]))
             for f in v["failures"]]
    rows += [("conduct_checks", finding, "", "count", n)
             for finding, n in v["conduct_by_finding"].items()]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_HEADER)
    w.writerows(("" if x is None else x for x in r) for r in rows)
    return buf.getvalue()


# --- tables ---------------------------------------------------------------------------------
def _rich(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]
          ) -> tuple[str, list[str], list[list[str]]]:
    return title, list(headers), [["-" if x is None or x == "" else str(x) for x in r]
                                  for r in rows]


def table_sections(stats: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report as titled tables (title, headers, rows of text) for a terminal or a page."""
    s = stats
    t = s["totals"]
    cf = s["check_failures"]
    scope = _unit_name(s, s["unit"]) if s["unit"] else "全部单位"
    summary = [("条目", t["items"]), ("录制时长（小时）", t["hours"]),
               ("逾期上传", s["late_offloads"]["total"]),
               ("中断录像", s["interrupted"]["total"]),
               ("工作记录", s["work_records"]["total"]),
               ("设备序号缺失", s["sequence_gaps"]["total_missing"]),
               ("应录未录案件", s["unrecorded_cases"]["total"]),
               ("有问题的条目", cf["items_with_problems"]),
               ("抽检", "未建立" if not s["verification"]["available"]
                else f"{s['verification']['passed']}/{s['verification']['items_checked']} 通过")]
    return [
        _rich(f"{TITLE} {s['year']} · {scope}", ["项目", "数值"], summary),
        _rich("按单位", ["单位", "条目", "小时", "逾期", "按活动类型"],
              [(_unit_name(s, u), v["items"], v["hours"], v["late"], _types(v))
               for u, v in s["by_unit"].items()]),
        _rich("按执法人员", ["执法人员", "条目", "主办", "协助", "小时", "逾期"],
              [(p, v["items"], v["as_officer"], v["as_assisting"], v["hours"], v["late"])
               for p, v in s["by_officer"].items()]),
        _rich("按设备", ["设备", "单位", "条目", "小时", "逾期", "序号缺失"],
              [(d, v["unit"], v["items"], v["hours"], v["late"], v["sequence_missing"])
               for d, v in s["by_device"].items()]),
        _rich("逾期上传", ["条目", "单位", "设备", "开始录制", "期限"],
              [(r["id"], r["unit"], r["device_id"], r["recorded_start"], r["due"])
               for r in s["late_offloads"]["items"]]),
        _rich("中断录像与工作记录", ["执法活动", "活动类型", "设备（段数）", "工作记录"],
              [(a["activity_id"], a["activity_type"],
                "、".join(f"{d}（{n}）" for d, n in a["devices"].items()), a["work_records"])
               for a in s["interrupted"]["activities"]]),
        _rich("设备序号缺失", ["设备", "单位", "缺失序号"],
              [(g["device_id"], g["unit"], ", ".join(map(str, g["gaps"])))
               for g in s["sequence_gaps"]["devices"]]),
        _rich("应录未录案件", ["案件编号", "单位", "立案", "应录未录的活动"],
              [(c["id"], c["unit"], c["opened"], "、".join(c["required"]))
               for c in s["unrecorded_cases"]["cases"]]),
        _rich("标记与保管层级", ["项目", "条目"],
              [(f"保管层级：{TIER_ZH.get(k, k)}", n) for k, n in s["tiers"].items()]
              + [("重要标记", s["flags"]["important"])]
              + [(f"标记：{k}", n) for k, n in s["flags"]["by_flag"].items()]),
        _rich("检查问题", ["问题", "条目"], [(PROBLEM_ZH[k], cf[k]) for k in PROBLEM_ZH]),
        _rich("抽检结果", ["项目", "数值"],
              [("抽检台帐", "已建立" if s["verification"]["available"] else "未建立")]
              + [(label, s["verification"][k]) for k, label in (
                  ("inspections", "抽样机读检验（次）"), ("items_checked", "检验条目"),
                  ("passed", "合格"), ("failed", "不合格"),
                  ("conduct_checks", "回放检查（次）"))]),
    ]
