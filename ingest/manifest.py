"""Batch manifests (CSV or JSON) that say, per file, who recorded what, when, and why.

Columns / keys (all optional but ``file``): file, kind, unit, device_id, officer_id,
assisting, recorded_start, recorded_end, returned_at, party, cause, case_id, activity_id,
activity_type, important, confidential, note, document_type, title, document_date, segment.
``title`` is the item's 题名 when a person gives one (else it is composed from the rest);
``segment`` is a recording's part as n/m (``2/3``: the second of three files of one activity).
``officer_id`` holds one or more ids separated by ';'; an id marked with a leading '+' is
assisting staff (``P1001;+P3001``); ``assisting`` may list them instead. Times are ISO 8601;
without an offset they are read in the unit's zone.

One reader serves ``custody ingest --manifest`` and ``custody pending complete --manifest``
(:func:`read_records`): a file that cannot be a manifest (a FIFO or another special file, not
UTF-8, cut-off JSON, the wrong shape, no rows) is refused as a whole, naming the file, the line
and the reason. Within a readable manifest every problem is reported with its row, and a bad
value affects its own field only (:func:`parse_fields`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path, PurePosixPath

from archive.domain.errors import InputError
from archive.domain.model import ACTIVITY_TYPES, CONFIDENTIAL_CLASSES, KINDS
from archive.domain.timeutil import parse_time
from archive.inputs import read_input
from i18n import N_, Text
from scanners.problems import problem

FIELDS = ("file", "kind", "unit", "device_id", "officer_id", "assisting", "recorded_start",
          "recorded_end", "returned_at", "party", "cause", "case_id", "activity_id",
          "activity_type", "important", "confidential", "note", "document_type", "title",
          "document_date", "segment")
# a corrected manifest (custody pending complete) may also name the item it completes
COMPLETION_FIELDS = FIELDS + ("item_id", "sha256")
TIMES = ("recorded_start", "recorded_end", "returned_at", "document_date")
TEXTS = ("device_id", "party", "cause", "case_id", "activity_id", "note", "document_type",
         "title", "segment")
MAX_BYTES = 64 << 20  # far beyond any day's offload; a video named by mistake is refused unread
_TRUE = {"1", "true", "yes", "y", "是", "重要"}
_FALSE = {"", "0", "false", "no", "n", "否"}
_KIND_ZH = {"视频": "video", "录像": "video", "音频": "audio", "录音": "audio", "照片": "photo",
            "图片": "photo", "文书": "document", "文档": "document", "数据": "data"}
_CONFIDENTIAL_ZH = {"国家秘密": "state-secret", "商业秘密": "commercial-secret",
                    "个人隐私": "personal-privacy"}
@dataclass
class Row:
    line: int
    values: dict[str, str]

    @property
    def file(self) -> str:
        return self.values["file"]


@dataclass
class Manifest:
    source: str
    rows: dict[str, Row] = field(default_factory=dict)   # by normalised relative path
    problems: list[dict] = field(default_factory=list)    # {"code", "file", "line", "message"}
    conflicted: set[str] = field(default_factory=set)     # files named twice, differently


@dataclass
class Record:
    """One row of a manifest as read: its values (known fields only) and what was odd."""

    line: int
    values: dict[str, str]
    unknown: list[str] = field(default_factory=list)   # columns/keys that are not fields
    surplus: bool = False                               # a CSV row longer than its header


def _problem(m: Manifest, code: str, file: str | None, line: int, message: Text) -> None:
    m.problems.append(problem(code, message, file=file, line=line))


def normalise(path: str) -> str | None:
    """A manifest path as a relative POSIX path inside the offload folder, or None when it
    points outside it (absolute, '..', drive letters, NUL)."""
    p = path.replace("\\", "/").strip()
    if not p or "\x00" in p or p.startswith("/") or (len(p) > 1 and p[1] == ":"):
        return None
    parts = [s for s in PurePosixPath(p).parts if s not in ("", ".")]
    if not parts or any(s == ".." for s in parts):
        return None
    return "/".join(parts)


# --- reading the file -------------------------------------------------------------------------
def _refuse(path: Path, line: int | None, reason: Text) -> InputError:
    if line is None:
        return InputError(N_("manifest {path}: {reason}"), subject=str(path), path=str(path),
                          reason=reason)
    return InputError(N_("manifest {path}, line {line}: {reason}"), subject=str(path),
                      path=str(path), line=line, reason=reason)


def read_bytes(path: Path) -> bytes:
    """The bytes of a manifest a person named: a special file is refused by name and never
    opened for reading (archive.inputs)."""
    return read_input(path, "manifest", MAX_BYTES)


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = f"0x{data[exc.start]:02x}"
        try:
            data.decode("gb18030")
        except UnicodeDecodeError:
            raise _refuse(path, line, Text("not UTF-8 (byte {byte} at column {column})",
                                           byte=byte, column=column)) from exc
        raise _refuse(path, line, Text("not UTF-8 (byte {byte} at column {column}); it reads "
                                       "as GBK/GB18030: save it as UTF-8", byte=byte,
                                       column=column)) from exc


def _is_json(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix == ".json"
    return text.lstrip()[:1] in ("[", "{")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_rows(path: Path, text: str) -> list[tuple[int, object]]:
    """Each entry of the manifest's list with the line it starts on."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = _skip(text, exc.pos) >= len(text) or (
            exc.msg.startswith("Unterminated string") and '"' not in text[exc.pos + 1:])
        why = (Text("the JSON ends early (cut off?): {error} (column {column})",
                    error=exc.msg, column=exc.colno) if cut
               else Text("not valid JSON: {error} (column {column})", error=exc.msg,
                         column=exc.colno))
        raise _refuse(path, exc.lineno, why) from exc
    except RecursionError as exc:
        raise _refuse(path, 1, Text("the JSON is nested too deeply")) from exc
    if isinstance(doc, dict):
        if not isinstance(doc.get("files"), list):
            keys = ", ".join(sorted(map(str, doc))) or "-"
            raise _refuse(path, 1, Text('a JSON manifest is a list of objects, or {{"files": '
                                        '[...]}}; this object has no "files" list (its keys: '
                                        '{keys})', keys=keys))
        rows = doc["files"]
    elif isinstance(doc, list):
        rows = doc
    else:
        raise _refuse(path, 1, Text('a JSON manifest is a list of objects, or {{"files": '
                                    '[...]}}, not a {type}', type=type(doc).__name__))
    lines = _entry_lines(text, isinstance(doc, dict))
    out = []
    for n, row in enumerate(rows):
        line = lines[n] if n < len(lines) else 1
        if not isinstance(row, dict):
            raise _refuse(path, line, Text('entry {number} is {type}, not an object with a '
                                           '"file" key', number=n + 1, type=_json_type(row)))
        out.append((line, row))
    return out


