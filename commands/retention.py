"""custody commands: retention, cases, flags and disposal (issue 4).

Thin like cli.py: parse, call a service, render.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
from archive.domain.names import TIER_ZH
from commands.base import (
    Context,
    command,
    emit_json,
    joined,
    json_option,
    local,
    named,
    reason_text,
)
from i18n import N_, _, localize
from retention import cases, disposal, flags
from retention.engine import RetentionEngine
from retention.flags import FLAG_STATE_ZH
from retention.rules import FLAG_REASONS


def _engine(ctx: Context) -> RetentionEngine:
    return bootstrap.retention_engine(ctx.archive, ctx.settings)


def tier_name(tier: str | None) -> str:
    return named(TIER_ZH, tier)


def _evidence_flag(flag: str) -> str:
    return _("  evidence flag {flag} raised (an item names the case and the unit keeps "
             "evidence permanently; a second person confirms it: custody flag confirm)").format(
        flag=flag)




_FIELD_NAMES = {"tier": N_("tier"), "retain_until": N_("retain until"),
                "legal_hold": N_("legal hold"), "permanent": N_("permanent"),
                "period": N_("period")}


def _field_value(ctx: Context, name: str, value: object, unit: str | None) -> str:
    if name == "retain_until":
        return local(ctx, value, unit)  # type: ignore[arg-type]
    if name == "legal_hold":
        return _("held") if value else _("not held")
    if name == "permanent":
        return _("yes") if value else _("no")
    if name == "tier" and isinstance(value, str):
        return tier_name(value)
    return str(value)


def _changes(ctx: Context, changes: list[dict]) -> None:
    """Each changed item with exactly the fields that changed, before -> after."""
    for c in changes:
        fields = c.get("fields") or {k: {"before": c["before"].get(k), "after": v}
                                     for k, v in c["after"].items()
                                     if c["before"].get(k) != v}
        what = "; ".join(
            f"{_(_FIELD_NAMES[k]) if k in _FIELD_NAMES else k} "
            f"{_field_value(ctx, k, f['before'], c.get('unit'))} -> "
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
    click.echo(_("{cases} cases in {file}: {added} added, {updated} updated, {changed} items "
                 "changed").format(cases=result["cases"], file=file, added=result["added"],
                                   updated=result["updated"],
                                   changed=len(result["retention_changes"])))
    for f in result["evidence_flags"]:
        click.echo(_evidence_flag(f))
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
    click.echo(_("linked {n} items to case {case}").format(n=len(result["linked"]),
                                                          case=case_id))
    for f in result["evidence_flags"]:
        click.echo(_evidence_flag(f))
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
    click.echo(_("case {case} closed on {closed}; {n} items").format(
        case=case_id, closed=result["closed"], n=len(result["items"])))
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
    t = Table(_("case"), _("type"), _("unit"), _("opened"), _("closed"), _("filed"),
              _("items"), _("of them linked"))
    for d in docs:
        t.add_row(d["id"], d["type"], d["unit"], d.get("opened") or "-",
                  d.get("closed") or _("open"), str(d.get("filing_year") or "-"),
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
    click.echo(_("flag {flag} ({reason}) on {n} items; held until confirmed or "
                 "withdrawn").format(flag=doc["id"], reason=doc["reason_zh"],
                                     n=len(doc["items"])))
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
    click.echo(_("flag {flag} confirmed by {person}: {n} items permanent").format(
        flag=flag_id, person=doc["confirmed_by"], n=len(doc["items"])))
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
    click.echo(_("flag {flag} withdrawn").format(flag=flag_id))
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
    t = Table(_("flag"), _("reason"), _("state"), _("item"), _("items"), _("raised by"),
              _("confirmed by"))
    for d in docs:
        t.add_row(d["id"], d["reason_zh"], named(FLAG_STATE_ZH, d["state"]), d["item"],
                  str(len(d["items"])),
                  d["raised_by"], d.get("confirmed_by") or "-")
    Console(width=180).print(t)
    return 0


# --- retention -------------------------------------------------------------------------------
@click.group("retention")
def retention_group() -> None:
    """Apply the retention rules; check the store's locks against them."""


