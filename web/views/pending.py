"""Pending metadata completed in a form; quarantined and rejected files with their reports.

Pages under /archivist/pending, /archivist/quarantine (archivists).

- The queue lists the items stored while waiting for metadata (``archive.access.lookup.
  pending_items``: masked, with what each lacks). An item's form takes the manifest's own
  fields; "check" shows what the completion will write (the new 题名, each changed field,
  the status it will have), judged by the manifest's reader (``ingest.completion.merged`` over
  ``ingest.manifest.parse_fields``): a value the manifest would refuse is refused here too,
  with the same reason. The completion itself is a ``metadata-version`` decision signed with
  the archivist's passkey (web/signing.py); performing it calls ``ingest.completion.complete``
  -- the very function ``custody pending complete`` calls -- with a one-row manifest naming
  the item, so the file reader, the merge, the title and the signed version are the command
  line's.
- Decisions the issue left open: an empty form field leaves the item's value as it is (a
  manifest row's empty cell does the same), so the form starts empty and shows the current
  value beside each field, masked as the item page masks it: nobody reads a hidden party by
  opening the form. Only an item still waiting for metadata can be completed here (a stored
  item's correction is another matter); the form refuses a row with any bad field before the
  passkey is asked, where the command line would write the good fields and list the bad ones:
  a person at a form fixes the field instead.
- The quarantine page lists the infected files kept aside (masked records, newest first) and,
  below, the files batches rejected (a format not allowed, not scanned) with their reasons,
  each linking to its batch's report (/archivist/batches/BATCH: every file's state and
  reasons, and the four-property checks as ``custody batch show`` prints them). The official
  四性检测报告 document exists only once issued (``custody batch show --pdf``), so the page
  reads the batch record itself rather than linking to /documents/.
- A refusal before the passkey (not pending, a bad field, nothing changed) is answered, not
  written to the ledger: the completion service has no role rule of its own to record, and
  the page only offers the decision to archivists.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from flask import Blueprint, g, render_template, request, url_for

import i18n
from archive.access.lookup import (
    item_title,
    masked_description,
    pending_items,
    present_row,
    quarantine_list,
    quarantine_show,
)
from archive.domain.errors import InputError
from archive.domain.model import ACTIVITY_TYPES, CONFIDENTIAL_CLASSES, status_after_version
from archive.domain.names import (
    CONFIDENTIAL_ZH,
    INGEST_STATE_ZH,
    KIND_ZH,
    STATUS_ZH,
    View,
    zh,
)
from archive.domain.titles import retitled
from archive.people import people_names
from i18n import N_
from ingest.batches import batch_report, list_batches
from scanners.problems import shown
from web.auth import role_required
from web.common import settings, view_of
from web.signing import Decision, Prepared, decision

bp = Blueprint("pending", __name__)
ROLES = ("archivist",)
archivist = role_required(*ROLES)

# the manifest's fields a person completes, in the order of the form, with the label each
# has (message ids); the stored keys stay the manifest's
FORM_FIELDS = (("unit", N_("Unit")), ("device_id", N_("Device")),
               ("officer_id", N_("Officers")), ("assisting", N_("Assisting staff")),
               ("recorded_start", N_("Recording start")), ("recorded_end", N_("Recording end")),
               ("party", N_("Party")), ("cause", N_("Cause")), ("case_id", N_("Case number")),
               ("activity_id", N_("Activity")), ("activity_type", N_("Activity type")),
               ("kind", N_("Kind")), ("confidential", N_("Confidential class")),
               ("title", N_("Title")), ("note", N_("Remarks")))
FIELD_NAMES = dict(FORM_FIELDS)
# what Description.missing() names, as the manifest's field that fills it
MISSING_FIELD = {"officers": "officer_id"}
# a file of a batch that was not stored and is not in the quarantine
REJECTED_STATES = ("rejected", "not-scanned")


# --- the queue and the form ---------------------------------------------------------------
def _view() -> View:
    return view_of()


@bp.get("/archivist/pending")
@archivist
def queue():
    rows = pending_items(g.archive, g.clearances)
    view = _view()
    items = {r["id"]: g.archive.catalog.get_item(r["id"]) for r in rows}
    people = people_names(g.archive.catalog, {o for r in rows for o in r.get("officers") or []})
    view = view.with_people(people)
    shown = [present_row(r, items[r["id"]], None, view)
             | {"missing_names": [FIELD_NAMES[MISSING_FIELD.get(m, m)] for m in r["missing"]]}
             for r in rows if items.get(r["id"]) is not None]
    return render_template("pending/queue.html", rows=shown,
                           done=request.args.get("done"))


def _pending_item(item_id: str):
    """The item, when it is waiting for metadata; refused otherwise (before any passkey)."""
    item = g.archive.item(item_id)
    if item.status != "pending-metadata":
        raise InputError(N_("item {item} is not waiting for metadata (it is {status})"),
                         subject=item_id, item=item_id,
                         status=i18n.Text("{text}", text=zh(STATUS_ZH, item.status)))
    return item


def _values(fields: dict) -> dict[str, str]:
    """The form's manifest fields, trimmed; empty ones left out (they change nothing)."""
    out = {}
    for name, _label in FORM_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    return out


