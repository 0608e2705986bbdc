"""The audit ledger: a hash chain with gap-free sequence numbers, signed checkpoints in the
WORM store, and a verifier that tells an edited, removed, reordered or cut-off entry apart.

An entry's hash covers everything but its sequence number (its place is proved by the chain
itself and by the checkpoints, which sign sequence number and hash together). The acting
person signs the entry hash with their own key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from archive.catalog.base import Catalog
from archive.domain.canonical import canonical
from archive.domain.errors import WormViolation
from archive.domain.model import LedgerEntry, iso
from archive.integrity.signing import Keyring, SigningKey
from archive.passkeys import evidence as passkey_evidence
from archive.worm.base import WormStore
from i18n import N_, Text, localize

CHECKPOINT_PREFIX = "ledger/checkpoints/"
# How far ahead a record kept for ever (a checkpoint, a journal segment, a public key) is
# locked when nothing configures it: [ledger] checkpoint_retention_years, which defaults to
# [retention] permanent_lock_years. Renewed by 'retention run' (retention/renewal.py), so it
# need not reach the end of time: 50 years keeps a new lock below 2106-02-07, the last date
# Ceph RGW can hold (32-bit seconds), until 2056.
LOCK_HORIZON_YEARS = 50


@dataclass(frozen=True)
class Actor:
    """The person acting, with the key that proves it.

    At the web console ``key`` is the console's registered key and ``evidence`` what proves
    the person (a passkey-signed decision, or the sign-in of their session): every entry the
    actor appends carries it (``archive.passkeys.evidence``)."""

    person_id: str
    key: SigningKey
    evidence: dict | None = None


def entry_hash(entry: LedgerEntry) -> str:
    body = entry.body()
    del body["seq"]
    return hashlib.sha256(canonical(body)).hexdigest()


def build_entry(prev: LedgerEntry | None, actor: Actor, action: str, subject: str,
                details: dict, at: datetime) -> LedgerEntry:
    if actor.evidence is not None:
        details = details | {passkey_evidence.EVIDENCE: actor.evidence}
    draft = LedgerEntry(seq=prev.seq + 1 if prev else 1, at=iso(at), actor=actor.person_id,
                        action=action, subject=subject, details=details,
                        prev_hash=prev.hash if prev else "", hash="")
    h = entry_hash(draft)
    return LedgerEntry(**{**draft.__dict__, "hash": h, "actor_key_id": actor.key.key_id,
                          "actor_signature": actor.key.sign_bytes(h.encode())})


@dataclass
class Problem:
    code: str  # edited, removed, reordered, truncated, rewritten, broken-link, bad-signature, ...
    seq: int | None
    message: str | Text

    def to_dict(self) -> dict:
        """``message`` in English (stable for machines), ``text`` in the reader's language."""
        return {"code": self.code, "seq": self.seq, "message": str(self.message),
                "text": localize(self.message)}


@dataclass
class LedgerReport:
    entries: int
    head_seq: int | None
    checkpoints: int
    problems: list[Problem] = field(default_factory=list)
    # entries proved by a person's passkey, and those the console attests (not decisions)
    attested: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq,
                "checkpoints": self.checkpoints,
                "problems": [p.to_dict() for p in self.problems],
                "attested": self.attested}


def check_chain(rows: list[LedgerEntry],
                actor_keys: Keyring | Mapping[str, Keyring],
                seen: passkey_evidence.Attestations | None = None) -> list[Problem]:
    """Every problem in the stored entries, each with its kind and position.

    ``actor_keys`` by person: an entry verifies only under a key registered to the very
    person it names (a registered key of somebody else does not do). An entry signed by the
    console's key (registered earlier in the ledger) verifies by the passkey rules instead;
    ``seen`` collects what the ledger registers and attests on the way."""
    problems: list[Problem] = []
    seen = seen if seen is not None else passkey_evidence.Attestations()
    for r in rows:
        ring = (actor_keys.get(r.actor) or Keyring()) if isinstance(actor_keys, Mapping) \
            else actor_keys
        if entry_hash(r) != r.hash:
            problems.append(Problem("edited", r.seq, Text(N_(
                "entry {seq} ({action} {subject}) was changed after it was written"),
                seq=r.seq, action=r.action, subject=r.subject)))
        elif seen.signed_by_console(r):
            problems += [Problem(code, r.seq, why) for code, why in seen.check(r)]
        elif not ring.verify_bytes(r.hash.encode(), r.actor_key_id, r.actor_signature):
            problems.append(Problem("bad-signature", r.seq, Text(N_(
                "entry {seq}: the signature of {person} does not verify with a key registered "
                "to {person}"), seq=r.seq, person=r.actor)))
        else:
            problems += [Problem(code, r.seq, why) for code, why in seen.observe(r)]
    expected = 1
    for r in rows:
        if r.seq > expected:
            span = f"{expected}" if r.seq - 1 == expected else f"{expected}..{r.seq - 1}"
            problems.append(Problem("removed", expected, Text(N_("entries {span} are missing"),
                                                              span=span)))
        expected = r.seq + 1

    # Follow the links from the first entry; if they visit every row, any difference from the
    # stored order is a reordering, and exactly the misplaced positions are named.
    by_prev: dict[str, LedgerEntry] = {}
    for r in rows:
        by_prev.setdefault(r.prev_hash, r)
    chain: list[LedgerEntry] = []
    cur = by_prev.get("")
    while cur is not None and len(chain) < len(rows):
        chain.append(cur)
        cur = by_prev.get(cur.hash)
    if len(chain) == len(rows):
        moved = [rows[i].seq for i in range(len(rows)) if chain[i] is not rows[i]]
        if moved:
            problems.append(Problem("reordered", moved[0], Text(N_(
                "entries stored at {positions} are out of chain order"),
                positions=", ".join(map(str, moved)))))
        return problems
    hashes = {r.hash for r in rows}
    for i, r in enumerate(rows):
        want = rows[i - 1].hash if i else ""
        if r.prev_hash == want or (i and rows[i - 1].seq != r.seq - 1):
            continue  # linked, or a gap already reported as removed
        if r.prev_hash in hashes or r.prev_hash == "":
            problems.append(Problem("reordered", r.seq, Text(N_(
                "entry {seq} links to an entry stored elsewhere"), seq=r.seq)))
        else:
            problems.append(Problem("broken-link", r.seq, Text(N_(
                "entry {seq} links to an entry that no longer exists: the entry before it was "
                "rewritten, or entries were removed and the rest renumbered"), seq=r.seq)))
    return problems


