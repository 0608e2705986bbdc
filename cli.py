"""The custody command line: parses, calls a service, renders. Nothing else.

Exit codes (DESIGN.md): 0 success, 1 a problem found, 2 bad usage or input, 3 a required
service unavailable.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from archive import backends, people, settings
from archive.catalog.base import Query
from archive.errors import CustodyError, IdentityError, InputError
from archive.ledger import Actor
from archive.model import CONFIDENTIAL_CLASSES, iso, item_summary
from archive.service import Archive
from archive.signing import fingerprint
from archive.timeutil import parse_time


@dataclass
class Context:
    config: str | None
    home: str | None
    _settings: settings.Settings | None = None
    _archive: Archive | None = None
    opened: list = field(default_factory=list)
    _actor: Actor | None = None

    @property
    def settings(self) -> settings.Settings:
        if self._settings is None:
            self._settings = settings.load(self.config,
                                           Path(self.home) if self.home else None)
        return self._settings

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = backends.open_archive(self.settings)
        return self._archive

    def actor(self) -> Actor:
        self._actor = people.acting_person(self.archive.catalog)
        return self._actor

    def record_refusal(self, exc: CustodyError) -> None:
        """An action refused for who is acting is recorded too: who (the person, or the OS
        account nobody registered), what, and why, in the ledger and the access register.
        Signed by the person when they were identified, else by the archive itself. Best
        effort: the refusal stands whether or not this can be written."""
        if self._archive is None:
            return
        import os

        from archive.ids import uuid7

        try:
            archive = self._archive
            actor = self._actor or Actor(people.SYSTEM_ACTOR, archive.key)
            attempted = click.get_current_context().command_path
            account = people.os_account()
            if os.environ.get("CUSTODY_TESTING") == "1" and os.environ.get("CUSTODY_ACT_AS"):
                account = os.environ["CUSTODY_ACT_AS"]
            who = self._actor.person_id if self._actor else f"OS:{account}"
            entry = archive.ledger.append(actor, "refused", exc.subject or attempted, {
                "attempted": attempted, "reason": exc.message, "by": who})
            archive.catalog.put_record("access_register", uuid7(), {
                "kind": "refusal", "at": entry.at, "person": who,
                "action": attempted, "subject": exc.subject or "-", "reason": exc.message,
                "details": {}, "ledger_seq": entry.seq})
        except Exception:  # noqa: BLE001 - the original refusal is what the person must see
            pass

    def finish(self) -> None:
        """A signed checkpoint of the ledger head after every command that appended."""
        if self._archive is not None:
            try:
                self._archive.finish_command()
            finally:
                self._archive.catalog.close()


def _emit_json(doc: object) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _backend_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError
    from pymongo.errors import PyMongoError

    return (ClientError, BotoCoreError, PyMongoError)


def command(fn: Callable) -> Callable:
    """Run a command body; turn custody errors into a message (or JSON) and its exit code."""

    @functools.wraps(fn)
    @click.pass_obj
    def run(ctx: Context, *args, **kwargs):
        as_json = kwargs.get("as_json", False)
        code = 0
        try:
            code = fn(ctx, *args, **kwargs) or 0
            ctx.finish()
        except CustodyError as exc:
            if isinstance(exc, IdentityError):
                ctx.record_refusal(exc)
            try:
                ctx.finish()
            except CustodyError:
                pass
            if as_json:
                _emit_json(exc.to_dict())
            else:
                click.echo(f"custody: {exc.message}", err=True)
            code = exc.exit_code
        except _backend_errors() as exc:  # a refusal the adapters did not classify: fail closed
            message = f"a storage backend refused the request: {exc}"
            if as_json:
                _emit_json({"error": "backend-refused", "message": message})
            else:
                click.echo(f"custody: {message}", err=True)
            code = 3
        sys.exit(code)

    return run


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), envvar="CUSTODY_CONFIG",
              help="Policy file over the defaults (or $CUSTODY_CONFIG).")
@click.option("--home", type=click.Path(file_okay=False), envvar="CUSTODY_HOME",
              help="Data home (or $CUSTODY_HOME; default ~/.local/share/custody).")
@click.version_option(package_name="custody")
@click.pass_context
def main(ctx: click.Context, config: str | None, home: str | None) -> None:
    """custody: a write-once archive for law-enforcement records."""
    ctx.obj = Context(config, home)


# --- init ----------------------------------------------------------------------------------
@main.command()
@click.option("--person", "person_id", default="admin", show_default=True,
              help="Id of the first administrator, bound to this OS account.")
@click.option("--name", default="系统管理员", show_default=True)
@json_option
@command
def init(ctx: Context, person_id: str, name: str, as_json: bool) -> int:
    """Create the data home, the store, the archive key and the first administrator."""
    s = ctx.settings
    s.home.mkdir(parents=True, exist_ok=True)
    store = backends.open_store(s, create=True)
    replica = backends.open_replica(s, create=True)  # the second copy, when configured
    key_path = backends.keys_dir(s) / "archive.key"
    created = not key_path.exists()
    key = backends.create_archive_key(s) if created else backends.load_archive_key(s)
    catalog = backends.open_catalog(s)
    # an empty catalog over a store that holds an archive: rebuild it, never start anew
    backends.refuse_lost_catalog(catalog, store)
    archive = Archive(catalog, store, key, backends.archive_keyring(s, store),
                      s.section("ledger")["checkpoint_retention_years"])
    ctx._archive = archive
    archive.publish_key()
    account = people.os_account()
    existing = catalog.list_records("people", os_account=account)
    if existing:
        actor = people.acting_person(catalog)
    else:
        pkey_path = people.personal_key_path(person_id)
        from archive.signing import SigningKey

        pkey = SigningKey.load(pkey_path) if pkey_path.exists() else \
            people.create_personal_key(person_id, account)
        people.register(catalog, person_id, name, account, ["administrator"], pkey)
        actor = Actor(person_id, pkey)
        archive.ledger.append(actor, "person-registered", person_id,
                              {"roles": ["administrator"], "os_account": account,
                               "key_id": pkey.key_id})
    if created:
        archive.ledger.append(actor, "archive-key-created", key.key_id,
                              {"fingerprint": fingerprint(key.key_id)})
    out = {"home": str(s.home), "catalog": catalog.endpoint, "store": store.describe(),
           "archive_key": key.key_id, "fingerprint": fingerprint(key.key_id),
           "created": created, "administrator": actor.person_id,
           "replica": replica.describe() if replica else None}
    if as_json:
        _emit_json(out)
    else:
        click.echo(f"data home:    {out['home']}")
        click.echo(f"catalog:      {out['catalog']}")
        click.echo(f"store:        {store.backend} {store.location}")
        if replica is not None:
            click.echo(f"replica:      {replica.backend} {replica.location}")
        click.echo(f"administrator:{actor.person_id} ({account})")
        click.echo(f"archive key:  {key.key_id}")
        click.echo(f"fingerprint:  {out['fingerprint']}"
                   + ("" if created else "  (existing key kept)"))
    return 0


# --- search and show ------------------------------------------------------------------------
def _clearances(ctx: Context) -> frozenset[str]:
    """The confidential classes the person at the keyboard may see: none for anyone who is not
    a registered, enabled person holding their key (fail closed)."""
    from archive.access import clearances_of

    try:
        actor = ctx.actor()
    except CustodyError:
        return frozenset()
    return clearances_of(ctx.archive.catalog, actor.person_id)


def _count_masked(ctx: Context, key: str, q: Query, cl: frozenset[str]) -> dict[str, int]:
    """Counts that neither show a hidden item's party, cause or case nor let a filter on them
    reveal it: counted item by item (slower, only for viewers without every clearance)."""
    from archive.access import MASK, hidden, visible
    from archive.catalog.base import check_group_key
    from archive.model import GROUP_KEYS

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


@main.command()
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
    from archive.access import mask_item, mask_summary, visible

    cl = _clearances(ctx)
    if count_by:
        sensitive = count_by in ("party", "cause", "case_id") or any(
            getattr(q, k) is not None for k in ("party", "cause", "case_id"))
        uncleared = set(CONFIDENTIAL_CLASSES) - cl
        counts = (_count_masked(ctx, count_by, q, cl) if sensitive and uncleared
                  else ctx.archive.catalog.count_by(count_by, q))
        if as_json:
            _emit_json({"count_by": count_by, "counts": counts})
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
        _emit_json({"items": rows, "next_cursor": page.next_cursor})
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


@main.command()
@click.argument("item_id")
@click.option("--lock", "read_lock", is_flag=True, help="Also read the lock from the store.")
@json_option
@command
def show(ctx: Context, item_id: str, read_lock: bool, as_json: bool) -> int:
    """Everything the archive holds about one item, with every metadata version."""
    from archive.access import mask_show

    out = mask_show(ctx.archive.show(item_id, read_lock), _clearances(ctx))
    if as_json:
        _emit_json(out)
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


# --- audit ----------------------------------------------------------------------------------
@main.group()
def audit() -> None:
    """The audit ledger."""


@audit.command("verify")
@json_option
@command
def audit_verify(ctx: Context, as_json: bool) -> int:
    """Check the hash chain, signatures and signed checkpoints; name every problem."""
    report = ctx.archive.verify_ledger()
    if as_json:
        _emit_json(report.to_dict())
    else:
        click.echo(f"{report.entries} entries, head {report.head_seq}, "
                   f"{report.checkpoints} signed checkpoints")
        for p in report.problems:
            click.echo(f"  {p.code:<14} at {p.seq if p.seq is not None else '-':>6}: "
                       f"{p.message}")
        click.echo("ledger intact" if report.ok else f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 1


@audit.command("checkpoint")
@json_option
@command
def audit_checkpoint(ctx: Context, as_json: bool) -> int:
    """Write a signed checkpoint of the ledger head to the WORM store now."""
    signed = ctx.archive.ledger.checkpoint()
    if signed is None:
        raise InputError("the ledger is empty; nothing to checkpoint")
    if as_json:
        _emit_json(signed)
    else:
        cp = signed["checkpoint"]
        click.echo(f"checkpoint of entry {cp['seq']} ({cp['hash'][:16]}…) signed by "
                   f"{fingerprint(signed['key_id'])}")
    return 0


# --- ingest ---------------------------------------------------------------------------------
def _scanner(ctx: Context):
    from ingest.scanning import open_scanner

    return open_scanner(ctx.settings)


def _state_table(report: dict) -> Table:
    from ingest.pipeline import STATES

    t = Table("state", "状态", "files")
    for state, n in report["counts"].items():
        t.add_row(state, STATES[state], str(n))
    return t


@main.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Batch manifest (CSV or JSON) describing the files.")
@click.option("--station", help="Docking station (采集站) id recorded with every file.")
@click.option("--workers", type=click.IntRange(1, 32), help="Files in flight at once.")
@json_option
@command
def ingest(ctx: Context, path: Path, manifest: Path | None, station: str | None,
           workers: int | None, as_json: bool) -> int:
    """Archive an offload folder: scan, check, sign, lock, catalogue every file."""
    from ingest.pipeline import Ingest

    actor = ctx.actor()
    scanner = _scanner(ctx)
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    console = Console(stderr=True)
    show_bar = console.is_terminal and not as_json
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  disable=not show_bar) as bar:
        task = bar.add_task(f"ingest {path.name}", total=total)
        done = [0]

        def advance(n: int, files: int) -> None:
            done[0] += files
            bar.update(task, advance=n, description=f"ingest {path.name}: {done[0]} files")

        job = Ingest(ctx.archive, ctx.settings, scanner, actor, workers=workers,
                     progress=advance)
        report = job.run(path, manifest, station).to_dict()
    if as_json:
        _emit_json(report)
        return report["exit_code"]
    t = Table("file", "state", "item", "reasons")
    for f in report["files"]:
        t.add_row(f["file"], f["state_zh"], f["item_id"] or "-",
                  "; ".join(r["message"] for r in f["reasons"]) or "-")
    Console(width=200).print(t)
    Console().print(_state_table(report))
    for p in report["manifest_problems"]:
        click.echo(f"manifest line {p['line']}: {p['file'] or '-'}: {p['message']}")
    for dev, gaps in report["sequence_gaps"].items():
        click.echo(f"device {dev}: file numbers missing: {', '.join(map(str, gaps))}")
    for dev, off in report["clock_offsets"].items():
        click.echo(f"device {dev}: clock off by {off:+.0f} s")
    click.echo(f"batch {report['batch_id']}: {len(report['files'])} files, "
               f"{report['bytes']} bytes, {report['late']} late")
    if report["scanner_lost"]:
        click.echo(f"custody: clamd was lost: {report['scanner_lost']}", err=True)
    return report["exit_code"]


@main.group()
def batch() -> None:
    """Ingest batches and their check reports (四性检测报告)."""


@batch.command("list")
@json_option
@command
def batch_list(ctx: Context, as_json: bool) -> int:
    docs = ctx.archive.catalog.list_records("batches")
    rows = [{k: d[k] for k in ("batch_id", "station", "root", "started_at", "counts", "late")}
            for d in docs]
    if as_json:
        _emit_json({"batches": rows})
        return 0
    t = Table("batch", "station", "started", "files", "late", "source")
    for r in rows:
        t.add_row(r["batch_id"], r["station"] or "-", r["started_at"],
                  str(sum(r["counts"].values())), str(r["late"]), r["root"])
    Console(width=200).print(t)
    return 0


@batch.command("show")
@click.argument("batch_id")
@json_option
@command
def batch_show(ctx: Context, batch_id: str, as_json: bool) -> int:
    """The batch report: every file's state and reasons and its four-property checks."""
    from ingest.pipeline import render_batch_zh

    doc = ctx.archive.catalog.get_record("batches", batch_id)
    if doc is None:
        raise InputError(f"no batch {batch_id!r}")
    _emit_json(doc) if as_json else click.echo(render_batch_zh(doc))
    return 0


