"""custody commands: access requests, approvals, the access register, views and
copy-only exports (issue 5).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

import csv
import io
import shlex
import sys
from datetime import datetime, time, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive.access import register, viewing
from archive.access import requests as access
from archive.domain.errors import InputError
from archive.domain.timeutil import parse_time
from archive.inputs import write_output
from archive.integrity.signing import fingerprint
from commands.base import (
    Context,
    command,
    emit_json,
    joined,
    json_option,
    local,
    named,
    parse_query,
    progress,
    reason_text,
    view_of,
    zone_named,
    zone_text,
)
from commands.documents import deliver
from documents.names import OUTCOME
from i18n import N_, _, ngettext
from reports.registers import register_document


def _day_or_time(ctx: Context, text: str | None, what: str, end_of_day: bool) -> datetime | None:
    """A date (the whole day, in the archive's zone) or an ISO time."""
    if text is None:
        return None
    zone = ctx.settings.unit_zone(None)
    if len(text.strip()) == 10:  # YYYY-MM-DD
        try:
            day = datetime.fromisoformat(text.strip()).date()
        except ValueError as exc:
            raise InputError(N_("{option}: {value!r} is not a date"), option=what,
                             value=text) from exc
        if zone is None:
            raise InputError(N_("{option}: no time zone is configured to read a date in"),
                             option=what)
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), zone)
    return parse_time(text, zone, what)


# what a request's state is called (the codes stay in --json)
REQUEST_STATUS_ZH = {"pending": "待审批", "approved": "已批准", "denied": "已驳回"}


@click.group("access")
def access_cmd() -> None:
    """Access requests, approvals and the access register (调阅登记)."""


@access_cmd.command("request")
@click.option("--items", "items", multiple=True, help="Item ids (repeat, or comma-separated).")
@click.option("--query", "query_text", help='Filters, e.g. "unit=market-001 officer=P1001 '
                                            'from=2026-03-01"; confidential items are never '
                                            "included unless named with --items.")
@click.option("--reason", required=True, help="Why (调阅事由).")
@click.option("--purpose", required=True, type=click.Choice(access.PURPOSES))
@click.option("--until", help="Good until this date or time (default: "
                              f"{access.DEFAULT_DAYS} days after approval).")
@json_option
@command
def access_request(ctx: Context, items: tuple[str, ...], query_text: str | None, reason: str,
                   purpose: str, until: str | None, as_json: bool) -> int:
    """Ask to view or extract items; an approver of their unit decides."""
    actor = ctx.actor()
    ids = [i for part in items for i in part.split(",") if i]
    query = parse_query(ctx, query_text) if query_text else None
    doc = access.create_request(ctx.archive, actor, reason, purpose, ids or None, query,
                                query_text, _day_or_time(ctx, until, "--until", True))
    out = {k: doc[k] for k in ("id", "requester", "purpose", "reason", "until", "items",
                               "status", "units")}
    if as_json:
        emit_json(out)
    else:
        view = view_of(ctx)
        click.echo(ngettext(
            "Request {request}: {purpose} {count} item; waiting for approval ({units})",
            "Request {request}: {purpose} {count} items; waiting for approval ({units})",
            len(doc["items"])).format(
                request=doc["id"], purpose=named(access.PURPOSE_ZH, purpose),
                count=len(doc["items"]),
                units=joined((view.unit(u) or "-" for u in doc["units"]), "、")))
    return 0


