"""custody people and key: people, roles, personal keys and the archive's keys."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive import people
from archive.domain.model import CONFIDENTIAL_CLASSES
from archive.domain.names import CONFIDENTIAL_ZH, ROLE_ZH, person_label
from archive.integrity import stations
from archive.integrity.signing import fingerprint
from commands.base import (
    Context,
    command,
    emit_json,
    joined,
    json_option,
    local,
    named,
    station_label,
    view_of,
    yes_no,
    zone_named,
)
from i18n import N_, _

CHANGED = {"disable": N_("{person}: disabled; every action of theirs is refused from now on"),
           "enable": N_("{person}: may act again")}
KEY_STATE_ZH = {"active": "使用中", "retired": "已停用"}


@click.group("people")
def people_cmd() -> None:
    """People: roles, OS accounts and personal signing keys."""


@people_cmd.command("add")
@click.argument("person_id")
@click.option("--name", required=True)
@click.option("--account", help="The OS account this person logs in as here; without one, a "
                                 "person of the web console only, who signs with a passkey.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(people.ROLES))
@click.option("--unit", "units", multiple=True)
@click.option("--clearance", "clearances", multiple=True,
              type=click.Choice(CONFIDENTIAL_CLASSES), help="A confidential class they may see.")
@click.option("--position", "positions", multiple=True, type=click.Choice(people.POSITIONS),
              help="An approving position they hold (a unit's approver_role).")
@json_option
@command
def people_add(ctx: Context, person_id: str, name: str, account: str | None,
               roles: tuple[str, ...],
               units: tuple[str, ...], clearances: tuple[str, ...], positions: tuple[str, ...],
               as_json: bool) -> int:
    """Register a person and create their key in their own home (administrators only)."""
    out = people.add_person(ctx.archive, ctx.actor(), person_id, name, account, list(roles),
                            list(units), list(clearances), list(positions))
    key_id = out["public_keys"][-1]["key_id"] if out["public_keys"] else None
    emit_json(out) if as_json else click.echo(
        _("{person}, OS account {account}: {roles}").format(
            person=person_label(person_id, name),
            account=account or _("none (web console only)"),
            roles=joined((named(ROLE_ZH, r) for r in roles), "、"))
        + (_("; approving positions {positions}").format(positions=joined(positions, "、"))
           if positions else "")
        + (_("; clearances {clearances}").format(
            clearances=joined((named(CONFIDENTIAL_ZH, c) for c in clearances), "、"))
           if clearances else "")
        + (_("; key {fingerprint}").format(fingerprint=fingerprint(key_id)) if key_id else
           _("; no key here: invite them to enroll a passkey")))
    return 0


@people_cmd.command("list")
@json_option
@command
def people_list(ctx: Context, as_json: bool) -> int:
    rows = people.list_people(ctx.archive.catalog)
    if as_json:
        emit_json({"people": rows})
        return 0
    view = view_of(ctx)
    t = Table(_("Person"), _("OS account"), _("Roles"), _("Units"), _("Approving positions"),
              _("Clearances"), _("May act"), _("Keys"))
    for r in rows:
        t.add_row(person_label(r["id"], r["name"]), r["os_account"] or "-",
                  joined((named(ROLE_ZH, x) for x in r["roles"]), "、"),
                  joined((view.unit(u) for u in r["units"]), "、") or "-",
                  joined(r["positions"], "、") or "-",
                  joined((named(CONFIDENTIAL_ZH, c) for c in r["clearances"]), "、") or "-",
                  yes_no(r["enabled"]) if r["enabled"] else _("NO (disabled)"),
                  str(r["keys"]))
    Console(width=200).print(t)
    return 0


def _people_change(action: str):
    @json_option
    @click.argument("person_id")
    @command
    def change(ctx: Context, person_id: str, as_json: bool) -> int:
        out = people.change_person(ctx.archive, ctx.actor(), person_id, action)
        person = view_of(ctx, [person_id]).person(person_id)
        emit_json(out) if as_json else click.echo(
            _(CHANGED[action]).format(person=person) if action != "rekey" else
            _("{person}: new key {fingerprint}").format(person=person,
                                                        fingerprint=fingerprint(out["key_id"])))
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
            _("{person}: clearances {clearances}; approving positions {positions}").format(
                person=view_of(ctx, [person_id]).person(person_id),
                clearances=joined((named(CONFIDENTIAL_ZH, c) for c in out["clearances"]),
                                  "、") or "-",
                positions=joined(out["positions"], "、") or "-"))
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


# --- passkeys: the people of the web console ----------------------------------------------
PASSKEY_STATE_ZH = {"pending": "待确认", "confirmed": "已确认", "revoked": "已撤销"}


def _passkeys(ctx: Context):
    from archive.passkeys import service

    service.attach(ctx.archive, ctx.settings.home)
    return service


def _invite_link(ctx: Context, token: str) -> str:
    """The link the console serves an invite at (web.views.signin): ``[web] origin``, else
    the one made from rp_id and port as ``custody web`` makes it."""
    cfg = ctx.settings.section("web")
    origin = (cfg.get("origin") or "").rstrip("/") or (
        f"{'https' if cfg.get('cert') else 'http'}://{cfg['rp_id']}:{cfg['port']}")
    return f"{origin}/invite/{token}"


class _DashedIds(click.Command):
    """A credential id is base64url and may begin with "-", which click would read as
    options (and "-h…" as a request for help): everything but this command's own flags is
    passed on as arguments."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        flags = {name for param in self.get_params(ctx) if isinstance(param, click.Option)
                 for name in (*param.opts, *param.secondary_opts)}
        if "--" in args:
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, [a for a in args if a in flags] + ["--"]
                                  + [a for a in args if a not in flags])


