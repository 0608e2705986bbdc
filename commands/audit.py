"""custody audit, verify, inspect, inspections: the ledger, sampled machine-read verification
and the inspection ledger (检查台帐)."""

from __future__ import annotations

import functools
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive.inputs import write_output
from archive.integrity.signing import fingerprint
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
    local,
    progress,
)


# --- audit ----------------------------------------------------------------------------------
@click.group()
def audit() -> None:
    """The audit ledger."""


@audit.command("verify")
@json_option
@command
def audit_verify(ctx: Context, as_json: bool) -> int:
    """Check the hash chain, signatures and signed checkpoints, and every item's search
    fields against its signed metadata; name every problem."""
    with progress("auditing", as_json) as bar:
        report = ctx.archive.audit(progress=bar)
    if as_json:
        emit_json(report)
        return 0 if report["ok"] else 1
    click.echo(f"{report['entries']} entries, head {report['head_seq']}, "
               f"{report['checkpoints']} signed checkpoints")
    for p in report["problems"]:
        click.echo(f"  {p['code']:<14} at {p['seq'] if p['seq'] is not None else '-':>6}: "
                   f"{p['message']}")
    click.echo("ledger intact" if report["ledger_ok"] else
               f"{len(report['problems'])} problem(s)")
    index = report["index_problems"]
    click.echo(f"{report['items_checked']} items: search fields "
               + ("agree with the signed metadata" if not index else
                  f"differ from the signed metadata in {len(index)} place(s)"))
    for p in index:
        where = p["item"] if p["item"] != "-" else "index"
        if "stored" in p:
            click.echo(f"  {p['code']:<22} {where} {p['field']}: catalog {p['stored']!r}, "
                       f"signed {p['signed']!r}")
        else:
            click.echo(f"  {p['code']:<22} {where}: {p['message']}")
    return 0 if report["ok"] else 1


@audit.command("checkpoint")
@json_option
@command
def audit_checkpoint(ctx: Context, as_json: bool) -> int:
    """Write a signed checkpoint of the ledger head to the WORM store now."""
    from archive import verification

    signed = verification.checkpoint_ledger(ctx.archive)
    if as_json:
        emit_json(signed)
    else:
        cp = signed["checkpoint"]
        click.echo(f"checkpoint of entry {cp['seq']} ({cp['hash'][:16]}…) signed by "
                   f"{fingerprint(signed['key_id'])}")
    return 0


@click.command()
@click.option("--year", type=int, help="The lot: records of year N (in the archive's zone).")
@click.option("--query", "query_text", help='The lot: filters, e.g. "unit=market-001 '
                                            'officer=P1001 from=2026-01-01".')
@click.option("--level", type=click.Choice(["I", "II", "III"]), default="II",
              show_default=True, help="GB/T 2828.1 general inspection level.")
@click.option("--sample", type=click.IntRange(1), help="Sample size instead of the table's.")
@click.option("--all", "everything", is_flag=True, help="Every item of the lot (a sweep).")
@click.option("--seed", type=int, help="Draw the same sample as an earlier run.")
@click.option("--rate", type=click.FloatRange(min=0.1), help="Read at most this many MB/s.")
@click.option("--copy", type=click.Choice(["primary", "replica"]), default="primary",
              show_default=True, help="Which copy to read: the primary store or the replica.")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the signed 抽样检验报告 (custody print sampling-report ID).")
@json_option
@command
def verify(ctx: Context, year: int | None, query_text: str | None, level: str,
           sample: int | None, everything: bool, seed: int | None, rate: float | None,
           copy: str, pdf: Path | None, as_json: bool) -> int:
    """Sampled machine-read verification (定期抽样机读检验), filed in the inspection ledger
    with the lot's verdict (批合格/批不合格)."""
    from archive import verification

    actor = ctx.actor()
    record = verification.run_verification(
        ctx.archive, actor, ctx.settings, year=year, query=query_text, level=level,
        sample=sample, everything=everything, seed=seed, rate=rate, copy=copy,
        open_replica=functools.partial(bootstrap.open_replica, ctx.settings),
        media_probe=bootstrap.media_probe())
    if pdf is not None:
        _print_document(ctx, actor, "sampling-report", record["id"], pdf, as_json)
    if as_json:
        emit_json(record)
    else:
        click.echo(verification.render_zh(record))
    return 1 if record["summary"]["failed"] else 0


