"""Carrier migration (载体转换): the whole archive to new backends, provably.

Store first: every stored version (objects, metadata versions, ledger checkpoints and journal
segments, keys, registers, inspections…) is copied with its lock and hold, digests checked on
the way (``archive.copies.sync_store``). Then the catalog: objects, items with every metadata
version (pointed at the target's version ids), the small records (people, cases, flags,
requests, inspections, transfers…) and the ledger entries as they are (their hashes and
signatures do not change). Then everything is verified on the target: every object read back
against its digests, every metadata version read back and its signature checked. The report,
in Chinese, is signed and stored in the target. The source is only read.

Resumable: what the target holds already is recognised and not copied again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from archive import people
from archive.catalog.base import RECORD_COLLECTIONS, Query
from archive.copies import OPERATORS
from archive.copies.sync import SyncReport, read_verified, sync_store
from archive.domain.canonical import canonical
from archive.domain.errors import InputError
from archive.domain.ids import uuid7
from archive.domain.model import Item, ObjectRecord, StoredVersion, iso
from archive.failpoints import crash_point
from archive.ledger.chain import Actor
from archive.ledger.journal import WATERMARK
from archive.ledger.journal import flush as flush_journal
from archive.service import Archive
from i18n import N_, Text, localize

MIGRATIONS_PREFIX = "migrations/"


@dataclass
class MigrationReport:
    id: str
    started: str
    source: dict
    target: dict
    store: dict = field(default_factory=dict)
    objects: int = 0
    items: int = 0
    versions: int = 0
    records: int = 0
    ledger_entries: int = 0
    verified_objects: int = 0
    verified_versions: int = 0
    failed: list[dict] = field(default_factory=list)
    left_as_evidence: list[dict] = field(default_factory=list)
    finished: str | None = None
    stored_at: dict | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def describe(archive: Archive) -> dict:
    return {"catalog": archive.catalog.endpoint, "store": archive.store.describe()}


def _same(a: Archive, b: Archive) -> bool:
    return (a.catalog.endpoint == b.catalog.endpoint
            or a.store.describe() == b.store.describe())


@people.records_refusals("migrate")
def migrate_archive(source: Archive, actor: Actor, open_target: Callable[[], Archive], *,
                    progress: Callable[[str, int], None] | None = None) -> MigrationReport:
    """custody migrate (archivists, administrators): the whole archive into new backends.
    The target (``bootstrap.migration``) is opened, and its store created, only once the
    migration is allowed; the source is only read."""
    people.require_role(source.catalog, actor, OPERATORS, Text(N_("migrate the archive")))
    return migrate(source, open_target(), actor, progress=progress)


def migrate(source: Archive, target: Archive, actor: Actor, *,
            progress: Callable[[str, int], None] | None = None) -> MigrationReport:
    if _same(source, target):
        raise InputError(N_("the target names the same catalog or store as the source; a "
                            "migration copies to new backends and leaves the source untouched"))
    report = MigrationReport(id=uuid7(), started=iso(datetime.now(timezone.utc)),
                             source=describe(source), target=describe(target))
    damaged, known = _damaged_versions(source, target)
    sync = sync_store(source.store, target.store, skip=damaged, known=known,
                      progress=(lambda n: progress("store", n)) if progress else None)
    report.store = sync.to_dict()
    report.left_as_evidence = [{"key": k, "version_id": v} for k, v in sorted(damaged)]
    report.failed += [{"what": "store", **f} for f in sync.failed]
    _catalog(source, target, sync, report, progress)
    _verify(target, report, progress)
    report.finished = iso(datetime.now(timezone.utc))
    report.stored_at = _store_report(target, actor, report)
    target.ledger.append(actor, "migration", report.id,
                         {"source": report.source, "target": report.target,
                          "items": report.items, "failed": len(report.failed),
                          "report": report.stored_at["key"]})
    return report


def _damaged_versions(source: Archive, target: Archive
                      ) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    """Versions a restore replaced (kept in the source as evidence of the failure): they no
    longer hold their content and are not carried over. Their good replacement maps to the
    one version the target already has, so a resumed migration does not copy it twice."""
    damaged: set[tuple[str, str]] = set()
    for item in source.catalog.iter_items(Query()):
        for f in item.storage.get("failed_versions", []):
            if f.get("copy", "primary") == "primary":
                damaged.add((f["key"], f["version_id"]))
    known: dict[tuple[str, str], str] = {}
    for key in {k for k, _v in damaged}:
        good = [v for v in source.store.versions(key) if (key, v) not in damaged]
        there = target.store.versions(key)
        if len(good) == 1 and len(there) == 1:
            known[(key, good[0])] = there[0]
    return damaged, known


def _target_version(sync: SyncReport, target: Archive, key: str, vid: str) -> str | None:
    if (key, vid) in sync.mapping:
        return sync.mapping[(key, vid)]
    there = target.store.versions(key)
    return there[0] if len(there) == 1 else None


def describe_store(item: Item, failed: dict) -> str:
    obj = item.storage.get("object", {})
    return f"{obj.get('backend', '?')} {obj.get('location', '?')}"


def _failed(what: str, reason: Text, **where: str) -> dict:
    """A failure as the signed report keeps it: ``reason`` in English, ``text`` as read."""
    return {"what": what, **where, "reason": str(reason), "text": localize(reason)}


def _remap(item: Item, sync: SyncReport, target: Archive) -> tuple[dict | None, Text | None]:
    """The item's storage pointed at the target's versions; a reason when it cannot be."""
    storage = copy.deepcopy(item.storage)
    obj = storage.get("object")
    if obj:
        vid = _target_version(sync, target, obj["key"], obj["version_id"])
        if vid is None:
            return None, Text(N_("object {key}@{version} is not in the target store"),
                              key=obj["key"], version=obj["version_id"])
        lock = target.store.lock(obj["key"], vid)
        storage["object"] = {**obj, "backend": target.store.backend,
                             "location": target.store.location, "version_id": vid,
                             "lock": lock.to_dict(), "migrated_from": obj["version_id"]}
    for m in storage.get("manifests", []):
        vid = _target_version(sync, target, m["key"], m["version_id"])
        if vid is None:
            return None, Text(N_("metadata {key}@{version} is not in the target store"),
                              key=m["key"], version=m["version_id"])
        m["version_id"] = vid
    for failed in storage.get("failed_versions", []):  # the evidence stays in the source
        if failed.get("copy", "primary") == "primary":
            failed["left_in"] = describe_store(item, failed)
    # the second copy's version ids belong to the old arrangement; 'custody replicate' on
    # the new one records them again
    storage.pop("replica", None)
    return storage, None


def _catalog(source: Archive, target: Archive, sync: SyncReport, report: MigrationReport,
             progress: Callable[[str, int], None] | None) -> None:
    src, dst = source.catalog, target.catalog
    for obj in src.iter_objects():
        if dst.get_object(obj.sha256) is not None:
            continue
        key = obj.storage.key
        vid = _target_version(sync, target, key, obj.storage.version_id)
        if vid is None:
            report.failed.append(_failed("object", Text(N_("not in the target store")),
                                         key=key))
            continue
        stored = StoredVersion(target.store.backend, target.store.location, key, vid,
                               obj.storage.size, target.store.lock(key, vid))
        dst.add_object(ObjectRecord(obj.digests, stored, obj.created_at))
        report.objects += 1
    done = 0
    for item in src.iter_items(Query()):
        crash_point("migrate-item")
        moved = _item(src, dst, item, sync, target, report)
        done += 1
        if moved and done % 500 == 0:  # memory stays bounded on a large archive
            flush_journal(target.journal, dst, target.store, target.key,
                          target.checkpoint_years)
        if progress:
            progress("items", 1)
    for collection in RECORD_COLLECTIONS:
        for record_id, doc in src.iter_records(collection):
            if (collection, record_id) == WATERMARK:
                continue
            if dst.get_record(collection, record_id) != doc:
                dst.put_record(collection, record_id, doc)
                report.records += 1
    head = dst.ledger_head()
    for entry in src.ledger_entries((head.seq if head else 0) + 1):
        dst.append_ledger(lambda _h, e=entry: e)
        report.ledger_entries += 1


def _item(src, dst, item: Item, sync: SyncReport, target: Archive,
          report: MigrationReport) -> bool:
    storage, why = _remap(item, sync, target)
    if why is not None:
        report.failed.append(_failed("item", why, item=item.id))
        return False
    versions = src.versions(item.id)
    there = dst.get_item(item.id)
    if there is None:
        first = copy.copy(item)
        first.current = versions[0]
        first.storage = storage
        dst.add_items([first])
        have = 1
    else:
        have = len(dst.versions(item.id))
    for version in versions[have:]:
        dst.add_version(item.id, version, item.status)
    final = copy.copy(item)
    final.storage = storage
    if there is None or there.to_record() != final.to_record():
        dst.save_state(final)
        report.items += 1
        report.versions += len(versions)
        return True
    return False


def _verify(target: Archive, report: MigrationReport,
            progress: Callable[[str, int], None] | None) -> None:
    """Every object read back against its digests, every metadata version's signature."""
    seen: set[str] = set()
    for item in target.catalog.iter_items(Query()):
        obj = item.storage.get("object")
        if obj and item.sha256 not in seen and item.status != "disposed":
            seen.add(item.sha256)
            if read_verified(target.store, obj["key"], obj["version_id"], item.sha256):
                report.verified_objects += 1
            else:
                report.failed.append(_failed("verify", Text(N_(
                    "{key} does not read back with its SHA-256"), key=obj["key"]),
                    item=item.id))
        for m in item.storage.get("manifests", []):
            if item.status == "disposed":
                continue
            version = target.read_manifest(m["key"], m["version_id"])
            if version is None or version.item_id != item.id:
                report.failed.append(_failed("verify", Text(N_(
                    "{key}: signature does not verify on the target"), key=m["key"]),
                    item=item.id))
            else:
                report.verified_versions += 1
        if progress:
            progress("verify", 1)


