"""custody ingest, batch, pending, quarantine, reconcile, devices: intake of offloads."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

import bootstrap
import i18n
from archive.domain.names import INGEST_STATE_ZH, STATUS_ZH
from commands.base import (
    Context,
    colon,
    command,
    echo_fields,
    emit_json,
    item_label,
    joined,
    json_option,
    local,
    named,
    progress,
    reason_text,
    reasons_text,
    view_of,
    zone_named,
)
from i18n import N_, _, localize, ngettext

# what each count of custody reconcile is (the keys stay in --json)
RECONCILED = {"adopted": N_("Objects adopted"), "versions_adopted": N_("Metadata versions adopted"),
              "superseded": N_("Superseded versions"),
              "ledger_recovered": N_("Ledger entries recovered"),
              "pending_discarded": N_("Unfinished uploads removed"),
              "pending_kept": N_("Unfinished uploads kept"),
              "scratch_removed": N_("Scratch folders removed")}
CLOCKS = {"utc": N_("UTC"), "local": N_("local time")}
DEVICE_STATUS_ZH = {"in-service": "在用", "faulty": "故障"}


# --- ingest ---------------------------------------------------------------------------------
def _state_table(report: dict) -> Table:
    """Files by state; an English reader sees the code with its Chinese name beside it."""
    english = i18n.language() == "en"
    t = Table(*(("state", "状态") if english else ("状态",)), _("Files"))
    for state, n in report["counts"].items():
        t.add_row(*((state,) if english else ()), INGEST_STATE_ZH[state], str(n))
    return t


# what each event of custody watch is called (the codes stay in --json)
WATCH_EVENT_ZH = {"ignored": "忽略", "seen": "发现采集数据", "resuming": "继续中断的批次",
                  "ingesting": "入库中", "refused": "拒绝", "batch-done": "批次完成",
                  "retry": "稍后重试", "error": "出错", "moved": "已移出", "started": "已启动",
                  "stopped": "已停止", "stopping": "正在停止"}


@click.command()
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
    from ingest.pipeline import ingest_offload

    actor = ctx.actor()
    scanner = bootstrap.open_scanner(ctx.settings)
    with progress(_("ingest {folder}").format(folder=path.name), as_json,
                  unit="bytes") as bar:
        report = ingest_offload(ctx.archive, actor, ctx.settings, scanner, path, manifest,
                                station, workers=workers, progress=bar, total=bar.total)
    if as_json:
        emit_json(report)
        return report["exit_code"]
    t = Table(_("File"), _("State"), _("Item id"), _("Reasons"))
    for f in report["files"]:
        t.add_row(f["file"], f["state_zh"], f["item_id"] or "-",
                  reasons_text(f["reasons"]) or "-")
    Console(width=200).print(t)
    Console().print(_state_table(report))
    for p in report["manifest_problems"]:
        click.echo(_("Manifest line {line}: {file}: {problem}").format(
            line=p["line"], file=p["file"] or "-", problem=reason_text(p)))
    for dev, gaps in report["sequence_gaps"].items():
        click.echo(_("Device {device}: file numbers missing: {numbers}").format(
            device=dev, numbers=joined(map(str, gaps), "、")))
    for dev, off in report["clock_offsets"].items():
        click.echo(_("Device {device}: clock off by {seconds} s").format(
            device=dev, seconds=f"{off:+.0f}"))
    click.echo(_("Batch {batch}: {files} files, {bytes} bytes, {late} offloaded late").format(
        batch=report["batch_id"], files=len(report["files"]), bytes=report["bytes"],
        late=report["late"]))
    if report["scanner_lost"]:
        click.echo("custody: " + _("clamd was lost: {reason}").format(
            reason=localize(report["scanner_lost"])), err=True)
    return report["exit_code"]


# --- watch ----------------------------------------------------------------------------------
@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Take what is ready now and exit (tests, cron).")
@click.option("--station", help="Docking station (采集站) id recorded with every file "
                                "(default: this home's [station] id).")
@click.option("--workers", type=click.IntRange(1, 32), help="Files in flight at once.")
@click.option("--settle", "settle_s", type=click.IntRange(0, None),
              help="Seconds nothing in an offload may change before it is taken "
                   "(default [watch] settle_s).")
@click.option("--poll", "poll_s", type=click.IntRange(1, None),
              help="Seconds between looks at FOLDER (default [watch] poll_s).")
@click.option("--done", type=click.Path(file_okay=False, path_type=Path),
              help="Where finished offloads are moved (default FOLDER/done).")
@json_option
@command
def watch(ctx: Context, folder: Path, once: bool, station: str | None, workers: int | None,
          settle_s: int | None, poll_s: int | None, done: Path | None, as_json: bool) -> int:
    """Ingest each offload a docking station writes into FOLDER (one sub-folder each) once it
    is complete: its marker <name>.complete beside it, or nothing changed for the settle
    time. Runs until SIGTERM or SIGINT; one line per event on stderr (--json: on stdout)."""
    from ingest.watch import watch as run

    def say(event: dict) -> None:
        if as_json:
            click.echo(json.dumps(event, ensure_ascii=False, default=str))
        else:
            click.echo(f"custody watch: {named(WATCH_EVENT_ZH, event['event'])}"
                       + (f" {event['folder']}" if event["folder"] else "")
                       + f"{colon()}{reason_text(event)}", err=True)

    return run(ctx.archive, ctx.actor(), ctx.settings,
               lambda: bootstrap.open_scanner(ctx.settings), folder, once=once,
               station=station, workers=workers, settle_s=settle_s, poll_s=poll_s, done=done,
               on_event=say)


@click.group()
def batch() -> None:
    """Ingest batches and their check reports (四性检测报告)."""


@batch.command("list")
@json_option
@command
def batch_list(ctx: Context, as_json: bool) -> int:
    from ingest.batches import list_batches

    rows = list_batches(ctx.archive)
    if as_json:
        emit_json({"batches": rows})
        return 0
    t = Table(_("Batch"), _("Station"), _("Started"), _("Files"), _("Offloaded late"),
              _("Source folder"), title=zone_named(ctx))
    for r in rows:
        t.add_row(r["batch_id"], r["station"] or "-", local(ctx, r["started_at"]),
                  str(sum(r["counts"].values())), str(r["late"]), r["root"])
    Console(width=200).print(t)
    return 0


@batch.command("show")
@click.argument("batch_id")
@click.option("--pdf", "pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the batch's four-property check report (四性检测报告, with the files "
                   "not stored) as a signed PDF to this file.")
@json_option
@command
def batch_show(ctx: Context, batch_id: str, pdf: Path | None, as_json: bool) -> int:
    """The batch report: every file's state and reasons and its four-property checks."""
    from ingest.batches import batch_report, render_batch_zh

    doc = batch_report(ctx.archive, batch_id)
    if pdf is not None:
        from commands.documents import print_document

        print_document(ctx, "ingest-check-report", batch_id, pdf, as_json)
        return 0
    emit_json(doc) if as_json else click.echo(render_batch_zh(doc, ctx.settings.unit_zone(None)))
    return 0


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def pending(click_ctx: click.Context, as_json: bool) -> None:
    """Items archived while waiting for metadata (preserve first, describe later)."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(pending_list, as_json=as_json)


def _field_name(field: str) -> str:
    """A metadata field a pending item lacks, by the name a manifest's reader knows."""
    return named(FIELD_ZH, field)


