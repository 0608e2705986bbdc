"""The daily path: an offload folder (or scanned documents, or system data) through virus
scan, format checks and signing into WORM storage.

Every file ends in exactly one named state, with the reasons:
archived, archived-pending-metadata, archived-attention (locked, signed, catalogued);
quarantined (infected: moved, kept); rejected (not an allowed format: moved, kept);
not-scanned (left in place). Each file's bytes are read once: the same chunks feed the
digests, the clamd stream and the pending WORM upload, which is committed (locked) only after
a clean verdict.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from archive.catalog.base import Query
from archive.domain.canonical import canonical
from archive.domain.errors import InputError, ProblemFound, ServiceUnavailable
from archive.domain.ids import uuid7
from archive.domain.model import Description, Digests, Item, iso, safe_name
from archive.domain.names import INGEST_STATE_ZH
from archive.domain.titles import with_title
from archive.inputs import special_kind
from archive.integrity.fixity import StreamDigests
from archive.ledger.chain import Actor
from archive.people import people_names
from archive.service import Archive, event
from config.settings import Settings, check_station_id
from i18n import N_, Text
from ingest import checks, devices, scratch
from ingest.manifest import Manifest, Row, kind_of, parse_fields
from ingest.manifest import load as load_manifest
from ingest.moves import move_verified, set_aside_special
from ingest.naming import CameraName, parse_camera_name
from retention.rules import routine_retain_until
from retention.wording import local_minute
from scanners.base import Scanner, ScannerUnavailable, ScanSession, Verdict
from scanners.formats import FormatReport, check_format, guess_kind, identify, kind_text
from scanners.problems import problem

# what each outcome reads: 已入库 (stored and locked), not 已归档, which is archiving with a
# 档号 (custody archive finalize); the stored codes stay
STATES = INGEST_STATE_ZH
_STATUS_STATE = {"archived": "archived", "pending-metadata": "archived-pending-metadata",
                 "attention": "archived-attention"}
_AV = ("video", "audio")
# format problems that need no one's attention (a PDF's cross-reference offset readers repair)
_BENIGN_FORMAT = frozenset({"pdf_xref_offset"})
# reasons that leave an item waiting for a person's metadata (custody pending complete)
_METADATA_PROBLEMS = ("bad-metadata", "conflicting-rows", "bad-field", "unknown-unit")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
# each required field a file lacks, as the archivist reads it
_MISSING = {"unit": N_("unit is missing"), "device_id": N_("device_id is missing"),
            "officers": N_("officers is missing"),
            "recorded_start": N_("recorded_start is missing"),
            "recorded_end": N_("recorded_end is missing")}


@dataclass
class FileOutcome:
    file: str
    state: str = "not-scanned"
    reasons: list[dict] = field(default_factory=list)
    item_id: str | None = None
    sha256: str | None = None
    size: int = 0
    moved_to: str | None = None
    duplicate: bool = False
    late: bool = False
    checks: dict = field(default_factory=dict)
    # the manifest row's problems, for the batch's list of manifest problems
    row_problems: list[dict] = field(default_factory=list)
    # (device, running file number, year) of a file named by the camera convention
    number: tuple[str, int, int] | None = None

    def reason(self, code: str, message: Text) -> None:
        """A reason as stored and emitted: its code, the English ``message`` and the ``text``
        in the language of the person who ran the ingest."""
        self.reasons.append(problem(code, message))

    def found(self, found: dict) -> None:
        """A problem a check already worded (a format problem, a manifest field)."""
        self.reasons.append({k: found[k] for k in ("code", "message", "text") if k in found})

    def to_dict(self) -> dict:
        return {"file": self.file, "state": self.state, "state_zh": STATES[self.state],
                "reasons": self.reasons, "item_id": self.item_id, "sha256": self.sha256,
                "size": self.size, "moved_to": self.moved_to, "duplicate": self.duplicate,
                "late": self.late, "findings": self.checks.get("findings", []),
                "checks": self.checks}


@dataclass
class BatchReport:
    batch_id: str
    root: str
    station: str | None
    started_at: str
    files: list[FileOutcome] = field(default_factory=list)
    manifest_problems: list[dict] = field(default_factory=list)
    sequence_gaps: dict[str, list[int]] = field(default_factory=dict)
    clock_offsets: dict[str, float] = field(default_factory=dict)
    scanner_lost: str | None = None
    finished_at: str | None = None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for f in self.files:
            out[f.state] += 1
        return out

    @property
    def exit_code(self) -> int:
        if self.scanner_lost:
            return 3
        problem = any(f.state != "archived" or f.late for f in self.files)
        return 1 if problem or self.manifest_problems or self.sequence_gaps else 0

    def to_dict(self) -> dict:
        return {"batch_id": self.batch_id, "root": self.root, "station": self.station,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "counts": self.counts(), "late": sum(f.late for f in self.files),
                "bytes": sum(f.size for f in self.files),
                "manifest_problems": self.manifest_problems,
                "sequence_gaps": self.sequence_gaps, "clock_offsets": self.clock_offsets,
                "scanner_lost": self.scanner_lost, "exit_code": self.exit_code,
                "files": [f.to_dict() for f in self.files]}


def _infected(verdict: Verdict) -> Text:
    return Text("{signature} ({engine} {database})", signature=verdict.signature or "",
                engine=verdict.engine, database=verdict.database)


class _Infected(Exception):
    def __init__(self, verdict: Verdict, digests: Digests) -> None:
        super().__init__(verdict.signature)
        self.verdict, self.digests = verdict, digests


class _NotScanned(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def _now() -> datetime:
    return datetime.now(timezone.utc)


def walk(root: Path) -> Iterator[Path]:
    """Every entry below ``root`` that is not a directory; symlinks are listed, never followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if (here / d).is_symlink():
                yield here / d
        for name in sorted(filenames):
            yield here / name


