"""Handover (移交), archiving with 档号, discs: the archivists' pages of the annual cycle.

- ``/archivist/transfer?year=N`` — the year's state, the preparation started as a background
  job (``working.handover``: every item re-read, the package written, nothing filed), the
  draft's 移交清单 shown, and filed by the archivist who started it with their passkey
  (``transfer-prepared``); the receiving archivist checks the package (四性检测, on the package
  alone) and accepts with their passkey (``transfer-accepted``); the 移交清单 and the 登记表 as
  signed documents, shown in the console and fetched as PDF.
- ``/archivist/archiving?year=N`` — finalize with 档号 (signed: ``year-finalized``), then the
  codes of the year by 题名.
- ``/archivist/discs`` — the disc-build job, the inventory, a disc image's check, where a
  disc is kept, its 光盘标签.

What the issue left open, decided here:
- the person who started the preparation job is the one who signs it as prepared (the
  package's signed manifest names them as the preparer); another archivist accepts it;
- the receiver's check and a disc's check run in the request (the same read that
  ``transfer accept`` makes in its request anyway), not as jobs;
- the 登记表 is offered only once the transfer is accepted: an issued document is kept as
  issued, and before acceptance it would carry no receiver;
- the console keeps a transfer package under the job's folder and disc images under
  ``<home>/work/discs`` (the command line writes where ``--to`` says);
- the console reads the real clock: no page takes a date to act as of.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import bootstrap
import i18n
from archive.access.lookup import item_title
from archive.domain.errors import InputError, NotFound, ProblemFound
from archive.people import people_names
from documents import issue
from retention import codes as codes_mod
from retention import cycle as cycle_mod
from retention import discs as discs_mod
from retention import transfer as tr
from retention.handover import PROPERTIES, PROPERTY_ZH, RESULT_ZH
from web.auth import role_required
from web.common import settings, view_of
from web.signing import Decision, Prepared, decision
from web.views import jobs as jobs_view
from working import handover as work
from working.jobs import JobRefused, Jobs

bp = Blueprint("handover", __name__)
ROLES = ("archivist",)
archivist = role_required(*ROLES)
# the official documents these pages offer (documents/retention_docs.py)
DOCUMENTS = ("handover-list", "handover-form", "disc-label")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _jobs() -> Jobs:
    return Jobs(g.console.state)


def _home() -> Path:
    return Path(settings().home)


def _policy():
    return bootstrap.cycle_policy(settings())


def _sign_in() -> dict | None:
    return (session.get("sign_in") or {}).get("assertion")


def _year(value: object = None) -> int:
    """The year asked for; by default last year in the archive's zone (the one handed over
    this spring)."""
    raw = value if value is not None else request.args.get("year")
    if raw in (None, ""):
        return _now().astimezone(_policy().zone).year - 1
    try:
        year = int(str(raw))
    except ValueError:
        raise InputError(i18n.N_("the year must be a number such as 2025")) from None
    if not 1900 <= year <= 9999:
        raise InputError(i18n.N_("the year must be a number such as 2025"))
    return year


def _names(ids: set[str]) -> dict[str, str]:
    return people_names(g.archive.catalog, {i for i in ids if i})


# --- the transfer page -----------------------------------------------------------------------
def _transfer_rows(year: int) -> list[dict]:
    view = view_of()
    docs = tr.transfers_of(g.archive, year)
    names = _names({d["prepared_by"] for d in docs} | {
        ((d.get("receipt") or {}).get("receipt") or {}).get("accepted_by") for d in docs})
    view = view.with_people(names)
    rows = []
    for d in docs:
        receipt = (d.get("receipt") or {}).get("receipt") or {}
        rows.append({"id": d["id"], "number": d["number"], "status": d["status"],
                     "status_zh": cycle_mod.TRANSFER_STATUS_ZH.get(d["status"], d["status"]),
                     "items": len(d["items"]), "withheld": len(d["withheld"]),
                     "prepared_by_id": d["prepared_by"],
                     "prepared_by": view.person(d["prepared_by"]),
                     "prepared_at": view.time(d["prepared_at"]),
                     "accepted_by": view.person(receipt["accepted_by"])
                     if receipt.get("accepted_by") else None,
                     "accepted_at": view.time(receipt.get("accepted_at"))
                     if receipt.get("accepted_at") else None,
                     "manifest_sha256": d["manifest"]["sha256"]})
    return rows


def _draft_view(year: int, transfers: list[dict]) -> dict | None:
    """The newest finished preparation of the year, and whether it is filed yet."""
    found = work.drafts(_jobs(), year)
    if not found:
        return None
    job = found[0]
    made = job["result"]
    filed = any(t["id"] == made["transfer"] and t["manifest_sha256"] == made["manifest_sha256"]
                for t in transfers)
    names = _names({made["prepared_by"], job["started_by"]})
    view = view_of().with_people(names)
    rows, withheld, problem = [], [], None
    try:
        manifest = tr.drafted(g.archive, made)
    except ProblemFound as exc:
        problem = i18n.localize(exc)
    else:
        def title(item_id: str) -> str:  # masked as the viewer's clearances say
            return item_title(g.archive, g.clearances, item_id, view) or item_id

        rows = [{"n": n, "id": r["item_id"], "code": r.get("archive_code"),
                 "title": title(r["item_id"]), "file": r.get("file"), "size": r["size"],
                 "findings": "；".join(tr.REASON_ZH.get(c, c) for c in r.get("findings", []))}
                for n, r in enumerate(manifest["items"], 1)]
        withheld = [{"id": w["item"], "title": title(w["item"]),
                     "reasons": "；".join(tr.REASON_ZH.get(c, c) for c in w["reasons"])}
                    for w in manifest["withheld"]]
    return made | {"job": job["id"], "filed": filed, "mine": job["started_by"] == g.person.id,
                   "prepared_by_name": view.person(made["prepared_by"]),
                   "prepared_at_local": view.time(made["prepared_at"]),
                   "withheld_count": len(made["withheld"]), "rows": rows,
                   "withheld_rows": withheld, "problem": problem}


def _check_view(report: dict) -> dict:
    """A package check as the page shows it: the four properties, the problems, the records
    that failed one."""
    form = report["form"]
    props = [{"name": PROPERTY_ZH[p], "result": form["properties"][p]["result"],
              "result_zh": RESULT_ZH[form["properties"][p]["result"]],
              "failed": form["properties"][p]["failed_items"]} for p in PROPERTIES]
    bad = [{"code": r.get("archive_code") or r["item"], "file": r["file"],
            "failed": "；".join(f"{PROPERTY_ZH[p]}-{'、'.join(r['properties'][p]['problems'])}"
                               for p in PROPERTIES
                               if r["properties"][p]["result"] == "fail")}
           for r in report["items"]
           if any(r["properties"][p]["result"] == "fail" for p in PROPERTIES)]
    return {"ok": report["ok"], "form": form, "properties": props, "records": bad,
            "problems": [p | {"property_zh": PROPERTY_ZH[p["property"]]}
                         for p in report["problems"]]}


def _transfer_page(year: int, check: dict | None = None, status: int = 200):
    transfers = _transfer_rows(year)
    pending = next((t for t in reversed(transfers) if t["status"] == "prepared"), None)
    st = cycle_mod.status(g.archive, _policy(), year, _now())
    running = _jobs().active(work.TRANSFER, f"transfer:{year}")
    return render_template(
        "handover/transfer.html", year=year, st=st, transfers=transfers, pending=pending,
        draft=_draft_view(year, transfers), running=running, check=check,
        may_accept=pending is not None and pending["prepared_by_id"] != g.person.id), status


@bp.get("/archivist/transfer")
@archivist
def transfer():
    return _transfer_page(_year())


@bp.post("/archivist/transfer/prepare")
@archivist
def prepare():
    """Queue the year's preparation (the check of every item and the package) as a job."""
    job, created = work.submit_transfer(_jobs(), _home(), g.person.id, _year(
        request.form.get("year")), no_media=request.form.get("no_media") == "1",
        sign_in=_sign_in())
    if created:
        jobs_view.start_runner(job)
    return redirect(url_for("jobs.show", job_id=job["id"]), code=303)


