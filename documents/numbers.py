"""Document numbers (文号): ``〔2026〕移字第0003号``, one sequence per document word (移, 销, 鉴,
…) and year, numbered from 1 without gaps or duplicates.

Numbers are allocated through the audit ledger, as 档号 are (retention/codes.py): the ledger is
the one sequence every process and both catalog backends append to atomically, and the next
number is computed inside the append from the head it follows, so two processes issuing at
once can neither take one number twice nor skip one. A subject already numbered (another
process issuing the same document at this very moment) gets its number back rather than a
second one, which would leave a gap when only one record is kept.

The catalog's ``meta`` collection holds the counter (last number of every sequence and the
ledger seq it is whole up to) and each subject's number; both are caches of the ledger
entries, replayed from the ledger when a process died between its append and the cache write.
The document's id (a UUID) stays what machines use; the 文号 is what people cite.
"""

from __future__ import annotations

from datetime import datetime

from archive.catalog.base import Catalog
from archive.domain.model import LedgerEntry
from archive.ledger.chain import Actor, build_entry
from archive.service import Archive

ACTION = "document-number"
COUNTER = "document-numbers"  # meta record: {"ledger_seq": s, "last": {"移/2026": 3, ...}}
SUBJECT_PREFIX = "document-number:"  # meta record per numbered kind/subject


def format_number(word: str, year: int, number: int) -> str:
    return f"〔{year}〕{word}字第{number:04d}号"


def sequence_key(word: str, year: int) -> str:
    return f"{word}/{year}"


class _Have(Exception):
    """Raised inside the append when the subject is numbered already: nothing to record."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


def _counter(catalog: Catalog) -> tuple[dict[str, int], int]:
    doc = catalog.get_record("meta", COUNTER) or {}
    return dict(doc.get("last") or {}), int(doc.get("ledger_seq", 0))


def _replay(catalog: Catalog, last: dict[str, int], after: int, upto: int,
            subject: str) -> int | None:
    """Fold the allocations in ledger seqs (after, upto] into ``last``; the number the
    subject got among them, if any. Without a counter yet, this reads the whole ledger once
    (the first document of an archive)."""
    found = None
    if upto <= after:
        return None
    for entry in catalog.ledger_entries(after + 1):
        if entry.seq > upto:
            break
        if entry.action != ACTION:
            continue
        d = entry.details
        key = d["sequence"]
        last[key] = max(last.get(key, 0), int(d["number"]))
        if entry.subject == subject:
            found = int(d["number"])
    return found


def number_of(catalog: Catalog, kind: str, subject: str) -> int | None:
    doc = catalog.get_record("meta", f"{SUBJECT_PREFIX}{kind}/{subject}")
    return int(doc["number"]) if doc else None


def allocate(archive: Archive, actor: Actor, kind: str, word: str, year: int, subject: str,
             now: datetime) -> int:
    """The number of document ``kind``/``subject`` in the sequence of ``word`` and ``year``:
    the next one, or the one it already has."""
    catalog = archive.catalog
    full = f"{kind}/{subject}"
    have = number_of(catalog, kind, subject)
    if have is not None:
        return have
    key = sequence_key(word, year)

    def build(prev: LedgerEntry | None) -> LedgerEntry:
        # inside the atomic append (called again by a backend that lost a race): reads only
        mine = number_of(catalog, kind, subject)
        if mine is not None:
            raise _Have(mine)
        last, mark = _counter(catalog)
        mine = _replay(catalog, last, mark, prev.seq if prev else 0, full)
        if mine is not None:
            raise _Have(mine)
        return build_entry(prev, actor, ACTION, full,
                           {"sequence": key, "word": word, "year": year,
                            "number": last.get(key, 0) + 1}, now)

    try:
        entry = catalog.append_ledger(build)
    except _Have as have_it:
        return have_it.number
    archive.ledger.appended += 1
    number = int(entry.details["number"])
    # the subject's number first, then the counter: a reader that sees the counter raised
    # past this entry finds the subject's record too
    catalog.put_record("meta", f"{SUBJECT_PREFIX}{full}",
                       {"kind": kind, "subject": subject, "sequence": key, "number": number,
                        "ledger_seq": entry.seq})
    last, mark = _counter(catalog)
    if mark < entry.seq:
        _replay(catalog, last, mark, entry.seq, full)
        catalog.put_record("meta", COUNTER, {"ledger_seq": entry.seq, "last": last})
    return number
