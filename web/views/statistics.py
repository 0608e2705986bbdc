"""The year's statistics for a unit: the weak spots, with charts, each figure linking to its items.

Pages under /audit/statistics.

A page, not a background job: ``reports.statistics.year_report`` (what ``custody report``
prints) keeps each item's row and brings the figures up to date from the changed items
only, so a year's figures come back in the time of a page (issue 17). The figures are
masked for the reader's clearances as at the command line.

Each figure links to the items behind it: to ``/search`` where a search expresses it (an
activity's recordings, a case's items, a device's recordings of the year), to the ledger
for playback findings, and otherwise to ``/audit/statistics/items`` (late offloads, faulty
devices, verification failures: ``reports.statistics.figure_items`` names their items), or
to ``/audit/statistics/list`` for what the report counts by activity or case (interrupted
recordings without a work record, 应录未录), each row then linking to its search.

Readers: auditors, 法制股 (legal), leaders (approver) and archivists -- the people the
report is for; nobody else is offered it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, g, render_template, request, url_for

from archive.access import lookup
from archive.domain.errors import InputError
from archive.domain.names import KIND_ZH
from archive.people import people_names
from i18n import N_, _
from reports import statistics as report
from web.auth import role_required
from web.charts import bar_chart
from web.common import settings, view_of

bp = Blueprint("statistics", __name__)
READERS = ("auditor", "legal", "approver", "archivist")
NONE = report.NONE_KEY
LIST_LIMIT = 500  # rows on one list page; the CLI's --format csv gives them all


def _year_unit(args) -> tuple[int, str | None]:
    raw = (args.get("year") or "").strip()
    if not raw:
        zone = settings().unit_zone(None)
        return datetime.now(zone or timezone.utc).year, (args.get("unit") or None)
    if not raw.isdigit() or not 1900 <= int(raw) <= 9999:
        raise InputError(N_("the year must be a number such as 2026, not {value!r}"),
                         value=raw)
    return int(raw), (args.get("unit") or "").strip() or None


def _stats(year: int, unit: str | None) -> dict:
    return report.year_report(g.archive.catalog, settings(), year, unit, g.clearances)


def _period(year: int) -> dict:
    return {"from": f"{year}-01-01", "to": f"{year}-12-31"}


def _search_year(year: int) -> dict:
    """The year as /search reads a period: from its first day up to the next year's."""
    return {"from": f"{year}-01-01", "to": f"{year + 1}-01-01"}


def _items_link(year: int, unit: str | None, figure: str, key: str = "") -> str:
    return url_for("statistics.items", year=year, figure=figure,
                   **({"unit": unit} if unit else {}), **({"key": key} if key else {}))


def _list_link(year: int, unit: str | None, what: str, key: str = "") -> str:
    return url_for("statistics.listing", year=year, what=what,
                   **({"unit": unit} if unit else {}), **({"key": key} if key else {}))


def _figures(stats: dict, year: int, unit: str | None) -> tuple[list[dict], list]:
    """The cards (label, value, link) and the charts of the page."""
    view = view_of().with_people(people_names(
        g.archive.catalog, set(stats["late_offloads"]["by_officer"])
        | set(stats["verification"]["conduct_by_officer"])))
    late = stats["late_offloads"]
    interrupted = stats["interrupted"]
    unrecorded = stats["unrecorded_cases"]
    gaps = stats["sequence_gaps"]
    faulty = report.faulty_devices(stats)
    ver = stats["verification"]
    ledger = {"unit": unit} if unit else {}
    cards = [
        {"id": "late", "label": _("Late offloads"), "value": late["total"],
         "href": _items_link(year, unit, "late")},
        {"id": "unrecorded", "label": _("Activities required to be recorded but not (应录未录)"),
         "value": unrecorded["missing_activities"],
         "href": _list_link(year, unit, "unrecorded")},
        {"id": "interrupted", "label": _("Interrupted recordings without a work record"),
         "value": interrupted["without_work_record"],
         "href": _list_link(year, unit, "interrupted")},
        {"id": "gaps", "label": _("Missing device file numbers"),
         "value": gaps["total_missing"], "href": "#chart-gaps"},
        {"id": "faulty", "label": _("Faulty devices"), "value": len(faulty),
         "href": _items_link(year, unit, "faulty")},
        {"id": "verification", "label": _("Items failing sampled verification"),
         "value": ver["failed"], "href": _items_link(year, unit, "verification")},
        {"id": "findings", "label": _("Playback findings"), "value": ver["conduct_checks"],
         "href": url_for("inspections.ledger", **_period(year), **ledger)},
    ]
    charts = [
        bar_chart("chart-late-unit", _("Late offloads by unit"),
                  [(view.unit(u) if u != NONE else "—", n, _items_link(year, unit, "late",
                                                                       f"unit:{u}"))
                   for u, n in late["by_unit"].items()]),
        bar_chart("chart-late-officer", _("Late offloads by officer"),
                  [(view.person(p), n, _items_link(year, unit, "late", f"officer:{p}"))
                   for p, n in late["by_officer"].items()]),
        bar_chart("chart-unrecorded", _("Required but unrecorded, by activity type"),
                  [(t, n, _list_link(year, unit, "unrecorded", t))
                   for t, n in unrecorded["by_activity_type"].items()]),
        bar_chart("chart-interrupted", _("Interrupted recordings without a work record, by "
                                         "activity type"),
                  [(t if t != NONE else "—", n, _list_link(year, unit, "interrupted", t))
                   for t, n in _interrupted_by_type(interrupted).items()]),
        bar_chart("chart-gaps", _("Missing file numbers by device"),
                  [(r["device_id"], r["missing"],
                    url_for("search.search", device=r["device_id"], **_search_year(year),
                            **({"unit": unit} if unit else {})))
                   for r in gaps["devices"]]),
        bar_chart("chart-faulty", _("Faulty devices: items whose device check failed"),
                  [(d, n, _items_link(year, unit, "faulty", d)) for d, n in faulty.items()]),
        bar_chart("chart-verification", _("Sampled verification failures by problem"),
                  [(_problem_name(c), n, _items_link(year, unit, "verification", c))
                   for c, n in ver["by_problem"].items()]),
        bar_chart("chart-findings", _("Playback findings by officer"),
                  [(view.person(p), n, url_for("inspections.ledger", officer=p,
                                               **_period(year), **ledger))
                   for p, n in ver["conduct_by_officer"].items()]),
    ]
    return cards, charts


