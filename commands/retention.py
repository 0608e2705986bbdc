"""custody commands: retention, cases, flags and disposal (issue 4).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
    local,
)
from retention import cases, disposal, flags
from retention.engine import RetentionEngine
from retention.rules import FLAG_REASONS


def _engine(ctx: Context) -> RetentionEngine:
    return bootstrap.retention_engine(ctx.archive, ctx.settings)


_FIELD_NAMES = {"tier": "tier", "retain_until": "retain until", "legal_hold": "legal hold",
               "permanent": "permanent", "period": "period"}


def _field_value(ctx: Context, name: str, value: object, unit: str | None) -> str:
    if name == "retain_until":
        return local(ctx, value, unit)  # type: ignore[arg-type]
    if name == "legal_hold":
        return "held" if value else "not held"
    if name == "permanent":
        return "yes" if value else "no"
    return str(value)


def _changes(ctx: Context, changes: list[dict]) -> None:
    """Each changed item with exactly the fields that changed, before -> after."""
    for c in changes:
        fields = c.get("fields") or {k: {"before": c["before"].get(k), "after": v}
                                     for k, v in c["after"].items()
                                     if c["before"].get(k) != v}
        what = "; ".join(
            f"{_FIELD_NAMES.get(k, k)} {_field_value(ctx, k, f['before'], c.get('unit'))} -> "
            f"{_field_value(ctx, k, f['after'], c.get('unit'))}" for k, f in fields.items())
        click.echo(f"  {c['item']}: {what}  [{c['rule']}]")


# --- cases -----------------------------------------------------------------------------------
@click.group("case")
def case_group() -> None:
    """The case register, and items as evidence of cases (held while a case is open)."""


@case_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@command
def case_import(ctx: Context, file: Path, as_json: bool) -> int:
    """Import the case register (CSV: id,type,unit,opened,closed,filing_year,activities; or
    JSON). Every problem is listed; nothing is imported while any remains."""
    result = cases.import_register(_engine(ctx), ctx.actor(), file)
    if as_json:
        emit_json(result)
        return 0
    click.echo(f"{result['cases']} cases in {file}: {result['added']} added, "
               f"{result['updated']} updated, {len(result['retention_changes'])} items changed")
    for f in result["evidence_flags"]:
        click.echo(f"  evidence flag {f} raised (an item names the case and the unit keeps "
                   "evidence permanently; a second person confirms it: custody flag confirm)")
    _changes(ctx, result["retention_changes"])
    return 0


@case_group.command("link")
@click.argument("items", nargs=-1, required=True)
@click.option("--case", "case_id", required=True, help="Case number in the register.")
@json_option
@command
def case_link(ctx: Context, items: tuple[str, ...], case_id: str, as_json: bool) -> int:
    """Link items to a case as its evidence: held while the case is open."""
    result = cases.link(_engine(ctx), ctx.actor(), list(items), case_id)
    if as_json:
        emit_json(result)
        return 0
    click.echo(f"linked {len(result['linked'])} items to case {case_id}")
    for f in result["evidence_flags"]:
        click.echo(f"  evidence flag {f} raised (the unit keeps evidence permanently; a second "
                   "person confirms it: custody flag confirm)")
    _changes(ctx, result["retention_changes"])
    return 0


@case_group.command("close")
@click.argument("case_id")
@click.option("--date", "closed", required=True, help="Closing date, YYYY-MM-DD.")
@json_option
@command
def case_close(ctx: Context, case_id: str, closed: str, as_json: bool) -> int:
    """Close a case: its items get the case file's period (from 1 January after filing)."""
    result = cases.close(_engine(ctx), ctx.actor(), case_id, cases.parse_day(closed))
    if as_json:
        emit_json(result)
        return 0
    click.echo(f"case {case_id} closed on {result['closed']}; {len(result['items'])} items")
    _changes(ctx, result["retention_changes"])
    return 0


