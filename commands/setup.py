"""custody init, status and demo: the archive itself."""

from __future__ import annotations

from pathlib import Path

import click

import bootstrap
from archive import people
from archive.domain.names import STATUS_ZH
from commands.base import (
    Context,
    command,
    echo_fields,
    emit_json,
    item_label,
    joined,
    json_option,
    local,
    named,
    station_label,
    view_of,
    zone_text,
)
from i18n import N_, _, localize

# the catalog and store backends by what people call them
BACKENDS = {"sqlite": "SQLite", "mongodb": "MongoDB", "local": N_("local WORM directory"),
            "s3": "S3 Object Lock"}


def _backend(name: str | None) -> str:
    return _(BACKENDS[name]) if name in BACKENDS else (name or "-")


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
    admin = out["administrator"]
    rows = [(_("Data home"), out["home"]), (_("Catalog"), out["catalog"]),
            (_("Store"), f"{_backend(store['backend'])} {store['location']}")]
    if replica is not None:
        rows.append((_("Replica"), f"{_backend(replica['backend'])} {replica['location']}"))
    rows += [(_("Administrator"), _("{person}, OS account {account}").format(
                 person=view_of(ctx, [admin]).person(admin), account=people.os_account())),
             (_("Station"), station_label(out["station"])
              + (_(" (joined the archive)") if out["joined"] else "")),
             (_("Archive key"), out["archive_key"]),
             (_("Fingerprint"), out["fingerprint"]
              + ("" if out["created"] else _(" (existing key kept)")))]
    echo_fields(rows)
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
                      echo=None if as_json else lambda line: click.echo(localize(line)))
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
    catalog, store = out["catalog"], out["store"]
    rows = [(_("Catalog"), f"{_backend(catalog['backend'])} {catalog['endpoint']}"),
            (_("Store"), f"{_backend(store['backend'])} {store['location']}")]
    if not replica["backend"]:
        rows.append((_("Replica"), _("none configured (no second copy)")))
    else:
        rows.append((_("Replica"), f"{_backend(replica['backend'])} {replica['location']}"
                     + (_(" (written on ingest)") if replica["write_on_ingest"] else "")))
    rows.append((_("Items"), _("{total} in all: {counts}").format(total=total, counts=joined(
        f"{named(STATUS_ZH, s)} {n}" for s, n in items.items() if n) or "-")))
    lag = out["lag"]
    if lag is not None:
        last = lag["last_run"]
        if last is None:
            rows.append((_("Replica lag"), _(
                "never replicated; {count} items without a second copy (custody "
                "replicate)").format(count=lag["items_behind"])))
        else:
            rows.append((_("Last replication"), _(
                "finished {at} ({zone}) by {person}: {items} items copied, {failed} "
                "versions failed").format(
                    at=local(ctx, last["finished_at"]), zone=zone_text(ctx),
                    person=view_of(ctx, [last["by"]]).person(last["by"]),
                    items=last["items_copied"], failed=last["versions"]["failed"])))
            rows.append((_("Replica lag"), _(
                "{items} items without a full second copy; {entries} ledger entries since "
                "the last run").format(items=lag["items_behind"],
                                       entries=lag["ledger_entries_since"])
                + (_(" (up to date)") if lag["up_to_date"] else "")))
    echo_fields(rows)
    if lag is not None and lag["last_run"] is not None:
        for item_id in lag["item_ids"][:10]:
            click.echo(_("  behind: {item}").format(item=item_label(ctx, item_id)))
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
        click.echo(_("Catalog {catalog}: schema version {version}, nothing to do").format(
            catalog=out["catalog"], version=out["to"]))
        return 0
    b = out["backup"]
    click.echo(_("Catalog {catalog}: schema version {old} -> {new}").format(
        catalog=out["catalog"], old=out["from"], new=out["to"]))
    click.echo(_("Backup made first: {file} (SHA-256 {digest})").format(
        file=Path(b["dir"]) / b["file"], digest=b["sha256"]))
    for step in out["steps"]:
        click.echo(f"  {step['version']}: {localize(step['title'])}")
    return 0


COMMANDS = (init, status, demo, upgrade,)
