"""custody jobs: background jobs (issue 15), the same records and runner as the web console's.

``custody jobs export REQUEST`` queues a copy-only export and starts its runner; ``list``,
``show``, ``cancel`` and ``resume`` follow and steer jobs; ``run`` is what the runner process
executes (started detached by whoever submits; not for people to type).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from archive.domain.errors import IdentityError
from commands.base import Context, command, emit_json, json_option, local
from i18n import N_, Text, _, localize
from working import exports, kinds
from working import jobs as jobs_mod
from working.jobs import Jobs

STATUS_NAMES = jobs_mod.STATUS_NAMES


def _jobs(ctx: Context) -> Jobs:
    return Jobs.of_home(ctx.settings.home)


def download_hours(ctx: Context) -> int:
    return int(ctx.settings.section("web").get("download_hours",
                                               exports.DEFAULT_DOWNLOAD_HOURS))


def start_runner(ctx: Context, job: dict) -> None:
    home = ctx.settings.home
    argv = jobs_mod.runner_argv(job["id"], home, ctx.settings.files)
    jobs_mod.spawn(argv, jobs_mod.job_dir(home, job["id"]) / "runner.log")


def actor_for(ctx: Context) -> Any:
    """Who the runner acts as: for a job started here, the person at this account (who must
    be the one who started it); for one started at the console, the console acting for the
    person and the sign-in that opened their session, as it does in a request."""

    def resolve(archive: Any, job: dict) -> Any:
        from archive import people

        if job["via"] == "console":
            from archive.passkeys.service import attach, console_actor

            attach(archive, ctx.settings.home)
            return console_actor(archive, job["started_by"], job["params"].get("sign_in"))
        actor = people.identify(archive, "jobs run")
        if actor.person_id != job["started_by"]:
            raise IdentityError(N_("job {job} was started by {owner}; this account acts as "
                                   "{person}"), subject=job["id"], job=job["id"],
                                owner=job["started_by"], person=actor.person_id)
        return actor

    return resolve


def _line(ctx: Context, job: dict) -> str:
    amount = (f"{job['done']}/{job['total']}" if job["total"] else str(job["done"] or "-"))
    return (f"{job['id']}  {_(STATUS_NAMES[job['status']]):<10} {job['kind']:<8} "
            f"{job['scope']:<38} {job['started_by']:<8} {amount:<20} "
            f"{local(ctx, job['created'])}  {_(job['note']) if job['note'] else ''}")


def _shown(job: dict) -> dict:
    """A job for --json: everything but the runner's private parameters (a console
    sign-in), and its failure in the reader's language beside the English."""
    out = dict(job)
    out["params"] = {k: v for k, v in job["params"].items() if k not in ("sign_in", "home")}
    why = jobs_mod.error_text(job)
    if why is not None:
        out["error"] = job["error"] | {"text": localize(why)}
    return out


@click.group("jobs")
def jobs_cmd() -> None:
    """Background jobs (exports now): started here or at the web console, run by a separate
    process, followed with list and show."""


@jobs_cmd.command("export")
@click.argument("request_id")
@click.option("--iso", "iso_image", is_flag=True, help="Also make an ISO image to burn.")
@click.option("--new", "new", is_flag=True,
              help="A further package, counted as another export.")
@click.option("--pdf", "pdf", is_flag=True,
              help="Also issue the signed 提取说明 as a PDF beside the package.")
@click.option("--wait", is_flag=True, help="Wait until the job ends and show how.")
@json_option
@command
def jobs_export(ctx: Context, request_id: str, iso_image: bool, new: bool, pdf: bool,
                wait: bool, as_json: bool) -> int:
    """Queue a copy-only export of an approved extract request as a background job; the
    package stays in the job's folder for [web] download_hours."""
    actor = ctx.actor()
    job, created = exports.submit(
        _jobs(ctx), ctx.settings.home, ctx.archive.catalog, actor.person_id, request_id,
        iso_image=iso_image, new=new, pdf=pdf,
        fonds=ctx.settings.section("archive").get("fonds", ""), via="cli")
    if created:
        start_runner(ctx, job)
    if wait:
        job = _wait(ctx, job["id"])
    if as_json:
        emit_json(_shown(job) | {"created": created})
    else:
        click.echo(localize(Text("job {job}: {status}", job=job["id"],
                                 status=Text(STATUS_NAMES[job["status"]])))
                   + ("" if created else " " + _("(already under way: the same job)")))
        _tell_end(job)
    return 0 if job["status"] in ("queued", "running", "done") else 1


