"""custody search and show: finding items and everything held about one."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from archive.access import lookup
from archive.catalog.base import Query
from archive.domain.names import View
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
    when,
)


# --- search and show ------------------------------------------------------------------------
def view_of(ctx: Context) -> View:
    """How this archive shows codes to people: its units' zones and configured names."""
    return View(zone_of=ctx.settings.unit_zone,
                unit_names={u: r["name"] for u, r in ctx.settings.units.items()
                            if r.get("name")})


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
            t = Table(count_by, "items")
            for k, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                t.add_row(k or "-", str(n))
            Console().print(t)
        return 0
    page = lookup.search_items(ctx.archive, ctx.clearances(), q, limit, cursor, view_of(ctx))
    rows, next_cursor = page["items"], page["next_cursor"]
    if as_json:
        emit_json(page)
        return 0
    t = Table("档号", "题名", "kind", "unit", "device", "officers", "recorded", "party", "cause",
              "tier", "status", "id", title=f"times: {page['zone']}")
    for r in rows:
        z = r["zh"]
        code = r["archive_code"] or "-"
        t.add_row(code + ("（已销毁）" if r["destroyed"] and r["archive_code"] else ""),
                  r["title"] or "-", z["kind"], z["unit"] or "-", r["device_id"] or "-",
                  "、".join(z["officers"]) or "-", z["recorded_start"] or "-",
                  r["party"] or "-", r["cause"] or "-", z["tier"], z["status"], r["id"])
    Console(width=240).print(t)
    click.echo(f"{len(rows)} items" + (f"; next page: --cursor {next_cursor}"
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
    code = out["archive_code"]
    lines = [("档号", (code + ("（已销毁）" if out["destroyed"] else "")) if code else None),
             ("题名", out["title"]), ("id", out["id"]), ("status", z["status"]),
             ("kind", z["kind"]), ("unit", z["unit"]), ("device", d["device_id"]),
             ("officers", "、".join(z["officers"])),
             ("assisting", "、".join(z["assisting"])),
             ("recorded", f"{z['recorded_start'] or '-'} .. {z['recorded_end'] or '-'}"),
             ("times", z["zone"]),
             ("party", d["party"]), ("cause", d["cause"]), ("case", d["case_id"]),
             ("activity", f"{d['activity_id'] or '-'} {d['activity_type'] or ''}"),
             ("confidential", z["confidential"]),
             ("sha256", out["sha256"]), ("tier", z["tier"]),
             ("ingested", z["ingested_at"]),
             ("retain until", z["retain_until"]), ("legal hold", out["legal_hold"]),
             ("retention rule", out["retention"].get("rule")),
             ("held by", "; ".join(out["retention"].get("holds", []))),
             ("metadata version", f"{out['version']} of {len(out['versions'])}, signature "
                                  f"{'valid' if out['signature_valid'] else 'INVALID'}")]
    disp = out["retention"].get("disposal")
    if disp:  # what the 销毁清册 says of this item
        lines += [("destroyed", f"{view_of(ctx).time(disp['destroyed_at'], d['unit'])}, list "
                                f"{disp['list']}, 销毁清册 {disp['register']['key']} line "
                                f"{disp['line']}"),
                  ("decision", disp["decision"]), ("witnesses", "、".join(disp["witnesses"])),
                  ("executed by", disp["executed_by"])]
    if read_lock:
        lk = out["lock_in_store"]
        lines.append(("lock in store", None if lk is None else
                      f"{lk['mode']} until {lk['retain_until']}, hold {lk['legal_hold']}"))
    lines += [("PROBLEM", f"{p['code']}: {p['message']}") for p in problems]
    for k, v in lines:
        click.echo(f"{k:>17}: {'-' if v in (None, '') else v}")
    return 0 if out["signature_valid"] and not problems else 1


COMMANDS = (search, show,)
