"""The year's cycle at a glance: what blocks the handover and the archiving, deadlines.

Pages under /archivist/cycle (archivists): ``/archivist/cycle?year=N`` -- the phase, each
unit's two deadlines in its own zone with the days left, and every blocker with its count, a
link to the items behind it (``/archivist/cycle/N/BLOCKER``: 题名, 档号, state, masked as
search masks) and a link to the page that clears it; and a "replicate now" button that starts
the ``replicate`` job (working/upkeep.py).

What the year's state is comes from the services: ``retention.cycle.status`` (the same as
``custody cycle status``: pending metadata, attention, transfer, withheld, codes, manifest),
to which this page adds what the issue also names as holding the year up, each read from its
own service: open cases (``retention.cases.list_cases``: a case without a closing date with
items of the year), unconfirmed flags (``retention.flags.list_flags``: state ``unconfirmed``
over items of the year) and permanent items not yet on a disc (``retention.discs.candidates``,
what ``custody disc build --year N`` would write).

Decisions the issue left open:
- The default year is the last one over in the archive's zone (in January-June that is the
  year whose handover and archiving are under way); any year can be asked.
- Days left count whole days in the unit's zone to the deadline (handover: before 1 March,
  i.e. 00:00 of that day; archiving: to the end of 30 June); negative: days overdue.
- Which deadline each blocker holds up: pending metadata, attention items and the transfer's
  own steps hold up the handover; open cases and unconfirmed flags (the retention period a
  档号 records is not settled while they are open), items not on disc, codes and the yearly
  manifest hold up the archiving.
- Pages the other helpers build are linked by path when their endpoint does not exist yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from werkzeug.routing import BuildError

import bootstrap
import i18n
from archive.access import lookup
from archive.domain.errors import InputError
from archive.people import people_names
from i18n import N_
from web.auth import role_required
from web.common import settings, view_of
from web.views import jobs as jobs_view
from working.jobs import Jobs

bp = Blueprint("cycle", __name__)

# a finished replication's result is read on the cycle page (its second-copy panel)
jobs_view.RESULT_PAGES["replicate"] = lambda job: url_for("cycle.page")
ROLES = ("archivist",)
archivist = role_required(*ROLES)
SHOWN_ITEMS = 500  # the item list of a blocker shows this many, and says how many more

# each blocker: what it is called (message id), the deadline it holds up, the page that
# clears it (endpoint, path when that endpoint is not there) and what is done there
BLOCKERS = {
    "pending-metadata": (N_("Pending metadata"), "handover",
                         ("pending.queue", "/archivist/pending"), N_("Complete the metadata")),
    "attention": (N_("Items needing attention"), "handover",
                  ("handover.transfer", "/archivist/transfer"),
                  N_("Checked again when the transfer is prepared")),
    "no-transfer": (N_("No transfer prepared"), "handover",
                    ("handover.transfer", "/archivist/transfer"), N_("Prepare the transfer")),
    "transfer-not-accepted": (N_("Transfer not accepted"), "handover",
                              ("handover.transfer", "/archivist/transfer"),
                              N_("Accept the transfer")),
    "withheld": (N_("Items withheld from the transfer"), "handover",
                 ("handover.transfer", "/archivist/transfer"),
                 N_("Clear the reasons, then prepare the transfer again")),
    "not-transferred": (N_("Items in no accepted transfer"), "handover",
                        ("handover.transfer", "/archivist/transfer"),
                        N_("Prepare and accept a transfer")),
    "open-cases": (N_("Open cases"), "archiving", ("cases.cases", "/archivist/cases"),
                   N_("Close the case")),
    "unconfirmed-flags": (N_("Unconfirmed flags"), "archiving",
                          ("cases.flags", "/archivist/flags"),
                          N_("Confirm or withdraw the flag")),
    "not-on-disc": (N_("Permanent items not on a disc"), "archiving",
                    ("handover.discs", "/archivist/discs"), N_("Write the discs")),
    "uncoded": (N_("Items without an archive code"), "archiving",
                ("handover.archiving", "/archivist/archiving"), N_("Finalize the year")),
    "not-finalized": (N_("Year not finalized"), "archiving",
                      ("handover.archiving", "/archivist/archiving"), N_("Finalize the year")),
    "manifest-stale": (N_("Yearly manifest out of date"), "archiving",
                       ("handover.archiving", "/archivist/archiving"),
                       N_("Finalize the year again")),
}
DEADLINES = {"handover": N_("Handover"), "archiving": N_("Archiving")}


def _link(endpoint: str, path: str, **values: object) -> str:
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return path


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _policy():
    return bootstrap.cycle_policy(settings())


def _year(policy, now: datetime) -> int:
    raw = request.args.get("year", "").strip()
    if not raw:
        return now.astimezone(policy.zone).year - 1
    if not raw.isdigit() or not 1900 <= int(raw) <= 9999:
        raise InputError(N_("year {year!r}: give a year such as 2025"), year=raw)
    return int(raw)


def glance(year: int, now: datetime) -> dict:
    from retention import cycle as cycle_mod

    return cycle_mod.glance(g.archive, bootstrap.retention_engine(g.archive, settings()),
                            _policy(), year, now)


def _deadlines(st: dict, year: int, now: datetime) -> list[dict]:
    """Each unit's two deadlines in its zone: the last day on which the step may still be
    done and the whole days left until it (0: today is that day; negative: days overdue).
    The archive's zone alone when the year has no item yet."""
    policy = _policy()
    view = view_of()
    units = [u["unit"] for u in st["units"]] or [None]
    out = []
    for unit in units:
        code = None if unit in (None, "-") else unit
        zone = policy.zone_of(code)
        today = now.astimezone(zone).date()
        for kind, due in (("handover", policy.handover_deadline(year, code)),
                          ("archiving", policy.archiving_deadline(year, code))):
            # both deadlines are 00:00 of the day after the last day allowed, in that zone
            last_day = due.astimezone(zone).date() - timedelta(days=1)
            out.append({"unit": view.unit(code) if code else "—", "unit_code": code or "",
                        "deadline": kind, "due": due.isoformat(),
                        "last_day": last_day.isoformat(), "zone": view.zone(code),
                        "days_left": (last_day - today).days, "passed": now >= due})
    return out


