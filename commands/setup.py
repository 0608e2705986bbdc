"""custody init, status and demo: the archive itself."""

from __future__ import annotations

from pathlib import Path

import click

import bootstrap
from archive import people
from archive.catalog.base import Query
from archive.integrity.signing import fingerprint
from archive.ledger.chain import Actor
from archive.service import Archive
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
    """Create the data home, the store, the archive key and the first administrator."""
    s = ctx.settings
    s.home.mkdir(parents=True, exist_ok=True)
    store = bootstrap.open_store(s, create=True)
    replica = bootstrap.open_replica(s, create=True)  # the second copy, when configured
    key_path = bootstrap.keys_dir(s) / "archive.key"
    created = not key_path.exists()
    key = bootstrap.create_archive_key(s) if created else bootstrap.load_archive_key(s)
    catalog = bootstrap.open_catalog(s)
    # an empty catalog over a store that holds an archive: rebuild it, never start anew
    bootstrap.refuse_lost_catalog(catalog, store)
    archive = Archive(catalog, store, key, bootstrap.archive_keyring(s, store),
                      s.section("ledger")["checkpoint_retention_years"])
    ctx._archive = archive
    archive.publish_key()
    account = people.os_account()
    existing = catalog.list_records("people", os_account=account)
    if existing:
        actor = people.acting_person(catalog)
    else:
        pkey_path = people.personal_key_path(person_id)
        from archive.integrity.signing import SigningKey

        pkey = SigningKey.load(pkey_path) if pkey_path.exists() else \
            people.create_personal_key(person_id, account)
        people.register(catalog, person_id, name, account, ["administrator"], pkey)
        actor = Actor(person_id, pkey)
        archive.ledger.append(actor, "person-registered", person_id,
                              {"roles": ["administrator"], "os_account": account,
                               "key_id": pkey.key_id})
    if created:
        archive.ledger.append(actor, "archive-key-created", key.key_id,
                              {"fingerprint": fingerprint(key.key_id)})
    out = {"home": str(s.home), "catalog": catalog.endpoint, "store": store.describe(),
           "archive_key": key.key_id, "fingerprint": fingerprint(key.key_id),
           "created": created, "administrator": actor.person_id,
           "replica": replica.describe() if replica else None}
    if as_json:
        emit_json(out)
    else:
        click.echo(f"data home:    {out['home']}")
        click.echo(f"catalog:      {out['catalog']}")
        click.echo(f"store:        {store.backend} {store.location}")
        if replica is not None:
            click.echo(f"replica:      {replica.backend} {replica.location}")
        click.echo(f"administrator:{actor.person_id} ({account})")
        click.echo(f"archive key:  {key.key_id}")
        click.echo(f"fingerprint:  {out['fingerprint']}"
                   + ("" if created else "  (existing key kept)"))
    return 0



@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="custody-demo",
              show_default=True, help="Where the demo archive and sample files go.")
@json_option
@command
def demo(ctx: Context, directory: str, as_json: bool) -> int:
    """Generate sample records, archive them, search, show and verify (a fresh demo home)."""
    from ingest.demo import run_demo

    result = run_demo(Path(directory), config=ctx.config,
                      echo=None if as_json else click.echo)
    if as_json:
        emit_json(result)
    return 0 if result["ok"] else 1


# Command groups that live in their own modules register themselves on ``main``; imported last


@click.command()
@json_option
@command
def status(ctx: Context, as_json: bool) -> int:
    """Backends of catalog, store and replica; item counts; replica lag; last replication."""
    from archive.copies import replica as rep_mod

    a = ctx.archive
    cfg = ctx.settings.section("replica")
    total = a.catalog.count(Query())
    counts = {s: a.catalog.count(Query(status=s))
              for s in ("archived", "pending-metadata", "attention", "disposed")}
    replica = {"backend": cfg.get("backend") or None,
               "location": (cfg.get("bucket") or cfg.get("path")) if cfg.get("backend")
               else None, "write_on_ingest": bool(cfg.get("write_on_ingest"))}
    out = {"catalog": {"backend": ctx.settings.section("catalog")["backend"],
                       "endpoint": a.catalog.endpoint},
           "store": a.store.describe(), "replica": replica,
           "items": {"total": total, **counts},
           "lag": rep_mod.lag(a) if cfg.get("backend") else None}
    if as_json:
        emit_json(out)
        return 0
    click.echo(f"catalog:  {out['catalog']['backend']} {out['catalog']['endpoint']}")
    click.echo(f"store:    {a.store.backend} {a.store.location}")
    if not replica["backend"]:
        click.echo("replica:  none configured (no second copy)")
    else:
        click.echo(f"replica:  {replica['backend']} {replica['location']}"
                   + ("  (written on ingest)" if replica["write_on_ingest"] else ""))
    click.echo("items:    " + f"{total} total; " + ", ".join(
        f"{n} {s}" for s, n in counts.items() if n))
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


COMMANDS = (init, status, demo,)
