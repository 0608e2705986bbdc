"""custody commands: catalog backup, catalog rebuild from the WORM store, carrier migration
(issue 7).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from archive import backends, people, settings
from archive.errors import InputError
from archive.people import require_role
from archive.service import Archive
from cli import Context, _emit_json, command, json_option, main

OPERATORS = ("archivist", "administrator")


@main.command("backup")
@click.option("--to", "to_dir", required=True, type=click.Path(file_okay=False,
                                                                path_type=Path))
@json_option
@command
def backup_cmd(ctx: Context, to_dir: Path, as_json: bool) -> int:
    """A consistent online backup of the catalog (SQLite online backup; MongoDB: mongodump
    --oplog where the tool is installed)."""
    from archive.backup import backup

    actor = ctx.actor()
    require_role(ctx.archive.catalog, actor, OPERATORS, "back up the catalog")
    doc = backup(ctx.archive.catalog, to_dir, ctx.settings.section("catalog").get("uri"))
    ctx.archive.ledger.append(actor, "catalog-backup", doc["file"],
                              {k: doc[k] for k in ("sha256", "size", "at")})
    if as_json:
        _emit_json(doc)
    else:
        click.echo(f"catalog backed up to {to_dir / doc['file']} ({doc['size']} bytes, "
                   f"SHA-256 {doc['sha256']}); "
                   + (f"{doc['items']} items, ledger head {doc['ledger_head']}, integrity "
                      f"{doc['integrity_check']}" if doc["backend"] == "sqlite" else
                      f"restore with: {doc['restore']}"))
    return 0


@main.command("rebuild-catalog")
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
    from archive.rebuild import rebuild

    s = ctx.settings
    store = backends.open_store(s)
    if source == "replica":
        open_replica = getattr(backends, "open_replica", None)
        store = open_replica(s) if open_replica else None
        if store is None:
            raise InputError("no replica store is configured ([replica] in the config)")
    if into is not None and into.exists():
        raise InputError(f"{into} exists; a rebuild makes a new catalog", subject=str(into))
    target = SQLiteCatalog(into) if into is not None else backends.open_catalog(s)
    key = backends.load_archive_key(s)
    archive = Archive(target, store, key, backends.archive_keyring(s, store),
                      s.section("ledger")["checkpoint_retention_years"])
    try:
        with _bar(as_json, "items") as tick:
            report = rebuild(archive, target, progress=tick)
    finally:
        target.close()
    doc = report.to_dict() | {"catalog": target.endpoint, "store": store.describe()}
    if as_json:
        _emit_json(doc)
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


@main.command("migrate")
@click.option("--to", "to_config", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A config file naming the new catalog and store.")
@json_option
@command
def migrate_cmd(ctx: Context, to_config: Path, as_json: bool) -> int:
    """Copy the whole archive to new backends (载体转换); the source is only read."""
    from archive.migrate import migrate, render_zh

    s = ctx.settings
    source = backends.open_archive(s)  # not ctx.archive: nothing is written to the source
    try:
        actor = people.acting_person(source.catalog)
        require_role(source.catalog, actor, OPERATORS, "migrate the archive")
        t = settings.load(to_config, s.home)
        target_store = backends.open_store(t, create=True)
        target = Archive(backends.open_catalog(t), target_store, source.key,
                         backends.archive_keyring(s, source.store),
                         t.section("ledger")["checkpoint_retention_years"])
        ctx._archive = target  # the target's ledger is checkpointed at the end
        with _bar(as_json, "migrating") as tick:
            report = migrate(source, target, actor, progress=lambda _stage, n: tick(n))
    finally:
        source.catalog.close()
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(render_zh(report))
        click.echo(f"report stored in the target at {report.stored_at['key']}")
    return 1 if report.failed else 0


class _bar:
    """A progress bar on a terminal; silent otherwise."""

    def __init__(self, as_json: bool, what: str) -> None:
        console = Console(stderr=True)
        self.show = console.is_terminal and not as_json
        self.progress = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(),
                                 console=console) if self.show else None

    def __enter__(self):
        if self.progress is None:
            return lambda n: None
        self.progress.start()
        task = self.progress.add_task("", total=None)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
