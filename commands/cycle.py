"""custody commands: the annual cycle (status, transfer, finalize with archive codes) and
write-once disc copies (issue 4).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive.domain.names import TIER_ZH
from archive.domain.timeutil import parse_time
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
    named,
    progress,
    reason_text,
)
from i18n import _, ngettext

_TRANSFER_STATE_ZH = {"prepared": "待接收", "accepted": "已接收"}


def _trusted_key(key: str | None) -> str:
    """The key a package was checked with: its fingerprint, or this home's own keys."""
    return "本档案库的公钥" if key == "this archive's keys" else (key or "-")


YEAR = click.IntRange(1900, 9999)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _policy(ctx: Context):
    return bootstrap.cycle_policy(ctx.settings)


# --- cycle status --------------------------------------------------------------------------
@click.group()
def cycle() -> None:
    """The annual cycle: handover before March, archiving by end of June (config [cycle])."""


@cycle.command("status")
@click.option("--year", required=True, type=YEAR, help="Records of year N (unit's zone).")
@click.option("--as-of", "as_of", help="Report as of this date/time (archive zone if no "
                                       "offset); changes nothing else.")
@json_option
@command
def cycle_status(ctx: Context, year: int, as_of: str | None, as_json: bool) -> int:
    """Phase, counts by unit and tier, what blocks the next step, what is overdue."""
    from retention import cycle as cycle_mod

    when = parse_time(as_of, ctx.settings.unit_zone(None), "--as-of") if as_of else _now()
    st = cycle_mod.status(ctx.archive, _policy(ctx), year, when)
    emit_json(st) if as_json else click.echo(cycle_mod.render_status(st))
    return 0


# --- transfer ------------------------------------------------------------------------------
@click.group()
def transfer() -> None:
    """Handing year N over to the archivists (移交)."""


@transfer.command("prepare")
@click.option("--year", required=True, type=YEAR)
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the transfer package (a BagIt bag).")
@click.option("--no-media", is_flag=True, help="Skip re-parsing recordings (durations).")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also check the package as written, as the receiver will, and write its "
                   "four-property check report (四性检测报告) as a signed PDF to this file.")
@json_option
@command
def transfer_prepare(ctx: Context, year: int, to: Path, no_media: bool, pdf: Path | None,
                     as_json: bool) -> int:
    """Check every item of the year from the store; write the list, report and manifest."""
    from retention import transfer as tr

    with progress("transfer check", as_json) as bar:
        rec = tr.prepare(ctx.archive, ctx.actor(), _policy(ctx), year, to, _now(),
                         None if no_media else bootstrap.media_probe(), bar, bar.total)
    listing = rec.pop("listing")
    doc = None
    if pdf is not None:
        # the package as handed over, read back as the receiver reads it (a second read)
        formats = ctx.settings.section("formats")
        report = tr.verify_package(Path(rec["package"]), None, ctx.archive.archive_keys,
                                   formats)
        doc = _check_report(ctx, report, bool(formats), "sender", pdf)
    if as_json:
        emit_json(rec | ({"document": doc} if doc else {}))
    else:
        click.echo(listing)
        click.echo(_("package: {path}").format(path=rec["package"]))
        if doc:
            click.echo(_written(doc))
    return 1 if rec["withheld"] else 0


@transfer.command("verify")
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The archive public key (PEM) you trust; without it, this home's keys.")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the four-property check report (四性检测报告) of the package as "
                   "a signed PDF to this file.")
@json_option
@command
def transfer_verify(ctx: Context, package: Path, key_file: Path | None, pdf: Path | None,
                    as_json: bool) -> int:
    """The receiver's check of a handover package on the package alone (四性检测, DA/T 70):
    every record and the package; prints the 登记表's figures."""
    from retention import transfer as tr

    formats = ctx.settings.section("formats")
    report = tr.verify_package(package, key_file,
                               None if key_file else ctx.archive.archive_keys, formats)
    doc = _check_report(ctx, report, bool(formats), "receiver", pdf)
    if as_json:
        emit_json(report | ({"document": doc} if doc else {}))
    else:
        click.echo(render_verify_zh(report))
        if doc:
            click.echo(_written(doc))
    return 0 if report["ok"] else 1