@case_group.command("list")
@json_option
@command
def case_list(ctx: Context, as_json: bool) -> int:
    """The case register, each case with its items (named by their description or linked)."""
    docs = cases.list_cases(_engine(ctx))
    if as_json:
        emit_json({"cases": docs})
        return 0
    t = Table("case", "type", "unit", "opened", "closed", "filed", "items", "of them linked")
    for d in docs:
        t.add_row(d["id"], d["type"], d["unit"], d.get("opened") or "-",
                  d.get("closed") or "open", str(d.get("filing_year") or "-"),
                  str(len(d["items"])), str(len(d["linked"])))
    Console(width=160).print(t)
    return 0


# --- flags -----------------------------------------------------------------------------------
class _FlagGroup(click.Group):
    """``custody flag ITEM --reason R`` raises a flag; ``custody flag confirm|withdraw|list``
    act on flags."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["raise", *args]
        return super().parse_args(ctx, args)


@click.group("flag", cls=_FlagGroup)
def flag_group() -> None:
    """Flags that keep records permanently: ITEM --reason R raises one (it holds at once);
    a second person with the confirming role confirms it (the lock can never be undone)."""


@flag_group.command("raise")
@click.argument("item_id")
@click.option("--reason", required=True, type=click.Choice(list(FLAG_REASONS)),
              help="objection, complaint, petition, obstruction, refusal, insult, assault, "
                   "mass-incident, sudden-incident, review, litigation, major, complex, "
                   "difficult, evidence (units keeping evidence permanently), other (--note).")
@click.option("--note", help="Written reason (required with --reason other).")
@json_option
@command
def flag_raise(ctx: Context, item_id: str, reason: str, note: str | None,
               as_json: bool) -> int:
    """Flag an item (and every item of its activity); held at once."""
    doc = flags.raise_flag(_engine(ctx), ctx.actor(), item_id, reason, note)
    if as_json:
        emit_json(doc)
        return 0
    click.echo(f"flag {doc['id']} ({doc['reason_zh']}) on {len(doc['items'])} items; held "
               "until confirmed or withdrawn")
    _changes(ctx, doc["retention_changes"])
    return 0


@flag_group.command("confirm")
@click.argument("flag_id")
@json_option
@command
def flag_confirm(ctx: Context, flag_id: str, as_json: bool) -> int:
    """Confirm a flag (a second person): the permanent COMPLIANCE lock, never undone."""
    doc = flags.confirm(_engine(ctx), ctx.actor(), flag_id)
    if as_json:
        emit_json(doc)
        return 0
    click.echo(f"flag {flag_id} confirmed by {doc['confirmed_by']}: {len(doc['items'])} "
               "items permanent")
    _changes(ctx, doc["retention_changes"])
    return 0


@flag_group.command("withdraw")
@click.argument("flag_id")
@click.option("--note", help="Why the flag is withdrawn.")
@json_option
@command
def flag_withdraw(ctx: Context, flag_id: str, note: str | None, as_json: bool) -> int:
    """Withdraw an unconfirmed flag; holds go only where no other reason is left."""
    doc = flags.withdraw(_engine(ctx), ctx.actor(), flag_id, note)
    if as_json:
        emit_json(doc)
        return 0
    click.echo(f"flag {flag_id} withdrawn")
    _changes(ctx, doc["retention_changes"])
    return 0


@flag_group.command("list")
@json_option
@command
def flag_list(ctx: Context, as_json: bool) -> int:
    """Every flag with its state."""
    docs = flags.list_flags(_engine(ctx))
    if as_json:
        emit_json({"flags": docs})
        return 0
    t = Table("flag", "reason", "state", "item", "items", "raised by", "confirmed by")
    for d in docs:
        t.add_row(d["id"], d["reason_zh"], d["state"], d["item"], str(len(d["items"])),
                  d["raised_by"], d.get("confirmed_by") or "-")
    Console(width=180).print(t)
    return 0


# --- retention -------------------------------------------------------------------------------
@click.group("retention")
def retention_group() -> None:
    """Apply the retention rules; check the store's locks against them."""


