"""custody backup, rebuild-catalog, migrate, replicate and restore: the second copy,
recovery and carrier migration."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

import bootstrap
from archive import people
from commands.base import (
    Context,
    colon,
    command,
    echo_fields,
    emit_json,
    item_label,
    joined,
    json_option,
    local,
    named,
    progress,
    reason_text,
)
from i18n import _, localize

# what restore did to an item (the codes stay in --json)
RESTORE_ZH = {"restored": "已恢复", "ok": "完好", "unrecoverable": "无完好副本",
              "disposed": "已销毁"}


@click.command("backup")
@click.option("--to", "to_dir", required=True, type=click.Path(file_okay=False,
                                                                path_type=Path))
@json_option
@command
def backup_cmd(ctx: Context, to_dir: Path, as_json: bool) -> int:
    """A consistent online backup of the catalog (SQLite online backup; MongoDB: mongodump
    --oplog where the tool is installed)."""
    from archive.copies.backup import back_up

    doc = back_up(ctx.archive, ctx.actor(), to_dir, bootstrap.catalog_uri(ctx.settings))
    if as_json:
        emit_json(doc)
    else:
        click.echo(_("Catalog backed up to {file} ({size} bytes, SHA-256 {digest})").format(
                       file=to_dir / doc["file"], size=doc["size"], digest=doc["sha256"])
                   + "; " + (_("{items} items, last ledger entry {head}, SQLite integrity "
                              "check: {check}").format(items=doc["items"],
                                                       head=doc["ledger_head"],
                                                       check=doc["integrity_check"])
                             if doc["backend"] == "sqlite" else
                             _("restore with: {command}").format(command=doc["restore"])))
    return 0


@click.command("rebuild-catalog")
@click.option("--from", "source", type=click.Choice(bootstrap.REBUILD_SOURCES),
              default="primary", show_default=True, help="The WORM store to read.")
@click.option("--into", "into", type=click.Path(dir_okay=False, path_type=Path),
              help="A new SQLite file to build (default: the configured catalog, which must "
                   "be empty).")
@json_option
@command
def rebuild_catalog(ctx: Context, source: str, into: Path | None, as_json: bool) -> int:
    """A new catalog from the WORM store alone, every signature verified on the way."""
    from archive.copies.rebuild import rebuild_catalog as rebuild

    target = bootstrap.open_rebuild(ctx.settings, source, into)
    with progress(_("rebuilding"), as_json) as bar:
        doc = rebuild(target, progress=bar)
    if as_json:
        emit_json(doc)
    else:
        click.echo(_("Catalog {catalog} rebuilt from {store}: {items} items ({versions} "
                     "metadata versions; states from the journal {journal}, from the store "
                     "alone {alone}), {objects} objects, {records} records, {entries} ledger "
                     "entries from {segments} signed journal segments").format(
            catalog=doc["catalog"], store=doc["store"]["location"], items=doc["items"],
            versions=doc["versions"], journal=doc["states_from_journal"],
            alone=doc["states_from_store"], objects=doc["objects"], records=doc["records"],
            entries=doc["ledger_entries"], segments=doc["segments"]))
        click.echo(_("The audit ledger verifies") if doc["ledger_ok"]
                   else _("The audit ledger does NOT verify"))
        for p in doc["problems"]:
            click.echo(f"  {p['key']}{colon()}{reason_text(p)}")
        if doc["superseded"]:  # evidence of two stations at once, not a problem
            click.echo(_("{count} superseded metadata versions (a second station signed the "
                         "same bytes and description at the same moment; kept in the store "
                         "as evidence, not catalogued):").format(count=len(doc["superseded"])))
        for s in doc["superseded"]:
            click.echo("  " + _("superseded: {key}: by item {item}").format(
                key=s["key"], item=s["superseded_by"]))
    return 0 if doc["ledger_ok"] and not doc["problems"] else 1


@click.command("migrate")
@click.option("--to", "to_config", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A config file naming the new catalog and store.")
@json_option
@command
def migrate_cmd(ctx: Context, to_config: Path, as_json: bool) -> int:
    """Copy the whole archive to new backends (载体转换); the source is only read."""
    from archive.copies.migrate import migrate_archive, render_zh

    # not ctx.archive: nothing is written to the source; the target's ledger is the one
    # checkpointed at the end
    with bootstrap.migration(ctx.settings, to_config) as (source, open_target), \
            progress(_("migrating"), as_json) as bar:
        report = migrate_archive(source, people.identify(source),
                                 lambda: ctx.use(open_target()),
                                 progress=lambda _stage, n: bar(n))
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_zh(report))
        click.echo(_("Report stored in the target at {key}").format(
            key=report.stored_at["key"]))
    return 1 if report.failed else 0


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _replica_coverage(ctx: Context, c: dict) -> str:
    """One line: what the run went through, and when it last went through everything."""
    last = (local(ctx, c["last_full_sweep"], None) if c.get("last_full_sweep")
            else _("never"))
    if c["mode"] == "full":
        return _("coverage: the whole store ({versions} versions, {items} items) ({reason}); "
                 "last full sweep {last}").format(versions=c["versions_read"],
                                                  items=c["items_read"],
                                                  reason=localize(c["reason"]), last=last)
    return _("coverage: {items} items changed since the last run (change {since} to {to}) or "
             "left behind by it, {versions} versions; {records} records listed; last full "
             "sweep {last} (--all goes through the whole store)").format(
        items=c["items_read"], since=c["since_seq"], to=c["to_seq"],
        versions=c["versions_read"], records=c["records_listed"], last=last)


@click.command()
@click.option("--rate", type=click.FloatRange(min=0.1), help="Copy at most this many MB/s.")
@click.option("--all", "full", is_flag=True,
              help="Go through the whole store, not only what changed since the last run.")
@json_option
@command
def replicate(ctx: Context, rate: float | None, full: bool, as_json: bool) -> int:
    """Bring the second copy up to date: objects, metadata versions, ledger checkpoints and
    everything else in the primary store, with the same locks and holds; resumable. Reads
    what changed since the last run (--all: everything)."""
    from archive.copies.replica import replicate_archive

    with progress(_("replicating"), as_json, unit="bytes") as bar:
        out = replicate_archive(ctx.archive, ctx.actor(),
                                functools.partial(bootstrap.require_replica, ctx.settings),
                                rate=rate, progress=bar,
                                total=bar.total if not as_json and sys.stderr.isatty()
                                else None, full=full)
    if as_json:
        emit_json(out)
    else:
        v = out["versions"]
        click.echo(_replica_coverage(ctx, out["coverage"]))
        echo_fields([
            (_("Replica"), f"{out['replica']['backend']} {out['replica']['location']}"),
            (_("Versions"), _("{copied} copied ({size}), {present} already there, {skipped} "
                              "left out (failed versions kept as evidence), {failed} "
                              "failed").format(copied=v["copied"], size=_mb(v["bytes"]),
                                               present=v["present"], skipped=v["skipped"],
                                               failed=v["failed"])),
            (_("Items"), _("{copied} newly copied, {pending} not yet complete on the "
                           "replica").format(copied=out["items_copied"],
                                             pending=out["items_pending"]))])
        for f in out["failed"]:
            click.echo("  " + _("failed: {key}@{version}: {reason}").format(
                key=f["key"], version=f["version_id"],
                reason=localize(f.get("text") or f["reason"])))
    return 1 if out["failed"] else 0


@click.command()
@click.argument("item_ids", nargs=-1)
@click.option("--from-report", "report", type=click.Path(dir_okay=False, path_type=Path),
              help="Restore the items a 'custody verify --json' report failed.")
@json_option
@command
def restore(ctx: Context, item_ids: tuple[str, ...], report: Path | None,
            as_json: bool) -> int:
    """Check both copies of each item; write the good bytes into a failed copy as a new
    version (the failed version stays as evidence) and point the catalog at it."""
    from archive.copies.restore import restore_items

    out = restore_items(ctx.archive, ctx.actor(),
                        functools.partial(bootstrap.require_replica, ctx.settings),
                        list(item_ids), report)
    if as_json:
        emit_json(out)
    elif "message" in out:
        click.echo(reason_text(out))
    else:
        for r in out["results"]:
            click.echo(f"{item_label(ctx, r['item'])}  {named(RESTORE_ZH, r['outcome'])}"
                       f"{colon()}{reason_text(r)}")
        click.echo(_("{restored} restored, {good} already good, {lost} with no good "
                     "copy").format(restored=len(out["restored"]), good=len(out["ok"]),
                                    lost=len(out["unrecoverable"]))
                   + (": " + joined(item_label(ctx, i) for i in out["unrecoverable"])
                      if out["unrecoverable"] else ""))
    return 1 if out["unrecoverable"] else 0


COMMANDS = (backup_cmd, rebuild_catalog, migrate_cmd, replicate, restore,)