@main.group(invoke_without_command=True)
@json_option
@click.pass_context
def pending(click_ctx: click.Context, as_json: bool) -> None:
    """Items archived while waiting for metadata (preserve first, describe later)."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(pending_list, as_json=as_json)


@pending.command("list")
@json_option
@command
def pending_list(ctx: Context, as_json: bool) -> int:
    """List items waiting for metadata and what each lacks."""
    from archive.access import mask_summary
    from ingest.pipeline import pending_items

    items = pending_items(ctx.archive)
    cl = _clearances(ctx)
    rows = [mask_summary(item_summary(i) | {
        "missing": i.description.missing(),
        "original_name": i.description.source.get("original_name")}, i, cl) for i in items]
    if as_json:
        _emit_json({"items": rows})
        return 0
    t = Table("id", "original name", "sha256", "missing")
    for r in rows:
        t.add_row(r["id"], r["original_name"] or "-", r["sha256"][:16] + "…",
                  ", ".join(r["missing"]) or "(conflict to settle)")
    Console(width=200).print(t)
    click.echo(f"{len(rows)} items pending metadata")
    return 0


@pending.command("complete")
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path))
@json_option
@command
def pending_complete(ctx: Context, manifest: Path, as_json: bool) -> int:
    """Complete items from a corrected manifest (rows name item_id or sha256, or the
    original file name): a new signed metadata version each, nothing re-uploaded."""
    from ingest.completion import complete

    result = complete(ctx.archive, ctx.settings, ctx.actor(), manifest)
    if as_json:
        _emit_json(result)
    else:
        for r in result["completed"]:
            click.echo(f"completed {r['item']} -> version {r['version']} ({r['status']})")
        for p in result["problems"]:
            click.echo(f"line {p['line']}: {p['message']}", err=True)
    return 1 if result["problems"] else 0


@main.group()
def quarantine() -> None:
    """Files found infected: kept aside, never deleted automatically."""


@quarantine.command("list")
@json_option
@command
def quarantine_list(ctx: Context, as_json: bool) -> int:
    from archive.access import mask_record

    cl = _clearances(ctx)
    rows = [mask_record(r, cl) for r in ctx.archive.catalog.list_records("quarantine")]
    if as_json:
        _emit_json({"files": rows})
        return 0
    t = Table("id", "file", "virus", "sha256", "at")
    for r in rows:
        t.add_row(r["id"], r["file"], "; ".join(x["message"] for x in r["reasons"]),
                  (r["sha256"] or "")[:16], r["at"])
    Console(width=200).print(t)
    return 0


@quarantine.command("show")
@click.argument("entry")
@json_option
@command
def quarantine_show(ctx: Context, entry: str, as_json: bool) -> int:
    from archive.access import mask_record

    doc = ctx.archive.catalog.get_record("quarantine", entry)
    if doc is None:
        raise InputError(f"no quarantine entry {entry!r}")
    doc = mask_record(doc, _clearances(ctx))
    _emit_json(doc) if as_json else click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    return 0


@main.command()
@click.option("--discard-pending", is_flag=True,
              help="Also remove unfinished uploads of writers that may still be alive "
                   "(only when no ingest is running).")
@json_option
@command
def reconcile(ctx: Context, discard_pending: bool, as_json: bool) -> int:
    """Take up what an interrupted run left: signed orphans, missing ledger entries."""
    from archive.reconcile import reconcile as run

    report = run(ctx.archive, ctx.actor(), discard_pending)
    if as_json:
        _emit_json(report)
    else:
        for k in ("adopted", "versions_adopted", "ledger_recovered", "pending_discarded",
                  "pending_kept"):
            click.echo(f"{k.replace('_', ' ')}: {len(report[k])}")
        for o in report["orphans"]:
            click.echo(f"orphan {o['key']}: {o['reason']}")
    return 1 if report["orphans"] else 0


@main.group()
def devices() -> None:
    """The device register (执法记录仪): model, clock, officer, status, file numbers."""


@devices.command("add")
@click.argument("device_id")
@click.option("--model", required=True)
@click.option("--clock", type=click.Choice(["utc", "local"]), default="utc", show_default=True,
              help="What this model's MP4 creation_time means.")
@click.option("--officer")
@click.option("--unit")
@json_option
@command
def devices_add(ctx: Context, device_id, model, clock, officer, unit, as_json: bool) -> int:
    from ingest import devices as reg

    doc = reg.add(ctx.archive.catalog, ctx.archive.ledger, ctx.actor(), device_id, model,
                  clock, officer, unit)
    _emit_json(doc) if as_json else click.echo(f"device {device_id} added")
    return 0


@devices.command("list")
@json_option
@command
def devices_list(ctx: Context, as_json: bool) -> int:
    from ingest import devices as reg

    docs = ctx.archive.catalog.list_records("devices")
    rows = [{k: d.get(k) for k in ("id", "model", "clock", "officer", "unit", "status")}
            | {"gaps": reg.gaps(d), "files_seen": len(d.get("sequences", []))} for d in docs]
    if as_json:
        _emit_json({"devices": rows})
        return 0
    t = Table("device", "model", "clock", "officer", "unit", "status", "files", "gaps")
    for r in rows:
        t.add_row(r["id"], r["model"], r["clock"], r["officer"] or "-", r["unit"] or "-",
                  r["status"], str(r["files_seen"]), ",".join(map(str, r["gaps"])) or "-")
    Console(width=200).print(t)
    return 0


def _device_status(status: str):
    @json_option
    @click.argument("device_id")
    @click.option("--note", default="", help="What happened.")
    @command
    def change(ctx: Context, device_id: str, note: str, as_json: bool) -> int:
        from ingest import devices as reg

        doc = reg.set_status(ctx.archive.catalog, ctx.archive.ledger, ctx.actor(), device_id,
                             status, note)
        _emit_json(doc) if as_json else click.echo(f"device {device_id}: {status}")
        return 0

    return change


devices.command("fault", help="Mark a device faulty: its files are flagged.")(
    _device_status("faulty"))
devices.command("repair", help="Return a device to service.")(_device_status("in-service"))


@main.group()
def scanner() -> None:
    """The private clamd custody runs (or the existing one it is configured to use)."""


@scanner.command("start")
@json_option
@command
def scanner_start(ctx: Context, as_json: bool) -> int:
    from ingest.scanning import _guard, private_clamd

    daemon = private_clamd(ctx.settings)
    _guard(daemon.start)
    status = daemon.status()
    _emit_json(status) if as_json else click.echo(
        f"clamd running: {status['engine']} {status['database']} on {status['socket']}")
    return 0


@scanner.command("status")
@json_option
@command
def scanner_status(ctx: Context, as_json: bool) -> int:
    from ingest.scanning import scanner_status as status_of

    status = status_of(ctx.settings)
    if as_json:
        _emit_json(status)
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
    doc = update_signatures(ctx.archive, ctx.settings, ctx.actor(), source,
                            allow_unsigned=allow_unsigned)
    if as_json:
        _emit_json(doc)
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
    from ingest.scanning import private_clamd

    private_clamd(ctx.settings).stop()
    click.echo("clamd stopped")
    return 0


@main.group()
def people_cmd() -> None:
    """People: roles, OS accounts and personal signing keys."""


main.add_command(people_cmd, "people")


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
    _emit_json(out) if as_json else click.echo(
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
        _emit_json({"people": rows})
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
        _emit_json({"person": person_id, "action": action} | detail) if as_json else \
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
        _emit_json(out) if as_json else click.echo(
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


# --- verification ---------------------------------------------------------------------------
_QUERY_KEYS = {"unit": "unit", "device": "device_id", "device_id": "device_id",
               "officer": "officer", "party": "party", "cause": "cause", "case": "case_id",
               "case_id": "case_id", "tier": "tier", "kind": "kind",
               "activity_type": "activity_type", "activity": "activity_id",
               "activity_id": "activity_id", "status": "status", "from": "start", "to": "end"}


def _parse_query(ctx: Context, text: str) -> Query:
    fields: dict = {}
    for part in text.split():
        name, sep, value = part.partition("=")
        if not sep or name not in _QUERY_KEYS:
            raise InputError(f"--query: {part!r} is not KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(_QUERY_KEYS))}")
        fields[_QUERY_KEYS[name]] = value
    for t in ("start", "end"):
        if t in fields:
            fields[t] = parse_time(fields[t], ctx.settings.unit_zone(fields.get("unit")), t)
    return Query(**fields)


def _media_probe():
    from scanners.media import read_media

    return lambda f: read_media(f).duration_s


@main.command()
@click.option("--year", type=int, help="The lot: records of year N (in the archive's zone).")
@click.option("--query", "query_text", help='The lot: filters, e.g. "unit=market-001 '
                                            'officer=P1001 from=2026-01-01".')
@click.option("--level", type=click.Choice(["I", "II", "III"]), default="II",
              show_default=True, help="GB/T 2828.1 general inspection level.")
@click.option("--sample", type=click.IntRange(1), help="Sample size instead of the table's.")
@click.option("--all", "everything", is_flag=True, help="Every item of the lot (a sweep).")
@click.option("--seed", type=int, help="Draw the same sample as an earlier run.")
@click.option("--rate", type=click.FloatRange(min=0.1), help="Read at most this many MB/s.")
@click.option("--copy", type=click.Choice(["primary", "replica"]), default="primary",
              show_default=True, help="Which copy to read: the primary store or the replica.")
@json_option
@command
def verify(ctx: Context, year: int | None, query_text: str | None, level: str,
           sample: int | None, everything: bool, seed: int | None, rate: float | None,
           copy: str, as_json: bool) -> int:
    """Sampled machine-read verification (定期抽样机读检验), filed in the inspection ledger."""
    from archive import verification

    if (year is None) == (query_text is None):
        raise InputError("give the lot as --year N or as --query FILTERS (one of them)")
    if sample is not None and everything:
        raise InputError("--sample and --all exclude each other")
    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ("auditor", "archivist"),
                        "run a sampled verification")
    if year is not None:
        lot = verification.year_lot(ctx.archive, year, ctx.settings.unit_zone(None))
        described = {"year": year}
    else:
        lot = verification.lot_ids(ctx.archive, _parse_query(ctx, query_text))
        described = {"query": query_text}
    record = verification.inspect_lot(ctx.archive, actor, lot, described, level=level,
                                      sample=sample, everything=everything, seed=seed,
                                      rate=rate, media_probe=_media_probe(), copy=copy,
                                      replica=backends.open_replica(ctx.settings)
                                      if copy == "replica" else None)
    if as_json:
        _emit_json(record)
    else:
        click.echo(verification.render_zh(record))
    return 1 if record["summary"]["failed"] else 0


@main.command()
@click.argument("item_id")
@click.option("--finding", required=True, type=click.Choice(
    ["late-start", "no-notice", "unrelated", "interrupted", "other"]))
@click.option("--note", default="")
@json_option
@command
def inspect(ctx: Context, item_id: str, finding: str, note: str, as_json: bool) -> int:
    """Record a conduct finding from watching a recording (回放检查)."""
    from archive import verification

    actor = ctx.actor()
    people.require_role(ctx.archive.catalog, actor, ("auditor", "archivist"),
                        "record inspection findings")
    record = verification.spot_check(ctx.archive, actor, item_id, finding, note)
    _emit_json(record) if as_json else click.echo(verification.render_zh(record))
    return 0


@main.group()
def inspections() -> None:
    """The inspection ledger (检查台帐)."""


@inspections.command("list")
@json_option
@command
def inspections_list(ctx: Context, as_json: bool) -> int:
    docs = ctx.archive.catalog.list_records("inspections")
    rows = [{"id": d["id"], "type": d["type"], "by": d["by"], "at": d["at"],
             "items": len(d["items"]),
             "failed": len(d.get("summary", {}).get("failed", []))} for d in docs]
    if as_json:
        _emit_json({"inspections": rows})
        return 0
    t = Table("编号", "类型", "检查人", "时间", "条目数", "不合格")
    for r in rows:
        t.add_row(r["id"], "抽样机读检验" if r["type"] == "sampled-verification" else "回放检查",
                  r["by"], r["at"], str(r["items"]), str(r["failed"]))
    Console(width=200).print(t)
    return 0


@inspections.command("show")
@click.argument("inspection_id")
@json_option
@command
def inspections_show(ctx: Context, inspection_id: str, as_json: bool) -> int:
    from archive import verification

    doc = ctx.archive.catalog.get_record("inspections", inspection_id)
    if doc is None:
        raise InputError(f"no inspection {inspection_id!r}")
    _emit_json(doc) if as_json else click.echo(verification.render_zh(doc))
    return 0


@main.group()
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
        _emit_json({"keys": keys})
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
    new, old_id = backends.rotate_archive_key(ctx.settings)
    ctx._archive = backends.open_archive(ctx.settings)
    ctx._archive.publish_key()
    ctx._archive.ledger.append(actor, "archive-key-rotated", new.key_id,
                               {"previous": old_id, "fingerprint": fingerprint(new.key_id)})
    out = {"key_id": new.key_id, "fingerprint": fingerprint(new.key_id), "previous": old_id}
    if as_json:
        _emit_json(out)
    else:
        click.echo(f"new archive key {out['fingerprint']} (previous {fingerprint(old_id)} "
                   "retired; its signatures still verify)")
    return 0


# --- statistics -----------------------------------------------------------------------------
@main.command()
@click.option("--year", required=True, type=click.IntRange(1900, 9999),
              help="Records of year N (recorded in N, in each unit's zone).")
@click.option("--unit", help="One unit (a key of [units] in the config); default: all.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]),
              default="table", show_default=True,
              help="html: one self-contained file with charts, for leaders.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of standard output.")
@json_option
@command
def report(ctx: Context, year: int, unit: str | None, fmt: str, out: Path | None,
           as_json: bool) -> int:
    """Yearly statistics (统计分析) by unit, officer, device and activity type: hours, late
    offloads, interrupted recordings, file-number gaps, unrecorded cases, checks."""
    import io
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from archive import report_html, statistics

    s = ctx.settings
    if unit is not None and unit not in s.units:
        raise InputError(f"no unit {unit!r} in the config (units: {', '.join(sorted(s.units))})")
    fmt = "json" if as_json else fmt
    zone = s.unit_zone(unit) or ZoneInfo("UTC")  # no zone configured at all: UTC, not a guess
    required = (s.section("report").get("required_activity_types")
                or statistics.DEFAULT_REQUIRED)
    stats = statistics.yearly_statistics(
        ctx.archive.catalog, year, zone, unit, required,
        unit_zones={u: s.unit_zone(u) or zone for u in s.units},
        unit_names={u: r.get("name", u) for u, r in s.units.items()},
        clearances=_clearances(ctx))
    stats["generated_at"] = iso(datetime.now(timezone.utc))
    if fmt == "table" and out is None:
        console = Console(width=200)
        for t in report_html.render_table(stats):
            console.print(t)
        return 0
    if fmt == "json":
        text = json.dumps(stats, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = report_html.render_csv(stats)
    elif fmt == "html":
        text = report_html.render_html(stats)
    else:
        buf = io.StringIO()
        console = Console(file=buf, width=200, color_system=None)
        for t in report_html.render_table(stats):
            console.print(t)
        text = buf.getvalue()
    if out is None:
        click.echo(text, nl=False)
        return 0
    # a BOM so that spreadsheet programs read the CSV's Chinese as UTF-8
    out.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    if as_json:
        _emit_json({"out": str(out), "format": fmt})
    else:
        click.echo(f"report written to {out}")
    return 0


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default="custody-demo",
              show_default=True, help="Where the demo archive and sample files go.")
@json_option
@command
def demo(ctx: Context, directory: str, as_json: bool) -> int:
    """Generate sample records, archive them, search, show and verify (a fresh demo home)."""
    from ingest.demo import run_demo

    result = run_demo(Path(directory), config=ctx.config,
                      echo=None if as_json else click.echo)
    if as_json:
        _emit_json(result)
    return 0 if result["ok"] else 1


# Command groups that live in their own modules register themselves on ``main``; imported last
# because they import this module's helpers.
import cli_access  # noqa: E402, F401
import cli_copies  # noqa: E402, F401
import cli_cycle  # noqa: E402, F401
import cli_replica  # noqa: E402, F401
import cli_retention  # noqa: E402, F401

if __name__ == "__main__":
    # run as a script this file is __main__, not the module "cli" the command modules
    # register on: call that one
    import cli

    cli.main()
