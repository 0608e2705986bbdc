"""custody commands for the second copy and restore (issue 7): replicate, status, restore.

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from archive import backends, people
from archive.catalog.base import Query
from archive.errors import InputError
from cli import Context, _emit_json, command, json_option, main

ROLES = ("archivist", "administrator")


def _replica(ctx: Context):
    replica = backends.open_replica(ctx.settings)
    if replica is None:
        raise InputError("no [replica] is configured (config: [replica] backend = \"local\" "
                         "or \"s3\")")
    return replica


def _bar(total_bytes: int, label: str, as_json: bool):
    """A progress bar in bytes on a terminal; nothing otherwise."""
    if as_json or not sys.stderr.isatty():
        return None, None
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task(label, total=total_bytes)
    return bar, lambda n: bar.advance(task, n)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@main.command()
@click.option("--rate", type=click.FloatRange(min=0.1), help="Copy at most this many MB/s.")
@json_option
@command
def replicate(ctx: Context, rate: float | None, as_json: bool) -> int:
    """Bring the second copy up to date: objects, metadata versions, ledger checkpoints and
    everything else in the primary store, with the same locks and holds; resumable."""
    from archive import replica as rep_mod

    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ROLES, "replicate the archive")
    replica = _replica(ctx)
    total = sum(n for _k, _v, n in ctx.archive.store.list_keys()) if not as_json \
        and sys.stderr.isatty() else 0
    bar, advance = _bar(total, "replicating", as_json)
    if bar is not None:
        with bar:
            out = rep_mod.replicate(ctx.archive, replica, actor, rate=rate, progress=advance)
    else:
        out = rep_mod.replicate(ctx.archive, replica, actor, rate=rate)
    if as_json:
        _emit_json(out)
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


@main.command()
@json_option
@command
def status(ctx: Context, as_json: bool) -> int:
    """Backends of catalog, store and replica; item counts; replica lag; last replication."""
    from archive import replica as rep_mod

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
        _emit_json(out)
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


@main.command()
@click.argument("item_ids", nargs=-1)
@click.option("--from-report", "report", type=click.Path(dir_okay=False, path_type=Path),
              help="Restore the items a 'custody verify --json' report failed.")
@json_option
@command
def restore(ctx: Context, item_ids: tuple[str, ...], report: Path | None,
            as_json: bool) -> int:
    """Check both copies of each item; write the good bytes into a failed copy as a new
    version (the failed version stays as evidence) and point the catalog at it."""
    from archive import restore as restore_mod

    if bool(item_ids) == bool(report):
        raise InputError("give ITEM... or --from-report FILE (one of them)")
    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ROLES, "restore items")
    ids = list(item_ids) if item_ids else restore_mod.failed_in_report(report)
    if not ids:
        out = {"results": [], "restored": [], "unrecoverable": [], "ok": [],
               "message": "the report failed no item: nothing to restore"}
        _emit_json(out) if as_json else click.echo(out["message"])
        return 0
    out = restore_mod.restore(ctx.archive, _replica(ctx), actor, ids)
    if as_json:
        _emit_json(out)
    else:
        for r in out["results"]:
            click.echo(f"{r['item']}  {r['outcome']}: {r['message']}")
        click.echo(f"{len(out['restored'])} restored, {len(out['ok'])} already good, "
                   f"{len(out['unrecoverable'])} with no good copy"
                   + (": " + ", ".join(out["unrecoverable"]) if out["unrecoverable"] else ""))
    return 1 if out["unrecoverable"] else 0
