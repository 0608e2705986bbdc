"""custody init, status and demo: the archive itself."""

from __future__ import annotations

from pathlib import Path

import click

import bootstrap
from archive import people
from archive.integrity import stations
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
)


# --- init ----------------------------------------------------------------------------------
@click.command()
@click.option("--person", "person_id", default="admin", show_default=True,
              help="Id of the first administrator, bound to this OS account.")
@click.option("--name", default="系统管理员", show_default=True)
@json_option
@command
def init(ctx: Context, person_id: str, name: str, as_json: bool) -> int:
    """Create the data home, the store, this station's archive key and the first
    administrator; or, over an archive that has people, register this home as a new station
    (an administrator of the archive runs it)."""
    out = bootstrap.initialize(ctx.settings, person_id, name)
    if as_json:
        emit_json(out)
        return 0
    store, replica = out["store"], out["replica"]
    click.echo(f"data home:    {out['home']}")
    click.echo(f"catalog:      {out['catalog']}")
    click.echo(f"store:        {store['backend']} {store['location']}")
    if replica is not None:
        click.echo(f"replica:      {replica['backend']} {replica['location']}")
    click.echo(f"administrator:{out['administrator']} ({people.os_account()})")
    click.echo(f"station:      {stations.shown(out['station'])}"
               + ("  (joined the archive)" if out["joined"] else ""))
    click.echo(f"archive key:  {out['archive_key']}")
    click.echo(f"fingerprint:  {out['fingerprint']}"
               + ("" if out["created"] else "  (existing key kept)"))
    return 0


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="custody-demo",
              show_default=True, help="Where the demo archive and sample files go.")
@json_option
@command
def demo(ctx: Context, directory: str, as_json: bool) -> int:
    """Generate sample records, archive them, search, show and verify (a fresh demo home)."""
    from ingest.demo import run_demo

    result = run_demo(Path(directory), bootstrap.create_archive, config=ctx.config,
                      echo=None if as_json else click.echo)
    if as_json:
        emit_json(result)
    return 0 if result["ok"] else 1


@click.command()
@json_option
@command
def status(ctx: Context, as_json: bool) -> int:
    """Backends of catalog, store and replica; item counts; replica lag; last replication."""
    from archive.copies.status import status as archive_status

    out = archive_status(ctx.archive, ctx.settings)
    if as_json:
        emit_json(out)
        return 0
    replica, items = out["replica"], dict(out["items"])
    total = items.pop("total")
    click.echo(f"catalog:  {out['catalog']['backend']} {out['catalog']['endpoint']}")
    click.echo(f"store:    {out['store']['backend']} {out['store']['location']}")
    if not replica["backend"]:
        click.echo("replica:  none configured (no second copy)")
    else:
        click.echo(f"replica:  {replica['backend']} {replica['location']}"
                   + ("  (written on ingest)" if replica["write_on_ingest"] else ""))
    click.echo("items:    " + f"{total} total; " + ", ".join(
        f"{n} {s}" for s, n in items.items() if n))
    lag = out["lag"]
    if lag is not None:
        last = lag["last_run"]
        if last is None:
            click.echo(f"replica lag: never replicated; {lag['items_behind']} items "
                       "without a second copy (custody replicate)")
        else:
            click.echo(f"last replication: finished {last['finished_at']} by {last['by']}: "
                       f"{last['items_copied']} items copied, "
                       f"{last['versions']['failed']} versions failed")
            click.echo(f"replica lag: {lag['items_behind']} items without a full second copy"
                       f"; {lag['ledger_entries_since']} ledger entries since the last run"
                       + ("  (up to date)" if lag["up_to_date"] else ""))
            for item_id in lag["item_ids"][:10]:
                click.echo(f"  behind: {item_id}")
    return 0


@click.command()
@click.option("--backup-to", "backup_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the backup made first goes (default: <home>/backups).")
@json_option
@command
def upgrade(ctx: Context, backup_dir: Path | None, as_json: bool) -> int:
    """Bring an older catalog to this custody's schema: a backup first, then each step, each
    recorded in the ledger (archivists, administrators)."""
    from archive.copies.upgrade import upgrade_catalog

    archive = ctx.use(bootstrap.open_for_upgrade(ctx.settings))
    out = upgrade_catalog(archive, ctx.actor(), backup_dir or ctx.settings.home / "backups",
                          bootstrap.catalog_uri(ctx.settings))
    if as_json:
        emit_json(out)
        return 0
    if not out["upgraded"]:
        click.echo(f"catalog {out['catalog']}: schema version {out['to']}, nothing to do")
        return 0
    b = out["backup"]
    click.echo(f"catalog {out['catalog']}: schema version {out['from']} -> {out['to']}")
    click.echo(f"backup first: {Path(b['dir']) / b['file']} (SHA-256 {b['sha256']})")
    for step in out["steps"]:
        click.echo(f"  {step['version']}: {step['title']}")
    return 0


COMMANDS = (init, status, demo, upgrade,)