def _where(store: dict) -> str:
    return f"{store['backend']} {store['location']}"


def render_zh(report: MigrationReport) -> str:
    lines = ["载体转换（迁移）报告", f"编号 {report.id}",
             f"开始 {report.started}  完成 {report.finished}",
             f"源：目录库 {report.source['catalog']}；存储 {_where(report.source['store'])}",
             f"目标：目录库 {report.target['catalog']}；存储 {_where(report.target['store'])}",
             f"存储对象版本：复制 {report.store.get('copied', 0)}，已存在 "
             f"{report.store.get('present', 0)}，字节 {report.store.get('bytes', 0)}",
             f"目录：对象 {report.objects}，条目 {report.items}，元数据版本 {report.versions}，"
             f"记录 {report.records}，审计日志条目 {report.ledger_entries}",
             f"目标端校验：对象摘要 {report.verified_objects} 个，签名 "
             f"{report.verified_versions} 个",
             f"已修复前的损坏版本留在源存储中作为证据（未迁移）：{len(report.left_as_evidence)} 个",
             f"未能迁移：{len(report.failed)} 项"]
    lines += [f"  {f.get('item') or f.get('key')}：{f.get('text') or f['reason']}"
              for f in report.failed]
    return "\n".join(lines)


def _store_report(target: Archive, actor: Actor, report: MigrationReport) -> dict:
    body = report.to_dict() | {"text_zh": render_zh(report)}
    body.pop("stored_at", None)
    signed = {"report": body,
              "archive_signature": {"key_id": target.key.key_id,
                                    "signature": target.key.sign(body)},
              "person_signature": {"by": actor.person_id, "key_id": actor.key.key_id,
                                   "signature": actor.key.sign(body)}}
    key = f"{MIGRATIONS_PREFIX}{report.id}.json"
    until = datetime.now(timezone.utc) + timedelta(days=366 * target.checkpoint_years)
    stored = target.store.put_blob(key, canonical(signed), until)
    return {"key": key, "version_id": stored.version_id}
