"""custody search and show: finding items and everything held about one."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from archive.catalog.base import Query
from archive.domain.errors import CustodyError
from archive.domain.model import CONFIDENTIAL_CLASSES, iso, item_summary
from archive.domain.timeutil import parse_time
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
)


# --- search and show ------------------------------------------------------------------------
def _clearances(ctx: Context) -> frozenset[str]:
    """The confidential classes the person at the keyboard may see: none for anyone who is not
    a registered, enabled person holding their key (fail closed)."""
    from archive.access.requests import clearances_of

    try:
        actor = ctx.actor()
    except CustodyError:
        return frozenset()
    return clearances_of(ctx.archive.catalog, actor.person_id)


def _count_masked(ctx: Context, key: str, q: Query, cl: frozenset[str]) -> dict[str, int]:
    """Counts that neither show a hidden item's party, cause or case nor let a filter on them
    reveal it: counted item by item (slower, only for viewers without every clearance)."""
    from archive.access.requests import MASK, hidden, visible
    from archive.catalog.base import check_group_key
    from archive.domain.model import GROUP_KEYS

    check_group_key(key)
    counts: dict[str, int] = {}
    for item in ctx.archive.catalog.iter_items(q):
        if not visible(item, q, cl):
            continue
        d = item.description
        if key in ("party", "cause", "case_id") and hidden(d.confidential, cl):
            values = [MASK]
        elif key == "officer":
            values = list(d.officers)
        else:
            v = getattr(d, key, None) if key not in ("tier", "status") else getattr(item, key)
            values = [v]
        for v in values:
            counts[v or ""] = counts.get(v or "", 0) + 1
    assert key in GROUP_KEYS
    return counts


def _time(ctx: Context, value: str | None, unit: str | None, what: str):
    if value is None:
        return None
    return parse_time(value, ctx.settings.unit_zone(unit), what)


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
              start=_time(ctx, start, unit, "--from"), end=_time(ctx, end, unit, "--to"),
              party=party, cause=cause, case_id=case_id, tier=tier, kind=kind,
              activity_type=activity_type, activity_id=activity_id, status=status)
    from archive.access.requests import mask_item, mask_summary, visible

    cl = ctx.clearances()
    if count_by:
        sensitive = count_by in ("party", "cause", "case_id") or any(
            getattr(q, k) is not None for k in ("party", "cause", "case_id"))
        uncleared = set(CONFIDENTIAL_CLASSES) - cl
        counts = (_count_masked(ctx, count_by, q, cl) if sensitive and uncleared
                  else ctx.archive.catalog.count_by(count_by, q))
        if as_json:
            emit_json({"count_by": count_by, "counts": counts})
        else:
            t = Table(count_by, "items")
            for k, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                t.add_row(k or "-", str(n))
            Console().print(t)
        return 0
    page = ctx.archive.search(q, limit, cursor)
    shown = [mask_item(i, cl) for i in page.items if visible(i, q, cl)]
    rows = [mask_summary(item_summary(i), i, cl) for i in page.items if visible(i, q, cl)]
    if as_json:
        emit_json({"items": rows, "next_cursor": page.next_cursor})
        return 0
    zone = ctx.settings.unit_zone(unit)
    t = Table("id", "kind", "unit", "device", "officers", "recorded", "party", "cause", "tier")
    for i in shown:
        d = i.description
        when = d.recorded_start.astimezone(zone).strftime("%Y-%m-%d %H:%M") if (
            d.recorded_start and zone) else (iso(d.recorded_start) or "-")
        t.add_row(i.id, d.kind, d.unit or "-", d.device_id or "-", ",".join(d.officers) or "-",
                  when, d.party or "-", d.cause or "-", i.tier)
    Console(width=200).print(t)
    click.echo(f"{len(rows)} items" + (f"; next page: --cursor {page.next_cursor}"
                                      if page.next_cursor else ""))
    return 0


@click.command()
@click.argument("item_id")
@click.option("--lock", "read_lock", is_flag=True, help="Also read the lock from the store.")
@json_option
@command
def show(ctx: Context, item_id: str, read_lock: bool, as_json: bool) -> int:
    """Everything the archive holds about one item, with every metadata version."""
    from archive.access.requests import mask_show

    out = mask_show(ctx.archive.show(item_id, read_lock), ctx.clearances())
    if as_json:
        emit_json(out)
        return 0
    d = out["description"]
    lines = [("id", out["id"]), ("status", out["status"]), ("kind", d["kind"]),
             ("unit", d["unit"]), ("device", d["device_id"]),
             ("officers", ", ".join(d["officers"])), ("recorded", f"{d['recorded_start']} .. "
                                                                  f"{d['recorded_end']}"),
             ("party", d["party"]), ("cause", d["cause"]), ("case", d["case_id"]),
             ("activity", f"{d['activity_id'] or '-'} {d['activity_type'] or ''}"),
             ("sha256", out["sha256"]), ("tier", out["tier"]),
             ("retain until", out["retain_until"]), ("legal hold", out["legal_hold"]),
             ("retention rule", out["retention"].get("rule")),
             ("held by", "; ".join(out["retention"].get("holds", []))),
             ("metadata version", f"{out['version']} of {len(out['versions'])}, signature "
                                  f"{'valid' if out['signature_valid'] else 'INVALID'}")]
    if read_lock:
        lk = out["lock_in_store"]
        lines.append(("lock in store", f"{lk['mode']} until {lk['retain_until']}, hold "
                                       f"{lk['legal_hold']}"))
    for k, v in lines:
        click.echo(f"{k:>17}: {'-' if v in (None, '') else v}")
    return 0 if out["signature_valid"] else 1


COMMANDS = (search, show,)