FIELD_ZH = {"unit": "单位", "device_id": "设备编号", "officers": "执法人员",
            "recorded_start": "开始时间", "recorded_end": "结束时间", "party": "当事人",
            "cause": "案由", "kind": "类型", "case_id": "案件编号"}


@pending.command("list")
@json_option
@command
def pending_list(ctx: Context, as_json: bool) -> int:
    """List items waiting for metadata and what each lacks."""
    from archive.access.lookup import pending_items

    rows = pending_items(ctx.archive, ctx.clearances())
    if as_json:
        emit_json({"items": rows})
        return 0
    t = Table(_("Item id"), _("Original file name"), "SHA-256", _("Missing"))
    for r in rows:
        t.add_row(r["id"], r["original_name"] or "-", r["sha256"][:16] + "…",
                  joined(_field_name(m) for m in r["missing"])
                  or _("(a conflict to settle)"))
    Console(width=200).print(t)
    click.echo(ngettext("{count} item pending metadata", "{count} items pending metadata",
                        len(rows)).format(count=len(rows)))
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
        emit_json(result)
    else:
        for r in result["completed"]:
            found = reasons_text(r.get("findings", []))
            click.echo(_("Completed {item}: metadata version {version}, {status}").format(
                item=item_label(ctx, r["item"]), version=r["version"],
                status=named(STATUS_ZH, r["status"])) + (f"（{found}）" if found else ""))
        for p in result["problems"]:
            click.echo(_("Line {line}: {problem}").format(line=p["line"],
                                                          problem=reason_text(p)), err=True)
    return 1 if result["problems"] else 0


