"""custody backup, rebuild-catalog, migrate, replicate and restore: the second copy,
recovery and carrier migration."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import bootstrap
from archive import people
from archive.domain.errors import InputError
from archive.service import Archive
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
    progress,
)
from config import settings

OPERATORS = ("archivist", "administrator")


@click.command("backup")
@click.option("--to", "to_dir", required=True, type=click.Path(file_okay=False,
                                                                path_type=Path))
@json_option
@command
def backup_cmd(ctx: Context, to_dir: Path, as_json: bool) -> int:
    """A consistent online backup of the catalog (SQLite online backup; MongoDB: mongodump
    --oplog where the tool is installed)."""
    from archive.copies.backup import backup

    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, OPERATORS, "back up the catalog")
    doc = backup(ctx.archive.catalog, to_dir, ctx.settings.section("catalog").get("uri"))
    ctx.archive.ledger.append(actor, "catalog-backup", doc["file"],
                              {k: doc[k] for k in ("sha256", "size", "at")})
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
@click.option("--from", "source", type=click.Choice(["primary", "replica"]),
              default="primary", show_default=True, help="The WORM store to read.")
@click.option("--into", "into", type=click.Path(dir_okay=False, path_type=Path),
              help="A new SQLite file to build (default: the configured catalog, which must "
                   "be empty).")
@json_option
@command
def rebuild_catalog(ctx: Context, source: str, into: Path | None, as_json: bool) -> int:
    """A new catalog from the WORM store alone, every signature verified on the way."""
    from archive.catalog.sqlite import SQLiteCatalog
    from archive.copies.rebuild import rebuild

    s = ctx.settings
    store = bootstrap.open_store(s)
    if source == "replica":
        open_replica = bootstrap.open_replica
        store = open_replica(s) if open_replica else None
        if store is None:
            raise InputError("no replica store is configured ([replica] in the config)")
    if into is not None and into.exists():
        raise InputError(f"{into} exists; a rebuild makes a new catalog", subject=str(into))
    target = SQLiteCatalog(into) if into is not None else bootstrap.open_catalog(s)
    key = bootstrap.load_archive_key(s)
    archive = Archive(target, store, key, bootstrap.archive_keyring(s, store),
                      s.section("ledger")["checkpoint_retention_years"])
    try:
        with progress("rebuilding", as_json) as tick:
            report = rebuild(archive, target, progress=tick)
    finally:
        target.close()
    doc = report.to_dict() | {"catalog": target.endpoint, "store": store.describe()}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"catalog {target.endpoint} rebuilt from {store.describe()['location']}: "
                   f"{report.items} items ({report.versions} metadata versions; states from "
                   f"the journal {report.states_from_journal}, from the store alone "
                   f"{report.states_from_store}), {report.objects} objects, {report.records} "
                   f"records, {report.ledger_entries} ledger entries from {report.segments} "
                   f"signed journal segments; ledger "
                   f"{'verifies' if report.ledger_ok else 'does NOT verify'}")
        for p in report.problems:
            click.echo(f"  {p['code']}: {p['key']}: {p['message']}")
    return 0 if report.ledger_ok and not report.problems else 1


@click.command("migrate")
@click.option("--to", "to_config", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A config file naming the new catalog and store.")
@json_option
@command
def migrate_cmd(ctx: Context, to_config: Path, as_json: bool) -> int:
    """Copy the whole archive to new backends (载体转换); the source is only read."""
    from archive.copies.migrate import migrate, render_zh

    s = ctx.settings
    source = bootstrap.open_archive(s)  # not ctx.archive: nothing is written to the source
    try:
        actor = people.acting_person(source.catalog)
        people.require_role(source.catalog, actor, OPERATORS, "migrate the archive")
        t = settings.load(to_config, s.home)
        target_store = bootstrap.open_store(t, create=True)
        target = Archive(bootstrap.open_catalog(t), target_store, source.key,
                         bootstrap.archive_keyring(s, source.store),
                         t.section("ledger")["checkpoint_retention_years"])
        ctx._archive = target  # the target's ledger is checkpointed at the end
        with progress("migrating", as_json) as tick:
            report = migrate(source, target, actor, progress=lambda _stage, n: tick(n))
    finally:
        source.catalog.close()
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render_zh(report))
        click.echo(f"report stored in the target at {report.stored_at['key']}")
    return 1 if report.failed else 0


ROLES = ("archivist", "administrator")


def _replica(ctx: Context):
    replica = bootstrap.open_replica(ctx.settings)
    if replica is None:
        raise InputError("no [replica] is configured (config: [replica] backend = \"local\" "
                         "or \"s3\")")
    return replica


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@click.command()
@click.option("--rate", type=click.FloatRange(min=0.1), help="Copy at most this many MB/s.")
@json_option
@command
def replicate(ctx: Context, rate: float | None, as_json: bool) -> int:
    """Bring the second copy up to date: objects, metadata versions, ledger checkpoints and
    everything else in the primary store, with the same locks and holds; resumable."""
    from archive.copies import replica as rep_mod

    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ROLES, "replicate the archive")
    replica = _replica(ctx)
    total = sum(n for _k, _v, n in ctx.archive.store.list_keys()) if not as_json \
        and sys.stderr.isatty() else None
    with progress("replicating", as_json, total, "bytes") as advance:
        out = rep_mod.replicate(ctx.archive, replica, actor, rate=rate, progress=advance)
    if as_json:
        emit_json(out)
    else:
        v = out["versions"]
        click.echo(f"replica:  {replica.backend} {replica.location}")
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
    from archive.copies import restore as restore_mod

    if bool(item_ids) == bool(report):
        raise InputError("give ITEM... or --from-report FILE (one of them)")
    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ROLES, "restore items")
    ids = list(item_ids) if item_ids else restore_mod.failed_in_report(report)
    if not ids:
        out = {"results": [], "restored": [], "unrecoverable": [], "ok": [],
               "message": "the report failed no item: nothing to restore"}
        emit_json(out) if as_json else click.echo(out["message"])
        return 0
    out = restore_mod.restore(ctx.archive, _replica(ctx), actor, ids)
    if as_json:
        emit_json(out)
    else:
        for r in out["results"]:
            click.echo(f"{r['item']}  {r['outcome']}: {r['message']}")
        click.echo(f"{len(out['restored'])} restored, {len(out['ok'])} already good, "
                   f"{len(out['unrecoverable'])} with no good copy"
                   + (": " + ", ".join(out["unrecoverable"]) if out["unrecoverable"] else ""))
    return 1 if out["unrecoverable"] else 0


COMMANDS = (backup_cmd, rebuild_catalog, migrate_cmd, replicate, restore,)
