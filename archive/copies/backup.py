"""A consistent online backup of the catalog.

SQLite: the online backup API copies a consistent snapshot while writers go on (WAL); the
copy is checked (``PRAGMA integrity_check``, the same item count and ledger head) and its
SHA-256 recorded beside it. MongoDB: ``mongodump --oplog`` (a point-in-time dump of a replica
set), which custody runs when the tool is installed; the dump's own restore is
``mongorestore --oplogReplay``. The catalog can also be rebuilt from the WORM store alone
(``archive.rebuild``); a backup makes that a shortcut, not the only way.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from archive import people
from archive.catalog.base import Catalog, Query
from archive.copies import OPERATORS
from archive.domain.errors import InputError, ProblemFound, ServiceUnavailable
from archive.domain.model import iso
from archive.inputs import output_dir
from archive.ledger.chain import Actor
from archive.service import Archive
from archive.worm.fsutil import fsync_dir
from i18n import N_, Text


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


@people.records_refusals("backup")
def back_up(archive: Archive, actor: Actor, to_dir: Path, uri: str | None = None) -> dict:
    """custody backup (archivists, administrators): the catalog's backup, described, and a
    ledger entry naming it. ``uri``: the catalog server's, for mongodump."""
    people.require_role(archive.catalog, actor, OPERATORS, Text(N_("back up the catalog")))
    doc = backup(archive.catalog, Path(to_dir), uri)
    archive.ledger.append(actor, "catalog-backup", doc["file"],
                          {k: doc[k] for k in ("sha256", "size", "at")})
    return doc


def backup_before_upgrade(catalog: Catalog, to_dir: Path, uri: str | None = None) -> dict:
    """The backup 'custody upgrade' makes first. MongoDB without mongodump installed (an
    offline archive machine may lack the Database Tools): every document of every collection
    in MongoDB Extended JSON, one gzip file, rather than no backup at all."""
    if catalog.backend == "mongodb" and (shutil.which("mongodump") is None or not uri):
        output_dir(to_dir, Text(N_("backup folder")))
        return _documents(catalog, to_dir)
    return backup(catalog, to_dir, uri)


def backup(catalog: Catalog, to_dir: Path, uri: str | None = None) -> dict:
    output_dir(to_dir, "--to")
    from archive.catalog.sqlite import SQLiteCatalog

    if isinstance(catalog, SQLiteCatalog):
        return _sqlite(catalog, to_dir)
    return _mongodump(catalog, to_dir, uri)


def _sqlite(catalog, to_dir: Path) -> dict:
    stamp = _stamp()
    dest = to_dir / f"catalog-{stamp}.sqlite"
    part = dest.with_name(dest.name + ".part")
    if dest.exists() or part.exists():
        raise InputError(N_("{path} exists; a backup never overwrites"), subject=str(dest),
                         path=str(dest))
    head = catalog.ledger_head()
    items = catalog.count(Query())
    target = sqlite3.connect(part)
    try:
        catalog.db.backup(target)  # a consistent snapshot, writers not stopped
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        copied = target.execute("SELECT count(*) FROM items").fetchone()[0]
        last = target.execute("SELECT max(seq) FROM ledger").fetchone()[0]
    finally:
        target.close()
    if check != "ok":
        part.unlink(missing_ok=True)
        raise ProblemFound(N_("{path}: the copy fails its integrity check: {result}"),
                           subject=str(dest), path=str(dest), result=check)
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    fsync_dir(dest.parent)
    doc = {"type": "custody.catalog-backup", "backend": "sqlite", "source": catalog.endpoint,
           "file": dest.name, "sha256": _sha256(dest), "size": dest.stat().st_size,
           "at": iso(datetime.now(timezone.utc)), "items": copied, "ledger_head": last,
           "items_when_started": items, "ledger_head_when_started": head.seq if head else None,
           "integrity_check": check}
    side = dest.with_suffix(".json")
    side.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    fsync_dir(dest.parent)
    return doc


def _mongodump(catalog, to_dir: Path, uri: str | None) -> dict:
    tool = shutil.which("mongodump")
    if tool is None or not uri:
        raise ServiceUnavailable("mongodump", catalog.endpoint,
                                 Text(N_("mongodump (MongoDB Database Tools) is not installed "
                                         "here; run 'mongodump --uri URI --oplog --gzip "
                                         "--archive=FILE' on a machine that has it")))
    dest = to_dir / f"catalog-{_stamp()}.archive.gz"
    run = subprocess.run([tool, f"--uri={uri}", "--oplog", "--gzip", f"--archive={dest}"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        dest.unlink(missing_ok=True)
        raise ServiceUnavailable("mongodump", catalog.endpoint,
                                 run.stderr.strip().splitlines()[-1] if run.stderr else
                                 Text(N_("exit {code}"), code=run.returncode))
    doc = {"type": "custody.catalog-backup", "backend": "mongodb", "source": catalog.endpoint,
           "file": dest.name, "sha256": _sha256(dest), "size": dest.stat().st_size,
           "at": iso(datetime.now(timezone.utc)), "restore": "mongorestore --oplogReplay "
           f"--gzip --archive={dest.name}"}
    dest.with_suffix(".json").write_text(json.dumps(doc, ensure_ascii=False, indent=2),
                                         encoding="utf-8")
    return doc


def _documents(catalog, to_dir: Path) -> dict:
    """Each line: {"collection": name, "document": the document in canonical Extended JSON};
    loaded back with bson.json_util.loads and insert_one per line."""
    from bson import json_util

    dest = to_dir / f"catalog-{_stamp()}.documents.jsonl.gz"
    part = dest.with_name(dest.name + ".part")
    if dest.exists() or part.exists():
        raise InputError(N_("{path} exists; a backup never overwrites"), subject=str(dest),
                         path=str(dest))
    counts: dict[str, int] = {}
    options = json_util.CANONICAL_JSON_OPTIONS
    with gzip.open(part, "wt", encoding="utf-8") as out:
        for name in sorted(catalog.db.list_collection_names()):
            n = 0
            for doc in catalog.db[name].find().sort("_id", 1):
                out.write(json_util.dumps({"collection": name, "document": doc},
                                          json_options=options) + "\n")
                n += 1
            counts[name] = n
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    fsync_dir(dest.parent)
    doc = {"type": "custody.catalog-backup", "backend": "mongodb", "method": "documents",
           "source": catalog.endpoint, "file": dest.name, "sha256": _sha256(dest),
           "size": dest.stat().st_size, "at": iso(datetime.now(timezone.utc)),
           "collections": counts,
           "restore": "each line: insert 'document' (bson.json_util.loads) into 'collection'"}
    dest.with_name(dest.name.removesuffix(".jsonl.gz") + ".json").write_text(
        json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return doc