@click.group()
def quarantine() -> None:
    """Files found infected: kept aside, never deleted automatically."""


@quarantine.command("list")
@json_option
@command
def quarantine_list(ctx: Context, as_json: bool) -> int:
    from archive.access.lookup import quarantine_list as masked_list

    rows = masked_list(ctx.archive, ctx.clearances())
    if as_json:
        emit_json({"files": rows})
        return 0
    t = Table(_("Entry"), _("File"), _("Virus"), "SHA-256", _("Quarantined at"),
              title=zone_named(ctx))
    for r in rows:
        t.add_row(r["id"], r["file"], reasons_text(r["reasons"]),
                  (r["sha256"] or "")[:16], local(ctx, r["at"]))
    Console(width=200).print(t)
    return 0


@quarantine.command("show")
@click.argument("entry")
@json_option
@command
def quarantine_show(ctx: Context, entry: str, as_json: bool) -> int:
    from archive.access.lookup import quarantine_show as masked_show

    doc = masked_show(ctx.archive, ctx.clearances(), entry)
    emit_json(doc) if as_json else click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    return 0


@click.command()
@click.option("--discard-pending", is_flag=True,
              help="Also remove unfinished uploads of writers that may still be alive "
                   "(only when no ingest is running).")
@json_option
@command
def reconcile(ctx: Context, discard_pending: bool, as_json: bool) -> int:
    """Take up what an interrupted run left: signed orphans, missing ledger entries, the
    scratch folders of killed ingest runs."""
    from ingest.recovery import reconcile as run

    report = run(ctx.archive, ctx.actor(), discard_pending)
    if as_json:
        emit_json(report)
    else:
        echo_fields([(_(RECONCILED[k]), len(report[k])) for k in RECONCILED])
        for s in report["superseded"]:  # evidence of two stations at once, not a problem
            click.echo(_("Superseded {key}: by item {item} (the same bytes and description, "
                         "signed by a second station at the same moment; kept as "
                         "evidence)").format(key=s["key"],
                                             item=item_label(ctx, s["superseded_by"])))
        for o in report["orphans"]:
            click.echo(_("Orphan {key}: {reason}").format(
                key=o["key"], reason=localize(o.get("text") or o["reason"])))
    return 1 if report["orphans"] else 0


@click.group()
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
    from ingest.devices import add_device

    doc = add_device(ctx.archive, ctx.actor(), device_id, model, clock, officer, unit,
                     units=ctx.settings.units)
    emit_json(doc) if as_json else click.echo(
        _("Device {device} added to the register").format(device=device_id))
    return 0


@devices.command("list")
@json_option
@command
def devices_list(ctx: Context, as_json: bool) -> int:
    from ingest.devices import list_devices

    rows = list_devices(ctx.archive.catalog)
    if as_json:
        emit_json({"devices": rows})
        return 0
    view = view_of(ctx, [r["officer"] for r in rows if r["officer"]])
    t = Table(_("Device"), _("Model"), _("Clock"), _("Officer"), _("Unit"), _("Status"),
              _("Files"), _("Missing file numbers (by year)"))
    for r in rows:
        by_year = joined((f"{y}{colon()}{joined(map(str, g), '、')}"
                          for y, g in sorted(r["gaps_by_year"].items())), "；")
        t.add_row(r["id"], r["model"], _(CLOCKS.get(r["clock"], r["clock"])),
                  view.person(r["officer"]) if r["officer"] else "-",
                  view.unit(r["unit"]) or "-", named(DEVICE_STATUS_ZH, r["status"]),
                  str(r["files_seen"]), by_year or joined(map(str, r["gaps"]), "、") or "-")
    Console(width=200).print(t)
    return 0


def _device_status(status: str):
    @json_option
    @click.argument("device_id")
    @click.option("--note", default="", help="What happened.")
    @command
    def change(ctx: Context, device_id: str, note: str, as_json: bool) -> int:
        from ingest.devices import set_device_status

        doc = set_device_status(ctx.archive, ctx.actor(), device_id, status, note)
        emit_json(doc) if as_json else click.echo(_("Device {device}: {status}").format(
            device=device_id, status=named(DEVICE_STATUS_ZH, status)))
        return 0

    return change


devices.command("fault", help="Mark a device faulty: its files are flagged.")(
    _device_status("faulty"))
devices.command("repair", help="Return a device to service.")(_device_status("in-service"))


COMMANDS = (ingest, watch, batch, pending, quarantine, reconcile, devices,)