def _judged(item, values: dict[str, str]):
    """What completing ``item`` with ``values`` writes: (the new description, the bad
    fields), judged by the manifest's reader exactly as ``custody pending complete``."""
    from ingest.completion import merged

    s = settings()
    desc, bad = merged(item, values, s)
    desc = retitled(desc, s.unit_zone(desc.unit), people_names(g.archive.catalog,
                                                               desc.officers))
    return desc, bad


class _Said(i18n.Text):
    """A problem the manifest's reader already worded: its English message for logs and
    JSON, the sentence it made in the reader's language for the page."""

    __slots__ = ("shown",)

    def __init__(self, record: dict) -> None:
        super().__init__("{text}", text=str(record.get("message", "")))
        self.shown = shown(record)

    def localized(self) -> str:
        return self.shown


def _refuse_bad(item_id: str, bad: list[dict]) -> None:
    if bad:
        raise InputError(N_("not completed: {reason}"), subject=item_id, reason=_Said(bad[0]))


def _changes(item, desc, view: View) -> list[dict]:
    """Field by field, what the completion changes: the value now (masked as this reader
    may see it) and the value it will have."""
    before = masked_description(item, g.clearances)
    after = desc.to_dict()
    out = []
    for key in ("unit", "device_id", "officers", "assisting", "recorded_start", "recorded_end",
                "party", "cause", "case_id", "activity_id", "activity_type", "kind",
                "confidential", "title", "note"):
        if after.get(key) == item.description.to_dict().get(key):
            continue
        out.append({"field": key,
                    "label": FIELD_NAMES[{"officers": "officer_id"}.get(key, key)],
                    "before": _shown_value(key, before.get(key), item.description.unit, view),
                    "after": _shown_value(key, after.get(key), desc.unit, view)})
    return out


def _shown_value(key: str, value, unit: str | None, view: View) -> str:
    if value in (None, "", [], {}):
        return "—"
    if key in ("officers", "assisting"):
        return "、".join(view.person(p) for p in value)
    if key in ("recorded_start", "recorded_end"):
        return view.time(value, unit)
    if key == "unit":
        return view.unit(value)
    if key == "kind":
        return zh(KIND_ZH, value)
    if key == "confidential":
        return zh(CONFIDENTIAL_ZH, value)
    return str(value)