def _wait(ctx: Context, job_id: str, poll: float = 0.5) -> dict:
    jobs = _jobs(ctx)
    while True:
        job = jobs.get(job_id)
        if job["status"] not in jobs_mod.ACTIVE:
            return job
        time.sleep(poll)


def _tell_end(job: dict) -> None:
    why = jobs_mod.error_text(job)
    if why is not None:
        click.echo(localize(why), err=True)
    if job["status"] == "done" and job["kind"] == exports.KIND:
        r = job["result"] or {}
        click.echo(localize(Text("export {export}: {items} items at {bag}", export=r["export"],
                                 items=r["items"], bag=r["bag"])))
        if r.get("statement"):
            click.echo(localize(Text("extraction record {number}: {path}",
                                     number=r["statement"]["number"],
                                     path=r["statement"]["path"])))


@jobs_cmd.command("list")
@click.option("--mine", is_flag=True, help="Only jobs I started.")
@click.option("--kind", help="Only jobs of this kind.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
@command
def jobs_list(ctx: Context, mine: bool, kind: str | None, limit: int, as_json: bool) -> int:
    """Jobs, newest first; a job whose runner died shows as interrupted."""
    me = ctx.actor().person_id  # registered people only: jobs name requests and people
    rows = _jobs(ctx).list(kind=kind, started_by=me if mine else None, limit=limit)
    if as_json:
        emit_json({"jobs": [_shown(j) for j in rows]})
        return 0
    for job in rows:
        click.echo(_line(ctx, job))
    return 0


@jobs_cmd.command("show")
@click.argument("job_id")
@json_option
@command
def jobs_show(ctx: Context, job_id: str, as_json: bool) -> int:
    """One job: status, progress, result or why it failed."""
    ctx.actor()  # registered people only
    job = _jobs(ctx).get(job_id)
    if as_json:
        emit_json(_shown(job))
        return 0
    click.echo(_line(ctx, job))
    _tell_end(job)
    return 0


@jobs_cmd.command("cancel")
@click.argument("job_id")
@json_option
@command
def jobs_cancel(ctx: Context, job_id: str, as_json: bool) -> int:
    """Stop a job you started: a queued one now, a running one at its next safe point."""
    job = _jobs(ctx).cancel(job_id, ctx.actor().person_id)
    if as_json:
        emit_json(_shown(job))
    elif job["status"] == "cancelled":
        click.echo(localize(Text("job {job} cancelled", job=job_id)))
    else:
        click.echo(localize(Text("job {job}: asked to stop at its next safe point",
                                 job=job_id)))
    return 0


@jobs_cmd.command("resume")
@click.argument("job_id")
@json_option
@command
def jobs_resume(ctx: Context, job_id: str, as_json: bool) -> int:
    """Run an interrupted job you started again, from its beginning, in a new runner."""
    job = _jobs(ctx).resume(job_id, ctx.actor().person_id)
    start_runner(ctx, job)
    if as_json:
        emit_json(_shown(job))
    else:
        click.echo(localize(Text("job {job} queued again", job=job_id)))
    return 0


@jobs_cmd.command("run", hidden=True)
@click.argument("job_id")
@json_option
@command
def jobs_run(ctx: Context, job_id: str, as_json: bool) -> int:
    """The runner: execute one queued job in this process (started by submit or resume)."""
    kinds.load()
    jobs = _jobs(ctx)

    def open_archive() -> Any:
        return ctx.archive

    import bootstrap

    job = jobs_mod.run(jobs, job_id, open_archive, actor_for(ctx), {
        "settings": ctx.settings, "keys_dir": bootstrap.keys_dir(ctx.settings)})
    ctx._archive = None  # the runner finished (checkpointed and closed) it already
    exports.expire(jobs, Path(ctx.settings.home), download_hours(ctx))
    if as_json:
        emit_json(_shown(job))
    else:
        click.echo(_line(ctx, job))
        _tell_end(job)
    return 0 if job["status"] == "done" else 1


COMMANDS = (jobs_cmd,)
