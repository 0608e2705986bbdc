"""custody scanner: the virus scanner custody runs or uses."""

from __future__ import annotations

from pathlib import Path

import click

import bootstrap
from commands.base import (
    Context,
    command,
    echo_fields,
    emit_json,
    joined,
    json_option,
    local,
    view_of,
)
from i18n import N_, _

# what each field of the scanner's status is called (the keys stay in --json)
STATUS_FIELDS = {"running": N_("Running"), "where": N_("Where"), "engine": N_("Engine"),
                 "database": N_("Database"), "error": N_("Error"), "pid": N_("Process id"),
                 "home": N_("Folder"), "socket": N_("Socket"), "config": N_("Configuration"),
                 "log": N_("Log"), "database_dir": N_("Database folder"),
                 "test_signatures": N_("Test signatures"), "window_size": N_("Window size"),
                 "overlap": N_("Overlap"), "stream_max": N_("Largest stream"),
                 "responding": N_("Responding")}


def _show(value: object) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return "-" if value in (None, "") else str(value)


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
        _("clamd running: {engine}, database {database}, on {socket}").format(
            engine=status["engine"], database=status["database"], socket=status["socket"]))
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
        rows = [(_(STATUS_FIELDS.get(k, k)), _show(v)) for k, v in status.items()]
        if last:
            rows.append((_("Last update"), _(
                "{at} by {person} from {source} ({files}{unsigned})").format(
                    at=local(ctx, last["at"]), person=last["by"], source=last["source"],
                    files=joined(last["files"]),
                    unsigned=_("; unsigned") if last["unsigned"] else "")))
        echo_fields(rows)
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
    daemon = (_("clamd restarted on it") if doc["restarted"]
              else _("clamd is not running; it loads this at its next start"))
    click.echo(_("Signatures updated by {person}: database {database} ({daemon})").format(
        person=view_of(ctx, [doc["installed_by"]]).person(doc["installed_by"]),
        database=doc["database"], daemon=daemon))
    for f in doc["files"]:
        click.echo("  " + _("{name}: version {version}, built {built}, {count} signatures, "
                            "SHA-256 {digest}").format(
            name=f["name"], version=f["version"] or "-", built=f["build_time"] or "-",
            count=f["signatures"], digest=f["sha256"][:16]))
    if doc["ignored"]:
        click.echo("  " + _("ignored (not database files): {files}").format(
            files=joined(doc["ignored"])))
    return 0


@scanner.command("stop")
@command
def scanner_stop(ctx: Context) -> int:
    from ingest.scanning import stop_private

    stop_private(bootstrap.private_clamd(ctx.settings))
    click.echo(_("clamd stopped"))
    return 0


COMMANDS = (scanner,)
