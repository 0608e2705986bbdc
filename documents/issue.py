"""Issuing and printing official documents: the one service every face calls.

A document is issued once: its data is gathered into a document record signed by the archive
key and kept in the WORM store; the PDF is rendered from that record, signed (PAdES) and kept
in the WORM store too. Every later print gives back those very bytes, so a later WeasyPrint,
template or font changes nothing already issued. A PDF lost between the two writes (a crash)
is rendered again from the stored record, never from today's data.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from archive import people
from archive.domain.canonical import canonical
from archive.domain.errors import InputError, NotFound, WormViolation
from archive.domain.ids import uuid7
from archive.domain.model import iso
from archive.ledger.chain import Actor
from archive.service import Archive
from config.settings import Settings
from documents import kinds, numbers, render, sign
from i18n import N_, Text

PREFIX = "documents/"
RECORD_TYPE = "custody.document-record"
_SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,127}$")


def record_key(kind: str, subject: str) -> str:
    return f"{PREFIX}{kind}/{subject}.record.json"


def pdf_key(kind: str, subject: str) -> str:
    return f"{PREFIX}{kind}/{subject}.pdf"


def _check_subject(subject: str) -> str:
    if not _SUBJECT.match(subject or ""):
        raise InputError(N_("{id} is not a document id"), id=str(subject), subject=str(subject))
    return subject


def _stored(archive: Archive, key: str) -> bytes | None:
    versions = archive.store.versions(key)
    return archive.store.read_bytes(key, versions[0]) if versions else None


def _until(archive: Archive) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=366 * archive.ledger.checkpoint_years)


def _may_print(src: kinds.Source, kind: kinds.Kind, subject: str) -> None:
    """Refused (IdentityError, recorded) unless the person holds a role of the kind or is one
    of the subject's own readers (the extractor of an export)."""
    if kind.roles is None:
        people.require_role(src.archive.catalog, src.actor,
                            tuple(people.ROLES), Text("print a {title}", title=kind.title))
        return
    if kind.readers is not None and src.actor.person_id in kind.readers(src, subject):
        return
    people.require_role(src.archive.catalog, src.actor, kind.roles,
                        Text("print a {title}", title=kind.title))


def _make_record(src: kinds.Source, kind: kinds.Kind, subject: str, params: dict) -> dict:
    data = kind.build(src, subject, params)
    unit = data.get("unit") if isinstance(data.get("unit"), str) else None
    at = datetime.now(timezone.utc)
    zone = src.settings.unit_zone(unit)
    year = at.astimezone(zone).year if zone is not None else at.year
    serial = numbers.allocate(src.archive, src.actor, kind.code, kind.word, year, subject, at)
    body = {"type": RECORD_TYPE, "id": uuid7(), "kind": kind.code, "title": kind.title,
            "subject": subject, "number": numbers.format_number(kind.word, year, serial),
            "serial": {"word": kind.word, "year": year, "number": serial},
            "issued_at": iso(at), "issued_by": src.person(src.actor.person_id),
            "zone": src.zone_name(unit), "unit_name": src.unit_name(unit),
            "landscape": kind.landscape, "template": kind.template, "data": data,
            "key_id": src.archive.key.key_id}
    return body | {"signature": src.archive.key.sign(body)}


def _render(src: kinds.Source, kind: kinds.Kind, record: dict, keys_dir: Path) -> bytes:
    dkey = sign.document_key(keys_dir, src.archive.key, src.archive.store,
                             record["unit_name"], src.archive.ledger.checkpoint_years)
    html = render.render_html(record, kind.template)
    pdf = render.html_to_pdf(html, record, {sign.STATEMENT_ATTACHMENT:
                                            canonical(dkey.statement)})
    return sign.sign_pdf(pdf, dkey, reason=f"{record['title']} {record['number']}",
                         location=record["unit_name"])


def _answer(kind: kinds.Kind, record: dict, pdf: bytes, new: bool) -> dict:
    return {"kind": kind.code, "title": kind.title, "subject": record["subject"],
            "number": record["number"], "record_id": record["id"],
            "issued_at": record["issued_at"], "pdf": pdf,
            "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf),
            "record_key": record_key(kind.code, record["subject"]),
            "pdf_key": pdf_key(kind.code, record["subject"]), "new": new}