def _shown_blockers(st: dict) -> list[dict]:
    out = []
    for b in st["blockers"]:
        name, holds, (endpoint, path), action = BLOCKERS.get(
            b["code"], (b["code"], "archiving", ("cycle.page", "/archivist/cycle"), ""))
        out.append(b | {"name": name, "holds": holds, "action": action,
                        "action_url": _link(endpoint, path),
                        "items_url": url_for("cycle.items", year=st["year"], code=b["code"])
                        if b.get("items") else None})
    return out


@bp.get("/archivist/cycle")
@archivist
def page():
    now = _now()
    policy = _policy()
    year = _year(policy, now)
    st = glance(year, now)
    replica = bool(settings().section("replica").get("backend"))
    jobs = Jobs(g.console.state)
    running = jobs.active("replicate", "replica")
    last = next(iter(jobs.list(kind="replicate", limit=1)), None)
    return render_template("cycle/page.html", st=st, year=year, now=view_of().time(now),
                           zone=view_of().zone(), blockers=_shown_blockers(st),
                           deadlines=_deadlines(st, year, now), deadline_names=DEADLINES,
                           replica=replica, running=running, last=_last_run(last),
                           overdue=[o | {"name": DEADLINES[o["deadline"]],
                                         "unit": view_of().unit(o["unit"]) or o["unit"]}
                                    for o in st["overdue"]])


@bp.get("/archivist/cycle/<int:year>/<code>")
@archivist
def items(year: int, code: str):
    """The items behind one blocker of the year, by 题名 and 档号 (masked as search masks)."""
    if code not in BLOCKERS:
        raise InputError(N_("no blocker {code!r}"), code=code)
    st = glance(year, _now())
    found = next((b for b in st["blockers"] if b["code"] == code), None)
    ids = (found or {}).get("items", [])
    rows = lookup.item_rows(g.archive, g.clearances, ids[:SHOWN_ITEMS], view_of())
    reasons = (found or {}).get("reasons", {})
    name, holds, (endpoint, path), action = BLOCKERS[code]
    return render_template("cycle/items.html", year=year, code=code, name=name, rows=rows,
                           total=len(ids), reasons=reasons, action=action,
                           action_url=_link(endpoint, path), holds=DEADLINES[holds])


def _last_run(job: dict | None) -> dict | None:
    """The latest replication job as the page sums it up (who, when, how it ended, what it
    copied)."""
    if job is None:
        return None
    from working import jobs as jobs_mod

    view = view_of()
    names = people_names(g.archive.catalog, {job["started_by"]})
    result = job.get("result") or {}
    return {"id": job["id"], "status": job["status"],
            "status_text": i18n._(jobs_mod.STATUS_NAMES[job["status"]]),
            "by": view.with_people(names).person(job["started_by"]),
            "at": view.time(job.get("ended") or job["created"]),
            "items": result.get("items_copied"),
            "versions": (result.get("versions") or {}).get("copied"),
            "failed": len(result.get("failed") or [])}


@bp.post("/archivist/cycle/replicate")
@archivist
def replicate():
    """Start the replication job (the same service as ``custody replicate``; the service
    checks the role again and records a refusal)."""
    from working import upkeep

    job, created = Jobs(g.console.state).submit(
        upkeep.REPLICATE, {"full": request.form.get("full") == "1",
                           "sign_in": (session.get("sign_in") or {}).get("assertion")},
        g.person.id, "console")
    if created:
        jobs_view.start_runner(job)
    return redirect(url_for("jobs.show", job_id=job["id"]), code=303)

