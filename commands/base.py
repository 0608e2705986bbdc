"""What every command shares: the context (settings, the archive from the one wiring place,
the acting person), the error handling that turns custody errors into messages and exit codes,
--json, the one progress bar, and times shown in the unit's zone.

Exit codes (DESIGN.md): 0 success, 1 a problem found, 2 bad usage or input, 3 a required
service unavailable.
"""

from __future__ import annotations

import functools
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console

import bootstrap
import i18n
from archive import people
from archive.catalog.base import Query, parse_query_text
from archive.domain.errors import CustodyError
from archive.domain.model import parse_iso
from archive.domain.names import View, zone_label
from archive.domain.timeutil import parse_time
from archive.ledger.chain import Actor
from archive.service import Archive
from config import settings as settings_mod
from i18n import N_, Text, _, localize


@dataclass
class Context:
    config: str | None
    home: str | None
    _settings: settings_mod.Settings | None = None
    _archive: Archive | None = None

    @property
    def settings(self) -> settings_mod.Settings:
        if self._settings is None:
            self._settings = settings_mod.load(self.config,
                                               Path(self.home) if self.home else None)
        return self._settings

    @property
    def archive(self) -> Archive:
        if self._archive is None:
            self._archive = bootstrap.open_archive(self.settings)
        return self._archive

    def use(self, archive: Archive) -> Archive:
        """The archive this command works on when it is not the configured one (init, a
        migration's target): its ledger is the one checkpointed at the end."""
        self._archive = archive
        return archive

    def actor(self) -> Actor:
        """The person at this OS account; the refusal of anyone else is recorded by the
        service that identifies them, naming the command they tried."""
        words = click.get_current_context().command_path.split(" ", 1)
        return people.identify(self.archive, words[1] if len(words) > 1 else words[0])

    def clearances(self) -> frozenset[str]:
        from archive.access.masking import viewer_clearances

        return viewer_clearances(self.archive)

    def finish(self) -> None:
        """A signed checkpoint of the ledger head after every command that appended."""
        if self._archive is not None:
            try:
                self._archive.finish_command()
            finally:
                self._archive.catalog.close()


def emit_json(doc: object) -> None:
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
            try:
                ctx.finish()
            except CustodyError:
                pass
            if as_json:
                emit_json(exc.to_dict())
            else:
                click.echo(f"custody: {localize(exc)}", err=True)
            code = exc.exit_code
        except _backend_errors() as exc:  # a refusal the adapters did not classify: fail closed
            text = Text("a storage backend refused the request: {reason}", reason=str(exc))
            if as_json:
                emit_json({"error": "backend-refused", "message": str(text),
                           "text": localize(text)})
            else:
                click.echo(f"custody: {localize(text)}", err=True)
            code = 3
        except click.ClickException:
            raise
        except Exception as exc:  # noqa: BLE001 - a fault of custody, never dressed as bad input
            where = _log_unexpected(ctx, exc)
            text = Text("unexpected error ({kind}: {detail}); this is a fault in custody, not "
                        "in what you typed; the details are in {log}",
                        kind=type(exc).__name__, detail=str(exc), log=str(where))
            if as_json:
                emit_json({"error": "unexpected", "message": str(text), "text": localize(text),
                           "log": str(where)})
            else:
                click.echo(f"custody: {localize(text)}", err=True)
            code = UNEXPECTED
        sys.exit(code)

    return run


UNEXPECTED = 70  # EX_SOFTWARE (sysexits.h): an internal error