@people_cmd.command("invite")
@click.argument("person_id")
@click.option("--hours", type=click.IntRange(1, 720), default=72, show_default=True,
              help="How long the link stays valid.")
@json_option
@command
def people_invite(ctx: Context, person_id: str, hours: int, as_json: bool) -> int:
    """A one-time link with which a person enrolls a passkey at the web console
    (administrators only); confirm the enrollment afterwards with confirm-passkey."""
    out = _passkeys(ctx).invite(ctx.archive, ctx.actor(), person_id, hours)
    out["link"] = _invite_link(ctx, out["token"])
    if as_json:
        emit_json(out)
        return 0
    click.echo(_("Invitation for {person}, valid until {until} (once, for whoever opens it "
                 "first):").format(person=view_of(ctx, [person_id]).person(person_id),
                                   until=local(ctx, out["expires"])))
    click.echo(f"  {out['link']}")
    click.echo(_("Then confirm the passkey: custody people confirm-passkey {person} "
                 "CREDENTIAL").format(person=person_id))
    return 0


@people_cmd.command("passkeys")
@click.argument("person_id", required=False)
@json_option
@command
def people_passkeys(ctx: Context, person_id: str | None, as_json: bool) -> int:
    """Every passkey (of one person): pending, confirmed or revoked."""
    rows = _passkeys(ctx).credentials(ctx.archive, person_id)
    if as_json:
        emit_json({"passkeys": rows})
        return 0
    view = view_of(ctx, {r["person"] for r in rows})
    t = Table(_("Person"), _("Passkey"), _("State"), _("Authenticator model (AAGUID)"),
              _("Enrolled"), _("Confirmed"), _("Revoked"), title=zone_named(ctx))
    for r in rows:
        t.add_row(view.person(r["person"]), r["credential_id"],
                  named(PASSKEY_STATE_ZH, r["status"]), r["aaguid"],
                  local(ctx, r["enrolled_at"]),
                  local(ctx, r["confirmed_at"]) + f" ({r['confirmed_by']})"
                  if r["confirmed_at"] else "-",
                  local(ctx, r["revoked_at"]) + f" ({r['revoked_by']})"
                  if r["revoked_at"] else "-")
    Console(width=200).print(t)
    return 0


@people_cmd.command("confirm-passkey", cls=_DashedIds)
@click.argument("person_id")
@click.argument("credential")
@json_option
@command
def people_confirm_passkey(ctx: Context, person_id: str, credential: str,
                           as_json: bool) -> int:
    """Confirm a pending passkey (administrators only): from now on it signs in and signs
    decisions. Check with the person that it is theirs first."""
    out = _passkeys(ctx).confirm_enrollment(ctx.archive, ctx.actor(), person_id, credential)
    emit_json(out) if as_json else click.echo(
        _("{person}: passkey {credential} confirmed (key {digest})").format(
            person=view_of(ctx, [person_id]).person(person_id),
            credential=out["credential_id"], digest=out["key_sha256"][:16]))
    return 0


@people_cmd.command("revoke-passkey", cls=_DashedIds)
@click.argument("person_id")
@click.argument("credential")
@json_option
@command
def people_revoke_passkey(ctx: Context, person_id: str, credential: str,
                          as_json: bool) -> int:
    """Revoke a passkey (a lost one): nothing it signs from now on verifies, what it signed
    before still does. Re-enroll with a new invitation."""
    out = _passkeys(ctx).revoke_credential(ctx.archive, ctx.actor(), person_id, credential)
    emit_json(out) if as_json else click.echo(
        _("{person}: passkey {credential} revoked").format(
            person=view_of(ctx, [person_id]).person(person_id),
            credential=out["credential_id"]))
    return 0


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
    t = Table("", _("Station"), _("State"), _("Fingerprint"), _("Since"), _("Key id"),
              title=zone_named(ctx))
    for k in keys:
        state = named(KEY_STATE_ZH, k["state"]) + (
            "" if k["published"] else _(", NOT IN THE STORE"))
        t.add_row("*" if k["current"] else "", station_label(k["station"]), state,
                  k["fingerprint"], local(ctx, k["from"]) if k["from"] else "-", k["key_id"])
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
        click.echo(_("Station {station}: new archive key {fingerprint} (the previous key "
                     "{previous} is retired; its signatures still verify)").format(
            station=station_label(out["station"]), fingerprint=out["fingerprint"],
            previous=fingerprint(out["previous"])))
    return 0


COMMANDS = (people_cmd, key,)