def _show_decision(ctx: Context, req: dict, as_json: bool) -> None:
    d = req["decision"]["decision"]
    if as_json:
        emit_json({"id": req["id"], "status": req["status"], "by": d["by"], "at": d["at"],
                    "until": d["until"], "note": d["note"], "exports": d.get("exports"),
                    "key": fingerprint(req["decision"]["key_id"])}
                  | {k: d[k] for k in ("basis", "recorded_by", "signed_on", "scan") if k in d})
        return
    line = _("Request {request}: {status} by {person}").format(
        request=req["id"], status=named(REQUEST_STATUS_ZH, req["status"]),
        person=view_of(ctx, [d["by"]]).person(d["by"]))
    if d["until"]:
        line += _(", good until {until} ({zone})").format(until=local(ctx, d["until"]),
                                                          zone=zone_text(ctx))
    if d.get("exports"):
        line += ngettext(", {count} export allowed", ", {count} exports allowed",
                         d["exports"]).format(count=d["exports"])
    click.echo(line + _("; signed with key {fingerprint}").format(
        fingerprint=fingerprint(req["decision"]["key_id"])))
    if d.get("basis") == "paper":
        scan = d["scan"]
        recorder = view_of(ctx, [d["recorded_by"]]).person(d["recorded_by"])
        click.echo(_("Recorded from the signed form {file} (SHA-256 {sha256}) by {keeper}; "
                     "the scan is kept in the store at {key}").format(
                         file=scan["file"], sha256=scan["sha256"], keeper=recorder,
                         key=scan["key"]))


def _decide(approve: bool):
    @click.argument("request_id")
    @click.option("--note", default="", help="The approver's note (审批意见).")
    @json_option
    @command
    def run(ctx: Context, request_id: str, note: str, as_json: bool,
            exports: int | None = None) -> int:
        actor = ctx.actor()
        req = access.decide(ctx.archive, actor, request_id, approve, note,
                            access.AccessContext.from_settings(ctx.settings), exports)
        _show_decision(ctx, req, as_json)
        return 0

    if approve:
        run = click.option("--exports", type=int, default=None,
                           help="Extract requests: how many exports (signed packages) the "
                                f"approval allows (default {access.DEFAULT_EXPORTS}).")(run)
    return run


access_cmd.command("approve", help="Approve a request, signed with your own key.")(_decide(True))
access_cmd.command("deny", help="Refuse a request, signed with your own key.")(_decide(False))


@access_cmd.command("record-paper")
@click.argument("request_id")
@click.option("--approver", "approver_id", required=True,
              help="The person who signed the paper form (registered; no account needed).")
@click.option("--approve/--deny", "approve", required=True,
              help="What the signed form decides.")
@click.option("--scan", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The scanned signed form (PDF, JPEG, PNG or TIFF), kept in the store.")
@click.option("--signed-on", "signed_on", required=True,
              help="The date (or time) written on the form, in the unit's zone.")
@click.option("--note", default="", help="The approver's note as written on the form.")
@click.option("--exports", type=int, default=None,
              help="Extract requests: how many exports the form allows.")
@json_option
@command
def access_record_paper(ctx: Context, request_id: str, approver_id: str, approve: bool,
                        scan: Path, signed_on: str, note: str, exports: int | None,
                        as_json: bool) -> int:
    """Record an approver's decision signed on paper: the scan is kept, the record is
    signed by you, the keeper (archivist or administrator)."""
    from archive.access.paper import record_paper_decision

    actor = ctx.actor()
    when = _day_or_time(ctx, signed_on, "--signed-on", end_of_day=False)
    req = record_paper_decision(ctx.archive, actor, request_id, approver_id, approve, scan,
                                when, note, access.AccessContext.from_settings(ctx.settings),
                                exports)
    _show_decision(ctx, req, as_json)
    return 0


@access_cmd.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "denied"]))
@click.option("--mine", is_flag=True, help="Only requests I made.")
@json_option
@command
def access_list(ctx: Context, status: str | None, mine: bool, as_json: bool) -> int:
    """Access requests and their decisions."""
    requester = ctx.actor().person_id if mine else None
    rows = access.list_requests(ctx.archive, status, requester)
    if as_json:
        emit_json({"requests": rows})
        return 0
    view = view_of(ctx, {p for r in rows for p in (r["requester"], r["decided_by"]) if p})
    t = Table("申请编号", "状态", "申请人", "用途", "条目", "事由", "审批人", "有效至",
              "可提取次数", title=zone_named(ctx))
    for r in rows:
        t.add_row(r["id"], REQUEST_STATUS_ZH.get(r["status"], r["status"]),
                  view.person(r["requester"]), access.PURPOSE_ZH[r["purpose"]],
                  str(r["items"]), r["reason"],
                  view.person(r["decided_by"]) if r["decided_by"] else "-",
                  local(ctx, r["until"]) if r["until"] else "-",
                  str(r["exports_allowed"]) if r["exports_allowed"] else "-")
    Console(width=200).print(t)
    return 0


