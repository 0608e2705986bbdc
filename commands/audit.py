"""custody audit, verify, inspect, inspections: the ledger, sampled machine-read verification
and the inspection ledger (检查台帐)."""

from __future__ import annotations

import functools
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
import i18n
from archive.inputs import write_output
from archive.integrity.signing import fingerprint
from commands.base import (
    Context,
    colon,
    command,
    emit_json,
    item_label,
    json_option,
    local,
    named,
    progress,
    reason_text,
    view_of,
    zone_named,
    zone_text,
)
from documents.names import PROBLEM
from i18n import _, localize, ngettext

# what each kind of ledger problem is called (the codes stay in --json)
LEDGER_PROBLEM_ZH = {"edited": "记录被改动", "removed": "记录被删除", "reordered": "记录顺序被打乱",
                     "truncated": "末尾记录被截去", "rewritten": "记录与检查点不符",
                     "broken-link": "哈希链断开", "bad-signature": "签名无法验证",
                     "bad-checkpoint": "检查点无效",
                     # the web console's entries (archive.passkeys.evidence)
                     "bad-passkey": "通行密钥签名无法验证",
                     "passkey-invalid": "通行密钥不在有效期内",
                     "unsigned-decision": "决定缺少本人通行密钥签名",
                     "console-unattested": "控制台记录未注明登录会话",
                     "decision-mismatch": "签名的决定与记录不符",
                     "decision-stale": "决定签名已过时",
                     "decision-replayed": "决定签名被重复使用",
                     "credential-key-swapped": "通行密钥公钥被替换",
                     "credential-unregistered": "通行密钥未在审计日志中登记",
                     "credential-key-mismatch": "确认的通行密钥公钥与登记不符",
                     "confirmer-not-administrator": "通行密钥的确认人不是管理员",
                     "unknown-credential": "未登记的通行密钥",
                     "credential-reenrolled": "通行密钥重复登记",
                     "credential-unpublished": "通行密钥未在 WORM 存储中发布",
                     "bad-console-key": "控制台密钥无效"}


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
    with progress(_("auditing"), as_json) as bar:
        report = ctx.archive.audit(progress=bar)
    if as_json:
        emit_json(report)
        return 0 if report["ok"] else 1
    click.echo(_("Audit ledger: {entries} entries, the last is number {head}; {checkpoints} "
                 "signed checkpoints").format(entries=report["entries"],
                                              head=report["head_seq"] or "-",
                                              checkpoints=report["checkpoints"]))
    for p in report["problems"]:
        where = (_("entry {seq}").format(seq=p["seq"]) if p["seq"] is not None
                 else _("checkpoints"))
        click.echo(f"  {named(LEDGER_PROBLEM_ZH, p['code'])} ({where}){colon()}"
                   f"{reason_text(p)}" if i18n.language() == "en" else
                   f"  {named(LEDGER_PROBLEM_ZH, p['code'])}（{where}）：{reason_text(p)}")
    click.echo(_("The audit ledger is intact") if report["ledger_ok"] else ngettext(
        "{count} problem in the audit ledger", "{count} problems in the audit ledger",
        len(report["problems"])).format(count=len(report["problems"])))
    attested = report.get("attested") or {}
    if any(attested.values()):  # the web console's entries, told apart from a person's own
        click.echo(_("{signed} entries signed by a person's passkey; {attested} recorded and "
                     "attested by the web console").format(
            signed=attested.get("passkey_signed", 0),
            attested=attested.get("console_attested", 0)))
    index = report["index_problems"]
    checked = report["items_checked"]
    click.echo(_("{count} items checked: their search fields agree with the signed "
                 "metadata").format(count=checked) if not index else
               ngettext("{count} items checked: their search fields differ from the signed "
                        "metadata in {places} place",
                        "{count} items checked: their search fields differ from the signed "
                        "metadata in {places} places", len(index)).format(
                   count=checked, places=len(index)))
    for p in index:
        where = item_label(ctx, p["item"]) if p["item"] != "-" else _("the search index")
        if "stored" in p:
            click.echo("  " + _("{problem}: {item}, {field}: catalog {stored!r}, signed "
                                "metadata {signed!r}").format(
                problem=named(PROBLEM, p["code"]), item=where, field=p["field"],
                stored=p["stored"], signed=p["signed"]))
        else:
            click.echo(f"  {named(PROBLEM, p['code'])}{colon()}{where}{colon()}"
                       f"{reason_text(p)}")
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
        click.echo(_("Checkpoint of entry {seq} ({hash}…) signed with the archive key "
                     "{fingerprint}").format(seq=cp["seq"], hash=cp["hash"][:16],
                                             fingerprint=fingerprint(signed["key_id"])))
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
        click.echo(_("{title} {number} written to {file}; print it again with: {command}")
                   .format(title=localize(doc["title"]), number=doc["number"], file=out,
                           command=f"custody print {kind} {doc['subject']}"), err=True)
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
    view = view_of(ctx, [r["by"] for r in rows])
    t = Table("编号", "类型", "检查人", "时间", "条目数", "不合格", title=zone_named(ctx))
    for r in rows:
        t.add_row(r["id"], "抽样机读检验" if r["type"] == "sampled-verification" else "回放检查",
                  view.person(r["by"]), local(ctx, r["at"]), str(r["items"]), str(r["failed"]))
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
        _("Finding {inspection} resolved by {person} at {at} ({zone})").format(
            inspection=inspection_id, person=view_of(ctx, [r["by"]]).person(r["by"]),
            at=local(ctx, r["at"], doc["unit"]),
            zone=zone_text(ctx, doc["unit"])))
    return 0


COMMANDS = (audit, verify, inspect, inspections,)