def _interrupted_by_type(interrupted: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in interrupted["activities"]:
        if not a["work_records"]:
            t = a["activity_type"] or NONE
            out[t] = out.get(t, 0) + 1
    return out


def _problem_name(code: str) -> str:
    from archive.domain.names import CHECK_PROBLEM_ZH

    return CHECK_PROBLEM_ZH.get(code, code)


@bp.get("/audit/statistics")
@role_required(*READERS)
def page():
    year, unit = _year_unit(request.args)
    stats = _stats(year, unit)
    cards, charts = _figures(stats, year, unit)
    s = settings()
    return render_template(
        "statistics/page.html", year=year, unit=unit, stats=stats, cards=cards,
        charts=charts, units=[(u, r.get("name") or u) for u, r in s.units.items()],
        unit_name=view_of().unit(unit) if unit else _("all units"))


def _item_rows(ids: list[str]) -> list[dict]:
    items = [i for i in (g.archive.catalog.get_item(x) for x in ids[:LIST_LIMIT]) if i]
    view = view_of().with_people(people_names(
        g.archive.catalog, {p for i in items for p in i.description.officers}))
    codes = g.archive.catalog.archive_codes_of(i.id for i in items)
    return [{"id": i.id, "code": codes.get(i.id),
             "title": lookup.item_title(g.archive, g.clearances, i.id, view) or i.id,
             "kind": KIND_ZH.get(i.description.kind, i.description.kind),
             "unit": view.unit(i.description.unit),
             "device": i.description.device_id or "—",
             "officers": [view.person(p) for p in i.description.officers],
             "start": view.time(i.description.recorded_start, i.description.unit)}
            for i in items]


FIGURE_TITLES = {"late": N_("Late offloads"), "faulty": N_("Items whose device check failed"),
                 "verification": N_("Items failing sampled verification"),
                 "problem": N_("Items with a check failure")}


@bp.get("/audit/statistics/items")
@role_required(*READERS)
def items():
    """The items behind one figure (``reports.statistics.figure_items``)."""
    year, unit = _year_unit(request.args)
    figure = (request.args.get("figure") or "").strip()
    key = (request.args.get("key") or "").strip()
    ids = report.figure_items(_stats(year, unit), figure, key)
    return render_template(
        "statistics/items.html", year=year, unit=unit, figure=figure, key=_key_shown(key),
        unit_name=view_of().unit(unit),
        title=_(FIGURE_TITLES[figure]), rows=_item_rows(ids), total=len(ids),
        limit=LIST_LIMIT, back=url_for("statistics.page", year=year,
                                       **({"unit": unit} if unit else {})))


def _key_shown(key: str) -> str:
    """A bar's key as people read it: a unit or a person by name, a problem by its name."""
    field, _sep, value = key.partition(":")
    if field == "unit" and value:
        return view_of().unit(value)
    if field == "officer" and value:
        return view_of().with_people(people_names(g.archive.catalog, {value})).person(value)
    return _problem_name(value if field == "device" else key) if key else ""


@bp.get("/audit/statistics/list")
@role_required(*READERS)
def listing():
    """What the report counts by activity (interrupted recordings without a work record) or
    by case (应录未录), each row linking to its items in the search."""
    year, unit = _year_unit(request.args)
    what = (request.args.get("what") or "").strip()
    key = (request.args.get("key") or "").strip()
    stats = _stats(year, unit)
    view = view_of()
    rows = []
    if what == "interrupted":
        for a in stats["interrupted"]["activities"]:
            if a["work_records"] or (key and (a["activity_type"] or NONE) != key):
                continue
            rows.append({"id": a["activity_id"], "type": a["activity_type"] or "—",
                         "unit": view.unit(a["unit"]), "count": a["segments"],
                         "detail": _("paused {minutes} min in all").format(
                             minutes=round(a["pause_seconds"] / 60, 1)),
                         "href": url_for("search.search", activity=a["activity_id"])})
        title = _("Interrupted recordings without a work record")
    elif what == "unrecorded":
        for c in stats["unrecorded_cases"]["cases"]:
            if key and key not in c["missing"]:
                continue
            rows.append({"id": c["id"], "type": "、".join(c["missing"]),
                         "unit": view.unit(c["unit"]),
                         "count": len(c["missing"]),
                         "detail": _("opened {opened}").format(opened=c["opened"] or "—"),
                         "href": url_for("search.search", case=c["id"])})
        title = _("Activities required to be recorded but not (应录未录)")
    else:
        raise InputError(N_("no list {what!r} (lists: interrupted, unrecorded)"), what=what)
    return render_template(
        "statistics/list.html", year=year, unit=unit, what=what, key=key, title=title,
        unit_name=view_of().unit(unit),
        rows=rows[:LIST_LIMIT], total=len(rows),
        back=url_for("statistics.page", year=year, **({"unit": unit} if unit else {})))
