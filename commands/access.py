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
    json_option,
    parse_query,
    progress,
)
from commands.documents import deliver
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
            raise InputError(f"{what}: {text!r} is not a date") from exc
        if zone is None:
            raise InputError(f"{what}: no time zone is configured to read a date in")
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), zone)
    return parse_time(text, zone, what)


def _request_line(r: dict) -> str:
    d = r.get("decision") or {}
    by = d.get("decision", {}).get("by") if d else None
    return (f"{r['id']}  {r['status']:<8} {r['requester']:<8} {r['purpose']:<7} "
            f"{len(r['items'])} items  {r['reason']}" + (f"  (by {by})" if by else ""))


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
        click.echo(f"request {doc['id']}: {purpose} {len(doc['items'])} items, waiting for "
                   f"approval ({', '.join(u or '-' for u in doc['units'])})")
    return 0


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
        d = req["decision"]["decision"]
        if as_json:
            emit_json({"id": req["id"], "status": req["status"], "by": d["by"], "at": d["at"],
                        "until": d["until"], "note": d["note"], "exports": d.get("exports"),
                        "key": fingerprint(req["decision"]["key_id"])})
        else:
            click.echo(f"request {req['id']} {req['status']} by {d['by']}"
                       + (f", good until {d['until']}" if d["until"] else "")
                       + (f", {d['exports']} export{'s' if d['exports'] != 1 else ''}"
                          if d.get("exports") else "")
                       + f"; signed with key {fingerprint(req['decision']['key_id'])}")
        return 0

    if approve:
        run = click.option("--exports", type=int, default=None,
                           help="Extract requests: how many exports (signed packages) the "
                                f"approval allows (default {access.DEFAULT_EXPORTS}).")(run)
    return run


access_cmd.command("approve", help="Approve a request, signed with your own key.")(_decide(True))
access_cmd.command("deny", help="Refuse a request, signed with your own key.")(_decide(False))


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
    t = Table("申请编号", "状态", "申请人", "用途", "条目", "事由", "审批人", "有效至",
              "可提取次数")
    for r in rows:
        t.add_row(r["id"], {"pending": "待审批", "approved": "已批准", "denied": "已驳回"}
                  [r["status"]], r["requester"], access.PURPOSE_ZH[r["purpose"]],
                  str(r["items"]), r["reason"], r["decided_by"] or "-", r["until"] or "-",
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
            raise InputError("--format pdf needs --out FILE")
        doc = register_document(ctx.archive, ctx.actor(), ctx.settings,
                                _day_or_time(ctx, start, "--from", False),
                                _day_or_time(ctx, end, "--to", True),
                                keys_dir=bootstrap.keys_dir(ctx.settings))
        deliver(doc, out, as_json, f"调阅登记 {doc['number']} written to {out}; print it "
                f"again with custody print access-register {doc['subject']}")
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
            click.echo(f"调阅登记 written to {out} ({len(rows)} entries)")
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
        raise InputError("choose --player CMD or --link (one of them)")
    actor = ctx.actor()
    if player:
        result = viewing.view_with_player(ctx.archive, actor, item_id, request_id,
                                          shlex.split(player), inspection_id)
    else:
        def ready(url: str) -> None:
            click.echo(f"open once within {wait} s: {url}", err=not as_json)
            sys.stdout.flush()

        result = viewing.view_by_link(ctx.archive, actor, item_id, request_id, ready,
                                      timeout=wait, inspection_id=inspection_id)
    if as_json:
        emit_json(result)
    else:
        basis = (f"request {result['request']}" if result["request"]
                 else f"inspection {result['inspection']} (回放检查)")
        click.echo(f"registered {result['register']}: {result['outcome']} under {basis}",
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
    with progress(f"export {request_id[:13]}", as_json, unit="bytes") as bar:
        doc = export(ctx.archive, actor, request_id, dest,
                     fonds=ctx.settings.section("archive").get("fonds", ""),
                     iso_image=iso_image, new=new, progress=bar, total=bar.total)
    if pdf is not None:
        from documents import issue

        statement = issue.issue(ctx.archive, actor, ctx.settings, "export-statement",
                                doc["id"], keys_dir=bootstrap.keys_dir(ctx.settings))
        write_output(pdf, statement["pdf"], "--pdf")
        if not as_json:
            click.echo(f"提取说明 {statement['number']} written to {pdf}", err=True)
    if as_json:
        emit_json(doc)
    else:
        uses = doc["uses"]
        how = (f"the same package again (made {doc['at']}; not counted, within "
               f"{REDELIVER_HOURS} h)" if doc["redelivered"]
               else f"export {doc['use']} of {uses['allowed']}")
        click.echo(f"export {doc['id']}: {len(doc['items'])} items to {doc['to']}"
                   + (f" and {doc['iso']}" if doc["iso"] else "")
                   + f"; {how}; {uses['left']} left"
                   + f"; archive key {fingerprint(ctx.archive.key.key_id)}")
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
        raise InputError("give the trusted archive key as --key FILE or --fingerprint FP "
                         "(one of them)")
    report = verify_export(path, key_file, fp)
    if as_json:
        emit_json(report.to_dict())
    else:
        r = report.to_dict()
        click.echo(f"{path}: export {r['export_id']}, request {r['request']}, "
                   f"{r['items']} items, extracted by {r['extractor']}")
        click.echo(f"trusted archive key: {r['trusted_key'] or '(none matched)'}")
        for p in report.problems:
            click.echo(f"  {p['code']:<22} {p['message']}")
        click.echo("export intact: every file matches the signed extraction record"
                   if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


COMMANDS = (access_cmd, view, export_cmd, verify_export_cmd,)
