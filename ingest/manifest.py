"""Batch manifests (CSV or JSON) that say, per file, who recorded what, when, and why.

Columns / keys (all optional but ``file``): file, kind, unit, device_id, officer_id,
assisting, recorded_start, recorded_end, returned_at, party, cause, case_id, activity_id,
activity_type, important, confidential, note, document_type, title, document_date.
``officer_id`` holds one or more ids separated by ';'; an id marked with a leading '+' is
assisting staff (``P1001;+P3001``); ``assisting`` may list them instead. Times are ISO 8601;
without an offset they are read in the unit's zone. Every problem is reported with the row.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from archive.domain.errors import InputError

FIELDS = ("file", "kind", "unit", "device_id", "officer_id", "assisting", "recorded_start",
          "recorded_end", "returned_at", "party", "cause", "case_id", "activity_id",
          "activity_type", "important", "confidential", "note", "document_type", "title",
          "document_date")
_TRUE = {"1", "true", "yes", "y", "是", "重要"}
_FALSE = {"", "0", "false", "no", "n", "否"}


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


def _problem(m: Manifest, code: str, file: str | None, line: int, message: str) -> None:
    m.problems.append({"code": code, "file": file, "line": line, "message": message})


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


def _records(path: Path, data: bytes) -> list[tuple[int, dict]]:
    text = data.decode("utf-8-sig")
    if path.suffix.lower() == ".json":
        doc = json.loads(text)
        rows = doc.get("files") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: a JSON manifest is a list of objects, or "
                             '{"files": [...]}', subject=str(path))
        return [(n + 1, r) for n, r in enumerate(rows)]
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "file" not in [f.strip() for f in reader.fieldnames]:
        raise InputError(f"{path}: a CSV manifest needs a header row with a 'file' column",
                         subject=str(path))
    return [(reader.line_num, {k.strip(): v for k, v in r.items() if k}) for r in reader]


def load(path: Path) -> Manifest:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"manifest {path}: {exc.strerror or exc}", subject=str(path)) from exc
    if not data.strip():
        raise InputError(f"manifest {path} is empty", subject=str(path))
    try:
        records = _records(path, data)
    except UnicodeDecodeError as exc:
        raise InputError(f"manifest {path} is not UTF-8: {exc}", subject=str(path)) from exc
    except (ValueError, csv.Error) as exc:
        raise InputError(f"manifest {path} cannot be read: {exc}", subject=str(path)) from exc
    m = Manifest(str(path))
    for line, record in records:
        unknown = sorted(set(record) - set(FIELDS))
        values = {k: _text(v) for k, v in record.items() if k in FIELDS}
        raw = values.get("file", "")
        if unknown:
            _problem(m, "unknown-column", raw or None, line,
                     f"unknown field(s) {', '.join(unknown)} ignored")
        rel = normalise(raw)
        if rel is None:
            _problem(m, "unsafe-path", raw or None, line,
                     "the file path is empty or points outside the offload folder; row ignored")
            continue
        values["file"] = rel
        if rel in m.rows:
            if m.rows[rel].values != values:
                m.conflicted.add(rel)
                _problem(m, "conflicting-rows", rel, line, f"named again (first at line "
                         f"{m.rows[rel].line}) with other metadata; its metadata is left "
                         "for a person to settle")
            else:
                _problem(m, "duplicate-row", rel, line, "the same row twice; counted once")
            continue
        m.rows[rel] = Row(line, values)
    return m


def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
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
    raise InputError(f"{key} {values.get(key)!r} is not yes/no")
