"""custody search and show: finding items and everything held about one."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from archive.access import lookup
from archive.catalog.base import Query
from archive.domain.names import KIND_ZH, STATUS_ZH, TIER_ZH, View
from commands.base import (
    Context,
    colon,
    command,
    echo_fields,
    emit_json,
    json_option,
    lock_mode,
    named,
    reason_text,
    view_of,
    when,
    yes_no,
    zone_named,
    zone_text,
)
from i18n import N_, _, localize, ngettext

# what each key of a search or count is called
KEYS = {"unit": N_("Unit"), "device_id": N_("Device"), "officer": N_("Officer"),
        "case_id": N_("Case"), "tier": N_("Tier"), "kind": N_("Kind"),
        "activity_type": N_("Activity type"), "activity_id": N_("Activity"),
        "status": N_("Status"), "party": N_("Party"), "cause": N_("Cause")}
# what each problem show reports is called (the codes stay in --json)
PROBLEM_ZH = {"object-missing": "存储中缺少该对象", "lock-unreadable": "无法从存储读取锁定"}


def _group_value(ctx: Context, key: str, value: str, view: View) -> str:
    """A count's group as a person reads it: units and people by name, codes by name."""
    if not value:
        return "-"
    if key == "unit":
        return view.unit(value)
    if key == "officer":
        return view.person(value)
    table = {"tier": TIER_ZH, "kind": KIND_ZH, "status": STATUS_ZH}.get(key)
    return named(table, value) if table else value