@access_cmd.command("register")
@click.option("--from", "start", help="From this date or time.")
@click.option("--to", "end", help="To this date (inclusive) or time.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "pdf"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (required for pdf).")
@json_option
@command
def access_register(ctx: Context, start: str | None, end: str | None, fmt: str,
                    out: Path | None, as_json: bool) -> int:
    """The access register (调阅登记): who viewed or extracted what, why, when; refusals.
    ``--format pdf`` issues the signed 调阅登记 (access events only), kept in the store:
    ``custody print access-register ID`` prints it again."""
    if fmt == "pdf":
        if out is None:
            raise InputError(N_("--format pdf needs --out FILE"))
        doc = register_document(ctx.archive, ctx.actor(), ctx.settings,
                                _day_or_time(ctx, start, "--from", False),
                                _day_or_time(ctx, end, "--to", True),
                                keys_dir=bootstrap.keys_dir(ctx.settings))
        deliver(doc, out, as_json, _(
            "{title} {number} written to {file}; print it again with: {command}").format(
                title="调阅登记", number=doc["number"], file=out,
                command=f"custody print access-register {doc['subject']}"))
        return 0
    rows = register.read_register(ctx.archive, ctx.actor(),
                                  _day_or_time(ctx, start, "--from", False),
                                  _day_or_time(ctx, end, "--to", True))
    zone = ctx.settings.unit_zone(None)
    if as_json:
        emit_json({"entries": rows})
        return 0
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(register.REGISTER_COLUMNS)
        for r in rows:
            w.writerow(register.row_cells(r, zone))
        text = buf.getvalue()
        if out is not None:
            write_output(out, text.encode("utf-8-sig"), "--out")  # BOM: spreadsheets read UTF-8
            click.echo(ngettext("{title} written to {file} ({count} entry)",
                                "{title} written to {file} ({count} entries)",
                                len(rows)).format(title="调阅登记", file=out, count=len(rows)))
        else:
            click.echo(text, nl=False)
        return 0
    t = Table(*register.REGISTER_COLUMNS, title="调阅登记")
    for r in rows:
        t.add_row(*register.row_cells(r, zone))
    if out is None:
        Console(width=200).print(t)
        return 0
    buf = io.StringIO()
    Console(width=200, file=buf).print(t)
    write_output(out, buf.getvalue().encode("utf-8"), "--out")
    return 0


@click.command()
@click.argument("item_id")
@click.option("--request", "request_id", help="The approved request to view under "
                                              "(default: your newest one covering the item).")
@click.option("--inspection", "inspection_id",
              help="Auditors: your sampled verification that drew the item (回放检查; "
                   "default: your newest one that did).")
