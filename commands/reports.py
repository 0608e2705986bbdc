"""custody report: yearly statistics (统计分析)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from archive.inputs import write_output
from commands.base import (
    Context,
    command,
    emit_json,
    json_option,
)
from i18n import _, localize


# --- statistics -----------------------------------------------------------------------------
@click.command()
@click.option("--year", required=True, type=click.IntRange(1900, 9999),
              help="Records of year N (recorded in N, in each unit's zone).")
@click.option("--unit", help="One unit (a key of [units] in the config); default: all.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]),
              default="table", show_default=True,
              help="html: one self-contained file with charts, for leaders.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of standard output.")
@click.option("--all", "full", is_flag=True,
              help="Compute every figure anew, even where nothing changed since the last "
              "report of the year.")
@json_option
@command
def report(ctx: Context, year: int, unit: str | None, fmt: str, out: Path | None,
           full: bool, as_json: bool) -> int:
    """Yearly statistics (统计分析) by unit, officer, device and activity type: hours, late
    offloads, interrupted recordings, file-number gaps, unrecorded cases, checks."""
    from reports import html as report_html
    from reports.statistics import year_report

    fmt = "json" if as_json else fmt
    stats = year_report(ctx.archive.catalog, ctx.settings, year, unit, ctx.clearances(),
                        full=full)
    if fmt == "table" and out is None:
        _print_tables(Console(width=200), report_html.table_sections(stats))
        click.echo(_coverage(stats["coverage"]))
        return 0
    if fmt == "json":
        text = json.dumps(stats, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = report_html.render_csv(stats)
    elif fmt == "html":
        text = report_html.render_html(stats)
    else:
        buf = io.StringIO()
        _print_tables(Console(file=buf, width=200, color_system=None),
                      report_html.table_sections(stats))
        text = buf.getvalue()
    if out is None:
        click.echo(text, nl=False)
        return 0
    # a BOM so that spreadsheet programs read the CSV's Chinese as UTF-8
    write_output(out, text.encode("utf-8-sig" if fmt == "csv" else "utf-8"), "--out")
    if as_json:
        emit_json({"out": str(out), "format": fmt})
    else:
        click.echo(_("Report written to {file}").format(file=out))
    return 0


def _coverage(c: dict) -> str:
    if c["mode"] == "cached":
        return _("Coverage: the figures computed at {at}, unchanged since ({count} changed "
                 "items read to know it; --all computes anew)").format(
                     at=c["last_full_sweep"], count=c["items_read"])
    if c["mode"] == "incremental":
        return _("Coverage: brought up to date from {count} changed items ({reason}); every "
                 "item of the year last read at {at} (--all reads them again)").format(
                     count=c["items_read"], reason=localize(c["reason"]),
                     at=c["last_full_sweep"])
    return _("Coverage: every item of the year read ({reason}); computed now").format(
        reason=localize(c["reason"]))


def _print_tables(console: Console, sections: list[tuple[str, list[str], list[list[str]]]]
                  ) -> None:
    for title, headers, rows in sections:
        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)


COMMANDS = (report,)
