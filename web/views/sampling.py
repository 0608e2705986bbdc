"""Sampled machine-read verification (抽样机读检验) at the console:
the lot, the plan, the job, the result, the signed report.

Pages under /audit/sampling. The lot (a year, a unit, filters), the inspection level and
the AQL are chosen on the index page, which shows the GB/T 2828.1 plan (lot size, code
letter, sample size, Ac/Re) from ``verification.preview_plan`` before anything runs. The run
is a background job (working/sampling.py) that makes the inspection record as a draft; its
result page shows each item's checks, the lot verdict and what to do for each failure, and
the draft 抽样检验报告. The inspector who ran it signs it with their passkey (decision
``sampling-file``, ledger action ``inspection``), which files it in the 检查台帐 through
``verification.file_verification`` — the call ``custody verify`` makes — and issues the
signed 抽样检验报告 (the PDF ``custody verify --pdf`` writes).

Decisions the issue left open: only the inspector who ran the checks signs them (another
auditor may follow the run and read its result, not file it); the signature binds the
draft's SHA-256, and what is signed is the verdict, the plan and the failed items; the
signed report is issued at once when filed (by the console for the signed-in person, as
the access register's print is), so the page links its HTML and PDF straight away.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, g, redirect, render_template, request, session, url_for

import bootstrap
import i18n
from archive import verification
from archive.access.lookup import codes_by_item, item_title
from archive.domain.canonical import canonical
from archive.domain.errors import CustodyError, InputError
from archive.domain.names import CHECK_PROBLEM_ZH
from archive.domain.sampling import AQLS, LEVELS
from archive.people import people_names
from documents import inspection as report_doc
from documents import issue
from documents.kinds import Source
from web.auth import has_role, role_required
from web.common import settings, view_of
from web.signing import Decision, Prepared, decision
from web.views import jobs as jobs_view
from web.views.register import _with_style_hashes
from working import jobs as jobs_mod
from working import sampling as sampling_jobs
from working.jobs import JobRefused, Jobs

bp = Blueprint("sampling", __name__)
READERS = ("auditor", "archivist", "legal")  # who reads these pages
INSPECTORS = verification.INSPECTORS  # who runs and signs (the service checks again)
REPORT = "sampling-report"
PLAN_METHOD_ZH = {"GB/T 2828.1-2012 一般检验水平": "GB/T 2828.1-2012 一般检验水平",
                  **verification.METHOD_ZH}

jobs_view.RESULT_PAGES[sampling_jobs.KIND] = lambda job: url_for("sampling.result",
                                                                 job_id=job["id"])


def _jobs() -> Jobs:
    return Jobs(g.console.state)


def _form(args) -> dict:
    return {k: (args.get(k) or "").strip() for k in ("year", "unit", "query", "level", "aql")}


def _chosen(form: dict) -> tuple[dict, str, float | None]:
    """The lot, level and AQL the form names (refused as the service refuses)."""
    return (sampling_jobs.lot_of(form["year"], form["unit"], form["query"]),
            sampling_jobs.level_of(form["level"]), sampling_jobs.aql_of(form["aql"]))


def _preview(form: dict) -> dict:
    lot, level, aql = _chosen(form)
    return verification.preview_plan(g.archive, g.actor, settings(), year=lot.get("year"),
                                     query=lot.get("query"), level=level, aql=aql)


def _ledger_rows() -> list[dict]:
    """The 检查台帐, newest first, people by name and times local."""
    rows = verification.list_inspections(g.archive.catalog)
    view = view_of()
    names = people_names(g.archive.catalog, {r["by"] for r in rows})
    return [r | {"by_name": view.with_people(names).person(r["by"]), "at_local":
                 view.time(r["at"])} for r in sorted(rows, key=lambda r: r["at"], reverse=True)]


def _runs() -> list[dict]:
    view = view_of()
    source = Source(g.archive, settings(), g.actor)
    out = []
    for job in _jobs().list(kind=sampling_jobs.KIND, limit=50):
        if job["started_by"] != g.person.id and not has_role(g.person,
                                                             sampling_jobs.VIEWERS):
            continue
        p = job["params"]
        scope = source.lot(p["lot"])["words"] + (
            "（第二副本）" if p.get("copy", "primary") != "primary" else "") + (
            "（全批检验）" if p.get("everything") else "")
        out.append({"id": job["id"], "scope": scope, "status": job["status"],
                    "status_text": i18n._(jobs_mod.STATUS_NAMES[job["status"]]),
                    "created": view.time(job["created"]),
                    "started_by": view.person(job["started_by"])})
    return out


@bp.get("/audit/sampling")
@role_required(*READERS)
def index():
    form = _form(request.args)
    plan, error = None, None
    if request.args.get("preview"):
        try:
            plan = _preview(form)
        except CustodyError as exc:
            error = exc
    units = {u: r.get("name") or u for u, r in settings().units.items()}
    return render_template("sampling/index.html", form=form, plan=plan, error=error,
                           lot_words=_lot_words(plan["lot"] if plan else None), units=units,
                           levels=LEVELS, aqls=AQLS,
                           may_run=has_role(g.person, INSPECTORS), runs=_runs(),
                           ledger=_ledger_rows(), method_zh=PLAN_METHOD_ZH)


@bp.post("/audit/sampling/start")
@role_required(*INSPECTORS)
def start():
    form = _form(request.form)
    try:
        _preview(form)  # the role, an empty lot, a bad level: refused now, not in the job
        lot, level, aql = _chosen(form)
        job, created = sampling_jobs.submit(
            _jobs(), g.person.id, lot, level=level, aql=aql, via="console",
            sign_in=(session.get("sign_in") or {}).get("assertion"),
            everything=request.form.get("everything") == "1")
    except CustodyError as exc:
        units = {u: r.get("name") or u for u, r in settings().units.items()}
        return render_template("sampling/index.html", form=form, plan=None, error=exc,
                               units=units, levels=LEVELS, aqls=AQLS, may_run=True,
                               runs=_runs(), ledger=_ledger_rows(),
                               method_zh=PLAN_METHOD_ZH), 400
    if created:
        jobs_view.start_runner(job)
    return redirect(url_for("jobs.show", job_id=job["id"]), code=303)


def _followed(job_id: str) -> dict:
    """A sampling job the signed-in person started, or may follow by their role."""
    job = _jobs().get(job_id)
    if job["kind"] != sampling_jobs.KIND:
        raise InputError(i18n.N_("job {job} is not a sampled verification"), subject=job_id,
                         job=job_id)
    if job["started_by"] != g.person.id and not has_role(g.person, sampling_jobs.VIEWERS):
        raise JobRefused(i18n.N_("job {job} was started by someone else"), subject=job_id,
                         job=job_id)
    return job


def _item_rows(draft: dict) -> list[dict]:
    codes = codes_by_item(g.archive.catalog, (r["item"] for r in draft["results"]))
    view = view_of()
    rows = []
    for n, r in enumerate(draft["results"], 1):
        lock = r.get("lock") or {}
        read = r.get("read") or {}
        rows.append({
            "n": n, "id": r["item"], "code": codes.get(r["item"]),
            "title": item_title(g.archive, g.clearances, r["item"], view) or r["item"],
            "ok": r["ok"], "not_replicated": bool(r.get("not_replicated")),
            "read": read.get("sha256", "")[:16], "signed": (r.get("sha256") or "")[:16],
            "digest_ok": bool(read) and read.get("sha256") == r.get("sha256"),
            "lock_mode": lock.get("mode"), "lock_until": view.time(lock.get("retain_until"))
            if lock.get("retain_until") else None, "legal_hold": lock.get("legal_hold"),
            "problems": [{"code": p["code"], "name": CHECK_PROBLEM_ZH.get(p["code"],
                                                                          p["code"]),
                          "text": p.get("text") or p["message"],
                          "action": i18n._(p["action"])} for p in r["problems"]]})
    return rows


def _lot_words(lot: dict | None) -> str:
    """The lot as people read it (单位 …；2025 年度), as the documents print it."""
    return Source(g.archive, settings(), g.actor).lot(lot)["words"] if lot else ""


def _digest(draft: dict) -> str:
    return hashlib.sha256(canonical(draft)).hexdigest()


@bp.get("/audit/sampling/<job_id>")
@role_required(*READERS)
def result(job_id: str):
    job = _followed(job_id)
    draft = sampling_jobs.draft_of(job)
    filed = verification.filed_inspection(g.archive.catalog, draft["id"])
    view = view_of()
    return render_template(
        "sampling/result.html", job=job, d=draft, filed=filed, rows=_item_rows(draft),
        lot_words=_lot_words(draft["lot"]),
        by=view.with_people(people_names(g.archive.catalog, {draft["by"]})).person(
            draft["by"]), at=view.time(draft["at"]), method_zh=PLAN_METHOD_ZH,
        inspector=has_role(g.person, INSPECTORS),
        may_sign=(filed is None and draft["by"] == g.person.id
                  and has_role(g.person, INSPECTORS)))


@bp.get("/audit/sampling/<job_id>/report")
@role_required(*INSPECTORS)
def draft_report(job_id: str):
    """The draft 抽样检验报告 as it will read once signed (no number, nothing kept); for
    inspectors, as the signed report is (legal follows the result page only)."""
    draft = sampling_jobs.draft_of(_followed(job_id))
    html = report_doc.draft_html(Source(g.archive, settings(), g.actor), draft)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _with_style_hashes(html)
    return response


@bp.get("/audit/sampling/report/<inspection_id>")
@role_required(*READERS)
def report(inspection_id: str):
    """The signed 抽样检验报告 of a filed run, issued first if it never was (a run filed at
    the command line without --pdf); the document service checks who may read it."""
    s = settings()
    verification.get_inspection(g.archive.catalog, inspection_id)  # refused when unknown
    if not g.archive.store.versions(issue.record_key(REPORT, inspection_id)):
        issue.issue(g.archive, g.actor, s, REPORT, inspection_id,
                    keys_dir=bootstrap.keys_dir(s))
    return redirect(url_for("register.document", kind=REPORT, subject=inspection_id))


def _prepare(fields: dict) -> Prepared:
    job_id = str(fields.get("job") or "")
    job = _followed(job_id)
    draft = sampling_jobs.draft_of(job)
    verification.check_filing(g.archive, g.actor, draft)
    v = draft["verdict"]
    plan = draft["plan"]
    codes = codes_by_item(g.archive.catalog, (f["item"] for f in draft["verdict"]["failed"]))
    return Prepared(
        action="inspection", subject=draft["id"],
        details={"抽样检验报告": draft["id"], "检验时间": view_of().time(draft["at"]),
                 "批": _lot_words(draft["lot"]), "抽样方案": {
                     "方法": PLAN_METHOD_ZH.get(plan["method"], plan["method"]),
                     "检验水平": plan.get("level"), "样本量字码": plan.get("code_letter"),
                     "样本量": plan["sample_size"], "AQL": plan.get("aql"),
                     "Ac": plan["ac"], "Re": plan["re"]},
                 "判定": v["zh"], "不合格品数": v["defects"],
                 "不合格条目": [codes.get(f["item"]) or f["item"] for f in v["failed"]],
                 "检验记录摘要 SHA-256": _digest(draft)},
        kept={"job": job_id, "digest": _digest(draft)})


def _perform(actor, kept: dict) -> str:
    draft = sampling_jobs.draft_of(_followed(kept["job"]))
    if _digest(draft) != kept["digest"]:  # the job's record changed after it was signed
        raise InputError(i18n.N_("the sampled verification changed after you signed it; "
                                 "sign it again"), subject=draft["id"])
    record = verification.file_verification(g.archive, actor, draft)
    s = settings()
    # the signed report, issued by the console for the person (a document, not a decision)
    issue.issue(g.archive, g.actor, s, REPORT, record["id"], keys_dir=bootstrap.keys_dir(s))
    return url_for("sampling.result", job_id=kept["job"])


SIGN = decision(Decision(name="sampling-file", prepare=_prepare, perform=_perform,
                         roles=INSPECTORS))