@click.option("--player", help="A player reading standard input, e.g. 'mpv -' or 'vlc -'.")
@click.option("--link", is_flag=True, help="Serve the item once on a one-time 127.0.0.1 link.")
@click.option("--wait", default=300, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds the one-time link waits to be opened.")
@json_option
@command
def view(ctx: Context, item_id: str, request_id: str | None, inspection_id: str | None,
         player: str | None, link: bool, wait: int, as_json: bool) -> int:
    """Play an item under an approved request (auditors: also an item their own sampled
    verification drew), without leaving a copy on disk; registered in the access register
    (调阅登记)."""
    if bool(player) == link:
        raise InputError(N_("choose --player CMD or --link (one of them)"))
    actor = ctx.actor()
    if player:
        result = viewing.view_with_player(ctx.archive, actor, item_id, request_id,
                                          shlex.split(player), inspection_id)
    else:
        def ready(url: str) -> None:
            click.echo(_("Open once within {seconds} s: {url}").format(seconds=wait, url=url),
                       err=not as_json)
            sys.stdout.flush()

        result = viewing.view_by_link(ctx.archive, actor, item_id, request_id, ready,
                                      timeout=wait, inspection_id=inspection_id)
    if as_json:
        emit_json(result)
    else:
        basis = (_("request {request}").format(request=result["request"])
                 if result["request"] else
                 _("inspection {inspection} (回放检查)").format(
                     inspection=result["inspection"]))
        click.echo(_("Registered in the access register as {entry}: {outcome}, under "
                     "{basis}").format(entry=result["register"],
                                       outcome=named(OUTCOME, result["outcome"]), basis=basis),
                   err=True)
    return 0


@click.command("export")
@click.argument("request_id")
@click.option("--to", "dest", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) directory for the bag.")
@click.option("--iso", "iso_image", is_flag=True, help="Also write DIR.iso to burn.")
@click.option("--new", "new", is_flag=True,
              help="A further package, counted as another export, even where your last one "
                   "may still be fetched again.")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the signed 提取说明 (custody print export-statement ID).")
@json_option
@command
def export_cmd(ctx: Context, request_id: str, dest: Path, iso_image: bool, new: bool,
               pdf: Path | None, as_json: bool) -> int:
    """Copies of an approved extract request's items as a BagIt bag with a signed extraction
    record (提取说明); originals never leave the store. Each export uses one of the exports
    the approval allows; asked again within a day, the same package is delivered again
    without counting."""
    from archive.access.export import REDELIVER_HOURS, export

    actor = ctx.actor()
    with progress(_("export {request}").format(request=request_id[:13]), as_json,
                  unit="bytes") as bar:
        doc = export(ctx.archive, actor, request_id, dest,
                     fonds=ctx.settings.section("archive").get("fonds", ""),
                     iso_image=iso_image, new=new, progress=bar, total=bar.total)
    if pdf is not None:
        from documents import issue

        statement = issue.issue(ctx.archive, actor, ctx.settings, "export-statement",
                                doc["id"], keys_dir=bootstrap.keys_dir(ctx.settings))
        write_output(pdf, statement["pdf"], "--pdf")
        if not as_json:
            click.echo(_("{title} {number} written to {file}").format(
                title="提取说明", number=statement["number"], file=pdf), err=True)
    if as_json:
        emit_json(doc)
    else:
        uses = doc["uses"]
        how = (_("the same package again (made {at}; not counted, within {hours} h)").format(
                   at=local(ctx, doc["at"]), hours=REDELIVER_HOURS) if doc["redelivered"]
               else _("export {use} of {allowed}").format(use=doc["use"],
                                                          allowed=uses["allowed"]))
        click.echo(_("Export {export}: {count} items to {folder}").format(
                       export=doc["id"], count=len(doc["items"]), folder=doc["to"])
                   + (_(" and {iso}").format(iso=doc["iso"]) if doc["iso"] else "")
                   + _("; {how}; {left} left; archive key {fingerprint}").format(
                       how=how, left=uses["left"],
                       fingerprint=fingerprint(ctx.archive.key.key_id)))
    return 0


@click.command("verify-export")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The archive public key (PEM) you already trust.")
@click.option("--fingerprint", "fp", help="The archive key fingerprint you already trust.")
@json_option
@command
def verify_export_cmd(ctx: Context, path: Path, key_file: Path | None, fp: str | None,
                      as_json: bool) -> int:
    """Check an export bag or its ISO image offline against a trusted archive key; name
    everything altered, added or removed."""
    from archive.access.export import verify_export

    if (key_file is None) == (fp is None):
        raise InputError(N_("give the trusted archive key as --key FILE or --fingerprint FP "
                            "(one of them)"))
    report = verify_export(path, key_file, fp)
    if as_json:
        emit_json(report.to_dict())
    else:
        r = report.to_dict()
        click.echo(_("{path}: export {export}, request {request}, {count} items, extracted "
                     "by {person}").format(path=path, export=r["export_id"],
                                           request=r["request"], count=r["items"],
                                           person=r["extractor"]))
        click.echo(_("Trusted archive key: {key}").format(
            key=r["trusted_key"] or _("(none matched)")))
        for p in r["problems"]:
            click.echo(f"  {reason_text(p)}")
        click.echo(_("Export intact: every file matches the signed extraction record")
                   if report.ok else ngettext("{count} problem", "{count} problems",
                                              len(r["problems"])).format(
                                                  count=len(r["problems"])))
    return 0 if report.ok else 1


COMMANDS = (access_cmd, view, export_cmd, verify_export_cmd,)