@click.command()
@click.option("--unit")
@click.option("--device", "device_id")
@click.option("--officer")
@click.option("--from", "start", help="Recorded at or after (ISO time; unit zone if no offset).")
@click.option("--to", "end", help="Recorded before.")
@click.option("--party", help="Substring of the party (当事人), 2 characters and up.")
@click.option("--cause", help="Substring of the cause (案由), 2 characters and up.")
@click.option("--case", "case_id")
@click.option("--tier", type=click.Choice(["routine", "case", "permanent"]))
@click.option("--kind", type=click.Choice(["video", "audio", "photo", "document", "data"]))
@click.option("--activity-type")
@click.option("--activity", "activity_id")
@click.option("--status", type=click.Choice(["archived", "pending-metadata", "attention"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--count-by", help="Instead of items, counts grouped by this key.")
@json_option
@command
def search(ctx: Context, unit, device_id, officer, start, end, party, cause, case_id, tier,
           kind, activity_type, activity_id, status, limit, cursor, count_by,
           as_json: bool) -> int:
    """Find items by unit, device, officer, time, party, cause, case, tier, kind, activity."""
    q = Query(unit=unit, device_id=device_id, officer=officer,
              start=when(ctx, start, unit, "--from"), end=when(ctx, end, unit, "--to"),
              party=party, cause=cause, case_id=case_id, tier=tier, kind=kind,
              activity_type=activity_type, activity_id=activity_id, status=status)
    if count_by:
        counts = lookup.count_items(ctx.archive, ctx.clearances(), count_by, q)
        if as_json:
            emit_json({"count_by": count_by, "counts": counts})
        else:
            view = view_of(ctx, counts if count_by == "officer" else ())
            t = Table(_(KEYS.get(count_by, count_by)), _("Items"))
            for k, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                t.add_row(_group_value(ctx, count_by, k, view), str(n))
            Console().print(t)
        return 0
    page = lookup.search_items(ctx.archive, ctx.clearances(), q, limit, cursor, view_of(ctx))
    rows, next_cursor = page["items"], page["next_cursor"]
    if as_json:
        emit_json(page)
        return 0
    t = Table("档号", "题名", _("Kind"), _("Unit"), _("Device"), _("Officers"),
              _("Recorded"), _("Party"), _("Cause"), _("Tier"), _("Status"), _("Item id"),
              title=zone_named(ctx, unit))
    for r in rows:
        z = r["zh"]
        code = r["archive_code"] or "-"
        t.add_row(code + ("（已销毁）" if r["destroyed"] and r["archive_code"] else ""),
                  r["title"] or "-", named(KIND_ZH, r["kind"]), z["unit"] or "-",
                  r["device_id"] or "-", "、".join(z["officers"]) or "-",
                  z["recorded_start"][:16] or "-", r["party"] or "-", r["cause"] or "-",
                  named(TIER_ZH, r["tier"]), z["status"], r["id"])
    Console(width=240).print(t)
    click.echo(ngettext("{count} item", "{count} items", len(rows)).format(count=len(rows))
               + (_("; next page: --cursor {cursor}").format(cursor=next_cursor)
                  if next_cursor else ""))
    return 0


@click.command()
@click.argument("item_id")
@click.option("--lock", "read_lock", is_flag=True, help="Also read the lock from the store.")
@json_option
@command
def show(ctx: Context, item_id: str, read_lock: bool, as_json: bool) -> int:
    """Everything the archive holds about one item, with every metadata version."""
    out = lookup.show_item(ctx.archive, ctx.clearances(), item_id, read_lock, view_of(ctx))
    problems = out.get("problems", [])
    if as_json:
        emit_json(out)
        return 0 if out["signature_valid"] and not problems else 1
    d, z = out["description"], out["zh"]
    code, unit = out["archive_code"], d.get("unit")
    holds = out["retention"].get("holds", [])
    lines = [("档号", (code + ("（已销毁）" if out["destroyed"] else "")) if code else None),
             ("题名", out["title"]), (_("Item id"), out["id"]), (_("Status"), z["status"]),
             (_("Kind"), named(KIND_ZH, d["kind"])), (_("Unit"), z["unit"]),
             (_("Device"), d["device_id"]), (_("Officers"), "、".join(z["officers"])),
             (_("Assisting"), "、".join(z["assisting"])),
             (_("Recorded"), f"{z['recorded_start'][:16] or '-'} — "
                             f"{z['recorded_end'][:16] or '-'}"),
             (_("Times"), zone_text(ctx, unit)),
             (_("Party"), d["party"]), (_("Cause"), d["cause"]), (_("Case"), d["case_id"]),
             (_("Activity"), f"{d['activity_id'] or '-'} {d['activity_type'] or ''}".strip()),
             (_("Confidential"), z["confidential"]),
             ("SHA-256", out["sha256"]), (_("Tier"), named(TIER_ZH, out["tier"])),
             (_("Ingested"), z["ingested_at"][:16]),
             (_("Retain until"), z["retain_until"][:16]),
             (_("Legal hold"), yes_no(out["legal_hold"])),
             (_("Retention rule"), localize(out["retention"].get("rule"))
              if out["retention"].get("rule") else None),
             (_("Held by"), "；".join(localize(h) for h in holds)),
             (_("Metadata version"), _("{version} of {count}; signature {verdict}").format(
                 version=out["version"], count=len(out["versions"]),
                 verdict=_("valid") if out["signature_valid"] else _("INVALID")))]
    disp = out["retention"].get("disposal")
    if disp:  # what the 销毁清册 says of this item
        lines += [(_("Destroyed"), _(
                      "{at}; disposal list {list}; 销毁清册 {register}, line {line}").format(
                      at=view_of(ctx).time(disp["destroyed_at"], unit)[:16], list=disp["list"],
                      register=disp["register"]["key"], line=disp["line"])),
                  (_("Decision"), disp["decision"]),
                  (_("Witnesses"), "、".join(disp["witnesses"])),
                  (_("Executed by"), disp["executed_by"])]
    if read_lock:
        lk = out["lock_in_store"]
        lines.append((_("Lock in the store"), None if lk is None else _(
            "{mode} until {until}; legal hold: {hold}").format(
                mode=lock_mode(lk["mode"]), until=view_of(ctx).time(lk["retain_until"],
                                                                     unit)[:16],
                hold=yes_no(lk["legal_hold"]))))
    lines += [(_("PROBLEM"), named(PROBLEM_ZH, p["code"]) + colon() + reason_text(p))
              for p in problems]
    echo_fields(lines)
    return 0 if out["signature_valid"] and not problems else 1


COMMANDS = (search, show,)