def _print_document(ctx: Context, actor, kind: str, subject: str | None, out: Path,
                    as_json: bool, params: dict | None = None) -> dict:
    """Issue (or print again) the official document and write it to ``out``."""
    from documents import issue

    doc = issue.issue(ctx.archive, actor, ctx.settings, kind, subject, params=params,
                      keys_dir=bootstrap.keys_dir(ctx.settings))
    write_output(out, doc["pdf"], "--pdf")
    if not as_json:
        click.echo(f"{doc['title']} {doc['number']} written to {out}; print it again with "
                   f"custody print {kind} {doc['subject']}", err=True)
    return doc


@click.command()
@click.argument("item_id")
@click.option("--finding", required=True, type=click.Choice(
    ["late-start", "no-notice", "unrelated", "interrupted", "other"]))
@click.option("--note", default="")
@json_option
@command
def inspect(ctx: Context, item_id: str, finding: str, note: str, as_json: bool) -> int:
    """Record a conduct finding from watching a recording (回放检查)."""
    from archive import verification

    record = verification.record_finding(ctx.archive, ctx.actor(), item_id, finding, note)
    emit_json(record) if as_json else click.echo(verification.render_zh(record))
    return 0


@click.group()
def inspections() -> None:
    """The inspection ledger (检查台帐)."""


@inspections.command("list")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Issue the signed 检查台帐 of every inspection so far to this file.")
@json_option
@command
def inspections_list(ctx: Context, pdf: Path | None, as_json: bool) -> int:
    from archive import verification

    if pdf is not None:
        doc = _print_document(ctx, ctx.actor(), "inspection-ledger", None, pdf, as_json,
                              params={})
        if as_json:
            emit_json({k: v for k, v in doc.items() if k != "pdf"} | {"out": str(pdf)})
        return 0
    rows = verification.list_inspections(ctx.archive.catalog)
    if as_json:
        emit_json({"inspections": rows})
        return 0
    t = Table("编号", "类型", "检查人", "时间", "条目数", "不合格")
    for r in rows:
        t.add_row(r["id"], "抽样机读检验" if r["type"] == "sampled-verification" else "回放检查",
                  r["by"], r["at"], str(r["items"]), str(r["failed"]))
    Console(width=200).print(t)
    return 0


@inspections.command("show")
@click.argument("inspection_id")
@json_option
@command
def inspections_show(ctx: Context, inspection_id: str, as_json: bool) -> int:
    from archive import verification

    doc = verification.get_inspection(ctx.archive.catalog, inspection_id)
    emit_json(doc) if as_json else click.echo(verification.render_zh(doc))
    return 0


@inspections.command("resolve")
@click.argument("inspection_id")
@click.option("--note", required=True, help="How the finding was resolved (处理情况).")
@json_option
@command
def inspections_resolve(ctx: Context, inspection_id: str, note: str, as_json: bool) -> int:
    """Settle a playback finding (a signed record of its own; the finding stays as it was);
    from then on it no longer holds its item from disposal."""
    from archive import verification

    doc = verification.resolve_finding(ctx.archive, ctx.actor(), inspection_id, note)
    r = doc["resolution"]
    emit_json(doc) if as_json else click.echo(
        f"finding {inspection_id} resolved by {r['by']} at {local(ctx, r['at'], doc['unit'])}")
    return 0


COMMANDS = (audit, verify, inspect, inspections,)