def _log_unexpected(ctx: Context, exc: Exception) -> Path:
    """The traceback goes to a log file, not the screen: <home>/logs/errors.log when the
    home can be written, else the temporary directory."""
    import tempfile
    import traceback
    from datetime import datetime, timezone

    text = (f"--- {datetime.now(timezone.utc).isoformat()} "
            f"{' '.join(sys.argv)}\n{''.join(traceback.format_exception(exc))}\n")
    candidates = []
    try:
        candidates.append(ctx.settings.home / "logs")
    except Exception:  # noqa: BLE001 - the settings themselves may be what failed
        pass
    candidates.append(Path(tempfile.gettempdir()))
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / ("errors.log" if folder.name == "logs" else "custody-errors.log")
            with path.open("a", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return Path("(nowhere: no writable log folder)")


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def parse_query(ctx: Context, text: str) -> Query:
    """A lot or request given as "KEY=VALUE ..." (times in the unit's zone)."""
    return parse_query_text(text, ctx.settings.unit_zone)


def when(ctx: Context, value: str | None, unit: str | None, what: str) -> datetime | None:
    """A time typed by a person: without an offset, in the unit's zone."""
    if value is None:
        return None
    return parse_time(value, ctx.settings.unit_zone(unit), what)


def local(ctx: Context, stored: str | None, unit: str | None = None) -> str:
    """A stored UTC time shown in the unit's zone."""
    if stored is None:
        return "-"
    zone = ctx.settings.unit_zone(unit)
    dt = parse_iso(stored)
    return f"{dt.astimezone(zone):%Y-%m-%d %H:%M}" if zone else stored


def zone_named(ctx: Context, unit: str | None = None) -> str:
    """The line that names the zone once above a table or listing of local times."""
    return _("Times: {zone}").format(zone=zone_text(ctx, unit))


def view_of(ctx: Context, people_ids: Iterable[str] = ()) -> View:
    """How this archive shows codes to people: its units' zones and configured names, and
    the names of ``people_ids`` (张警官（P1001）)."""
    ids = {p for p in people_ids if p}
    return View(zone_of=ctx.settings.unit_zone,
                unit_names={u: r["name"] for u, r in ctx.settings.units.items()
                            if r.get("name")},
                people=people.people_names(ctx.archive.catalog, ids) if ids else {})


def named(table: Mapping[str, str], code: str | None) -> str:
    """A stored code as the reader reads it: its Chinese name (archive.domain.names) for a
    Chinese reader, the code itself (which is English) for an English one."""
    if not code:
        return "-"
    return code if i18n.language() == "en" else table.get(code, code)


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def echo_fields(rows: list[tuple[str, object]]) -> None:
    """Label：value lines with the labels right-aligned; an empty value shows as '-'."""
    width = max((columns(k) for k, _v in rows), default=0)
    for k, v in rows:
        click.echo(f"{' ' * (width - columns(k))}{k}{colon()}{'-' if v in (None, '') else v}")


def colon() -> str:
    """The colon between a label and its text in the reader's language."""
    return ": " if i18n.language() == "en" else "："


def zone_text(ctx: Context, unit: str | None = None) -> str:
    """The unit's zone as the reader reads it: 北京时间（Asia/Shanghai）, or its name alone in
    English."""
    zone = ctx.settings.unit_zone(unit)
    if i18n.language() == "en":
        return getattr(zone, "key", None) or str(zone or "UTC")
    return zone_label(zone)


def joined(parts: Iterable[str], chinese: str = "，") -> str:
    """Parts of a list as the reader's language separates them."""
    return ({"；": "; "}.get(chinese, ", ") if i18n.language() == "en" else chinese).join(parts)


def item_label(ctx: Context, item_id: str) -> str:
    """题名（id） of an item in a listing: the title to read, the id to type next."""
    from archive.access.lookup import item_title

    title = item_title(ctx.archive, ctx.clearances(), item_id, view_of(ctx))
    if title is None:
        return item_id or "-"
    return f"{title}（{item_id}）"


def yes_no(flag: object) -> str:
    return _("yes") if flag else _("no")


def station_label(station: str | None) -> str:
    """A station id, or what the station without one is called."""
    return station or _("(no station id)")


def reason_text(reason: dict) -> str:
    """One reason or problem record (code, message[, text]) as the reader reads it: the text
    its producer localized, else its message (translated when the catalog holds it whole)."""
    text = reason.get("text")
    return text if isinstance(text, str) and text else localize(reason.get("message"))


def reasons_text(reasons: Iterable[dict]) -> str:
    return joined((reason_text(r) for r in reasons), "；")


# what a lock read from the store is called, by its mode
LOCK_MODES = {"LOCAL-WORM": N_("the local WORM directory's lock"),
              "COMPLIANCE": N_("S3 Object Lock in COMPLIANCE mode"),
              "GOVERNANCE": N_("S3 Object Lock in GOVERNANCE mode")}


def lock_mode(mode: str | None) -> str:
    return _(LOCK_MODES[mode]) if mode in LOCK_MODES else (mode or "-")


class Bar:
    """Advance it by n (``bar(n)``); ``bar.total(n)`` once the amount of work is known."""

    def __init__(self, advance: Callable[[int], None] = lambda n: None,
                 total: Callable[[int], None] = lambda n: None) -> None:
        self._advance, self.total = advance, total

    def __call__(self, n: int) -> None:
        self._advance(n)


@contextmanager
def progress(label: str, as_json: bool, total: int | None = None,
             unit: str = "items") -> Iterator[Bar]:
    """The one progress bar: on a terminal (never with --json), in items or bytes."""
    console = Console(stderr=True)
    if as_json or not console.is_terminal:
        yield Bar()
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = ((DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
               if unit == "bytes" else (MofNCompleteColumn(),))
    with Progress(TextColumn("{task.description}"), BarColumn(), *columns, console=console,
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield Bar(lambda n: bar.advance(task, n), lambda n: bar.update(task, total=n))