def _coverage(ctx: Context, c: dict) -> str:
    """One line: what a run read, and when every item was last read."""
    last = local(ctx, c["last_full_sweep"], None) if c.get("last_full_sweep") else "never"
    if c["mode"] == "full":
        why = f" ({c['reason']})" if c.get("reason") else ""
        return f"coverage: every item ({c['items_read']} read){why}; last full sweep {last}"
    if c["mode"] == "slice":
        state = ("sweep complete" if c["sweep_complete"] else
                 f"sweep begun {local(ctx, c['sweep_started'], None)}: {c['sweep_read']} of "
                 f"{c['items']}")
        return (f"coverage: {c['items_read']} of {c['items']} items' locks read ({state}; "
                f"every lock within {c['within_days']} days); last full sweep {last}")
    start, end = c["due_window"]
    return (f"coverage: {c['items_read']} items read: changed since the last run (change "
            f"{c['since_seq']} to {c['to_seq']}), fell due from {local(ctx, start, None)} to "
            f"{local(ctx, end, None)}, permanent locks due for renewal; last full sweep {last} "
            "(--all reads every item)")


@retention_group.command("run")
@click.option("--as-of", "as_of", help="What-if for a date (report only: nothing is applied).")
@click.option("--all", "full", is_flag=True,
              help="Read every item, not only what changed or fell due since the last run.")
@json_option
@command
def retention_run(ctx: Context, as_of: str | None, full: bool, as_json: bool) -> int:
    """Apply what is due, list what expires soon and the disposal candidates (idempotent)."""
    from archive.domain.timeutil import parse_time

    engine = _engine(ctx)
    when = parse_time(as_of, ctx.settings.unit_zone(None)) if as_of else None
    report = cases.run(engine, None if when else ctx.actor(), when, full=full)
    if as_json:
        emit_json(report.to_dict())
        return 1 if report.problems else 0
    click.echo(_coverage(ctx, report.coverage))
    mode = "applied" if report.applied else f"what-if as of {report.as_of}, nothing applied"
    refreshed = (f" ({len(report.refreshed)} rule descriptions refreshed)"
                 if report.refreshed else "")
    renewed = (f", {len(report.renewed)} record locks renewed" if report.renewed else "")
    click.echo(f"retention run ({mode}): {len(report.changed)} changed{refreshed}{renewed}, "
               f"{len(report.expiring)} expiring within {engine.expiring_days} days, "
               f"{len(report.candidates)} disposal candidates")
    for r in report.renewed:  # keys, checkpoints, journal segments...: kept for ever
        click.echo(f"  renewed {r['key']}: until {local(ctx, r['before'], None)} -> "
                   f"{local(ctx, r['after'], None)}")
    for f in report.evidence_flags:
        click.echo(f"  evidence flag {f} raised (an item names a case and the unit keeps "
                   "evidence permanently; a second person confirms it: custody flag confirm)")
    _changes(ctx, report.changed)
    for title, rows in (("expiring", report.expiring), ("disposal candidates",
                                                         report.candidates)):
        if rows:
            t = Table("item", "unit", "tier", "retain until", "rule", title=title)
            for r in rows:
                t.add_row(r["item"], r["unit"] or "-", r["tier"],
                          local(ctx, r["retain_until"], r["unit"]), r["rule"])
            Console(width=200).print(t)
    for p in report.problems:
        click.echo(f"{p.get('item') or p.get('key')}: {p['message']}", err=True)
    return 1 if report.problems else 0


@retention_group.command("check")
@click.option("--all", "full", is_flag=True,
              help="Read every lock now, not this run's slice of the sweep.")
@json_option
@command
def retention_check(ctx: Context, full: bool, as_json: bool) -> int:
    """Read locks from the store and name each weaker than the rules require: a slice of the
    items each run, so that every lock is read within [retention] check_within_days."""
    out = _engine(ctx).check_run(full)
    problems = out["problems"]
    if as_json:
        emit_json({"ok": not problems, "problems": problems, "coverage": out["coverage"]})
        return 1 if problems else 0
    click.echo(_coverage(ctx, out["coverage"]))
    if problems:
        for p in problems:
            click.echo(f"{p['code']}: item {p['item']} {p['what']} {p['key']}: {p['message']} "
                       f"(rule: {p['rule']})")
    elif out["coverage"]["items_read"] >= out["coverage"]["items"]:
        click.echo("every lock in the store is at least what the rules require")
    else:
        click.echo("every lock read in this slice is at least what the rules require")
    return 1 if problems else 0