def _check_report(ctx: Context, report: dict, formats_checked: bool, by: str,
                  pdf: Path | None) -> dict | None:
    """The 四性检测报告 of a package check issued and written to ``pdf`` (its record, without
    the bytes); None without --pdf."""
    if pdf is None:
        return None
    from archive.inputs import write_output
    from documents import issue

    doc = issue.issue(ctx.archive, ctx.actor(), ctx.settings, "handover-check-report",
                      keys_dir=bootstrap.keys_dir(ctx.settings),
                      params={"report": report, "formats_checked": formats_checked, "by": by})
    write_output(pdf, doc["pdf"], "--pdf")
    return {k: v for k, v in doc.items() if k != "pdf"} | {"out": str(pdf)}


def _written(doc: dict) -> str:
    from commands.documents import written_line

    return written_line(doc)


def render_verify_zh(report: dict) -> str:
    from retention.handover import PROPERTIES, PROPERTY_ZH, RESULT_ZH

    f = report["form"]
    lines = [f"移交数据包核验  批次 {f['transfer'] or '-'}  {f['year'] or '-'}年度  "
             f"全宗 {f['fonds'] or '-'}",
             f"核验密钥 {_trusted_key(report['trusted_key'])}",
             f"电子档案 {f['items']} 件  {f['bytes']} 字节  暂缓移交 {f['withheld']} 件  "
             f"载体 {f['carrier']}",
             f"移交清单摘要（{f['digest_algorithm']}） {f['manifest_sha256'] or '-'}"]
    for p in PROPERTIES:
        r = f["properties"][p]
        lines.append(f"  {PROPERTY_ZH[p]}：{RESULT_ZH[r['result']]}"
                     + (f"（不通过 {r['failed_items']} 件）" if r["failed_items"] else ""))
    for pr in report["problems"]:
        lines.append(f"  包 {PROPERTY_ZH[pr['property']]} {pr['code']}: {reason_text(pr)}")
    for it in report["items"]:
        bad = [f"{PROPERTY_ZH[p]}-{'、'.join(it['properties'][p]['problems'])}"
               for p in PROPERTIES if it["properties"][p]["result"] == "fail"]
        if bad:
            lines.append(f"  {it['archive_code'] or it['item']}  {it['file']}  "
                         + "；".join(bad))
    lines.append("核验通过：每件电子档案与签名清单一致" if report["ok"]
                 else "核验未通过：见上列问题")
    return "\n".join(lines)


@transfer.command("accept")
@click.option("--year", required=True, type=YEAR)
@click.option("--package", type=click.Path(exists=True, path_type=Path),
              help="The package as received (default: where prepare wrote it).")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the four-property check report (四性检测报告) of the package "
                   "received as a signed PDF to this file.")
@json_option
@command
def transfer_accept(ctx: Context, year: int, package: Path | None, pdf: Path | None,
                    as_json: bool) -> int:
    """Check the package received and sign the receipt of the latest prepared transfer (not
    the preparer); the check is recorded in the receipt and the ledger."""
    from retention import transfer as tr

    formats = ctx.settings.section("formats")
    t = tr.accept(ctx.archive, ctx.actor(), year, _now(), package, formats)
    report = t.pop("package_report", None)
    doc = _check_report(ctx, report, bool(formats), "receiver", pdf) if report else None
    if as_json:
        emit_json({k: v for k, v in t.items() if k != "items"} | {"items": len(t["items"])}
                  | ({"document": doc} if doc else {}))
    else:
        click.echo(tr.render_receipt_zh(t, _policy(ctx)))
        if doc:
            click.echo(_written(doc))
    return 0