@people.records_refusals("print")
def issue(archive: Archive, actor: Actor, settings: Settings, kind_code: str,
          subject: str | None = None, *, keys_dir: Path, params: dict | None = None) -> dict:
    """The document ``kind_code`` of ``subject``: issued (record, PDF, ledger entry) the first
    time, the stored PDF every later time. A ``fresh`` kind (a register over a period) is
    issued anew when no ``subject`` is given, from ``params``; ``keys_dir`` is the home's
    keys/ (the document-signing key lives there beside archive.key)."""
    kind = kinds.get(kind_code)
    src = kinds.Source(archive, settings, actor)
    if subject is None:
        if not kind.fresh:
            raise InputError(N_("a {title} ({kind}) is printed for a subject: give its id"),
                             title=kind.title, kind=kind.code)
        subject = uuid7()
    _check_subject(subject)
    raw = _stored(archive, record_key(kind.code, subject))
    record = json.loads(raw) if raw is not None else None
    _may_print(src, kind, subject)
    if record is None:
        if kind.fresh and params is None:
            raise InputError(N_("no {title} {id} was issued"), title=kind.title, id=subject,
                             subject=subject)
        record = _make_record(src, kind, subject, params or {})
        try:
            archive.store.put_blob(record_key(kind.code, subject), canonical(record),
                                   _until(archive))
        except WormViolation:  # issued at this very moment by another process: theirs stands
            record = json.loads(_stored(archive, record_key(kind.code, subject)) or b"{}")
    pdf = _stored(archive, pdf_key(kind.code, subject))
    if pdf is not None:
        archive.ledger.append(actor, "document-printed", f"{kind.code}/{subject}",
                              {"number": record["number"],
                               "sha256": hashlib.sha256(pdf).hexdigest()})
        return _answer(kind, record, pdf, new=False)
    pdf = _render(src, kind, record, keys_dir)
    try:
        archive.store.put_blob(pdf_key(kind.code, subject), pdf, _until(archive))
    except WormViolation:
        pdf = _wait_for(archive, pdf_key(kind.code, subject))
        return _answer(kind, record, pdf, new=False)
    archive.ledger.append(actor, "document-issued", f"{kind.code}/{subject}",
                          {"number": record["number"], "record": record["id"],
                           "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf)})
    return _answer(kind, record, pdf, new=True)


def _wait_for(archive: Archive, key: str, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = _stored(archive, key)
        if data is not None:
            return data
        time.sleep(0.2)
    raise NotFound(N_("{key} is being written by another process; print again"), key=key,
                   subject=key)


@people.records_refusals("print")
def reprint(archive: Archive, actor: Actor, settings: Settings, kind_code: str,
            subject: str, *, keys_dir: Path) -> dict:
    """An issued document again, byte for byte; refused for one never issued."""
    kind = kinds.get(kind_code)
    _check_subject(subject)
    if not archive.store.versions(record_key(kind.code, subject)):
        raise InputError(N_("no {title} ({kind}) {id} has been issued"), title=kind.title,
                         kind=kind.code, id=subject, subject=subject)
    return issue(archive, actor, settings, kind_code, subject, keys_dir=keys_dir)


def issued(archive: Archive, kind_code: str | None = None) -> list[dict]:
    """The documents issued so far (kind, subject, size), from the WORM store."""
    out = []
    prefix = PREFIX + (f"{kind_code}/" if kind_code else "")
    for key, _vid, size in archive.store.list_keys(prefix):
        if key.endswith(".pdf"):
            kind, name = key[len(PREFIX):].split("/", 1)
            out.append({"kind": kind, "subject": name[:-4], "size": size, "key": key})
    return sorted(out, key=lambda d: (d["kind"], d["subject"]))


def html(archive: Archive, actor: Actor, settings: Settings, kind_code: str,
         subject: str) -> str:
    """An issued document as HTML (the web console shows the same page), from its stored
    signed record."""
    kind = kinds.get(kind_code)
    raw = _stored(archive, record_key(kind.code, _check_subject(subject)))
    if raw is None:
        raise InputError(N_("no {title} ({kind}) {id} has been issued"), title=kind.title,
                         kind=kind.code, id=subject, subject=subject)
    record = json.loads(raw)
    _may_print(kinds.Source(archive, settings, actor), kind, subject)
    return render.render_html(record, record.get("template") or kind.template)