@bp.post("/archivist/transfer/verify")
@archivist
def verify():
    """The receiver's check of the waiting package (四性检测, on the package alone with this
    archive's public keys): shown, nothing recorded (the acceptance records its own)."""
    year = _year(request.form.get("year"))
    pending = [t for t in tr.transfers_of(g.archive, year) if t["status"] == "prepared"]
    if not pending:
        raise NotFound(i18n.N_("year {year}: no prepared transfer waits for acceptance "
                               "(custody transfer prepare first)"), year=year)
    report = tr.verify_package(Path(pending[-1]["package"]), None, g.archive.archive_keys,
                               settings().section("formats"))
    return _transfer_page(year, _check_view(report))


def _draft_of(job_id: object) -> dict:
    """A finished preparation job's draft; refused for any other job."""
    job = _jobs().get(str(job_id or ""))
    if job["kind"] != work.TRANSFER or job["status"] != "done" or not job["result"]:
        raise JobRefused(i18n.N_("job {job} is not a finished transfer preparation"),
                         subject=job["id"], job=job["id"])
    return job["result"]


def _prepare_filed(fields: dict) -> Prepared:
    made = _draft_of(fields.get("job"))
    tr.check_draft(g.archive, g.actor, made)
    names = _names({made["prepared_by"]})
    return Prepared("transfer-prepared", made["transfer"], {
        "transfer": made["transfer"], "year": made["year"], "items": made["items"],
        "withheld": len(made["withheld"]), "checked": made["checked"],
        "prepared_by": view_of().with_people(names).person(made["prepared_by"]),
        "manifest_sha256": made["manifest_sha256"]}, {"job": fields.get("job")})