def _coverage(ctx: Context, c: dict) -> str:
    """One line: what a run read, and when every item was last read."""
    last = (local(ctx, c["last_full_sweep"], None) if c.get("last_full_sweep")
            else _("never"))
    if c["mode"] == "full":
        if c.get("reason"):
            return _("coverage: every item ({n} read) ({reason}); last full sweep {last}").format(
                n=c["items_read"], reason=localize(c["reason"]), last=last)
        return _("coverage: every item ({n} read); last full sweep {last}").format(
            n=c["items_read"], last=last)
    if c["mode"] == "slice":
        state = (_("sweep complete") if c["sweep_complete"] else
                 _("sweep begun {at}: {read} of {items}").format(
                     at=local(ctx, c["sweep_started"], None), read=c["sweep_read"],
                     items=c["items"]))
        return _("coverage: {read} of {items} items' locks read ({state}; every lock within "
                 "{days} days); last full sweep {last}").format(
            read=c["items_read"], items=c["items"], state=state, days=c["within_days"],
            last=last)
    start, end = c["due_window"]
    return _("coverage: {read} items read: changed since the last run (change {since} to "
             "{to}), fell due from {start} to {end}, permanent locks due for renewal; last "
             "full sweep {last} (--all reads every item)").format(
        read=c["items_read"], since=c["since_seq"], to=c["to_seq"],
        start=local(ctx, start, None), end=local(ctx, end, None), last=last)


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
    mode = (_("applied") if report.applied else
            _("what-if as of {at}, nothing applied").format(at=report.as_of))
    refreshed = (_(" ({n} rule descriptions refreshed)").format(n=len(report.refreshed))
                 if report.refreshed else "")
    renewed = (_(", {n} record locks renewed").format(n=len(report.renewed))
               if report.renewed else "")
    click.echo(_("retention run ({mode}): {changed} changed{refreshed}{renewed}, {expiring} "
                 "expiring within {days} days, {candidates} disposal candidates").format(
        mode=mode, changed=len(report.changed), refreshed=refreshed, renewed=renewed,
        expiring=len(report.expiring), days=engine.expiring_days,
        candidates=len(report.candidates)))
    for r in report.renewed:  # keys, checkpoints, journal segments...: kept for ever
        click.echo(_("  renewed {key}: until {before} -> {after}").format(
            key=r["key"], before=local(ctx, r["before"], None),
            after=local(ctx, r["after"], None)))
    for f in report.evidence_flags:
        click.echo(_evidence_flag(f))
    _changes(ctx, report.changed)
    for title, rows in ((_("expiring"), report.expiring),
                        (_("disposal candidates"), report.candidates)):
        if rows:
            t = Table(_("item"), _("unit"), _("tier"), _("retain until"), _("rule"),
                      title=title)
            for r in rows:
                t.add_row(r["item"], r["unit"] or "-", tier_name(r["tier"]),
                          local(ctx, r["retain_until"], r["unit"]), r["rule"])
            Console(width=200).print(t)
    for p in report.problems:
        click.echo(f"{p.get('item') or p.get('key')}: {reason_text(p)}", err=True)
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
            click.echo(_("{code}: item {item} {what} {key}: {message} (rule: {rule})").format(
                code=p["code"], item=p["item"], what=p["what"], key=p["key"],
                message=reason_text(p), rule=p["rule"]))
    elif out["coverage"]["items_read"] >= out["coverage"]["items"]:
        click.echo(_("every lock in the store is at least what the rules require"))
    else:
        click.echo(_("every lock read in this slice is at least what the rules require"))
    return 1 if problems else 0


# --- disposal --------------------------------------------------------------------------------
@click.group("dispose")
def dispose_group() -> None:
    """Disposal (鉴定销毁): propose (or rehearse), show, appraise (approve, reject), take out,
    witness, execute. Never automatic."""


_DECISION_ZH = disposal.DECISION_ZH
_LIST_STATE_ZH = disposal.LIST_STATE_ZH


def _state(state: str) -> str:
    """A disposal list's state: its Chinese name for a Chinese reader, the code in English."""
    return named(_LIST_STATE_ZH, state)


def _list_rows(ctx: Context, rows: list[dict], title: str | None = None) -> None:
    t = Table("序号", "档号", "条目", "题名", "单位", "保管类别", "保管至", "当事人", "案由",
              "规则", "鉴定", title=title)
    for r in rows:
        decision = _DECISION_ZH.get(r["decision"], r["decision"])
        if r.get("reason"):
            decision += f"：{disposal.reason_shown(r)}"
        t.add_row(str(r["n"]), r.get("code") or "-", r["item"], r.get("title") or "-",
                  r["unit"] or "-", TIER_ZH.get(r["tier"], r["tier"]),
                  local(ctx, r["retain_until"], r["unit"]),
                  r.get("party") or "-", r.get("cause") or "-", r["rule"], decision)
    Console(width=240).print(t)


def _held(held: list[dict]) -> None:
    for h in held:
        click.echo(_("  held from disposal: {item}: {reason}").format(
            item=h["item"], reason=disposal.reason_shown(h)))


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
        click.echo(_("rehearsal as of {at}: {n} items would be proposed, {held} held; "
                     "nothing was proposed").format(at=local(ctx, doc["as_of"]),
                                                    n=len(doc["items"]),
                                                    held=len(doc["held"])))
    else:
        click.echo(_("disposal list {list}: {n} items, proposed by {person}; the appraisal "
                     "group approves it next").format(list=doc["id"], n=len(doc["items"]),
                                                      person=doc["proposed_by"]))
    if doc["rows"]:
        _list_rows(ctx, doc["rows"])
    _held(doc["held"])
    return 0


