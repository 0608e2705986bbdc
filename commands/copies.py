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
    command,
    emit_json,
    json_option,
    progress,
)


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
        click.echo(f"catalog backed up to {to_dir / doc['file']} ({doc['size']} bytes, "
                   f"SHA-256 {doc['sha256']}); "
                   + (f"{doc['items']} items, ledger head {doc['ledger_head']}, integrity "
                      f"{doc['integrity_check']}" if doc["backend"] == "sqlite" else
                      f"restore with: {doc['restore']}"))
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
    with progress("rebuilding", as_json) as bar:
        doc = rebuild(target, progress=bar)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"catalog {doc['catalog']} rebuilt from {doc['store']['location']}: "
                   f"{doc['items']} items ({doc['versions']} metadata versions; states from "
                   f"the journal {doc['states_from_journal']}, from the store alone "
                   f"{doc['states_from_store']}), {doc['objects']} objects, {doc['records']} "
                   f"records, {doc['ledger_entries']} ledger entries from {doc['segments']} "
                   f"signed journal segments; ledger "
                   f"{'verifies' if doc['ledger_ok'] else 'does NOT verify'}")
        for p in doc["problems"]:
            click.echo(f"  {p['code']}: {p['key']}: {p['message']}")
        if doc["superseded"]:  # evidence of two stations at once, not a problem
            click.echo(f"{len(doc['superseded'])} superseded metadata versions (a second "
                       "station signed the same bytes and description at the same moment; "
                       "kept in the store as evidence, not catalogued):")
        for s in doc["superseded"]:
            click.echo(f"  superseded: {s['key']}: by item {s['superseded_by']}")
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
            progress("migrating", as_json) as bar:
        report = migrate_archive(source, people.identify(source),
                                 lambda: ctx.use(open_target()),
                                 progress=lambda _stage, n: bar(n))
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_zh(report))
        click.echo(f"report stored in the target at {report.stored_at['key']}")
    return 1 if report.failed else 0


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@click.command()
@click.option("--rate", type=click.FloatRange(min=0.1), help="Copy at most this many MB/s.")
@json_option
@command
def replicate(ctx: Context, rate: float | None, as_json: bool) -> int:
    """Bring the second copy up to date: objects, metadata versions, ledger checkpoints and
    everything else in the primary store, with the same locks and holds; resumable."""
    from archive.copies.replica import replicate_archive

    with progress("replicating", as_json, unit="bytes") as bar:
        out = replicate_archive(ctx.archive, ctx.actor(),
                                functools.partial(bootstrap.require_replica, ctx.settings),
                                rate=rate, progress=bar,
                                total=bar.total if not as_json and sys.stderr.isatty()
                                else None)
    if as_json:
        emit_json(out)
    else:
        v = out["versions"]
        click.echo(f"replica:  {out['replica']['backend']} {out['replica']['location']}")
        click.echo(f"versions: {v['copied']} copied ({_mb(v['bytes'])}), {v['present']} "
                   f"already there, {v['skipped']} left out (failed versions kept as "
                   f"evidence), {v['failed']} failed")
        click.echo(f"items:    {out['items_copied']} newly copied, {out['items_pending']} "
                   "not yet complete on the replica")
        for f in out["failed"]:
            click.echo(f"  failed: {f['key']}@{f['version_id']}: {f['reason']}")
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
        click.echo(out["message"])
    else:
        for r in out["results"]:
            click.echo(f"{r['item']}  {r['outcome']}: {r['message']}")
        click.echo(f"{len(out['restored'])} restored, {len(out['ok'])} already good, "
                   f"{len(out['unrecoverable'])} with no good copy"
                   + (": " + ", ".join(out["unrecoverable"]) if out["unrecoverable"] else ""))
    return 1 if out["unrecoverable"] else 0


COMMANDS = (backup_cmd, rebuild_catalog, migrate_cmd, replicate, restore,)