def _form_page(item, values: dict[str, str], preview: dict | None, status: int = 200):
    view = _view()
    d = item.description
    people = people_names(g.archive.catalog, {*d.officers, *d.assisting})
    view = view.with_people(people)
    current = masked_description(item, g.clearances)
    now = {"unit": view.unit(d.unit), "device_id": current.get("device_id"),
           "officer_id": "、".join(view.person(p) for p in d.officers),
           "assisting": "、".join(view.person(p) for p in d.assisting),
           "recorded_start": view.time(current.get("recorded_start"), d.unit),
           "recorded_end": view.time(current.get("recorded_end"), d.unit),
           "party": current.get("party"), "cause": current.get("cause"),
           "case_id": current.get("case_id"), "activity_id": current.get("activity_id"),
           "activity_type": current.get("activity_type"), "kind": zh(KIND_ZH, d.kind),
           "confidential": zh(CONFIDENTIAL_ZH, d.confidential),
           "title": current.get("title"), "note": current.get("note")}
    missing = [MISSING_FIELD.get(m, m) for m in d.missing()]
    title = item_title(g.archive, g.clearances, item.id, view)
    s = settings()
    return render_template(
        "pending/item.html", item=item, title=title, kind=zh(KIND_ZH, d.kind),
        fields=FORM_FIELDS, values=values,
        now=now, missing=missing, missing_names=[FIELD_NAMES[m] for m in missing],
        preview=preview,
        original_name=current["original_name"],
        units=[(u, r.get("name") or u) for u, r in s.units.items()],
        activity_types=ACTIVITY_TYPES, kinds=KIND_ZH,
        confidential=[(c, CONFIDENTIAL_ZH.get(c, c)) for c in CONFIDENTIAL_CLASSES],
        zone=view.zone(d.unit)), status


@bp.get("/archivist/pending/<item_id>")
@archivist
def item_form(item_id: str):
    return _form_page(_pending_item(item_id), {}, None)


@bp.post("/archivist/pending/<item_id>")
@archivist
def item_check(item_id: str):
    """The form checked: what the completion will write, or the field the manifest's reader
    refuses (the page again, the values kept)."""
    item = _pending_item(item_id)
    values = _values(request.form)
    desc, bad = _judged(item, values)
    problems = [{"label": FIELD_NAMES.get(p["field"], p["field"]),
                 "text": shown(p)} for p in bad]
    if bad or not values:
        if not values:
            problems.append({"label": "", "text": i18n._("fill in at least one field")})
        return _form_page(item, values, {"problems": problems}, 400)
    if desc.to_dict() == item.description.to_dict():
        problems.append({"label": "", "text": i18n._("the completion changes nothing")})
        return _form_page(item, values, {"problems": problems}, 400)
    view = _view().with_people(people_names(g.archive.catalog, {*desc.officers,
                                                                 *desc.assisting}))
    status = status_after_version(desc, item.status, item.checks)
    preview = {"problems": [], "changes": _changes(item, desc, view), "title": desc.title,
               "status": status, "status_zh": zh(STATUS_ZH, status),
               "missing": [FIELD_NAMES[MISSING_FIELD.get(m, m)] for m in desc.missing()],
               "version": item.version + 1}
    return _form_page(item, values, preview)


# --- the signed completion ----------------------------------------------------------------
def _prepare(fields: dict) -> Prepared:
    item_id = str(fields.get("item") or "")
    item = _pending_item(item_id)
    values = _values(fields)
    if not values:
        raise InputError(N_("fill in at least one field"), subject=item_id)
    desc, bad = _judged(item, values)
    _refuse_bad(item_id, bad)
    if desc.to_dict() == item.description.to_dict():
        raise InputError(N_("item {item}: the correction changes nothing"), subject=item_id,
                         item=item_id)
    status = status_after_version(desc, item.status, item.checks)
    # what the archivist signs: the item, its version, the values given as typed (the
    # manifest row) and what they make of it
    details = {"item": item_id, "version": item.version + 1, "title": desc.title,
               "fields": values, "status": status, "status_zh": zh(STATUS_ZH, status),
               "reason": "metadata completed"}
    return Prepared("metadata-version", item_id, details, {"item": item_id, "values": values})