def _json_type(value: object) -> Text | str:
    return {str: Text("a string"), int: Text("a number"), float: Text("a number"),
            bool: "true/false", list: Text("a list"), type(None): "null"}.get(
                type(value), type(value).__name__)


def _entry_lines(text: str, wrapped: bool) -> list[int]:
    """The line each entry of the list starts on (the text is known to be valid JSON)."""
    dec = json.JSONDecoder()
    pos = _skip(text, 0)
    if wrapped:  # find the value of the last "files" key, as json.loads keeps the last
        start = None
        pos = _skip(text, pos + 1)
        while text[pos] != "}":
            key, pos = dec.raw_decode(text, pos)
            pos = _skip(text, _skip(text, pos) + 1)  # past the ':'
            if key == "files":
                start = pos
            _, pos = dec.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] == ",":
                pos = _skip(text, pos + 1)
        pos = start if start is not None else pos
    lines: list[int] = []
    pos = _skip(text, pos + 1)  # past the '['
    while pos < len(text) and text[pos] != "]":
        lines.append(_line_of(text, pos))
        _, pos = dec.raw_decode(text, pos)
        pos = _skip(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)
    return lines


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict, bool]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)  # blank lines before the header
        if header is None:
            raise _refuse(path, 1, Text("no header row"))
        names = [h.strip() for h in header]
        header_line = reader.line_num
        if "file" not in names:
            raise _refuse(path, header_line, Text(
                "the header row has no 'file' column (found: {columns}); a CSV manifest is "
                "comma-separated with a header row",
                columns=", ".join(n for n in names if n) or "-"))
        twice = sorted({n for n in names if n and names.count(n) > 1})
        if twice:
            raise _refuse(path, header_line, Text("column(s) {columns} named twice",
                                                  columns=", ".join(twice)))
        rows = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            values = {n: c for n, c in zip(names, cells, strict=False) if n}
            rows.append((reader.line_num, values, len(cells) > len(names)))
    except csv.Error as exc:
        raise _refuse(path, reader.line_num, Text("not readable as CSV: {error}",
                                                  error=str(exc))) from exc
    return names, rows