def _file(actor, kept: dict) -> str:
    made = _draft_of(kept["job"])
    tr.file_prepared(g.archive, actor, made, _now())
    return url_for("handover.transfer", year=made["year"])


def _prepare_accept(fields: dict) -> Prepared:
    year = _year(fields.get("year"))
    t = tr.check_accept(g.archive, g.actor, year)
    names = _names({t["prepared_by"]})
    return Prepared("transfer-accepted", t["id"], {
        "transfer": t["id"], "year": year, "items": len(t["items"]),
        "withheld": len(t["withheld"]),
        "prepared_by": view_of().with_people(names).person(t["prepared_by"]),
        "manifest_sha256": t["manifest"]["sha256"]}, {"year": year, "transfer": t["id"]})


def _accept(actor, kept: dict) -> str:
    # the transfer signed for must still be the one waiting (a newer one supersedes it)
    waiting = tr.check_accept(g.archive, actor, kept["year"])
    if waiting["id"] != kept["transfer"]:
        raise InputError(i18n.N_("transfer {transfer} is no longer the one waiting; look "
                                 "again and sign again"), transfer=kept["transfer"])
    tr.accept(g.archive, actor, kept["year"], _now(), None, settings().section("formats"))
    return url_for("handover.transfer", year=kept["year"])


decision(Decision(name="transfer-prepared", prepare=_prepare_filed, perform=_file,
                  roles=ROLES))
decision(Decision(name="transfer-accept", prepare=_prepare_accept, perform=_accept,
                  roles=ROLES))


# --- archiving with 档号 -----------------------------------------------------------------------
@bp.get("/archivist/archiving")
@archivist
def archiving():
    year = _year()
    st = cycle_mod.status(g.archive, _policy(), year, _now())
    view = view_of()
    rows = []
    for d in codes_mod.codes_of_year(g.archive.catalog, year):
        notes = [n["text"] for n in d.get("notes", [])]
        if d.get("destroyed"):
            notes.append(f"已销毁 {view.time(d['destroyed']['at'])}（销毁清单 "
                         f"{d['destroyed']['list']}），档号不再使用")
        rows.append({"code": d["code"], "item": d["item"], "notes": notes,
                     "title": item_title(g.archive, g.clearances, d["item"], view)})
    accepted = [t for t in st["transfers"] if t["status"] == "accepted"]
    return render_template("handover/archiving.html", year=year, st=st, codes=rows,
                           accepted=accepted, fonds=_policy().fonds)


def _prepare_finalize(fields: dict) -> Prepared:
    year = _year(fields.get("year"))
    cycle_mod.check_finalize(g.archive, g.actor, year)
    st = cycle_mod.status(g.archive, _policy(), year, _now())
    uncoded = next((b["count"] for b in st["blockers"] if b["code"] == "uncoded"), 0)
    fonds = _policy().fonds
    return Prepared("year-finalized", f"{fonds}-{year}", {
        "year": year, "fonds": fonds, "codes": st["codes"], "uncoded": uncoded,
        "transfers": [t["id"] for t in st["transfers"] if t["status"] == "accepted"]},
        {"year": year})


def _finalize(actor, kept: dict) -> str:
    cycle_mod.finalize(g.archive, actor, _policy(), kept["year"],
                       _home() / "work" / "annual", _now())
    return url_for("handover.archiving", year=kept["year"])


decision(Decision(name="year-finalize", prepare=_prepare_finalize, perform=_finalize,
                  roles=ROLES))