# --- disposal --------------------------------------------------------------------------------
@click.group("dispose")
def dispose_group() -> None:
    """Disposal (鉴定销毁): propose (or rehearse), show, appraise (approve, reject), take out,
    witness, execute. Never automatic."""


_DECISION_ZH = {"to-destroy": "拟销毁", "taken-out": "已撤出", "rejected": "不同意销毁",
                "destroyed": "已销毁"}


def _list_rows(ctx: Context, rows: list[dict], title: str | None = None) -> None:
    t = Table("序号", "档号", "条目", "题名", "单位", "tier", "保管至", "当事人", "案由", "规则",
              "鉴定", title=title)
    for r in rows:
        decision = _DECISION_ZH.get(r["decision"], r["decision"])
        if r.get("reason"):
            decision += f"：{r['reason']}"
        t.add_row(str(r["n"]), r.get("code") or "-", r["item"], r.get("title") or "-",
                  r["unit"] or "-", r["tier"], local(ctx, r["retain_until"], r["unit"]),
                  r.get("party") or "-", r.get("cause") or "-", r["rule"], decision)
    Console(width=240).print(t)


def _held(held: list[dict]) -> None:
    for h in held:
        click.echo(f"  held from disposal: {h['item']}: {h['reason']}")


@dispose_group.command("propose")
@click.option("--as-of", "as_of", help="Rehearsal: what would be proposed at this date; "
                                       "nothing is proposed or recorded.")
@json_option
@command
def dispose_propose(ctx: Context, as_of: str | None, as_json: bool) -> int:
    """List expired, unheld items for appraisal (or rehearse a list with --as-of)."""
    from archive.domain.timeutil import parse_time

    when = parse_time(as_of, ctx.settings.unit_zone(None), "--as-of") if as_of else None
    doc = disposal.propose(_engine(ctx), ctx.actor(), when)
    if as_json:
        emit_json(doc)
        return 0
    if doc.get("rehearsal"):
        click.echo(f"rehearsal as of {local(ctx, doc['as_of'])}: {len(doc['items'])} items "
                   f"would be proposed, {len(doc['held'])} held; nothing was proposed")
    else:
        click.echo(f"disposal list {doc['id']}: {len(doc['items'])} items, proposed by "
                   f"{doc['proposed_by']}; the appraisal group approves it next")
    if doc["rows"]:
        _list_rows(ctx, doc["rows"])
    _held(doc["held"])
    return 0


@dispose_group.command("show")
@click.argument("list_id")
@json_option
@command
def dispose_show(ctx: Context, list_id: str, as_json: bool) -> int:
    """A disposal list as the appraisers read it: every item, each decision, the appraisals."""
    out = disposal.show(_engine(ctx), ctx.actor(), list_id)
    if as_json:
        emit_json(out)
        return 0
    click.echo(f"disposal list {out['id']}  state {out['state']}  proposed by "
               f"{out['proposed_by']} at {local(ctx, out['proposed_at'])}")
    _list_rows(ctx, out["rows"])
    _held(out["held"])
    click.echo(f"appraisals ({len(out['valid_approvals'])} valid approvals of "
               f"{out['approvals_needed']} needed):")
    for a in out["appraisals"]:
        what = "approves" if a["decision"] == "approve" else "rejects the list"
        click.echo(f"  {a['by']} {what}" + (f": {a['note']}" if a["note"] else "")
                   + "".join(f"\n    rejects {r['item']}: {r['reason']}"
                             for r in a["rejected"]))
    for t in out["taken_out"]:
        click.echo(f"  taken out by {t['by']}: {', '.join(t['items'])}: {t['reason']}")
    if out["witnesses"]:
        click.echo(f"witnesses: {', '.join(out['witnesses'])}")
    for e in out["executions"]:
        click.echo(f"executed by {e['by']} at {local(ctx, e['at'])}: {len(e['destroyed'])} "
                   f"destroyed, {len(e['left'])} left; register {e['register']}")
    return 0


