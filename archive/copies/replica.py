"""The second copy: a replica WORM store kept up to the primary (issue 7).

``replicate`` brings the replica up to date with everything in the primary store (objects,
signed metadata versions, ledger checkpoints, published keys, registers, journal segments)
through ``copies.sync_store``: digests checked on the way, locks and holds never weaker than
the primary's, resumable. It then records on each item where its copy lives::

    item.storage["replica"] = {"backend": ..., "location": ...,
                               "object": {"key": ..., "version_id": ...},
                               "manifests": [{"key": ..., "version_id": ..., "version": n}],
                               "at": <when recorded>}

Version ids differ between stores, so this mapping is what verification and restore use to
read the second copy. The run's summary is the catalog record ``meta/replication``.

A run is proportional to what changed (issue 17): it keeps its own cursor (``meta/
cursor:replicate``: the change number it started at, the ledger head, the replica, the date of
the last full sweep) and next time reads the items written after that number, the items it
left without a full copy or with a failed version (their ids are kept, all of them: the
cursor moves on, the failures stay listed until they succeed), the records outside
``objects/`` the replica has fewer versions of (a listing of their prefixes, no lock read) and
the records whose lock ``retention run`` renewed since (its ledger entries). ``--all``, a first
run and another replica go through the whole store. A run that was stopped leaves the
cursor where it was, so the next reads again all that the stopped one had to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from archive import people
from archive.catalog.base import Query
from archive.copies import OPERATORS
from archive.copies.sync import copy_version, raise_to, read_verified, sync_store
from archive.domain.errors import CustodyError, InputError, ServiceUnavailable
from archive.domain.model import Item, iso
from archive.ledger.chain import CHECKPOINT_PREFIX, Actor
from archive.ledger.journal import flush as flush_journal
from archive.service import Archive, event
from archive.worm.base import WormStore
from i18n import N_, Text

RUN_ID = "replication"  # the last run's summary: catalog collection "meta", this id
PENDING_LISTED = 1000  # item ids kept in the summary of those still without a full copy


def read_errors() -> tuple[type[BaseException], ...]:
    """What a read of damaged or missing bytes may raise. botocore checks a stored checksum
    on the way out and raises its own error when the bytes do not match it."""
    errors: tuple[type[BaseException], ...] = (CustodyError, OSError)
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return errors
    return errors + (BotoCoreError, ClientError)


class Unreachable:
    """A configured replica that could not be opened (its disk unmounted, its service
    down): every use fails with the reason, so ingest records it on each item and goes on."""

    def __init__(self, cfg: dict, exc: BaseException) -> None:
        self.backend = cfg.get("backend", "")
        self.location = cfg.get("bucket") or cfg.get("path") or ""
        self.reason = getattr(exc, "message", None) or str(exc)
        # shown in the reader's language when the refusal is shown
        self.reason_text: Text | str = getattr(exc, "text", None) or self.reason

    def describe(self) -> dict:
        return {"backend": self.backend, "location": self.location}

    def __getattr__(self, name: str):
        def unavailable(*_args: object, **_kw: object):
            raise ServiceUnavailable(Text(N_("replica")), self.location, self.reason_text)
        return unavailable


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


def complete(item: Item) -> bool:
    """Whether the item's object and every metadata version it has are on the replica."""
    rep = item.storage.get("replica") or {}
    have = {m["key"] for m in rep.get("manifests", [])}
    return bool(rep.get("object")) and all(m["key"] in have
                                           for m in item.storage.get("manifests", []))


def _live_items(archive: Archive):
    for item in archive.catalog.iter_items(Query()):
        if item.status != "disposed" and item.storage.get("object"):
            yield item


# --- one item (ingest with write_on_ingest) -------------------------------------------------
def _replica_object(archive: Archive, replica: WormStore, item: Item) -> str:
    """The replica version holding the item's object: one another item on the same bytes
    already records, else a good one already there, else a fresh copy."""
    obj = item.storage["object"]
    key = obj["key"]
    for other in archive.catalog.items_of_object(item.sha256):
        ref = (other.storage.get("replica") or {}).get("object")
        if ref and other.id != item.id:
            lock = archive.store.lock(key, obj["version_id"])
            raise_to(replica, key, ref["version_id"], lock.retain_until, lock.legal_hold)
            return ref["version_id"]
    there = replica.versions(key)
    for vid in reversed(there):  # a crash after the copy, before the catalog heard of it
        if read_verified(replica, key, vid, item.sha256):
            lock = archive.store.lock(key, obj["version_id"])
            raise_to(replica, key, vid, lock.retain_until, lock.legal_hold)
            return vid
    return copy_version(archive.store, key, obj["version_id"], replica,
                        new_version=bool(there), expected_sha256=item.sha256).version_id