@transfer.command("list")
@click.option("--year", type=YEAR)
@json_option
@command
def transfer_list(ctx: Context, year: int | None, as_json: bool) -> int:
    """Transfers with their state and receipts."""
    from retention import transfer as tr

    rows = tr.list_transfers(ctx.archive, year)
    if as_json:
        emit_json({"transfers": rows})
        return 0
    t = Table("批次", "年度", "状态", "件数", "暂缓", "移交人", "接收人")
    for r in rows:
        t.add_row(r["id"], str(r["year"]), named(_TRANSFER_STATE_ZH, r["status"]),
                  str(r["items"]), str(r["withheld"]),
                  r["prepared_by"], r["accepted_by"] or "-")
    Console(width=200).print(t)
    return 0


# --- archive finalize ----------------------------------------------------------------------
@click.group("archive")
def archive_group() -> None:
    """Archiving year N: archive codes (档号) and the signed yearly manifest."""


@archive_group.command("finalize")
@click.option("--year", required=True, type=YEAR)
@json_option
@command
def archive_finalize(ctx: Context, year: int, as_json: bool) -> int:
    """Assign archive codes to accepted items and write the yearly manifest (re-runnable)."""
    from retention import cycle as cycle_mod

    work = ctx.settings.home / "work" / "annual"
    out = cycle_mod.finalize(ctx.archive, ctx.actor(), _policy(ctx), year, work, _now())
    if as_json:
        emit_json(out)
        return 0
    for d in out["new_codes"]:
        click.echo(f"{d['code']}  {d['item']}")
    click.echo(_("{new} new codes, {codes} in year {year}; {notes} promotion notes").format(
        new=len(out["new_codes"]), codes=out["codes"], year=year, notes=len(out["notes"])))
    m = out["manifest"]
    click.echo(_("yearly manifest {number} stored under {prefix}/").format(
        number=m["number"], prefix=m["prefix"]) if m else
        _("nothing changed: no new manifest"))
    if out["not_transferred"]:
        click.echo(_("{n} items of {year} are in no accepted transfer yet (custody cycle "
                     "status)").format(n=len(out["not_transferred"]), year=year))
    return 0


@archive_group.command("codes")
@click.option("--year", required=True, type=YEAR)
@json_option
@command
def archive_codes(ctx: Context, year: int, as_json: bool) -> int:
    """The archive codes of year N, with notes of later promotions and of destruction."""
    from retention import codes

    docs = codes.codes_of_year(ctx.archive.catalog, year)
    if as_json:
        emit_json({"codes": docs})
        return 0
    zone = ctx.settings.unit_zone(None) or timezone.utc
    for d in docs:
        notes = [n["text"] for n in d.get("notes", [])]
        if d.get("destroyed"):
            at = datetime.fromisoformat(d["destroyed"]["at"].replace("Z", "+00:00"))
            notes.append(f"已销毁 {at.astimezone(zone):%Y-%m-%d %H:%M}（销毁清单 "
                         f"{d['destroyed']['list']}），档号不再使用")
        click.echo(f"{d['code']}  {d['item']}" + (f"  [{'；'.join(notes)}]" if notes else ""))
    return 0


# --- discs ---------------------------------------------------------------------------------
@click.group()
def disc() -> None:
    """Write-once disc copies of permanent records (刻录光盘) and where each disc is kept."""


def _inside_pdf(ctx: Context):  # -> retention.discs.InsidePdf
    """The 盘内说明 of a disc issued as an official document (kept, printed again with
    'custody print disc-readme DISC'), its PDF written onto the disc."""
    from documents import issue

    def make(disc_id: str, label: dict, rows: list[dict]) -> bytes:
        doc = issue.issue(ctx.archive, ctx.actor(), ctx.settings, "disc-readme", disc_id,
                          keys_dir=bootstrap.keys_dir(ctx.settings),
                          params={"label": label, "rows": rows})
        return doc["pdf"]

    return make


@disc.command("build")
@click.option("--tier", type=click.Choice(["permanent"]), default="permanent",
              show_default=True)
