"""custody people and key: people, roles, personal keys and the archive's keys."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive import people
from archive.domain.model import CONFIDENTIAL_CLASSES
from archive.integrity import stations
from archive.integrity.signing import fingerprint
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
)


@click.group("people")
def people_cmd() -> None:
    """People: roles, OS accounts and personal signing keys."""


@people_cmd.command("add")
@click.argument("person_id")
@click.option("--name", required=True)
@click.option("--account", required=True, help="The OS account this person logs in as.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(people.ROLES))
@click.option("--unit", "units", multiple=True)
@click.option("--clearance", "clearances", multiple=True,
              type=click.Choice(CONFIDENTIAL_CLASSES), help="A confidential class they may see.")
@click.option("--position", "positions", multiple=True, type=click.Choice(people.POSITIONS),
              help="An approving position they hold (a unit's approver_role).")
@json_option
@command
def people_add(ctx: Context, person_id: str, name: str, account: str, roles: tuple[str, ...],
               units: tuple[str, ...], clearances: tuple[str, ...], positions: tuple[str, ...],
               as_json: bool) -> int:
    """Register a person and create their key in their own home (administrators only)."""
    out = people.add_person(ctx.archive, ctx.actor(), person_id, name, account, list(roles),
                            list(units), list(clearances), list(positions))
    key_id = out["public_keys"][-1]["key_id"]
    emit_json(out) if as_json else click.echo(
        f"{person_id} ({name}, {account}): {', '.join(roles)}"
        + (f"; positions {', '.join(positions)}" if positions else "")
        + (f"; clearances {', '.join(clearances)}" if clearances else "")
        + f"; key {fingerprint(key_id)}")
    return 0


@people_cmd.command("list")
@json_option
@command
def people_list(ctx: Context, as_json: bool) -> int:
    rows = people.list_people(ctx.archive.catalog)
    if as_json:
        emit_json({"people": rows})
        return 0
    t = Table("id", "name", "account", "roles", "units", "positions", "clearances", "enabled",
              "keys")
    for r in rows:
        t.add_row(r["id"], r["name"], r["os_account"], ", ".join(r["roles"]),
                  ", ".join(r["units"]) or "-", ", ".join(r["positions"]) or "-",
                  ", ".join(r["clearances"]) or "-", "yes" if r["enabled"] else "NO",
                  str(r["keys"]))
    Console(width=200).print(t)
    return 0


def _people_change(action: str):
    @json_option
    @click.argument("person_id")
    @command
    def change(ctx: Context, person_id: str, as_json: bool) -> int:
        out = people.change_person(ctx.archive, ctx.actor(), person_id, action)
        emit_json(out) if as_json else \
            click.echo(f"{person_id}: {action}d" if action != "rekey" else
                       f"{person_id}: new key {fingerprint(out['key_id'])}")
        return 0

    return change


def _people_grant(revoke: bool):
    @click.argument("person_id")
    @click.option("--clearance", "clearances", multiple=True,
                  type=click.Choice(CONFIDENTIAL_CLASSES))
    @click.option("--position", "positions", multiple=True,
                  type=click.Choice(people.POSITIONS))
    @json_option
    @command
    def change(ctx: Context, person_id: str, clearances: tuple[str, ...],
               positions: tuple[str, ...], as_json: bool) -> int:
        out = people.change_grants(ctx.archive, ctx.actor(), person_id, list(clearances),
                                   list(positions), revoke)
        emit_json(out) if as_json else click.echo(
            f"{person_id}: clearances {', '.join(out['clearances']) or '-'}; positions "
            f"{', '.join(out['positions']) or '-'}")
        return 0

    return change


people_cmd.command("grant", help="Give a person clearances or approving positions.")(
    _people_grant(False))
people_cmd.command("revoke", help="Take clearances or approving positions away.")(
    _people_grant(True))
people_cmd.command("disable", help="Refuse every action of a person from now on.")(
    _people_change("disable"))
people_cmd.command("enable", help="Let a disabled person act again.")(
    _people_change("enable"))
people_cmd.command("rekey", help="A new key; old signatures keep verifying.")(
    _people_change("rekey"))


@click.group()
def key() -> None:
    """The archive's signing keys: one per station, each made in its own home."""


@key.command("list")
@json_option
@command
def key_list(ctx: Context, as_json: bool) -> int:
    """Every archive key of every station, active or retired (* marks this home's)."""
    keys = stations.list_keys(ctx.archive)
    if as_json:
        emit_json({"keys": keys})
        return 0
    t = Table("", "station", "state", "fingerprint", "since", "key id")
    for k in keys:
        state = k["state"] + ("" if k["published"] else ", NOT IN THE STORE")
        t.add_row("*" if k["current"] else "", stations.shown(k["station"]), state,
                  k["fingerprint"], k["from"] or "-", k["key_id"])
    Console(width=200).print(t)
    return 0


@key.command("rotate")
@json_option
@command
def key_rotate(ctx: Context, as_json: bool) -> int:
    """A new key for this home's station; old signatures keep verifying with the old
    public key, and other stations' keys are not touched."""
    out = bootstrap.rotate_key(ctx.settings, ctx.actor())
    if as_json:
        emit_json(out)
    else:
        click.echo(f"station {stations.shown(out['station'])}: new archive key "
                   f"{out['fingerprint']} (previous {fingerprint(out['previous'])} retired; "
                   "its signatures still verify)")
    return 0


COMMANDS = (people_cmd, key,)