@dispose_group.command("approve")
@click.argument("list_id")
@click.option("--note")
@click.option("--reject", "rejected", type=(str, str), multiple=True,
              metavar="ITEM REASON", help="Keep this item, for this reason (repeat).")
@json_option
@command
def dispose_approve(ctx: Context, list_id: str, note: str | None,
                    rejected: tuple[tuple[str, str], ...], as_json: bool) -> int:
    """Approve a disposal list as a member of the appraisal group (signed), except the items
    given with --reject ITEM REASON."""
    doc = disposal.approve(_engine(ctx), ctx.actor(), list_id, note, list(rejected))
    if as_json:
        emit_json(doc)
        return 0
    click.echo(f"list {list_id}: {len(doc['approvals'])} appraisals, state {doc['state']}")
    for item, reason in rejected:
        click.echo(f"  rejected {item}: {reason}")
    return 0


@dispose_group.command("reject")
@click.argument("list_id")
@click.option("--reason", required=True, help="Why nothing on the list is to be destroyed.")
@json_option
@command
def dispose_reject(ctx: Context, list_id: str, reason: str, as_json: bool) -> int:
    """Reject a whole disposal list as a member of the appraisal group (signed)."""
    doc = disposal.reject(_engine(ctx), ctx.actor(), list_id, reason)
    if as_json:
        emit_json(doc)
        return 0
    click.echo(f"list {list_id}: rejected by {ctx.actor().person_id}, state {doc['state']}")
    return 0


@dispose_group.command("take-out")
@click.argument("list_id")
@click.argument("items", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why these items are kept.")
@json_option
@command
def dispose_take_out(ctx: Context, list_id: str, items: tuple[str, ...], reason: str,
                     as_json: bool) -> int:
    """The proposer takes items out of a list before execution: they are kept."""
    doc = disposal.take_out(_engine(ctx), ctx.actor(), list_id, list(items), reason)
    if as_json:
        emit_json(doc)
        return 0
    click.echo(f"list {list_id}: {len(items)} items taken out, state {doc['state']}")
    return 0


@dispose_group.command("witness")
@click.argument("list_id")
@json_option
@command
def dispose_witness(ctx: Context, list_id: str, as_json: bool) -> int:
    """Sign your presence as a witness (监销) of the destruction of a list."""
    doc = disposal.witness(_engine(ctx), ctx.actor(), list_id)
    if as_json:
        emit_json({"list": list_id, "witnesses": [w["by"] for w in doc["witnesses"]]})
        return 0
    click.echo(f"list {list_id}: witness {ctx.actor().person_id} signed")
    return 0


@dispose_group.command("execute")
@click.argument("list_id")
@click.option("--witness", "witnesses", multiple=True, required=True,
              help="A witness who signed their presence (repeat).")
@json_option
@command
def dispose_execute(ctx: Context, list_id: str, witnesses: tuple[str, ...],
                    as_json: bool) -> int:
    """Destroy what still qualifies by the real clock; write the destruction register."""
    result = disposal.execute(_engine(ctx), ctx.actor(), list_id, list(witnesses))
    if as_json:
        emit_json(result)
        return 0
    click.echo(result["register"]["text_zh"])
    click.echo(f"\nregister stored at {result['register']['key']}")
    return 0


@dispose_group.command("list")
@json_option
@command
def dispose_list(ctx: Context, as_json: bool) -> int:
    """Disposal lists and their state."""
    docs = disposal.list_disposals(_engine(ctx))
    if as_json:
        emit_json({"lists": docs})
        return 0
    t = Table("list", "state", "items", "proposed by", "appraisals", "witnesses")
    for d in docs:
        t.add_row(d["id"], d["state"], str(len(d["items"])), d["proposed_by"],
                  ", ".join(a["by"] for a in d["approvals"]) or "-",
                  ", ".join(w["by"] for w in d["witnesses"]) or "-")
    Console(width=160).print(t)
    return 0


COMMANDS = (case_group, flag_group, retention_group, dispose_group,)