def _perform(actor, kept: dict) -> str:
    """``custody pending complete`` with a one-row manifest naming the item."""
    from ingest.completion import complete

    row = {"item_id": kept["item"]} | kept["values"]
    with tempfile.TemporaryDirectory(prefix="custody-completion-") as tmp:
        path = Path(tmp) / "completion.json"
        path.write_text(json.dumps([row], ensure_ascii=False), encoding="utf-8")
        result = complete(g.archive, settings(), actor, path)
    if not result["completed"]:
        p = result["problems"][0] if result["problems"] else None
        raise InputError(N_("not completed: {reason}"), subject=kept["item"],
                         reason=_Said(p or {"message": "-"}))
    return url_for("pending.queue", done=kept["item"])


COMPLETE = decision(Decision(name="metadata-complete", prepare=_prepare, perform=_perform,
                             roles=ROLES))


# --- quarantine and rejected files --------------------------------------------------------
def _rejected(view: View) -> list[dict]:
    """Files of every batch that were neither stored nor quarantined, with their reasons."""
    out = []
    for b in list_batches(g.archive):
        if not any(b["counts"].get(s) for s in REJECTED_STATES):
            continue
        doc = batch_report(g.archive, b["batch_id"])
        for f in doc["files"]:
            if f["state"] in REJECTED_STATES:
                out.append({"batch": b["batch_id"], "station": b.get("station"),
                            "file": f["file"], "state": f["state"],
                            "state_zh": INGEST_STATE_ZH.get(f["state"], f["state"]),
                            "reasons": [_reason(r) for r in f["reasons"]],
                            "at": view.time(b["started_at"])})
    return out


def _reason(r: dict) -> str:
    return shown(r)


@bp.get("/archivist/quarantine")
@archivist
def quarantine():
    view = _view()
    rows = sorted(quarantine_list(g.archive, g.clearances), key=lambda r: r.get("at") or "",
                  reverse=True)
    shown = [r | {"at_local": view.time(r.get("at")),
                  "reasons_text": [_reason(x) for x in r.get("reasons", [])]} for r in rows]
    return render_template("pending/quarantine.html", rows=shown, rejected=_rejected(view),
                           zone=view.zone())


@bp.get("/archivist/batches/<batch_id>")
@archivist
def batch(batch_id: str):
    """One batch's report: every file's state and reasons, and its four-property checks as
    ``custody batch show`` prints them."""
    from ingest.batches import render_batch_zh

    view = _view()
    doc = batch_report(g.archive, batch_id)
    titles = {f["item_id"]: item_title(g.archive, g.clearances, f["item_id"], view)
              for f in doc["files"] if f.get("item_id")}
    files = [{"file": f["file"], "state": f["state"],
              "state_zh": INGEST_STATE_ZH.get(f["state"], f["state"]),
              "item": f.get("item_id"), "title": titles.get(f.get("item_id")),
              "reasons": [_reason(r) for r in f["reasons"]]} for f in doc["files"]]
    return render_template("pending/batch.html", doc=doc, files=files,
                           started=view.time(doc.get("started_at")),
                           finished=view.time(doc.get("finished_at")), zone=view.zone(),
                           text=render_batch_zh(doc, settings().unit_zone(None)))


@bp.get("/archivist/quarantine/<path:entry>")
@archivist
def quarantine_entry(entry: str):
    view = _view()
    doc = quarantine_show(g.archive, g.clearances, entry)
    people = people_names(g.archive.catalog, {doc.get("by")} - {None})
    virus = doc.get("checks", {}).get("virus", {})
    return render_template(
        "pending/entry.html", doc=doc, at=view.time(doc.get("at")),
        by=view.with_people(people).person(doc["by"]) if doc.get("by") else "—",
        reasons=[_reason(x) for x in doc.get("reasons", [])], virus=virus,
        state_zh=INGEST_STATE_ZH.get(doc.get("state"), doc.get("state")),
        report=json.dumps(doc, ensure_ascii=False, indent=2), zone=view.zone())