def copy_item(archive: Archive, replica: WormStore, item: Item, actor: Actor) -> bool:
    """Copy one item's object and metadata versions to the replica and record where they
    are. Never raises for a replica problem: the failure becomes an event on the item."""
    rep = dict(item.storage.get("replica") or {})
    try:
        if not rep.get("object"):
            vid = _replica_object(archive, replica, item)
            rep["object"] = {"key": item.storage["object"]["key"], "version_id": vid}
        manifests = list(rep.get("manifests", []))
        have = {m["key"] for m in manifests}
        for m in item.storage["manifests"]:
            if m["key"] not in have:
                stored = copy_version(archive.store, m["key"], m["version_id"], replica)
                manifests.append({"key": m["key"], "version_id": stored.version_id,
                                  "version": m["version"]})
        rep["manifests"] = manifests
    except read_errors() as exc:
        if rep.get("object"):
            item.storage["replica"] = rep | _where(replica)
        item.events.append(event("replication", actor.person_id, "failure",
                                 to=replica.describe(), reason=_message(exc)))
        archive.catalog.save_state(item)
        return False
    item.storage["replica"] = rep | _where(replica)
    item.events.append(event("replication", actor.person_id, "success",
                             to=replica.describe(), object=rep["object"]["version_id"],
                             manifests=len(rep["manifests"])))
    archive.catalog.save_state(item)
    return True


def _where(replica: WormStore) -> dict:
    return {"backend": replica.backend, "location": replica.location, "at": iso(_now())}


# --- a whole run ------------------------------------------------------------------------------
CURSOR = "cursor:replicate"  # where the last complete run stopped: catalog "meta", this id
CONTENT_PREFIX = "objects/"  # objects and their signed metadata versions: the items' own
# where records (everything outside objects/) live when no full sweep has been seen yet; a full
# sweep adds every top-level name it lists
RECORD_PREFIXES = ("annual/", "discs/", "documents/", "inspections/", "journal/", "keys/",
                   "ledger/", "migrations/", "registers/", "reports/", "transfers/")
RENEWAL = "lock renewal"  # retention.renewal's ledger action: a record's lock was extended


def _item_keys(item: Item) -> list[tuple[str, str]]:
    obj = item.storage["object"]
    return [(obj["key"], obj["version_id"])] + \
        [(m["key"], m["version_id"]) for m in item.storage.get("manifests", [])]


def _known_and_failed(items: Iterable[Item]) -> tuple[dict, set]:
    """What the catalog already knows of the replica (a restore on either side may have made
    a version other than the n-th the right one) and the damaged primary versions that stay
    as evidence and are never copied, for these items."""
    known: dict[tuple[str, str], str] = {}
    failed: set[tuple[str, str]] = set()
    for item in items:
        for f in item.storage.get("failed_versions", []):
            if f.get("copy") == "primary":
                failed.add((f["key"], f["version_id"]))
        rep = item.storage.get("replica") or {}
        obj = item.storage["object"]
        if rep.get("object"):
            known[(obj["key"], obj["version_id"])] = rep["object"]["version_id"]
        theirs = {m["key"]: m["version_id"] for m in rep.get("manifests", [])}
        for m in item.storage.get("manifests", []):
            if m["key"] in theirs:
                known[(m["key"], m["version_id"])] = theirs[m["key"]]
    return known, failed


def _top(key: str) -> str:
    return key.split("/", 1)[0] + "/" if "/" in key else key


@people.records_refusals("replicate")
def replicate_archive(archive: Archive, actor: Actor, open_replica: Callable[[], WormStore],
                      rate: float | None = None,
                      progress: Callable[[int], None] | None = None,
                      total: Callable[[int], None] | None = None, full: bool = False) -> dict:
    """custody replicate (archivists, administrators): the second copy brought up to date.
    ``open_replica`` (``bootstrap.require_replica``) is called once the run is allowed;
    ``total``, when given, hears how many bytes the run will go through (a progress bar's
    end) before it copies."""
    people.require_role(archive.catalog, actor, OPERATORS, Text(N_("replicate the archive")))
    replica = open_replica()
    return replicate(archive, replica, actor, rate=rate, progress=progress, total=total,
                     full=full)