def _regular_bytes(entries: list[Path]) -> int:
    """The bytes the regular files among ``entries`` hold (symlinks are never followed)."""
    total = 0
    for p in entries:
        with contextlib.suppress(OSError):  # gone already: its own outcome says so
            st = os.lstat(p)
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


class Ingest:
    def __init__(self, archive: Archive, settings: Settings, scanner: Scanner,
                 actor: Actor, *, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 total: Callable[[int], None] | None = None) -> None:
        """``progress(bytes, files)`` is told of every chunk read and every file done;
        ``total(bytes)`` once, of the bytes the offload folder holds."""
        self.archive = archive
        self.settings = settings
        self.scanner = scanner
        self.actor = actor
        cfg = settings.section("ingest")
        self.cfg = cfg
        self.workers = workers or cfg["workers"]
        self.chunk = cfg["chunk_mib"] << 20
        self.tolerance = cfg["time_tolerance_s"]
        self.quarantine = settings.path_in_home(cfg["quarantine"], "quarantine")
        self.rejected = settings.path_in_home(cfg["rejected"], "rejected")
        self.progress = progress or (lambda _bytes, _files: None)
        self.total = total or (lambda _bytes: None)
        self._lost: str | None = None
        self._lock = threading.Lock()
        self._scratch: Path | None = None

    # --- the batch -----------------------------------------------------------------------
    def run(self, root: Path, manifest_path: Path | None = None,
            station: str | None = None) -> BatchReport:
        if not root.is_dir():
            raise InputError(N_("{path} is not a folder"), subject=str(root), path=str(root))
        root = root.resolve()
        manifest = load_manifest(manifest_path) if manifest_path else None
        try:
            self.scanner.ping()
        except ScannerUnavailable as exc:
            raise ServiceUnavailable("clamd", str(exc), Text("no answer; nothing was touched")
                                     ) from exc
        scratch.remove_dead()  # what killed runs left in the temporary directory
        try:
            self._scratch = scratch.make()
        except OSError as exc:
            raise ServiceUnavailable(Text("the temporary directory"), tempfile.gettempdir(),
                                     Text("{error}; nothing was touched",
                                          error=exc.strerror or str(exc))) from exc
        try:
            return self._run(root, manifest_path, manifest, station)
        finally:
            scratch.remove(self._scratch)
            self._scratch = None

    def _run(self, root: Path, manifest_path: Path | None, manifest: Manifest | None,
             station: str | None) -> BatchReport:
        report = BatchReport(uuid7(), str(root), station, iso(_now()))
        skip = {manifest_path.resolve()} if manifest_path else set()
        entries = [p for p in walk(root) if p.resolve() not in skip or p.is_symlink()]
        rels = {self._rel(root, p) for p in entries}
        self.total(_regular_bytes(entries))
        if manifest:
            report.manifest_problems = list(manifest.problems)
            for rel in sorted(set(manifest.rows) - rels):
                report.manifest_problems.append(problem(
                    "missing-file", Text("named in the manifest but not in the offload folder"),
                    file=rel, line=manifest.rows[rel].line))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            # each file in the caller's context: its reasons are worded in the reader's language
            futures = [pool.submit(contextvars.copy_context().run, self._one, root, p, manifest,
                                   station, report.batch_id) for p in entries]
            report.files = [f.result() for f in futures]
        for f in report.files:
            report.manifest_problems += f.row_problems
        report.scanner_lost = self._lost
        self._after_batch(report)
        report.finished_at = iso(_now())
        self._file_report(report)
        return report

    @staticmethod
    def _rel(root: Path, path: Path) -> str:
        return path.relative_to(root).as_posix()

    def _one(self, root: Path, path: Path, manifest: Manifest | None, station: str | None,
             batch: str) -> FileOutcome:
        rel = self._rel(root, path)
        shown = safe_name(os.fsencode(rel))
        out = FileOutcome(shown["name"])
        cam = parse_camera_name(Path(rel).name)
        if cam:  # a number seen is not a gap, whatever becomes of the file
            out.number = (cam.device_id, cam.sequence, cam.started.year)
        try:
            self._process(path, rel, shown, out, manifest, station, batch)
        except ScannerUnavailable as exc:
            with self._lock:
                self._lost = str(exc)
            out.state = "not-scanned"
            out.reason("scanner-unavailable", Text("clamd stopped answering: {reason}; left in "
                                                   "place", reason=exc.text))
        except OSError as exc:
            out.state = "not-scanned"
            out.reason("unreadable", Text("the file cannot be read ({error}); left in place",
                                          error=exc.strerror or str(exc)))
        except ProblemFound as exc:  # it changed while being moved aside: never lost
            out.state = "not-scanned"
            out.reason("changed", exc.text)
        self.progress(0, 1)
        return out

    # --- one file ------------------------------------------------------------------------
    def _process(self, path: Path, rel: str, shown: dict, out: FileOutcome,
                 manifest: Manifest | None, station: str | None, batch: str) -> None:
        if self._lost:
            out.reason("scanner-unavailable", Text("clamd was lost earlier in this batch; left "
                                                   "in place"))
            return
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            out.reason("not-a-regular-file", Text("a symlink: its target is never read; moved "
                                                  "aside as it is"))
            self._move(path, self.rejected, batch, rel, None, out, "rejected")
            return
        if not stat.S_ISREG(mode):
            self._set_aside(path, rel, batch, out, special_kind(mode) or N_("a special file"))
            return
        row = manifest.rows.get(rel) if manifest else None
        # O_NONBLOCK: were a FIFO put in the file's place since lstat, opening it must not
        # wait for a writer; the descriptor's own type is checked before anything is read
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                f.close()
                self._set_aside(path, rel, batch, out,
                                special_kind(os.lstat(path).st_mode) or N_("a special file"))
                return
            with self._through(fd, rel) as opened:
                self._read_and_archive(f, opened, path, rel, shown, out, row, manifest,
                                       station, batch)

    def _set_aside(self, path: Path, rel: str, batch: str, out: FileOutcome,
                   what: str) -> None:
        """A FIFO, socket or device in an offload is rejected without ever being opened."""
        out.reason("special-file", Text("{what}: not a recording or document; never opened",
                                        what=Text(what)))
        report = {"batch": batch, "file": out.file, "state": "rejected",
                  "reasons": out.reasons, "at": iso(_now()), "by": self.actor.person_id}
        dest = set_aside_special(path, self.rejected / batch, rel, report)
        if dest is None:
            out.reason("left-in-place", Text("it could not be renamed into the rejected area "
                                             "(another file system); left where it is"))
        out.state, out.moved_to = "rejected", str(dest) if dest else None
        self.archive.ledger.append(self.actor, "rejected", out.file,
                                   {"batch": batch, "sha256": None, "to": out.moved_to,
                                    "reasons": [r["code"] for r in out.reasons]})

    def _read_and_archive(self, f: BinaryIO, opened: Path, path: Path, rel: str,
                          shown: dict, out: FileOutcome, row: Row | None,
                          manifest: Manifest | None, station: str | None,
                          batch: str) -> None:
        first = f.read(self.chunk)
        if not first:
            out.reason("empty", Text("the file is empty"))
            self._move(path, self.rejected, batch, rel, None, out, "rejected")
            return
        mime, _ = identify(opened, first)
        declared_kind = kind_of(row.values.get("kind", "")) if row else None
        ext = Path(rel).suffix.lower().lstrip(".")
        kind = declared_kind or guess_kind(mime, ext)
        fmt = (check_format(opened, kind, first, self.settings.section("formats"),
                            name=Path(shown["name"]).name) if kind else None)
        if fmt is None or not fmt.kind_allowed:
            self._scan_and_reject(f, first, path, rel, batch, out, kind, mime, fmt)
            return
        desc, from_media, seq = self._describe(row, manifest, kind, rel, shown, fmt,
                                               station, batch, out)
        self._archive(f, first, path, rel, batch, out, desc, fmt, from_media, seq)

    @contextlib.contextmanager
    def _through(self, fd: int, rel: str) -> Iterator[Path]:
        """A name for the checks that leads to this very descriptor: the file they judge is
        the file read (not one swapped in under the same name), a non-UTF-8 name never
        reaches them, and the extension spares MediaInfo trying every parser (which re-read
        up to 170 MB of a file's start, measured by benchmarks/ingest_bench.py)."""
        ext = "".join(c for c in Path(rel).suffix.lower() if c.isascii() and c.isalnum())
        assert self._scratch is not None, "a file is read only during a run"
        link = self._scratch / f"{uuid7()}.{ext or 'bin'}"
        link.symlink_to(f"/proc/self/fd/{fd}")
        try:
            yield link
        finally:
            link.unlink()

    def _chunks(self, f: BinaryIO, first: bytes, scan: ScanSession,
                counter: list[int]) -> Iterator[bytes]:
        chunk = first
        while chunk:
            scan.feed(chunk)
            counter[0] += len(chunk)
            self.progress(len(chunk), 0)
            yield chunk
            chunk = f.read(self.chunk)

    def _scan_and_reject(self, f: BinaryIO, first: bytes, path: Path, rel: str, batch: str,
                         out: FileOutcome, kind: str | None, mime: str,
                         fmt: FormatReport | None) -> None:
        """A format not allowed is rejected, but still scanned: infected content goes to
        quarantine instead, so that nobody handles it as a mere format problem."""
        scan = self.scanner.begin()
        digests = StreamDigests()
        try:
            for chunk in self._chunks(f, first, scan, [0]):
                digests.update(chunk)
        except BaseException:
            scan.abort()
            raise
        verdict = scan.finish()
        d = digests.finish()
        out.sha256, out.size = d.sha256, d.size
        out.checks = {"virus": verdict.to_dict(), "format": fmt.to_dict() if fmt else
                      {"mime": mime}}
        if verdict.status == "infected":
            out.reason("infected", _infected(verdict))
            self._move(path, self.quarantine, batch, rel, d, out, "quarantined")
            return
        why = (Text("{mime} is not an allowed format for {kind}", mime=mime,
                    kind=kind_text(kind)) if kind
               else Text("{mime} is not a format custody archives", mime=mime))
        out.reason("format-not-allowed", why)
        if fmt:
            for p in fmt.problems:
                out.found(p)
        self._move(path, self.rejected, batch, rel, d, out, "rejected")

    def _archive(self, f: BinaryIO, first: bytes, path: Path, rel: str, batch: str,
                 out: FileOutcome, desc: Description, fmt: FormatReport, from_media: bool,
                 seq: int | None) -> None:
        s = self.settings
        ingest_time = _now()
        unit_rules = s.units.get(desc.unit or "") or self._strictest_unit()
        zone = s.unit_zone(desc.unit) or timezone.utc
        retain_until = routine_retain_until(unit_rules, desc.recorded_end, ingest_time, zone)
        item_checks = self._checks(desc, fmt, from_media, ingest_time, unit_rules, zone, out)
        status = self._status(desc, fmt, item_checks, out)
        scan = self.scanner.begin()
        holder: dict = {}

        def verdict_first(d: Digests) -> None:
            verdict = scan.finish()
            holder["virus"] = verdict.to_dict()
            if verdict.status == "infected":
                raise _Infected(verdict, d)
            if verdict.status != "clean":
                raise _NotScanned(verdict)

        def complete(item: Item) -> None:
            """Everything judged, on the item before its one catalog write."""
            virus = holder["virus"]
            item.checks["virus"] = virus
            # a file-number gap is a property of the device's sequence, settled once the
            # batch is complete (the batch report, the device register), not of this file
            item.checks["four_property"] = [e.to_dict() for e in checks.four_properties(
                digests=item.current.digests.to_dict(), signed=bool(item.current.signature),
                source=desc.source, consistency=item_checks.get("consistency", {}),
                missing=desc.missing(), size=item.current.digests.size, fmt=fmt.to_dict(),
                sequence=seq, virus=virus, lock=item.storage["object"].get("lock"))]
            item.events.append(event("virus check", self.actor.person_id, virus["status"],
                                     method=virus["method"]))
            item.events.append(event("format identification", self.actor.person_id,
                                     "damaged" if fmt.damaged else "success", mime=fmt.mime))

        counter = [0]
        try:
            res = self.archive.archive_stream(
                self._chunks(f, first, scan, counter), desc, self.actor, retain_until,
                legal_hold=desc.case_id is not None, before_commit=verdict_first,
                checks=item_checks, status=status, complete=complete, ingested_at=ingest_time)
        except _Infected as inf:
            out.sha256, out.size = inf.digests.sha256, inf.digests.size
            out.checks = {"virus": inf.verdict.to_dict(), "format": fmt.to_dict()}
            out.reasons = [problem("infected", _infected(inf.verdict))]
            self._move(path, self.quarantine, batch, rel, inf.digests, out, "quarantined")
            return
        except _NotScanned as ns:
            out.size = counter[0]
            out.checks = {"virus": ns.verdict.to_dict()}
            out.reason("not-scanned", Text("{reason}; not archived, left in place",
                                           reason=ns.verdict.reason or ""))
            return
        except BaseException:
            scan.abort()
            raise
        item = res.item
        out.item_id, out.sha256, out.size = item.id, item.sha256, item.current.digests.size
        out.duplicate = res.duplicate
        if out.number and desc.recorded_start and out.number[0] == desc.device_id:
            # the year a number belongs to: its recording's, in the unit's zone
            out.number = (out.number[0], out.number[1],
                          desc.recorded_start.astimezone(zone).year)
        out.state = _STATUS_STATE[item.status]
        out.checks = item.checks
        if res.duplicate:
            out.reason("duplicate", Text("the same bytes and metadata are already item {item}",
                                         item=item.id))
            return
        out.late = item_checks.get("deadline", {}).get("late", False)

    # --- metadata ------------------------------------------------------------------------
    def _strictest_unit(self) -> dict:
        """For bytes whose unit is not yet known: the longest routine period of any unit."""
        units = self.settings.units.values()
        return max(units, key=lambda u: u["routine_months"]) if units else \
            {"routine_months": 12}

    def _describe(self, row: Row | None, manifest: Manifest | None, kind: str, rel: str,
                  shown: dict, fmt: FormatReport, station: str | None, batch: str,
                  out: FileOutcome) -> tuple[Description, bool, int | None]:
        """The description from the manifest row, else the camera's file name, the device
        register and the media itself. Each field of the row is judged on its own: a bad
        value is left out and named (a reason on the file, a problem of the manifest), the
        rest stands. Returns (description, times from media, sequence number)."""
        v = dict(row.values) if row else {}
        if manifest and row is None:
            out.reason("no-manifest-row", Text("the manifest does not name this file"))
        if manifest and rel in manifest.conflicted:
            out.reason("conflicting-rows", Text("the manifest names this file twice with other "
                                                "metadata; archived pending metadata"))
            v = {}
        units = self.settings.units
        cam = parse_camera_name(Path(rel).name)
        device_id = v.get("device_id") or (cam.device_id if cam else None)
        device = self.archive.catalog.get_record("devices", device_id) if device_id else None
        device_unit = (device or {}).get("unit") or None
        fields, bad = parse_fields(v, units=units, zone_of=self.settings.unit_zone,
                                   unit_default=device_unit if device_unit in units else None,
                                   max_hours=self.cfg["max_recording_hours"])
        for p in bad:
            out.found(p)
            out.row_problems.append({"code": p["code"], "file": rel,
                                     "line": row.line if row else None, "field": p["field"],
                                     "value": p["value"], "message": p["message"],
                                     "text": p.get("text", p["message"])})
        unit = fields.get("unit") or device_unit
        if unit and unit not in units:  # a device registered under a unit since removed
            out.reason("unknown-unit", Text(
                "unit {unit!r} of device {device} is not in the configuration (configured: "
                "{units}); left out", unit=unit, device=device_id,
                units=", ".join(sorted(units))))
            unit = None
        zone = self.settings.unit_zone(unit)
        source = {"original_name": shown["name"], "station": station, "batch": batch,
                  **({"name_bytes_hex": shown["name_bytes_hex"]}
                     if "name_bytes_hex" in shown else {}),
                  **({"manifest_line": row.line} if row else {})}
        start, end, from_media = self._times(fields, kind, fmt, device, zone, cam)
        extra: dict = {key: iso(fields[key]) for key in ("returned_at", "document_date")
                       if key in fields}
        extra |= {key: fields[key] for key in ("document_type", "segment") if key in fields}
        if cam:
            extra["sequence"] = cam.sequence
        officers = fields.get("officers") or (
            [device["officer"]] if device and device.get("officer") else [])
        try:
            desc = Description(
                kind=kind, unit=unit, device_id=device_id, officers=officers,
                assisting=fields.get("assisting", []), recorded_start=start,
                recorded_end=end, offloaded_at=_now(), party=fields.get("party"),
                cause=fields.get("cause"), case_id=fields.get("case_id"),
                activity_id=fields.get("activity_id"),
                activity_type=fields.get("activity_type"),
                confidential=fields.get("confidential"),
                important=fields.get("important", False), note=fields.get("note"),
                source=source, extra=extra)
        except InputError as exc:  # fields that pass alone but not together: keep the bytes
            out.reason("bad-metadata", Text("{reason}; the bytes are preserved and wait for "
                                            "corrected metadata", reason=exc.text))
            desc = Description(kind=kind, device_id=device_id, offloaded_at=_now(),
                               source=source, extra=extra,
                               confidential="state-secret" if v.get("confidential") else None)
            from_media = False
        desc = with_title(desc, fields.get("title"), zone,
                          people_names(self.archive.catalog, desc.officers))
        for field_name in desc.missing():
            out.reason("missing-metadata", Text(_MISSING.get(field_name, N_(
                "{field} is missing")), field=field_name))
        return desc, from_media, cam.sequence if cam else None

    def _times(self, fields: dict, kind: str, fmt: FormatReport, device: dict | None,
               zone, cam: CameraName | None) -> tuple[datetime | None, datetime | None, bool]:
        """(start, end, taken from the media): the declared times, else the media's."""
        start, end = fields.get("recorded_start"), fields.get("recorded_end")
        from_media = False
        if start is None and kind in _AV:
            start, from_media = self._media_start(fmt, device, zone, cam), True
        if start is not None and end is None and fmt.duration_s and kind in _AV:
            end = start + timedelta(seconds=fmt.duration_s)
            from_media = True
        return start, end, from_media

    def _media_start(self, fmt: FormatReport, device: dict | None, zone,
                     cam) -> datetime | None:
        """The recording start from the media: its creation time read as the device model
        writes it (UTC by the MP4 specification, local time on many cameras), else the time
        in the camera's file name."""
        t = self._embedded_time(fmt, device, zone)
        if t is not None:
            return t
        if cam and zone:
            return cam.start_in(zone)
        return None

    @staticmethod
    def _embedded_time(fmt: FormatReport, device: dict | None, zone) -> datetime | None:
        m = _TIME.search(fmt.creation_time or "")
        if not m:
            return None
        naive = datetime(*(int(x) for x in m.groups()))
        local = (device or {}).get("clock") == "local"
        if local and zone:
            return naive.replace(tzinfo=zone)
        return naive.replace(tzinfo=timezone.utc)

    # --- checks --------------------------------------------------------------------------
    def _checks(self, desc: Description, fmt: FormatReport, from_media: bool,
                ingest_time: datetime, unit_rules: dict, zone, out: FileOutcome) -> dict:
        device = (self.archive.catalog.get_record("devices", desc.device_id)
                  if desc.device_id else None)
        result: dict = {"format": fmt.to_dict()}
        if desc.kind in _AV:
            media_start = self._embedded_time(fmt, device, zone)
            result["consistency"] = checks.media_time_consistency(
                desc.recorded_start, desc.recorded_end, media_start, fmt.duration_s,
                self.tolerance, from_media)
            returned = desc.extra.get("returned_at")
            result["deadline"] = checks.offload_deadline(
                unit_rules.get("offload", "same-day"), desc.recorded_end,
                datetime.fromisoformat(returned.replace("Z", "+00:00")) if returned else None,
                ingest_time, zone)
        elif desc.kind == "document":
            date = desc.extra.get("document_date")
            result["deadline"] = checks.document_deadline(
                datetime.fromisoformat(date.replace("Z", "+00:00")) if date else None,
                ingest_time, self.cfg["document_deadline_days"], zone)
        if device and device.get("status") == "faulty":
            result["device"] = {"status": "faulty", "result": checks.FAIL}
            out.reason("faulty-device", Text("device {device} is marked faulty",
                                             device=desc.device_id))
        if result.get("deadline", {}).get("late"):
            out.reason("late", Text("offloaded after {due}",
                                    due=local_minute(result["deadline"]["due"], zone)))
        cons = result.get("consistency", {})
        for text in checks.problem_texts(cons):
            out.reason("time-inconsistent", text)
        return result

    @staticmethod
    def _status(desc: Description, fmt: FormatReport, item_checks: dict,
                out: FileOutcome) -> str:
        """The item's status, with every problem found kept on it whatever else is missing:
        ``checks["findings"]`` (damage, a format that is not what its name says, times that
        contradict the media, a faulty device) is what completing the metadata never clears;
        ``checks["manifest"]`` what was wrong with the row. Missing or refused metadata
        comes first in the status (the item waits for a person to describe it) and the
        findings make it ``attention`` once it is described (archive.service.correct)."""
        findings = [{"check": "format", **{k: p[k] for k in ("code", "message", "text")
                                            if k in p}}
                    for p in fmt.problems if p["code"] not in _BENIGN_FORMAT]
        for p in fmt.problems:
            out.found(p)
        if fmt.truncated and not any(f["code"] == "truncated" for f in findings):
            findings.append(problem("truncated", Text("the media is cut short"),
                                    check="format"))
        for text in checks.problem_texts(item_checks.get("consistency", {})):
            findings.append(problem("time-inconsistent", text, check="consistency"))
        if item_checks.get("device"):
            findings.append(problem("faulty-device", Text("device {device} is marked faulty",
                                                          device=desc.device_id),
                                    check="device"))
        if findings:
            item_checks["findings"] = findings
        refused = [r for r in out.reasons if r["code"] in _METADATA_PROBLEMS]
        if refused:
            item_checks["manifest"] = {"problems": refused}
        if desc.missing() or refused:
            return "pending-metadata"
        return "attention" if findings else "archived"

    # --- moving aside --------------------------------------------------------------------
    def _move(self, path: Path, area: Path, batch: str, rel: str, d: Digests | None,
              out: FileOutcome, state: str) -> None:
        report = {"batch": batch, "file": out.file, "state": state, "reasons": out.reasons,
                  "checks": out.checks, "sha256": out.sha256, "size": out.size,
                  "at": iso(_now()), "by": self.actor.person_id}
        dest = move_verified(path, area / batch, rel, d, report)
        out.state, out.moved_to = state, str(dest)
        if state == "quarantined":
            self.archive.catalog.put_record("quarantine", f"{batch}:{rel}", {
                "id": f"{batch}:{rel}", "path": str(dest), **report})
        self.archive.ledger.append(self.actor, state, out.file,
                                   {"batch": batch, "sha256": out.sha256, "to": str(dest),
                                    "reasons": [r["code"] for r in out.reasons]})

    # --- after the batch -----------------------------------------------------------------
    def _after_batch(self, report: BatchReport) -> None:
        """Checks that need the whole batch: written records against the recordings of their
        activity, the device register's file numbers and clock offsets, and the gaps this
        batch reveals (files processed in parallel are never each other's gaps)."""
        activities = set()
        numbers: dict[str, list[tuple[int, int, bool]]] = {}
        offsets: dict[str, list[float]] = {}
        for f in report.files:
            if f.number and f.state != "not-scanned":  # left in place: seen when taken
                dev, seq, year = f.number
                numbers.setdefault(dev, []).append((seq, year, not f.duplicate))
            if f.item_id and not f.duplicate:
                item = self.archive.catalog.get_item(f.item_id)
                if item and item.description.activity_id:
                    activities.add(item.description.activity_id)
                dev = item.description.device_id if item else None
                off = f.checks.get("consistency", {}).get("clock_offset_s")
                if dev and off is not None and abs(off) > self.tolerance:
                    report.clock_offsets[dev] = off
                    offsets.setdefault(dev, []).append(off)
        for dev in sorted(set(numbers) | set(offsets)):
            doc = devices.note_batch(self.archive.catalog, dev,
                                     [(seq, year) for seq, year, _ in numbers.get(dev, [])],
                                     offsets.get(dev, []))
            if doc is None:  # not in the register
                continue
            new = {(seq, year) for seq, year, fresh in numbers.get(dev, []) if fresh}
            gaps = devices.gaps_near(doc, new)
            if gaps:
                report.sequence_gaps[dev] = gaps
        for activity in sorted(activities):
            self.check_activity(activity)

    def check_activity(self, activity_id: str) -> None:
        """Each written record (笔录) of the activity against its recordings: every affected
        item's check is settled first, then each item that changes is written once."""
        items = self.archive.catalog.search(Query(activity_id=activity_id), limit=1000).items
        spans = [(i.description.recorded_start, i.description.recorded_end) for i in items
                 if i.description.kind in _AV and i.description.recorded_start
                 and i.description.recorded_end]
        av = [x for x in items if x.description.kind in _AV]
        settled: dict[str, dict] = {}
        for rec in items:
            d = rec.description
            if (d.kind == "document" and "笔录" in (d.extra.get("document_type") or "")
                    and d.recorded_start and d.recorded_end):
                result = checks.written_record_consistency(spans, d.recorded_start,
                                                           d.recorded_end, self.tolerance)
                for i in [rec] + av:  # with several records, the last one's word stands
                    settled[i.id] = result
        for i in items:
            if i.id in settled and i.checks.get("written_record") != settled[i.id]:
                i.checks["written_record"] = settled[i.id]
                self.archive.catalog.save_state(i)

    def _file_report(self, report: BatchReport) -> None:
        doc = report.to_dict()
        self.archive.catalog.put_record("batches", report.batch_id, doc)
        until = _now() + timedelta(days=366 * self.settings.section("ledger")[
            "checkpoint_retention_years"])
        self.archive.store.put_blob(f"reports/batches/{report.batch_id}.json",
                                    canonical(doc), until)
        self.archive.ledger.append(self.actor, "batch", report.batch_id,
                                   {"counts": doc["counts"], "late": doc["late"],
                                    "root": report.root, "station": report.station})


def ingest_offload(archive: Archive, actor: Actor, settings: Settings, scanner: Scanner,
                   root: Path, manifest: Path | None = None, station: str | None = None, *,
                   workers: int | None = None, progress: Callable[[int], None] | None = None,
                   total: Callable[[int], None] | None = None) -> dict:
    """`custody ingest`: every file of an offload folder archived, quarantined, rejected or
    left in place, with the reasons; the batch report. ``total(bytes)`` is told once what
    the folder holds, ``progress(bytes)`` of every chunk read."""
    # one notion of the station: --station, else CUSTODY_STATION or [station] id (this home's)
    station = check_station_id(station, "--station") if station else settings.station or None
    if station:  # and this command's ledger entries name the station its batch names
        archive.ledger.station = station
    advance = (lambda n, _files: progress(n)) if progress else None
    job = Ingest(archive, settings, scanner, actor, workers=workers, progress=advance,
                 total=total)
    return job.run(root, manifest, station).to_dict()