# --- discs -----------------------------------------------------------------------------------
def _disc_rows() -> list[dict]:
    docs = discs_mod.inventory(g.archive)
    names = _names({d["created_by"] for d in docs} | {
        p["by"] for d in docs for p in d.get("placements", [])})
    view = view_of().with_people(names)
    return [{"id": d["id"], "tier": d["tier"], "year": d["year"], "items": len(d["items"]),
             "size": d["size"], "capacity": d["capacity"], "location": d.get("location"),
             "created_at": view.time(d["created_at"]), "created_by": view.person(
                 d["created_by"]), "image_sha256": d["image_sha256"],
             "image_present": Path(d["image"]).is_file(), "label": d.get("label") or {},
             "placements": [{"location": p["location"], "at": view.time(p["at"]),
                             "by": view.person(p["by"])} for p in d.get("placements", [])]}
            for d in docs]


def _discs_page(checked: dict | None = None, status: int = 200):
    recent = _jobs().list(kind=work.DISC_BUILD, limit=10)
    running = [j for j in recent if j["status"] in ("queued", "running", "interrupted")]
    return render_template("handover/discs.html", discs=_disc_rows(), running=running,
                           capacities=work.CAPACITIES, checked=checked,
                           never_lent=discs_mod.NEVER_LENT,
                           default_year=_now().astimezone(_policy().zone).year - 1,
                           status_names={k: i18n._(v) for k, v in
                                         jobs_view.STATUS_NAMES.items()}), status


@bp.get("/archivist/discs")
@archivist
def discs():
    return _discs_page()


@bp.post("/archivist/discs/build")
@archivist
def build():
    year_text = (request.form.get("year") or "").strip()
    job, created = work.submit_disc_build(
        _jobs(), _home(), g.person.id, _year(year_text) if year_text else None,
        (request.form.get("capacity") or "").strip(), sign_in=_sign_in())
    if created:
        jobs_view.start_runner(job)
    return redirect(url_for("jobs.show", job_id=job["id"]), code=303)


@bp.post("/archivist/discs/<disc_id>/verify")
@archivist
def verify_disc(disc_id: str):
    """The image of a disc read back and checked (the bag and every signature), as ``custody
    disc verify`` checks it; shown, nothing recorded."""
    image = Path(discs_mod.disc_of(g.archive, disc_id)["image"])
    if not image.is_file():
        raise NotFound(i18n.N_("the image of disc {disc} is no longer at {path}"),
                       disc=disc_id, path=str(image), subject=disc_id)
    report = discs_mod.verify(image, g.archive.archive_keys)
    return _discs_page({"disc": disc_id, "ok": report["ok"], "items": report["items"],
                        "files": report["files"], "bytes": report["bytes"],
                        "problems": report["problems"]})


@bp.post("/archivist/discs/<disc_id>/place")
@archivist
def place(disc_id: str):
    discs_mod.place(g.archive, g.actor, disc_id, request.form.get("location") or "", _now())
    return redirect(url_for("handover.discs"), code=303)


# --- documents ---------------------------------------------------------------------------------
def _issued(kind: str, subject: str) -> dict:
    """The document issued (the first time) or as issued (afterwards)."""
    if kind not in DOCUMENTS:
        raise NotFound(i18n.N_("no such page"))
    if kind == "handover-form":
        if tr.transfer_of(g.archive, subject)["status"] != "accepted":
            raise InputError(i18n.N_("transfer {transfer} is not accepted: its 登记表 is "
                                     "issued once the receiver has accepted it"),
                             transfer=subject, subject=subject)
    return issue.issue(g.archive, g.actor, settings(), kind, subject,
                       keys_dir=bootstrap.keys_dir(settings()))


@bp.get("/archivist/documents/<kind>/<subject>")
@archivist
def document(kind: str, subject: str):
    """Issue the document if it never was, then show it as the console shows every issued
    document (the register's page: the same HTML as the PDF)."""
    _issued(kind, subject)
    return redirect(url_for("register.document", kind=kind, subject=subject), code=303)


@bp.get("/archivist/documents/<kind>/<subject>.pdf")
@archivist
def document_pdf(kind: str, subject: str):
    doc = _issued(kind, subject)
    return Response(doc["pdf"], mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{kind}-{subject}.pdf"'})


jobs_view.RESULT_PAGES[work.TRANSFER] = lambda job: url_for(
    "handover.transfer", year=job["params"]["year"])
jobs_view.RESULT_PAGES[work.DISC_BUILD] = lambda job: url_for("handover.discs")