class _Plan:
    """What one run goes through: the store versions, the items to record (``items()``: read
    again for each pass, so a full sweep holds one page of items at a time, not all of them),
    its coverage; ``prefixes`` fills while a full sweep lists the store."""

    def __init__(self) -> None:
        self.listed: list[Item] = []
        self.items: Callable[[], Iterable[Item]] = lambda: self.listed
        self.versions: Iterable[tuple[str, str, int]] = []
        self.prefixes: set[str] = set()
        self.coverage: dict = {}
        self.counts = {"items_read": 0, "versions_read": 0}


def _full_plan(archive: Archive, seq: int, why: str, now: datetime) -> _Plan:
    plan = _Plan()
    plan.items = lambda: _live_items(archive)

    def versions():
        for key, vid, size in archive.store.list_keys():
            if not key.startswith(CONTENT_PREFIX):
                plan.prefixes.add(_top(key))
            yield key, vid, size
    plan.versions = versions()
    plan.coverage = {"mode": "full", "reason": why, "to_seq": seq,
                     "last_full_sweep": iso(now)}
    return plan


def _incremental_plan(archive: Archive, replica: WormStore, cursor: dict, seq: int) -> _Plan:
    """What changed since the cursor: items written after it (new, re-described, their state
    or their object's lock changed) and the items the last run left without a full copy or
    with a failed version; records (outside objects/) the replica lacks, and those whose lock
    was renewed since (ledger). Each version once."""
    plan = _Plan()
    since = max(0, int(cursor["seq"]) - archive.catalog.cursor_overlap)
    seen: set[str] = set()

    def take(item: Item | None) -> None:
        if item is None or item.id in seen:
            return
        seen.add(item.id)
        if item.status != "disposed" and item.storage.get("object"):
            plan.listed.append(item)

    for item in archive.catalog.iter_changed_items(since):
        take(item)
    for item_id in cursor.get("retry", []):
        take(archive.catalog.get_item(item_id))
    listed: set[tuple[str, str]] = set()
    versions: list[tuple[str, str, int]] = []
    plan.versions = versions
    for item in plan.listed:
        for n, (key, vid) in enumerate(_item_keys(item)):
            if (key, vid) not in listed:
                listed.add((key, vid))
                size = int(item.storage["object"].get("size", 0)) if n == 0 else 0
                versions.append((key, vid, size))
    # records: a listing of their prefixes on both sides (no lock is read), plus the renewals
    plan.prefixes = set(cursor.get("record_prefixes") or RECORD_PREFIXES)
    records = 0
    for prefix in sorted(plan.prefixes):
        if not prefix.endswith("/"):
            # a record at the top, in no folder: its own listing would walk the whole store,
            # so its versions are counted directly
            records += 1
            here = archive.store.versions(prefix)
            if len(replica.versions(prefix)) < len(here):
                for vid in here:
                    if (prefix, vid) not in listed:
                        listed.add((prefix, vid))
                        versions.append((prefix, vid, 0))
            continue
        theirs: dict[str, int] = {}
        for key, _vid, _n in replica.list_keys(prefix):
            theirs[key] = theirs.get(key, 0) + 1
        mine: dict[str, list[tuple[str, str, int]]] = {}
        for key, vid, size in archive.store.list_keys(prefix):
            records += 1
            if not key.startswith(CONTENT_PREFIX):
                mine.setdefault(key, []).append((key, vid, size))
        # version ids differ between stores: a key with as many versions there as here is
        # copied already; one with fewer goes through sync_store, which matches the bytes
        for key, got in mine.items():
            if theirs.get(key, 0) < len(got):
                for key_, vid, size in got:
                    if (key_, vid) not in listed:
                        listed.add((key_, vid))
                        versions.append((key_, vid, size))
    for key, vid in cursor.get("retry_records", []):
        if (key, vid) not in listed:
            listed.add((key, vid))
            versions.append((key, vid, 0))
    for entry in archive.catalog.ledger_entries(int(cursor.get("ledger_seq", 0)) + 1):
        if entry.action == RENEWAL:
            key, vid = entry.subject, entry.details.get("version_id")
            if vid and (key, vid) not in listed:
                listed.add((key, vid))
                versions.append((key, vid, 0))
    plan.coverage = {"mode": "incremental", "since_seq": int(cursor["seq"]), "to_seq": seq,
                     "records_listed": records,
                     "last_full_sweep": cursor.get("last_full_sweep")}
    return plan


