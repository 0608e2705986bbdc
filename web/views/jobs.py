"""Background jobs in the console: a copy-only export started from an approved extract
request, its progress page (polled as JSON by a small static script), and the package's
download, for the person who started it, for ``[web] download_hours``.

The work itself never runs in a request: submitting queues a job record (working state) and
starts a detached runner (``custody jobs run``) that calls the same export service as the
command line, acting as the console for the signed-in person (their session's sign-in).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import i18n
from archive.access.export import export_uses
from archive.access.requests import PURPOSE_ZH, get_request
from web.auth import has_role, signed_in
from web.common import settings, view_of
from working import exports, kinds
from working import jobs as jobs_mod
from working.jobs import JobRefused, Jobs

bp = Blueprint("jobs", __name__)
kinds.load()

STATUS_NAMES = jobs_mod.STATUS_NAMES
# where a finished job of a kind shows its result: the page module of that kind registers
# ``RESULT_PAGES[kind] = lambda job: url_for(...)``, and the job page links to it
RESULT_PAGES: dict[str, Callable[[dict], str]] = {}


def _jobs() -> Jobs:
    return Jobs(g.console.state)


def _home() -> Path:
    return Path(settings().home)


def _hours() -> int:
    return int(settings().section("web").get("download_hours", exports.DEFAULT_DOWNLOAD_HOURS))


def _mine(job_id: str) -> dict:
    """The job, when the signed-in person started it; refused otherwise."""
    job = _jobs().get(job_id)
    if job["started_by"] != g.person.id:
        raise JobRefused(i18n.N_("job {job} was started by someone else"), subject=job_id,
                         job=job_id)
    return job


def _may_follow(job: dict) -> bool:
    viewers = jobs_mod.KINDS[job["kind"]].viewers if job["kind"] in jobs_mod.KINDS else ()
    return job["started_by"] == g.person.id or bool(viewers and has_role(g.person, viewers))


def _followed(job_id: str) -> dict:
    """The job, when the signed-in person started it or holds a role that follows its
    kind; refused otherwise."""
    job = _jobs().get(job_id)
    if not _may_follow(job):
        raise JobRefused(i18n.N_("job {job} was started by someone else"), subject=job_id,
                         job=job_id)
    return job


def kind_title(kind: str) -> str:
    k = jobs_mod.KINDS.get(kind)
    return i18n._(k.title) if k is not None and k.title else kind


def start_runner(job: dict) -> None:
    """A detached runner for a job just queued (``custody jobs run``), with the same home
    and policy file as this console."""
    s = settings()
    jobs_mod.spawn(jobs_mod.runner_argv(job["id"], s.home, s.files),
                   jobs_mod.job_dir(s.home, job["id"]) / "runner.log")


def _state(job: dict) -> dict:
    """What the progress page shows and its script reads."""
    why = jobs_mod.error_text(job)
    total = job["total"] or 0
    out = {"id": job["id"], "kind": job["kind"], "title": kind_title(job["kind"]),
           "unit": job.get("unit") or "items", "status": job["status"],
           "status_text": i18n._(STATUS_NAMES[job["status"]]), "done": job["done"],
           "total": total, "percent": int(100 * job["done"] / total) if total else None,
           "note": i18n._(job["note"]) if job["note"] else "",
           "error": i18n.localize(why) if why else "",
           "ended": job["status"] not in jobs_mod.ACTIVE,
           "cancel_requested": job["cancel_requested"],
           "started_by": job["started_by"], "mine": job["started_by"] == g.person.id,
           "result_page": RESULT_PAGES[job["kind"]](job)
           if job["status"] == "done" and job["kind"] in RESULT_PAGES else None}
    if job["status"] == "done" and job["kind"] == exports.KIND:
        r = job["result"] or {}
        until = exports.download_until(job, _hours())
        out |= {"export": r.get("export"), "items": r.get("items"), "bytes": r.get("bytes"),
                "redelivered": r.get("redelivered"),
                "download": url_for("jobs.download", job_id=job["id"]),
                "download_iso": url_for("jobs.download_iso", job_id=job["id"])
                if r.get("iso") else None,
                "download_statement": url_for("jobs.download_statement", job_id=job["id"])
                if r.get("statement") else None,
                "until": view_of().time(until) if until else None}
    return out


@bp.get("/jobs")
@signed_in
def mine():
    rows = [_state(j) | {"scope": j["scope"], "created": view_of().time(j["created"])}
            for j in _jobs().list(limit=500) if _may_follow(j)]
    return render_template("jobs/list.html", jobs=rows)


@bp.get("/jobs/export/<request_id>")
@signed_in
def export_form(request_id: str):
    """The export of an approved extract request: what the approval allows and has left."""
    req = get_request(g.archive.catalog, request_id)
    uses = export_uses(g.archive.catalog, req)
    running = _jobs().active(exports.KIND, request_id)
    return render_template("jobs/export.html", r=req, uses=uses, running=running,
                           purpose=PURPOSE_ZH.get(req["purpose"], req["purpose"]),
                           hours=_hours())


@bp.post("/jobs/export")
@signed_in
def submit_export():
    request_id = request.form.get("request", "")
    sign_in = (session.get("sign_in") or {}).get("assertion")
    job, created = exports.submit(
        _jobs(), _home(), g.archive.catalog, g.person.id, request_id,
        iso_image=request.form.get("iso") == "1", new=request.form.get("new") == "1",
        pdf=request.form.get("pdf") == "1",
        fonds=settings().section("archive").get("fonds", ""), via="console", sign_in=sign_in)
    if created:
        start_runner(job)
    return redirect(url_for("jobs.show", job_id=job["id"]), code=303)


@bp.get("/jobs/<job_id>")
@signed_in
def show(job_id: str):
    job = _followed(job_id)
    return render_template("jobs/show.html", job=_state(job), scope=job["scope"],
                           state_url=url_for("jobs.state", job_id=job_id))


@bp.get("/jobs/<job_id>/state")
@signed_in
def state(job_id: str):
    return jsonify(_state(_followed(job_id)))


@bp.post("/jobs/<job_id>/cancel")
@signed_in
def cancel(job_id: str):
    _jobs().cancel(job_id, g.person.id)
    return redirect(url_for("jobs.show", job_id=job_id), code=303)


@bp.post("/jobs/<job_id>/resume")
@signed_in
def resume(job_id: str):
    job = _jobs().resume(job_id, g.person.id)
    start_runner(job)
    return redirect(url_for("jobs.show", job_id=job_id), code=303)


@bp.get("/jobs/<job_id>/package.zip")
@signed_in
def download(job_id: str):
    """The bag as a ZIP made while it is sent (``custody verify-export`` checks it once
    unzipped)."""
    job = _mine(job_id)
    pkg = exports.package(_jobs(), _home(), job_id, g.person.id, _hours())
    exports.record_download(g.archive, g.actor, job, pkg, "zip")
    return Response(exports.zipped(pkg["bag"]), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{pkg["name"]}.zip"',
        "Cache-Control": "no-store"}, direct_passthrough=True)


@bp.get("/jobs/<job_id>/package.iso")
@signed_in
def download_iso(job_id: str):
    job = _mine(job_id)
    pkg = exports.package(_jobs(), _home(), job_id, g.person.id, _hours())
    if pkg["iso"] is None:
        raise JobRefused(i18n.N_("job {job} made no ISO image"), subject=job_id, job=job_id)
    exports.record_download(g.archive, g.actor, job, pkg, "iso")
    path: Path = pkg["iso"]

    def chunks():
        with path.open("rb") as f:
            while data := f.read(1 << 20):
                yield data

    return Response(chunks(), mimetype="application/x-iso9660-image", headers={
        "Content-Disposition": f'attachment; filename="{pkg["name"]}.iso"',
        "Content-Length": str(path.stat().st_size), "Cache-Control": "no-store"},
        direct_passthrough=True)


@bp.get("/jobs/<job_id>/statement.pdf")
@signed_in
def download_statement(job_id: str):
    """The signed 提取说明 the job issued (the same PDF ``custody print export-statement``
    prints again from the store)."""
    job = _mine(job_id)
    pkg = exports.package(_jobs(), _home(), job_id, g.person.id, _hours())
    if pkg["statement"] is None:
        raise JobRefused(i18n.N_("job {job} issued no 提取说明"), subject=job_id, job=job_id)
    exports.record_download(g.archive, g.actor, job, pkg, "statement")
    return Response(pkg["statement"].read_bytes(), mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{pkg["name"]}-statement.pdf"',
        "Cache-Control": "no-store"})