def read_records(path: Path, fields: Collection[str] = FIELDS) -> list[Record]:
    """Every row of a manifest, with its line; the manifest refused as a whole (InputError,
    naming the file, the line and the reason) when it cannot be one."""
    data = read_bytes(path)
    if not data.strip():
        raise _refuse(path, 1, Text("the file is empty"))
    text = _decode(path, data)
    if "\x00" in text:
        raise _refuse(path, _line_of(text, text.index("\x00")), Text(
            "a NUL byte: a text manifest has none (is it UTF-16, or not a manifest at all?)"))
    records = []
    if _is_json(path, text):
        for line, row in _json_rows(path, text):
            unknown = sorted(str(k) for k in row if k not in fields)
            records.append(Record(line, {k: _text(v) for k, v in row.items() if k in fields},
                                  unknown))
    else:
        names, rows = _csv_rows(path, text)
        unknown = sorted(n for n in names if n and n not in fields)
        for line, values, surplus in rows:
            records.append(Record(line, {k: _text(v) for k, v in values.items()
                                         if k in fields}, unknown, surplus))
    if not records:
        raise _refuse(path, 1, Text("it names no file (no rows)"))
    return records


def load(path: Path) -> Manifest:
    """An ingest manifest: its rows by file, and every problem with its row."""
    m = Manifest(str(path))
    for rec in read_records(path, FIELDS):
        values, line = rec.values, rec.line
        raw = values.get("file", "")
        if rec.unknown:
            _problem(m, "unknown-column", raw or None, line,
                     Text("unknown field(s) {fields} ignored", fields=", ".join(rec.unknown)))
        if rec.surplus:
            _problem(m, "surplus-values", raw or None, line,
                     Text("more values than the header has columns; the surplus ignored"))
        rel = normalise(raw)
        if rel is None:
            _problem(m, "unsafe-path", raw or None, line,
                     Text("the file path is empty or points outside the offload folder; row "
                          "ignored"))
            continue
        values["file"] = rel
        if rel in m.rows:
            if m.rows[rel].values != values:
                m.conflicted.add(rel)
                _problem(m, "conflicting-rows", rel, line, Text(
                    "named again (first at line {first}) with other metadata; its metadata is "
                    "left for a person to settle", first=m.rows[rel].line))
            else:
                _problem(m, "duplicate-row", rel, line,
                         Text("the same row twice; counted once"))
            continue
        m.rows[rel] = Row(line, values)
    return m


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ";".join(_text(x) for x in v)
    return str(v).strip()


def officers_of(values: dict[str, str]) -> tuple[list[str], list[str]]:
    officers, assisting = [], []
    for part in values.get("officer_id", "").replace(",", ";").split(";"):
        part = part.strip()
        if part.startswith("+"):
            assisting.append(part[1:].strip())
        elif part:
            officers.append(part)
    assisting += [a.strip() for a in values.get("assisting", "").replace(",", ";").split(";")
                  if a.strip()]
    return officers, [a for a in dict.fromkeys(assisting) if a and a not in officers]


def flag(values: dict[str, str], key: str) -> bool:
    v = values.get(key, "").strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InputError(N_("{field} {value!r} is not yes/no"), field=key, value=values.get(key))


def kind_of(value: str) -> str | None:
    """A declared kind (English or Chinese), or None when it is not one: the content decides
    then, and ``parse_fields`` names the bad value."""
    kind = _KIND_ZH.get(value.strip(), value.strip().lower())
    return kind if kind in KINDS else None


# --- the fields of one row --------------------------------------------------------------------
def _bad(problems: list[dict], name: str, value: str, why: Text, code: str = "bad-field",
         outcome: Text | None = None) -> None:
    problems.append(problem(code, Text("{field} {value!r}: {why}; {outcome}", field=name,
                                       value=value, why=why,
                                       outcome=outcome or Text("this field was not taken")),
                            field=name, value=value))


def _unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \\ud800 escape
        return False
    return True