def _record_item(archive: Archive, replica: WormStore, actor: Actor, item: Item,
                 mapping: dict[tuple[str, str], str]) -> bool:
    """Record on the item where the run put its versions; a replication event when its copy
    became complete. Returns whether it did."""
    before = item.storage.get("replica") or {}
    rep = {k: v for k, v in before.items() if k in ("object", "manifests")}
    obj = item.storage["object"]
    there = mapping.get((obj["key"], obj["version_id"]))
    if there and not rep.get("object"):
        rep["object"] = {"key": obj["key"], "version_id": there}
    manifests = list(rep.get("manifests", []))
    have = {m["key"] for m in manifests}
    for m in item.storage.get("manifests", []):
        vid = mapping.get((m["key"], m["version_id"]))
        if vid and m["key"] not in have:
            manifests.append({"key": m["key"], "version_id": vid, "version": m["version"]})
    rep["manifests"] = manifests
    changed = rep.get("object") != before.get("object") or \
        manifests != before.get("manifests", [])
    newly = False
    if changed and rep.get("object"):
        item.storage["replica"] = rep | _where(replica)
        if complete(item):
            item.events.append(event("replication", actor.person_id, "success",
                                     to=replica.describe(),
                                     object=rep["object"]["version_id"],
                                     manifests=len(manifests)))
            newly = True
        archive.catalog.save_state(item)
    return newly