@dispose_group.command("show")
@click.argument("list_id")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the list's appraisal opinion (鉴定意见) as a signed PDF to this file "
                   "(once the appraisal is concluded); printed again the same every time.")
@json_option
@command
def dispose_show(ctx: Context, list_id: str, pdf: Path | None, as_json: bool) -> int:
    """A disposal list as the appraisers read it: every item, each decision, the appraisals."""
    if pdf is not None:
        from commands.documents import print_document

        print_document(ctx, "appraisal-opinion", list_id, pdf, as_json)
        return 0
    out = disposal.show(_engine(ctx), ctx.actor(), list_id)
    if as_json:
        emit_json(out)
        return 0
    click.echo(_("disposal list {list}  state {state}  proposed by {person} at {at}").format(
        list=out["id"], state=_state(out["state"]), person=out["proposed_by"],
        at=local(ctx, out["proposed_at"])))
    _list_rows(ctx, out["rows"])
    _held(out["held"])
    click.echo(_("appraisals ({valid} valid approvals of {need} needed):").format(
        valid=len(out["valid_approvals"]), need=out["approvals_needed"]))
    for a in out["appraisals"]:
        what = (_("{person} approves") if a["decision"] == "approve"
                else _("{person} rejects the list")).format(person=a["by"])
        click.echo("  " + what + (f": {a['note']}" if a["note"] else "")
                   + "".join("\n    " + _("rejects {item}: {reason}").format(
                       item=r["item"], reason=r["reason"]) for r in a["rejected"]))
    for t in out["taken_out"]:
        click.echo(_("  taken out by {person}: {items}: {reason}").format(
            person=t["by"], items=joined(t["items"], "、"), reason=t["reason"]))
    if out["witnesses"]:
        click.echo(_("witnesses: {people}").format(people=joined(out["witnesses"], "、")))
    for e in out["executions"]:
        click.echo(_("executed by {person} at {at}: {destroyed} destroyed, {left} left; "
                     "register {register}").format(
            person=e["by"], at=local(ctx, e["at"]), destroyed=len(e["destroyed"]),
            left=len(e["left"]), register=e["register"]))
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
    click.echo(_("list {list}: {n} appraisals, state {state}").format(
        list=list_id, n=len(doc["approvals"]), state=_state(doc["state"])))
    for item, reason in rejected:
        click.echo(_("  rejected {item}: {reason}").format(item=item, reason=reason))
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
    click.echo(_("list {list}: rejected by {person}, state {state}").format(
        list=list_id, person=ctx.actor().person_id, state=_state(doc["state"])))
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
    click.echo(_("list {list}: {n} items taken out, state {state}").format(
        list=list_id, n=len(items), state=_state(doc["state"])))
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
    click.echo(_("list {list}: witness {person} signed").format(
        list=list_id, person=ctx.actor().person_id))
    return 0


@dispose_group.command("execute")
@click.argument("list_id")
@click.option("--witness", "witnesses", multiple=True, required=True,
              help="A witness who signed their presence (repeat).")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the destruction register (销毁清册) as a signed PDF to this file; "
                   "'custody print disposal-register LIST' prints it again.")
@json_option
@command
def dispose_execute(ctx: Context, list_id: str, witnesses: tuple[str, ...],
                    pdf: Path | None, as_json: bool) -> int:
    """Destroy what still qualifies by the real clock; write the destruction register."""
    result = disposal.execute(_engine(ctx), ctx.actor(), list_id, list(witnesses))
    if pdf is not None:
        from commands.documents import print_document

        # the register first (it stands whatever happens to the PDF), then its document
        if not as_json:
            click.echo(result["register"]["text_zh"])
            click.echo(_("\nregister stored at {key}").format(key=result["register"]["key"]))
        doc = print_document(ctx, "disposal-register", list_id, pdf, True, quiet=True)
        if as_json:
            emit_json(result | {"document": doc})
        else:
            from commands.documents import written_line

            click.echo(written_line(doc))
        return 0
    if as_json:
        emit_json(result)
        return 0
    click.echo(result["register"]["text_zh"])
    click.echo(_("\nregister stored at {key}").format(key=result["register"]["key"]))
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
    t = Table(_("list"), _("state"), _("items"), _("proposed by"), _("appraisals"),
              _("witnesses"))
    for d in docs:
        t.add_row(d["id"], _state(d["state"]), str(len(d["items"])), d["proposed_by"],
                  joined((a["by"] for a in d["approvals"]), "、") or "-",
                  joined((w["by"] for w in d["witnesses"]), "、") or "-")
    Console(width=160).print(t)
    return 0


COMMANDS = (case_group, flag_group, retention_group, dispose_group,)