def parse_fields(values: dict[str, str], *, units: Collection[str] | None,
                 zone_of: Callable[[str | None], tzinfo | None],
                 unit_default: str | None = None, max_hours: float | None = None
                 ) -> tuple[dict, list[dict]]:
    """The row's values as Description fields, each judged on its own: a value that cannot be
    taken (an unparseable time, an unknown unit or activity type, not yes/no) is left out and
    named in a problem ``{"code", "field", "value", "message"}``; the other fields stand.

    ``units``: the configured units (None: any unit is taken). Times without an offset are
    read in ``zone_of(unit)``, the unit being the row's own or ``unit_default``.
    """
    out: dict = {}
    problems: list[dict] = []
    v = {k: x for k, x in values.items() if x}
    for name, value in list(v.items()):
        if not _unicode(value):
            _bad(problems, name, value.encode("utf-8", "backslashreplace").decode(),
                 Text("not valid Unicode text"))
            del v[name]
    if "kind" in v:
        kind = kind_of(v["kind"])
        if kind:
            out["kind"] = kind
        else:
            _bad(problems, "kind", v["kind"], Text("not one of {choices}; the kind is taken "
                                                   "from the content", choices=", ".join(KINDS)))
    if "unit" in v:
        if units is None or v["unit"] in units:
            out["unit"] = v["unit"]
        else:
            _bad(problems, "unit", v["unit"], Text(
                "not a unit of this archive (configured: {units})",
                units=", ".join(sorted(units)) or "-"), code="unknown-unit")
    zone = zone_of(out.get("unit") or unit_default)
    for name in TEXTS:
        if name in v:
            out[name] = v[name]
    if "segment" in out and not _segment_ok(out["segment"]):
        _bad(problems, "segment", out.pop("segment"), Text("not a part as n/m (2/3: the second "
                                                           "of three files)"))
    officers, assisting = officers_of(v)
    if officers:
        out["officers"] = officers
    if assisting:
        out["assisting"] = assisting
    for name in TIMES:
        if name in v:
            try:
                out[name] = parse_time(v[name], zone, name)
            except InputError as exc:
                _bad(problems, name, v[name], Text(
                    "not an ISO 8601 time (write 2026-12-01 08:14 or 2026-12-01T08:14:00+08:00)")
                    if "ISO 8601" in exc.message
                    else Text("no UTC offset, and no time zone is configured for its unit"))
    _times_together(out, v, problems, max_hours)
    if "activity_type" in v:
        if v["activity_type"] in ACTIVITY_TYPES:
            out["activity_type"] = v["activity_type"]
        else:
            _bad(problems, "activity_type", v["activity_type"],
                 Text("not one of {choices}", choices="、".join(ACTIVITY_TYPES)))
    if "confidential" in v:
        cls = _CONFIDENTIAL_ZH.get(v["confidential"], v["confidential"])
        if cls in CONFIDENTIAL_CLASSES:
            out["confidential"] = cls
        else:
            # kept confidential, at the strictest class, until a person says which it is:
            # dropping the mark would show the party's name to everyone
            out["confidential"] = "state-secret"
            _bad(problems, "confidential", v["confidential"],
                 Text("not one of {choices} ({names})",
                      choices=", ".join(CONFIDENTIAL_CLASSES),
                      names="国家秘密, 商业秘密, 个人隐私"),
                 outcome=Text("kept confidential as state-secret until corrected"))
    if "important" in v:
        try:
            out["important"] = flag(v, "important")
        except InputError:
            _bad(problems, "important", v["important"], Text("not yes/no ({choices})",
                                                             choices="是/否"))
    return out, problems


def _segment_ok(value: str) -> bool:
    n, _, m = value.partition("/")
    return n.isdigit() and m.isdigit() and 1 <= int(n) <= int(m)


def _times_together(out: dict, v: dict[str, str], problems: list[dict],
                    max_hours: float | None) -> None:
    """A start and an end that contradict each other are one declaration gone wrong: which of
    the two is the typing error cannot be told, so neither is taken."""
    start, end = out.get("recorded_start"), out.get("recorded_end")
    if not (isinstance(start, datetime) and isinstance(end, datetime)):
        return
    why = None
    if end < start:
        why = Text("recorded_end is before recorded_start")
    elif max_hours is not None and end - start > timedelta(hours=max_hours):
        why = Text("a recording of {length} is longer than {hours} h: a typing error?",
                   length=str(end - start), hours=max_hours)
    if why:
        for name in ("recorded_start", "recorded_end"):
            del out[name]
        problems.append(problem("bad-field", Text(
            "recorded_start {start!r} and recorded_end {end!r}: {why}; neither was taken",
            start=v["recorded_start"], end=v["recorded_end"], why=why),
            field="recorded_start,recorded_end",
            value=f"{v['recorded_start']} .. {v['recorded_end']}"))