def replicate(archive: Archive, replica: WormStore, actor: Actor, rate: float | None = None,
              progress: Callable[[int], None] | None = None,
              stop_after: int | None = None, total: Callable[[int], None] | None = None,
              full: bool = False) -> dict:
    """Bring the replica up to the primary store and record each item's copy.

    Proportional to what changed: a run reads the items written since the last complete
    run's change number (and those it left behind: ``retry``), the records the replica lacks
    and those whose lock was renewed. ``full`` (``--all``), a first run and another replica
    go through the whole store. The cursor advances only over a run that was not stopped,
    and keeps the id of every item not complete on the replica or with a failed version, so
    nothing falls through. The summary's ``coverage`` says which it was.

    Resumable: a run that stops (or is stopped: ``stop_after`` versions) leaves what it copied
    in place, and the next run recognises it and copies nothing twice."""
    if replica.backend == archive.store.backend and replica.location == archive.store.location:
        raise InputError(N_("the replica is the primary store itself"))
    started = _now()
    head = archive.catalog.ledger_head()
    seq = archive.catalog.change_seq()  # before anything is read: later writes are next run's
    cursor = archive.catalog.get_record("meta", CURSOR)
    why = "--all" if full else None
    if why is None and cursor is None:
        why = N_("no earlier run")
    elif why is None and cursor is not None and cursor.get("replica") != replica.describe():
        why = N_("another replica")
    if why is not None:
        plan = _full_plan(archive, seq, why, started)
    else:
        assert cursor is not None
        plan = _incremental_plan(archive, replica, cursor, seq)
    if total is not None:  # a full sweep lists the store once more for the bar's end
        total(sum(n for _key, _vid, n in (plan.versions if isinstance(plan.versions, list)
                                          else archive.store.list_keys())))

    def counted(versions: Iterable[tuple[str, str, int]]):
        for v in versions:
            plan.counts["versions_read"] += 1
            yield v
    known, failed = _known_and_failed(plan.items())
    report = sync_store(archive.store, replica, rate_mb_s=rate, progress=progress,
                        stop_after=stop_after, known=known, skip=failed,
                        versions=counted(plan.versions))
    newly, pending = [], []
    failed_keys = {(f["key"], f["version_id"]) for f in report.failed}
    retry: list[str] = []
    matched: set[tuple[str, str]] = set()  # failed versions that are items' own
    for item in plan.items():
        plan.counts["items_read"] += 1
        keys = _item_keys(item)
        matched.update(failed_keys.intersection(keys))
        if _record_item(archive, replica, actor, item, report.mapping):
            newly.append(item.id)
        if not complete(item):
            pending.append(item.id)
            retry.append(item.id)
        elif failed_keys.intersection(keys):  # a lock it could not raise
            retry.append(item.id)
    coverage = plan.coverage | plan.counts
    summary = {"id": RUN_ID, "started_at": iso(started), "by": actor.person_id,
               "replica": replica.describe(), "rate_mb_s": rate,
               "ledger_seq_at_start": head.seq if head else 0,
               "versions": report.to_dict() | {"failed": len(report.failed)},
               "failed": report.failed, "items_copied": len(newly),
               "items_pending": len(pending), "pending_ids": pending[:PENDING_LISTED],
               "interrupted": stop_after is not None, "coverage": coverage}
    entry = archive.ledger.append(actor, "replication", replica.location,
                                  {"backend": replica.backend,
                                   "copied": len(report.copied), "present": report.present,
                                   "failed": len(report.failed), "bytes": report.bytes,
                                   "items_copied": len(newly),
                                   "items_pending": len(pending),
                                   "mode": coverage["mode"]})
    summary["ledger_seq"] = entry.seq
    signed = archive.ledger.checkpoint()  # the head that includes this run's entry
    cp = signed["checkpoint"]
    summary["checkpoint"] = f"{CHECKPOINT_PREFIX}{cp['seq']:012d}-{cp['hash'][:16]}.json"
    summary["finished_at"] = iso(_now())
    archive.catalog.put_record("meta", RUN_ID, summary)
    if stop_after is None:
        # a stopped run leaves the cursor where it was: the next run reads it all again
        archive.catalog.put_record("meta", CURSOR, {
            "id": CURSOR, "seq": seq, "at": iso(started), "replica": replica.describe(),
            "ledger_seq": head.seq if head else 0,
            "last_full_sweep": coverage["last_full_sweep"],
            "record_prefixes": sorted(plan.prefixes | set(RECORD_PREFIXES)),
            "retry": retry,
            "retry_records": [[k, v] for k, v in sorted(failed_keys - matched)]})
    # this run's own catalog changes as a journal segment now, not at the command's end, so
    # the replica is not one checkpoint and one segment behind its own run
    segment = flush_journal(archive.journal, archive.catalog, archive.store, archive.key,
                            archive.ledger.checkpoint_years)
    for key in (summary["checkpoint"], segment):
        versions = archive.store.versions(key) if key else []
        if versions and not replica.versions(key):
            copy_version(archive.store, key, versions[0], replica)
    return summary


# --- lag ----------------------------------------------------------------------------------
_CHANGES = ("ingestion", "metadata-version")


def lag(archive: Archive) -> dict:
    """What the replica lacks, cheaply: items ingested or re-described since the last run
    started (read from the ledger, by sequence number) and the items that run left without a
    full copy, each looked up once; and when the last run finished."""
    last = archive.catalog.get_record("meta", RUN_ID)
    if last is None:
        # never replicated: only what ingest wrote itself has a copy (one pass, once)
        behind = [i.id for i in _live_items(archive) if not complete(i)]
        return {"last_run": None, "items_behind": len(behind), "item_ids": behind[:50],
                "versions_failed_last_run": 0, "ledger_entries_since": None,
                "up_to_date": not behind}
    suspects: dict[str, None] = dict.fromkeys(last.get("pending_ids", []))
    since = 0
    for entry in archive.catalog.ledger_entries(last["ledger_seq_at_start"] + 1):
        if entry.seq > last.get("ledger_seq", 0):
            since += 1
        if entry.action in _CHANGES:
            suspects[entry.subject] = None
    behind = []
    for item_id in suspects:
        item = archive.catalog.get_item(item_id)
        if item is not None and item.status != "disposed" and not complete(item):
            behind.append(item_id)
    unlisted = max(0, last.get("items_pending", 0) - len(last.get("pending_ids", [])))
    return {"last_run": {k: last.get(k) for k in ("started_at", "finished_at", "by",
                                                  "replica", "items_copied",
                                                  "items_pending", "versions")},
            "items_behind": len(behind) + unlisted, "item_ids": behind[:50],
            "versions_failed_last_run": len(last.get("failed", [])),
            "ledger_entries_since": since,
            "up_to_date": not behind and not unlisted and not last.get("failed")}
