"""custody people and key: people, roles, personal keys and the archive's keys."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive import people
from archive.domain.errors import InputError
from archive.domain.model import CONFIDENTIAL_CLASSES
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
    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ("administrator",), "add people")
    if ctx.archive.catalog.get_record("people", person_id) is not None:
        raise InputError(f"person {person_id} already exists", subject=person_id)
    key = people.create_personal_key(person_id, account)
    person = people.register(ctx.archive.catalog, person_id, name, account, list(roles), key,
                             list(units), list(clearances), list(positions))
    ctx.archive.ledger.append(actor, "person-registered", person_id,
                              {"roles": list(roles), "os_account": account,
                               "key_id": key.key_id, "clearances": list(clearances),
                               "positions": list(positions)})
    out = person.to_dict() | {"key_file": str(key.path)}
    emit_json(out) if as_json else click.echo(
        f"{person_id} ({name}, {account}): {', '.join(roles)}"
        + (f"; positions {', '.join(positions)}" if positions else "")
        + (f"; clearances {', '.join(clearances)}" if clearances else "")
        + f"; key {fingerprint(key.key_id)}")
    return 0


@people_cmd.command("list")
@json_option
@command
def people_list(ctx: Context, as_json: bool) -> int:
    docs = ctx.archive.catalog.list_records("people")
    rows = [{k: d[k] for k in ("id", "name", "os_account", "roles", "units", "enabled")}
            | {"keys": len(d["public_keys"]), "clearances": d.get("clearances", []),
               "positions": d.get("positions", [])} for d in docs]
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
        actor = ctx.actor()
        catalog = ctx.archive.catalog
        people.require_role(catalog, actor, ("administrator",), f"{action} people")
        if action == "rekey":
            key = people.rekey(catalog, person_id)
            detail = {"key_id": key.key_id}
        else:
            if person_id == actor.person_id:
                raise InputError("nobody disables themselves")
            people.set_enabled(catalog, person_id, action == "enable")
            detail = {}
        ctx.archive.ledger.append(actor, f"person-{action}", person_id, detail)
        emit_json({"person": person_id, "action": action} | detail) if as_json else \
            click.echo(f"{person_id}: {action}d" if action != "rekey" else
                       f"{person_id}: new key {fingerprint(detail['key_id'])}")
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
        if not clearances and not positions:
            raise InputError("name a --clearance or a --position")
        actor = ctx.actor()
        catalog = ctx.archive.catalog
        what = "revoke" if revoke else "grant"
        people.require_role(catalog, actor, ("administrator",), f"{what} clearances")
        person = people.grant(catalog, person_id, list(clearances), list(positions), revoke)
        ctx.archive.ledger.append(actor, f"person-{what}", person_id,
                                  {"clearances": list(clearances),
                                   "positions": list(positions)})
        out = {"person": person_id, "clearances": person.clearances,
               "positions": person.positions}
        emit_json(out) if as_json else click.echo(
            f"{person_id}: clearances {', '.join(person.clearances) or '-'}; positions "
            f"{', '.join(person.positions) or '-'}")
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
    """The archive's signing keys."""


@key.command("list")
@json_option
@command
def key_list(ctx: Context, as_json: bool) -> int:
    """Every archive public key: the current one and those retired by rotation."""
    archive = ctx.archive
    keys = [{"key_id": k, "fingerprint": fingerprint(k), "current": k == archive.key.key_id}
            for k in archive.archive_keys.key_ids()]
    if as_json:
        emit_json({"keys": keys})
    else:
        for k in keys:
            click.echo(f"{'*' if k['current'] else ' '} {k['fingerprint']}  {k['key_id']}")
    return 0


@key.command("rotate")
@json_option
@command
def key_rotate(ctx: Context, as_json: bool) -> int:
    """Make a new archive key; old signatures keep verifying with the old public key."""
    actor = ctx.actor()
    new, old_id = bootstrap.rotate_archive_key(ctx.settings)
    ctx._archive = bootstrap.open_archive(ctx.settings)
    ctx._archive.publish_key()
    ctx._archive.ledger.append(actor, "archive-key-rotated", new.key_id,
                               {"previous": old_id, "fingerprint": fingerprint(new.key_id)})
    out = {"key_id": new.key_id, "fingerprint": fingerprint(new.key_id), "previous": old_id}
    if as_json:
        emit_json(out)
    else:
        click.echo(f"new archive key {out['fingerprint']} (previous {fingerprint(old_id)} "
                   "retired; its signatures still verify)")
    return 0


COMMANDS = (people_cmd, key,)