@click.option("--year", type=YEAR, help="Only records of year N.")
@click.option("--capacity", required=True,
              help="Disc size: 25G, 50G or 100G (any size such as 700M is accepted).")
@click.option("--to", "to", required=True, type=click.Path(file_okay=False, path_type=Path))
@json_option
@command
def disc_build(ctx: Context, tier: str, year: int | None, capacity: str, to: Path,
               as_json: bool) -> int:
    """Pack items not yet on a disc into ISO images (a BagIt bag each), first fit."""
    from retention import discs

    cap = discs.parse_capacity(capacity)
    out = discs.build(ctx.archive, ctx.actor(), _policy(ctx), tier, year, cap, to, _now(),
                      inside_pdf=_inside_pdf(ctx))
    if as_json:
        emit_json(out)
    else:
        for d in out["discs"]:
            click.echo(_("{disc}  {n} items  {size} bytes  {image}").format(
                disc=d["id"], n=len(d["items"]), size=d["size"], image=d["image"]))
        if not out["discs"]:
            click.echo(_("nothing to write: every matching item is already on a disc"))
        for r in out["refused"]:
            click.echo(_("refused: {reason}").format(reason=reason_text(r)), err=True)
    return 1 if out["refused"] else 0


@disc.command("verify")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@json_option
@command
def disc_verify(ctx: Context, path: Path, as_json: bool) -> int:
    """Check an ISO image or a mounted disc: the bag and every signature. Exit 1 on any
    problem."""
    from retention import discs

    rep = discs.verify(path, ctx.archive.archive_keys)
    if as_json:
        emit_json(rep)
    else:
        click.echo(_("{path}: {items} items, {files} files, {bytes} bytes").format(
            path=rep["path"], items=rep["items"], files=rep["files"], bytes=rep["bytes"]))
        for p in rep["problems"]:
            click.echo(f"  {p['code']:<18} {p['path']}: {reason_text(p)}")
        n = len(rep["problems"])
        click.echo(_("disc intact") if rep["ok"] else
                   ngettext("{n} problem", "{n} problems", n).format(n=n))
    return 0 if rep["ok"] else 1


@disc.command("place")
@click.argument("disc_id")
@click.option("--location", required=True, help="Where the disc is kept (cabinet, room).")
@json_option
@command
def disc_place(ctx: Context, disc_id: str, location: str, as_json: bool) -> int:
    """Record where a disc is kept."""
    from retention import discs

    doc = discs.place(ctx.archive, ctx.actor(), disc_id, location, _now())
    emit_json(doc) if as_json else click.echo(_("{disc}: kept at {location}").format(
        disc=disc_id, location=location))
    return 0


@disc.command("list")
@json_option
@command
def disc_list(ctx: Context, as_json: bool) -> int:
    """The disc inventory. Discs are never lent, only copies of them."""
    from retention import discs

    docs = discs.inventory(ctx.archive)
    rows = [{k: d.get(k) for k in ("id", "tier", "year", "size", "capacity", "location",
                                   "created_at", "image_sha256")}
            | {"items": len(d["items"]), "lent": False} for d in docs]
    if as_json:
        emit_json({"discs": rows, "note": discs.NEVER_LENT})
        return 0
    zone = ctx.settings.unit_zone(None) or timezone.utc
    t = Table("光盘编号", "保管类别", "年度", "件数", "字节数", "存放位置", "写入时间",
              "镜像 SHA-256")
    for r in rows:
        written = datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")).astimezone(zone)
        t.add_row(r["id"], named(TIER_ZH, r["tier"]), str(r["year"] or _("all")),
                  str(r["items"]), str(r["size"]),
                  r["location"] or "-", f"{written:%Y-%m-%d %H:%M}",
                  (r["image_sha256"] or "-")[:16] + "…")
    Console(width=200).print(t)
    click.echo(discs.NEVER_LENT)
    return 0


COMMANDS = (cycle, transfer, archive_group, disc,)
