"""custody scanner: the virus scanner custody runs or uses."""

from __future__ import annotations

from pathlib import Path

import click

import bootstrap
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
)


@click.group()
def scanner() -> None:
    """The private clamd custody runs (or the existing one it is configured to use)."""


@scanner.command("start")
@json_option
@command
def scanner_start(ctx: Context, as_json: bool) -> int:
    from ingest.scanning import start_private

    status = start_private(bootstrap.private_clamd(ctx.settings))
    emit_json(status) if as_json else click.echo(
        f"clamd running: {status['engine']} {status['database']} on {status['socket']}")
    return 0


@scanner.command("status")
@json_option
@command
def scanner_status(ctx: Context, as_json: bool) -> int:
    from ingest.scanning import scanner_status as status_of

    status = status_of(bootstrap.external_clamd(ctx.settings),
                       bootstrap.private_clamd(ctx.settings))
    if as_json:
        emit_json(status)
    else:
        last = status.pop("last_update", None)
        for k, v in status.items():
            click.echo(f"{k:>20}: {v}")
        if last:
            click.echo(f"{'last update':>20}: {last['at']} by {last['by']} from {last['source']}"
                       f" ({', '.join(last['files'])}{'; unsigned' if last['unsigned'] else ''})")
    return 0 if status.get("running") else 3


@scanner.command("update")
@click.option("--from", "source", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder holding the ClamAV database files (the removable medium).")
@click.option("--allow-unsigned", is_flag=True,
              help="Also take files no Talos signature vouches for (.cud, .ndb, .hdb, ...).")
@json_option
@command
def scanner_update(ctx: Context, source: Path, allow_unsigned: bool, as_json: bool) -> int:
    """Load ClamAV signatures from removable media into the private clamd (offline update).

    Official .cvd/.cld files are copied into a new database folder, checked (clamd must load
    them; none may be older than the database in use) and switched in; the clamd is restarted
    on them. Anything wrong leaves the database in use as it was."""
    from ingest.signature_updates import refuse_external_clamd, update_signatures

    refuse_external_clamd(ctx.settings)  # before asking who acts
    doc = update_signatures(ctx.archive, ctx.actor(), ctx.settings,
                            bootstrap.private_clamd(ctx.settings), source,
                            allow_unsigned=allow_unsigned)
    if as_json:
        emit_json(doc)
        return 0
    daemon = ("clamd restarted on it" if doc["restarted"]
              else "clamd is not running; it loads this at its next start")
    click.echo(f"signatures updated by {doc['installed_by']}: database {doc['database']}"
               f" ({daemon})")
    for f in doc["files"]:
        click.echo(f"  {f['name']:<14} version {f['version'] or '-':<8} built "
                   f"{f['build_time'] or '-':<21} {f['signatures']:>9} signatures  "
                   f"sha256 {f['sha256'][:16]}")
    if doc["ignored"]:
        click.echo(f"  ignored (not database files): {', '.join(doc['ignored'])}")
    return 0


@scanner.command("stop")
@command
def scanner_stop(ctx: Context) -> int:
    from ingest.scanning import stop_private

    stop_private(bootstrap.private_clamd(ctx.settings))
    click.echo("clamd stopped")
    return 0


COMMANDS = (scanner,)