class Ledger:
    """Appends entries through the catalog and writes signed checkpoints to the store."""

    def __init__(self, catalog: Catalog, store: WormStore, archive_key: SigningKey,
                 checkpoint_years: int = LOCK_HORIZON_YEARS) -> None:
        self.catalog = catalog
        self.store = store
        self.archive_key = archive_key
        self.checkpoint_years = checkpoint_years
        self.appended = 0
        # the station whose home writes (bootstrap sets it): named in every entry it appends
        self.station: str | None = None

    def append(self, actor: Actor, action: str, subject: str, details: dict | None = None
               ) -> LedgerEntry:
        if self.station:
            details = {"station": self.station} | (details or {})
        entry = self.catalog.append_ledger(
            lambda prev: build_entry(prev, actor, action, subject, details or {},
                                     datetime.now(timezone.utc)))
        self.appended += 1
        return entry

    def checkpoint(self) -> dict | None:
        """Sign the head and write it to the WORM store (once per head)."""
        head = self.catalog.ledger_head()
        if head is None:
            return None
        doc = {"type": "custody.ledger-checkpoint", "seq": head.seq, "hash": head.hash,
               "at": iso(datetime.now(timezone.utc)), "catalog": self.catalog.endpoint}
        signed = {"checkpoint": doc, "key_id": self.archive_key.key_id,
                  "signature": self.archive_key.sign(doc)}
        key = f"{CHECKPOINT_PREFIX}{head.seq:012d}-{head.hash[:16]}.json"
        if self.store.versions(key):
            return signed  # another command already checkpointed this very head
        until = datetime.now(timezone.utc) + timedelta(days=366 * self.checkpoint_years)
        try:
            self.store.put_blob(key, canonical(signed), until)
        except WormViolation:
            if not self.store.versions(key):
                raise
        self.appended = 0
        return signed

    def checkpoints(self) -> Iterable[tuple[str, dict | None]]:
        for key, version_id, _size in self.store.list_keys(CHECKPOINT_PREFIX):
            try:
                yield key, json.loads(self.store.read_bytes(key, version_id))
            except ValueError:
                yield key, None

    def verify(self, archive_keys: Keyring,
               actor_keys: Keyring | Mapping[str, Keyring]) -> LedgerReport:
        rows = list(self.catalog.ledger_entries())
        seen = passkey_evidence.Attestations()
        problems = check_chain(rows, actor_keys, seen)
        # a credential's key swapped in the catalog or the store differs from the ledger's
        problems += [Problem(code, None, why) for code, why in passkey_evidence.
                     credential_problems(passkey_evidence.catalog_credentials(self.catalog),
                                         seen,
                                         passkey_evidence.published_credentials(self.store))]
        by_seq = {r.seq: r for r in rows}
        head = rows[-1].seq if rows else 0
        n = 0
        truncated_to = 0
        for key, signed in self.checkpoints():
            n += 1
            if signed is None or not archive_keys.verify(signed.get("checkpoint"),
                                                         signed.get("key_id", ""),
                                                         signed.get("signature", "")):
                problems.append(Problem("bad-checkpoint", None, Text(N_(
                    "checkpoint {key} is unreadable or its signature does not verify"),
                    key=key)))
                continue
            cp = signed["checkpoint"]
            seq = cp["seq"]
            if seq > head:
                truncated_to = max(truncated_to, seq)
            elif seq in by_seq and by_seq[seq].hash != cp["hash"]:
                problems.append(Problem("rewritten", seq, Text(N_(
                    "entry {seq} differs from the signed checkpoint of {at}"), seq=seq,
                    at=cp["at"])))
        if truncated_to:
            problems.append(Problem("truncated", head + 1, Text(N_(
                "entries {first}..{last} were cut off: a signed checkpoint names entry {last}, "
                "the ledger ends at {head}"), first=head + 1, last=truncated_to, head=head)))
        problems.sort(key=lambda p: (p.seq or 0, p.code))
        return LedgerReport(len(rows), rows[-1].seq if rows else None, n, problems,
                            dict(seen.counts))
